"""The headline in words and numbers, for the terminal, summary.md and the HTML report."""

from __future__ import annotations

from typing import Any

from splits.names import GROUPED, LEAKY


def headline(summary: dict[str, Any]) -> list[str]:
    lines = []
    for model, entry in summary["models"].items():
        parts = []
        for strategy in (GROUPED, LEAKY):
            if strategy in entry:
                acc = entry[strategy]["accuracy"]
                parts.append(f"{strategy} {acc['mean']:.3f} {interval_text(acc['ci95'])}")
        line = f"{model}: accuracy " + ", ".join(parts)
        if "inflation" in entry:
            inflation = entry["inflation"]
            line += (
                f"; leaky inflates by {100 * inflation['mean']:+.1f} points "
                f"[{100 * inflation['ci95'][0]:+.1f}, {100 * inflation['ci95'][1]:+.1f}], "
                f"p = {inflation['p_value']:.3g}"
            )
        lines.append(line)
    return lines


def interval_text(ci95: list[float | None], scale: float = 1.0, digits: int = 3, sign: str = "") -> str:
    """`[0.512, 0.688]`; `[n/a]` when there was nothing to estimate the spread from (one fold)."""
    if ci95[0] is None or ci95[1] is None:
        return "[n/a]"
    return f"[{scale * ci95[0]:{sign}.{digits}f}, {scale * ci95[1]:{sign}.{digits}f}]"


def format_p(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def inflation_sentence(model: str, entry: dict[str, Any], alpha: float = 0.05) -> str:
    """The headline in words a reader acts on; says so when the folds cannot tell the difference from noise."""
    if "inflation" not in entry:
        return f"{model}: only one split strategy (or one fold) was run, so no leaky-vs-grouped comparison."
    inflation = entry["inflation"]
    points, p_text = 100 * inflation["mean"], format_p(inflation["p_value"])
    grouped, leaky = entry[GROUPED]["accuracy"]["mean"], entry[LEAKY]["accuracy"]["mean"]
    if inflation["p_value"] >= alpha:
        return (
            f"For {model} the random split and the video-grouped split differ by {points:+.1f} points "
            f"({100 * leaky:.1f}% vs {100 * grouped:.1f}%), which these folds cannot tell from noise ({p_text})."
        )
    verb = "overstates" if points > 0 else "understates"
    return (
        f"A random split {verb} {model} accuracy by {abs(points):.1f} points ({p_text}): "
        f"{100 * leaky:.1f}% on random folds, {100 * grouped:.1f}% on folds that keep each video on one side."
    )
