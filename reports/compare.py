"""The page of a `compare`: run against run, the paired (or unpaired) differences as a forest plot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reports import figures
from reports.render import data_uri, templates
from reports.text import STRATEGY_WORDS, verdict


def render_comparison(result: dict[str, Any]) -> str:
    rows = [
        {"label": f"{c['model']}, {c['strategy']}: {c['run_a']} - {c['run_b']}"
                  + (", per clip" if c["metric"] != "accuracy" else ""),
         "mean": c["mean_difference"], "ci95": c["ci95"], "strategy": c["strategy"]}
        for c in result["comparisons"]
    ]  # fmt: skip
    figure = data_uri(figures.forest(rows, result["rope"], "Run against run")) if rows else None
    sentences = [
        f"{c['model']} {STRATEGY_WORDS.get(c['strategy'], c['strategy'])}: {verdict(c, c['run_a'], c['run_b'])}"
        for c in result["comparisons"]
        if c["metric"] == "accuracy"
    ]
    return (
        templates()
        .get_template("compare.html.j2")
        .render(
            result=result,
            figure=figure,
            sentences=sentences,
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    )
