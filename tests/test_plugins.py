"""Models from other packages: an entry point in `workout_bench.models` whose object is a ModelSpec."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from harness import QUICK, ROOT, assert_one_line_error

EXAMPLE = ROOT / "docs" / "plugin-example"


def installed(tmp_path: Path) -> dict[str, str]:
    """The example plug-in installed by pip into a folder of its own (no download: its build backend,
    setuptools, is in the environment); the environment of a process that sees it."""
    site, source = tmp_path / "site", tmp_path / "plugin-source"  # built from a copy: nothing lands in the repo
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", "--target",
               str(site), str(source)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return {**os.environ, "PYTHONPATH": str(site)}


def fake_plugin(tmp_path: Path, name: str, target: str, module_text: str) -> dict[str, str]:
    """A distribution on disk (dist-info with entry_points.txt), as an install would leave it."""
    site = tmp_path / "fake-site"
    info = site / "fake_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[workout_bench.models]\n{name} = {target}\n")
    (site / "fake_plugin.py").write_text(module_text)
    return {**os.environ, "PYTHONPATH": str(site)}


def bench(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env=env)  # fmt: skip


def test_a_plugin_that_fails_to_load_or_clashes_is_one_line(real_sample, tmp_path):
    broken = fake_plugin(tmp_path / "a", "BrokenModel", "fake_plugin:SPEC", "raise ImportError('no such thing')\n")
    done = bench("run", "--data", str(real_sample), "--models", "BrokenModel", env=broken)
    assert_one_line_error(done, "plug-in model 'BrokenModel'", "failed to load: no such thing")
    clash = fake_plugin(tmp_path / "b", "CustomCNN", "fake_plugin:SPEC", "SPEC = None\n")
    assert_one_line_error(bench("--help", env=clash), "plug-in model 'CustomCNN'", "name of a built-in model")
    wrong = fake_plugin(tmp_path / "c", "NotASpec", "fake_plugin:SPEC", "SPEC = 42\n")
    done = bench("run", "--data", str(real_sample), "--models", "NotASpec", env=wrong)
    assert_one_line_error(done, "must be a models.spec.ModelSpec")


def test_help_lists_a_plugin_without_importing_it(tmp_path):
    lazy = fake_plugin(tmp_path, "LazyModel", "fake_plugin:SPEC", "raise SystemExit('imported too early')\n")
    done = bench("run", "--help", env=lazy)
    assert done.returncode == 0 and "LazyModel" in done.stdout


@pytest.mark.slow
def test_an_installed_plugin_is_tuned_cross_validated_reported_and_compared(small_demo, tmp_path):
    env = installed(tmp_path)
    done = bench("run", "--data", str(small_demo), "--folds", "2", "--trials", "2", "--models", "TinyKerasCNN",
                 "CustomCNN", "--strategies", "grouped", "--out", str(tmp_path / "runs"), "--run-id", "p",
                 "--set", "audit_in_run=false", *QUICK, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "runs" / "p"
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results.model) == {"TinyKerasCNN", "CustomCNN"} and (results.n_trials + results.n_pruned == 2).all()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert any({c["a"], c["b"]} == {"TinyKerasCNN", "CustomCNN"} for c in summary["comparisons"])
    assert "TinyKerasCNN" in (run_dir / "report.html").read_text(encoding="utf-8")
