"""The report's figures: matplotlib, rendered to PNG bytes that the HTML embeds."""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.ft2font import FT2Font  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from splits.names import GROUPED, LEAKY

COLORS = {GROUPED: "#1f6fb4", LEAKY: "#d9480f"}
DPI = 110


# Installed fonts that draw scripts DejaVu Sans lacks (CJK, Thai, Devanagari...), tried in this order,
# glyph by glyph (matplotlib's font fallback): class names in any script keep their characters where
# the machine has a font for them.
FALLBACK_FONTS = (
    "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK KR", "Source Han Sans",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "Noto Sans", "Noto Sans Thai",
    "Noto Sans Devanagari", "Noto Sans Arabic", "Noto Sans Hebrew", "Arial Unicode MS", "Unifont",
)  # fmt: skip
MISSING_GLYPH = "?"


@functools.cache
def _fonts() -> tuple[list[str], frozenset[int]]:
    """The font families figures use (DejaVu Sans first) and every character one of them draws."""
    installed = {font.name: font.fname for font in font_manager.fontManager.ttflist}
    families = ["DejaVu Sans", *[name for name in FALLBACK_FONTS if name in installed]]
    covered: set[int] = set()
    for name in families:
        try:
            covered |= set(FT2Font(installed.get(name) or font_manager.findfont(name)).get_charmap())
        except (OSError, RuntimeError, ValueError):
            continue
    return families, frozenset(covered)


plt.rcParams["font.family"] = _fonts()[0]


def undrawable(text: str) -> str:
    """The characters of `text` no installed font draws (what figures show as ?)."""
    covered = _fonts()[1]
    return "".join(dict.fromkeys(c for c in text if not c.isspace() and ord(c) not in covered))


def drawable(text: str) -> str:
    missing = set(undrawable(text))
    return "".join(MISSING_GLYPH if c in missing else c for c in text) if missing else text


def to_png(figure: plt.Figure) -> bytes:
    """PNG bytes; a character no installed font has becomes ? (the report says so once), and matplotlib's
    own glyph warnings are never printed."""
    for text in figure.findobj(Text):
        if text.get_text():
            text.set_text(drawable(text.get_text()))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Glyph ... missing from font(s)": handled above
        figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def fold_accuracy(results: pd.DataFrame, summary: dict, models: Sequence[str]) -> bytes:
    """Per model: a box and the fold dots of each strategy, with the mean and its corrected 95% CI."""
    figure, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False, sharey=True)
    rng = np.random.default_rng(0)  # jitter only, fixed so the figure is the same every rebuild
    for ax, model in zip(axes[0], models):
        strategies = [s for s in COLORS if s in summary["models"][model]]
        for x, strategy in enumerate(strategies):
            scores = results.loc[(results.model == model) & (results.strategy == strategy), "accuracy"].to_numpy()
            ax.boxplot([scores], positions=[x], widths=0.5, showfliers=False, medianprops={"color": "#555"})
            ax.scatter(x + rng.uniform(-0.12, 0.12, len(scores)), scores, color=COLORS[strategy], zorder=3, s=28)
            acc = summary["models"][model][strategy]["accuracy"]
            ax.errorbar(
                x + 0.33,
                acc["mean"],
                yerr=[[acc["mean"] - acc["ci95"][0]], [acc["ci95"][1] - acc["mean"]]],
                fmt="D",
                color="black",
                capsize=4,
                markersize=5,
            )
        ax.set_xticks(range(len(strategies)), strategies)
        ax.set_title(model)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("test accuracy per outer fold")
    figure.text(0.5, -0.02, "dots: folds; box: quartiles; diamond: mean with corrected 95% CI", ha="center", size=8)
    return to_png(figure)


def confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], title: str) -> bytes:
    """Row-normalised: each row is what one true class was predicted as."""
    totals = matrix.sum(axis=1, keepdims=True)
    normalized = np.divide(matrix, totals, out=np.zeros_like(matrix, dtype=float), where=totals > 0)
    n = len(class_names)
    size = max(5.0, 0.36 * n + 2)
    figure, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(normalized, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    for i, j in zip(*np.nonzero(normalized >= 0.1)):
        value = normalized[i, j]
        ax.text(
            j,
            i,
            f"{value:.1f}".lstrip("0") if value < 1 else "1",
            ha="center",
            va="center",
            fontsize=6,
            color="white" if value > 0.6 else "black",
        )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="share of the true class")
    return to_png(figure)


def per_class_f1(f1: pd.DataFrame, title: str) -> bytes:
    """f1: index = class names, columns = strategies, values = mean F1 over folds."""
    n = len(f1)
    figure, ax = plt.subplots(figsize=(7.5, 0.28 * n + 1.2))
    height = 0.8 / max(1, len(f1.columns))
    for k, strategy in enumerate(f1.columns):
        ax.barh(np.arange(n) + k * height, f1[strategy], height=height, color=COLORS.get(strategy), label=strategy)
    ax.set_yticks(np.arange(n) + height * (len(f1.columns) - 1) / 2, f1.index, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 (mean over outer folds)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return to_png(figure)


def optimization_history(trials: pd.DataFrame, title: str) -> bytes:
    """Inner-CV accuracy of every finished trial, and the best so far per outer fold's study."""
    figure, ax = plt.subplots(figsize=(7.5, 3.4))
    for (strategy, _fold), study in trials.groupby(["strategy", "fold"], sort=True):
        done = study[study.state == "COMPLETE"].sort_values("number")
        if done.empty:
            continue
        color = COLORS.get(strategy, "gray")
        ax.scatter(done.number, done.value, color=color, s=14, alpha=0.6)
        ax.step(done.number, done.value.cummax(), where="post", color=color, alpha=0.8, linewidth=1)
    for strategy, color in COLORS.items():
        if strategy in set(trials.strategy):
            ax.plot([], [], color=color, label=f"{strategy} (one line per outer fold: best so far)")
    ax.set_xlabel("trial number")
    ax.set_ylabel("inner-CV accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.xaxis.get_major_locator().set_params(integer=True)
    return to_png(figure)


def importances(table: pd.DataFrame, title: str) -> bytes:
    """table: index = parameter, columns = strategies, values = mean fANOVA importance over folds."""
    table = table.sort_values(table.columns[0])
    figure, ax = plt.subplots(figsize=(7.5, 0.35 * len(table) + 1.2))
    height = 0.8 / max(1, len(table.columns))
    for k, strategy in enumerate(table.columns):
        ax.barh(
            np.arange(len(table)) + k * height,
            table[strategy],
            height=height,
            color=COLORS.get(strategy),
            label=strategy,
        )
    ax.set_yticks(np.arange(len(table)) + height * (len(table.columns) - 1) / 2, table.index, fontsize=9)
    ax.set_xlabel("importance (fANOVA, mean over outer folds)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return to_png(figure)


def class_counts(images_per_class: dict[str, int], groups_per_class: dict[str, int]) -> bytes:
    names = sorted(images_per_class)
    figure, axes = plt.subplots(1, 2, figsize=(9, 0.25 * len(names) + 1.4), sharey=True)
    y = np.arange(len(names))
    axes[0].barh(y, [images_per_class[n] for n in names], color="#555")
    axes[0].set_title("images per class")
    axes[1].barh(y, [groups_per_class.get(n, 0) for n in names], color=COLORS[GROUPED])
    axes[1].set_title("groups (videos + single images) per class")
    axes[0].set_yticks(y, names, fontsize=8)
    axes[0].invert_yaxis()
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    return to_png(figure)


def frames_per_video(videos_by_frame_count: dict[str, int]) -> bytes:
    counts = sorted((int(k), v) for k, v in videos_by_frame_count.items())
    figure, ax = plt.subplots(figsize=(7.5, 2.8))
    if counts:
        ax.bar([c for c, _ in counts], [v for _, v in counts], color="#555", width=0.8)
    ax.set_xlabel("frames per video")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("videos")
    ax.set_title("How many frames each source video contributes")
    ax.grid(axis="y", alpha=0.3)
    return to_png(figure)


def video_accuracy_distribution(per_video: pd.DataFrame, title: str) -> bytes:
    """per_video: one row per held-out video (strategy, frame_accuracy); a histogram per strategy."""
    figure, ax = plt.subplots(figsize=(7.5, 3.0))
    bins = np.linspace(0, 1, 11)
    for strategy, part in per_video.groupby("strategy", sort=False):
        ax.hist(
            part.frame_accuracy, bins=bins, alpha=0.6, color=COLORS.get(strategy), label=f"{strategy} ({len(part)})"
        )
    ax.set_xlabel("share of a held-out video's frames classified right")
    ax.set_ylabel("videos")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return to_png(figure)


def frame_vs_video(results: pd.DataFrame, models: Sequence[str]) -> bytes:
    """Mean frame accuracy next to mean video-vote accuracy, per model and strategy."""
    rows = results.groupby(["model", "strategy"], sort=False)[["accuracy", "video_accuracy"]].mean()
    figure, ax = plt.subplots(figsize=(7.5, 0.5 * len(rows) + 1.2))
    labels = [f"{model} / {strategy}" for model, strategy in rows.index]
    y = np.arange(len(rows))
    ax.barh(y - 0.2, rows.accuracy, height=0.4, color="#888", label="frame accuracy")
    ax.barh(y + 0.2, rows.video_accuracy, height=0.4, color=COLORS[GROUPED], label="video accuracy (frames vote)")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Per frame and per clip: mean over outer folds")
    return to_png(figure)


def learning_curve(points: pd.DataFrame, fits: dict, title: str) -> bytes:
    """Accuracy vs videos per class with corrected 95% CIs, per strategy, and the fitted power law."""
    figure, ax = plt.subplots(figsize=(7.5, 3.8))
    for strategy, part in points.groupby("strategy", sort=False):
        part = part.sort_values("videos_per_class")
        low = part.accuracy - part.ci95.str[0]
        high = part.ci95.str[1] - part.accuracy
        color = COLORS.get(strategy, "gray")
        ax.errorbar(part.videos_per_class, part.accuracy, yerr=[low, high], fmt="o", color=color, capsize=4,
                    label=strategy)  # fmt: skip
        fit = (fits.get(strategy) or {}).get("fit")
        if fit:
            n = np.linspace(part.videos_per_class.min(), part.videos_per_class.max() * 2.5, 100)
            ax.plot(n, fit["a"] - fit["b"] * n ** (-fit["c"]), color=color, linestyle="--", alpha=0.8,
                    label=f"{strategy}: fit, levels off at {100 * fit['a']:.0f}%")  # fmt: skip
    ax.set_xlabel("training videos per class")
    ax.set_ylabel("test accuracy (outer folds)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    return to_png(figure)


def forest(rows: list[dict], rope: float, title: str) -> bytes:
    """Paired differences (a minus b) with their 95% intervals, one line each, the ROPE shaded."""
    height = 0.9 + 0.42 * len(rows)
    figure, ax = plt.subplots(figsize=(7.5, height))
    ax.axvspan(-100 * rope, 100 * rope, color="#999", alpha=0.25, label=f"ROPE (+-{100 * rope:g} points)")
    ax.axvline(0, color="#555", linewidth=0.8)
    for y, row in enumerate(rows):
        mean, (low, high) = 100 * row["mean"], row["ci95"]
        colour = COLORS.get(row.get("strategy"), "#333")
        if low is not None:
            ax.plot([100 * low, 100 * high], [y, y], color=colour, linewidth=2)
        ax.plot([mean], [y], "D", color=colour, markersize=6)
    ax.set_yticks(range(len(rows)), [row["label"] for row in rows], size=8)
    ax.invert_yaxis()
    ax.set_xlabel("difference, accuracy points (a minus b), with 95% interval")
    ax.set_title(title, size=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    return to_png(figure)
