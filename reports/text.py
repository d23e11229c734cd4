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


STRATEGY_WORDS = {GROUPED: "on new videos", LEAKY: "on random folds"}
METRIC_WORDS = {"accuracy": "", "video_accuracy": " (per clip)"}


def comparison_sentence(entry: dict[str, Any]) -> str:
    """One model pair in words: "on new videos EfficientNetLite0 beats CustomCNN by 63.0 points [...]"."""
    from_compare = verdict(entry, entry["a"], entry["b"])
    where = STRATEGY_WORDS.get(entry["strategy"], f"on {entry['strategy']} folds") + METRIC_WORDS[entry["metric"]]
    holm = f" (Holm-adjusted p {format_p(entry['p_value_holm'])[2:]})" if entry.get("p_value_holm") is not None else ""
    return f"{where[0].upper()}{where[1:]}, {from_compare}{holm}."


def tuning_sentence(model: str, strategy: str, gain: dict[str, Any], trials: int) -> str:
    """What tuning bought over the defaults on the same folds, or that it did not beat them."""
    where = STRATEGY_WORDS.get(strategy, f"on {strategy} folds")
    points, (low, high) = 100 * gain["mean_difference"], gain["ci95"]
    if points == 0 and low == high == 0:
        return f"{model}: the final fits kept the defaults in every fold {where} (no trial beat them clearly)."
    span = "" if low is None else f" [{100 * low:+.1f}, {100 * high:+.1f}]"
    if gain.get("p_a_better") is not None and gain["p_a_better"] >= 0.95:
        return f"{model}: {trials} trials per fold bought {points:+.1f} points{span} {where}."
    if gain.get("p_b_better") is not None and gain["p_b_better"] >= 0.95:
        return f"{model}: tuning made it worse {where}: {points:+.1f} points{span} against its defaults."
    return f"{model}: tuning did not beat the defaults {where} ({points:+.1f} points{span})."


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


def verdict(entry: dict[str, Any], a: str, b: str, level: float = 0.95) -> str:
    """The comparison in words: who is better by how much and how sure, or that the folds cannot say."""
    points = 100 * entry["mean_difference"]
    low, high = entry["ci95"]
    span = "" if low is None else f" [{100 * low:+.1f}, {100 * high:+.1f}]"
    rope = 100 * entry.get("rope", 0.0)
    p_a, p_b, p_same = entry.get("p_a_better"), entry.get("p_b_better"), entry.get("p_equivalent")
    if p_a is None:  # unpaired, or a single fold
        p = entry.get("p_value")
        if p is None:
            return f"{a} minus {b}: {points:+.1f} points (one fold: no interval)"
        winner, loser, sign = (a, b, 1) if points >= 0 else (b, a, -1)
        ends = sorted((sign * 100 * low, sign * 100 * high))
        return f"{winner} is {abs(points):.1f} points above {loser} [{ends[0]:+.1f}, {ends[1]:+.1f}], p {_p(p)}"
    if p_a >= level or p_b >= level:
        winner, loser, sure = (a, b, p_a) if p_a >= level else (b, a, p_b)
        low_w, high_w = (low, high) if winner == a else (-high, -low)
        return (f"{winner} beats {loser} by {abs(points):.1f} points [{100 * low_w:+.1f}, {100 * high_w:+.1f}]; "
                f"P(better by more than {rope:g} point{'s' if rope != 1 else ''}) {_prob(sure)}")  # fmt: skip
    if p_same is not None and p_same >= level:
        return f"{a} and {b} are equivalent (within {rope:g} point{'s' if rope != 1 else ''}), P {_prob(p_same)}"
    return (f"{a} and {b} cannot be told apart on these folds: {points:+.1f} points{span}; P({a} better) "
            f"{p_a:.2f}, P(equivalent) {p_same:.2f}, P({b} better) {p_b:.2f}")  # fmt: skip


def _prob(p: float) -> str:
    return "> 0.99" if p > 0.99 else f"= {p:.2f}"


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"
