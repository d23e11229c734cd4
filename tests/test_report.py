"""The HTML report and summary.md of a finished run: content, self-containment, rebuild, and a real browser."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from harness import QUICK, cli

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.mark.slow
def test_run_writes_a_self_contained_report_with_every_section(finished_run):
    html = (finished_run / "report.html").read_text(encoding="utf-8")
    for section in ("headline", "folds", "classes", "mistakes", "tuning", "data", "audit", "reproducibility"):
        assert f'<section id="{section}">' in html
    order = [html.index(f'<section id="{s}">') for s in ("headline", "folds", "classes", "mistakes", "tuning", "data")]
    assert order == sorted(order)
    sources = re.findall(r'<img[^>]* src="([^"]+)"', html)
    # fold figure, per model (2) confusion + F1 + history + importances, class counts, frames per video,
    # thumbnails, and the leakage audit's pairs (2 images each, 3 pairs per strategy)
    assert len(sources) >= 1 + 2 * 4 + 2 + 22 + 2 * 2 * 3
    audit = json.loads((finished_run / "audit.json").read_text())
    assert audit["leaky"]["near_duplicate_share"] > audit["grouped"]["near_duplicate_share"]
    assert f"{100 * audit['leaky']['near_duplicate_share']:.1f}%" in html
    assert all(src.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for src in sources)
    assert not re.search(r'(src|href)="(https?:)?//', html), "the report must open with no network"
    for name in ("grouped.csv", "leaky.csv"):
        assert f'href="manifests/{name}"' in html and (finished_run / "manifests" / name).is_file()
    versions = json.loads((finished_run / "environment.json").read_text())["versions"]
    assert versions["tensorflow"] in html and versions["optuna"] in html
    # Which images fool the model: the most confident grouped mistakes as thumbnails, per model.
    mistakes = json.loads((finished_run / "mistakes" / "index.json").read_text())
    assert mistakes and all(m["label"] != m["predicted"] for m in mistakes)
    assert all(f"{m['label']} → <strong>{m['predicted']}</strong>" in html for m in mistakes)
    assert "held-out videos:" in html and "with every frame wrong" in html


@pytest.mark.slow
def test_headline_numbers_and_sentence_come_from_the_run(finished_run):
    summary = json.loads((finished_run / "summary.json").read_text())
    html = (finished_run / "report.html").read_text(encoding="utf-8")
    markdown = (finished_run / "summary.md").read_text(encoding="utf-8")
    for model, entry in summary["models"].items():
        grouped = f"{100 * entry['grouped']['accuracy']['mean']:.1f}%"
        leaky = f"{100 * entry['leaky']['accuracy']['mean']:.1f}%"
        points = f"{100 * entry['inflation']['mean']:+.1f}"
        row = next(line for line in markdown.splitlines() if line.startswith(f"| {model} |"))
        assert grouped in row and leaky in row and points in row
        assert grouped in html and leaky in html and points in html
        p_value = entry["inflation"]["p_value"]
        assert (f"p = {p_value:.3f}" if p_value >= 0.001 else "p < 0.001") in row
        assert model in markdown.split("\n- ", 1)[1]


@pytest.mark.slow
def test_report_command_rebuilds_from_a_moved_run_directory_alone(small_demo, tmp_path):
    """The run directory is moved (not copied) and its data folder deleted: the report needs neither."""
    data = tmp_path / "data"
    shutil.copytree(small_demo, data)
    done = cli("run", "--data", str(data), "--folds", "2", "--trials", "2", "--models", "EfficientNetLite0",
               "--out", str(tmp_path / "runs"), "--run-id", "r", *QUICK)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    original = tmp_path / "runs" / "r"
    before_html, before_md = (original / "report.html").read_text(), (original / "summary.md").read_text()
    moved = tmp_path / "elsewhere" / "moved-run"
    moved.parent.mkdir()
    original.rename(moved)
    shutil.rmtree(data)
    (moved / "report.html").unlink()
    (moved / "summary.md").unlink()
    done = cli("report", str(moved))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == f"report: {moved / 'report.html'}  summary: {moved / 'summary.md'}"
    html = (moved / "report.html").read_text(encoding="utf-8")
    assert "Optuna storage not readable" not in html and "<h3" in html
    assert html.count("data:image/") == before_html.count("data:image/")  # every figure and thumbnail again
    assert (moved / "summary.md").read_text() == before_md


def test_report_on_an_unfinished_missing_or_foreign_folder_is_one_line_exit_2(tmp_path, real_sample):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    cases = (
        (tmp_path / "half", "has no summary.json"),
        (tmp_path / "none", "not found"),
        (real_sample, "is not a run directory"),  # a data folder is not an unfinished run
    )
    for target, expected in cases:
        done = cli("report", str(target))
        assert done.returncode == 2
        assert done.stderr.strip().splitlines()[-1].startswith("error: ") and expected in done.stderr
        assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium and chromium-driver (.ci/run does)")
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1366,900",  # a laptop screen
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.mark.slow
def test_report_renders_in_headless_chromium(finished_run, browser):
    browser.get((finished_run / "report.html").resolve().as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) >= 1 + 2 * 4 + 2 + 22 + 2 * 2 * 3
    broken = [alt for alt, complete, width, height in images if not (complete and width > 0 and height > 0)]
    assert not broken, f"figures that did not load: {broken}"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#headline-table tbody tr')).map(r => r.cells[0].innerText)"
    )
    assert rows == list(json.loads((finished_run / "summary.json").read_text())["models"])
    # Nothing wider than a laptop screen except inside the horizontally scrolling table boxes.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366
    pdf = base64.b64decode(browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})["data"])
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert pdf.startswith(b"%PDF") and pages >= 3, f"printed to {pages} page(s)"
