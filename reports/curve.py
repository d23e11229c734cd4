"""The report of a `curve` run directory: accuracy against videos per class, and what more videos would buy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from benchmark.core.atomic import atomic_write_text
from benchmark.core.rundir import CONFIG, CURVE, DATA_SUMMARY, REPORT_HTML, REPORT_MARKDOWN
from reports import figures
from reports.render import data_uri, templates
from reports.rundir import ReportError


def build_curve_report(run_dir: Path) -> tuple[Path, Path]:
    curve = json.loads((run_dir / CURVE).read_text(encoding="utf-8"))
    config = _read(run_dir / CONFIG)
    data = _read(run_dir / DATA_SUMMARY)
    points = pd.DataFrame(curve["points"])
    if points.empty:
        raise ReportError(f"{run_dir / 'curve.json'} has no points: the curve run has not finished")
    models = []
    for model, part in points.groupby("model", sort=True):
        fits = curve["extrapolation"].get(model, {})
        models.append(
            {
                "name": model,
                "figure": data_uri(figures.learning_curve(part, fits, f"{model}: learning curve by videos")),
                "points": part.sort_values(["strategy", "videos_per_class"]).to_dict("records"),
                "fits": fits,
            }
        )
    context = {
        "run_id": run_dir.name, "data": data, "config": config, "models": models,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    html_path, markdown_path = run_dir / REPORT_HTML, run_dir / REPORT_MARKDOWN
    atomic_write_text(html_path, templates().get_template("curve.html.j2").render(**context))
    lines = [f"# workout-bench learning curve: {run_dir.name}", ""]
    lines += ["| model | strategy | videos per class | accuracy (95% CI) |", "|---|---|---|---|"]
    for p in curve["points"]:
        lines.append(
            f"| {p['model']} | {p['strategy']} | {p['videos_per_class']:.1f} | {100 * p['accuracy']:.1f}% "
            f"[{100 * p['ci95'][0]:.1f}, {100 * p['ci95'][1]:.1f}] |"
        )
    lines.append("")
    for model, arms in curve["extrapolation"].items():
        for strategy, fit in arms.items():
            lines.append(f"- {model}, {strategy}: {fit['sentence']}")
    atomic_write_text(markdown_path, "\n".join(lines) + "\n")
    return html_path, markdown_path


def _read(path: Path) -> dict:
    if not path.is_file():
        raise ReportError(f"missing {path}: not a complete curve run directory")
    return json.loads(path.read_text(encoding="utf-8"))
