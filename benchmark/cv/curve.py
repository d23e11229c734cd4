"""Learning curves by videos: what would more videos buy?

Grouped outer folds as in `run`, but each training part keeps only a fraction of its videos per class
(class-stratified, seeded, nested: a smaller fraction's videos are a subset of a larger one's; test
folds unchanged), tuned and trained as in `run`. The leaky arm at the same fractions shows how much
of the leaky accuracy is memorised frames. A saturating power law, accuracy = a - b * n^-c in n
videos per class, is fitted to the grouped points, with bootstrap intervals over outer folds, and
read as "about N more videos per class for +5 points", or "the curve is flat".
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.core.atomic import atomic_write_json
from benchmark.core.rundir import CURVE, load_fold_records, timed_invocation
from benchmark.core.timing import StageClock
from benchmark.core.words import count_of
from benchmark.cv.claims import run_folds
from benchmark.cv.prepare import prepare_run, run_parts
from benchmark.cv.summary import mean_interval
from config import Config
from splits.names import GROUPED

BOOTSTRAP = 200
GAIN = 0.05  # "+5 points"
MIN_SIZES = 4  # distinct training sizes before a three-parameter curve is fitted
FLAT = 0.01  # a curve that gains less than a point over its whole range (95% upper bound) is flat


def run_curve(
    config: Config,
    data: Path | None,
    run_id: str | None,
    fractions: list[float],
    storage: str | None = None,
    n_jobs: int = 1,
    timeout: float | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Every model x strategy x fraction x outer fold into one run directory; returns it and curve.json."""
    clock = StageClock()
    prepared = prepare_run(config, data, run_id, storage, clock, fractions=fractions)
    run_dir, config = prepared.run_dir, prepared.config
    shares = ", ".join(f"{fraction:.0%}" for fraction in sorted(fractions))
    print(f"curve: training on {shares} of each class's videos", file=sys.stderr)
    with timed_invocation(run_dir, clock, config.heartbeat_s) as begin:
        begin("folds")
        run_folds(config, prepared.work(), prepared.storage, n_jobs, timeout)
        clock.lap("folds")
        prepared.require_every_record()
        begin("summary")
        curve = summarize_curve(run_dir, sorted(fractions), config.seed, config.repeats)
        atomic_write_json(run_dir / CURVE, curve)
        clock.lap("summary")
    return run_dir, curve


def curve_points(run_dir: Path, fractions: list[float], repeats: int = 1) -> pd.DataFrame:
    """One row per model x strategy x fraction x outer fold, from the fold records."""
    rows = []
    for part in run_parts(run_dir.name, fractions, repeats):
        fraction = part.train_fraction
        for record in load_fold_records(part.records_dir(run_dir)):
            rows.append(
                {
                    "model": record["model"],
                    "strategy": record["strategy"],
                    "fraction": fraction,
                    "repeat": record.get("repeat", 0),
                    "fold": record["fold"],
                    "videos_per_class": record["train_videos_per_class"],
                    "accuracy": record["accuracy"],
                    "n_train": record["n_train"],
                    "n_test": record["n_test"],
                }
            )
    return pd.DataFrame(rows)


def summarize_curve(run_dir: Path, fractions: list[float], seed: int, repeats: int = 1) -> dict[str, Any]:
    fold_points = curve_points(run_dir, fractions, repeats)
    points = []
    for (model, strategy, fraction), part in fold_points.groupby(["model", "strategy", "fraction"], sort=True):
        interval = mean_interval(part.accuracy.to_numpy(), part.n_train.mean(), part.n_test.mean())
        points.append(
            {
                "model": model,
                "strategy": strategy,
                "fraction": float(fraction),
                "videos_per_class": float(part.videos_per_class.mean()),
                "accuracy": interval["mean"],
                "ci95": interval["ci95"],
                "n_folds": interval["n_folds"],
            }
        )
    extrapolation = {}
    for (model, strategy), part in fold_points.groupby(["model", "strategy"], sort=True):
        extrapolation.setdefault(model, {})[strategy] = extrapolate(part, seed)
    return {"points": points, "extrapolation": extrapolation, "fold_points": fold_points.to_dict("records")}


def power_law(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a - b * np.power(n, -c)


def _fit(n: np.ndarray, accuracy: np.ndarray) -> tuple[float, float, float] | None:
    from scipy.optimize import OptimizeWarning, curve_fit

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            parameters, _ = curve_fit(
                power_law, n, accuracy, p0=(min(1.0, accuracy.max() + 0.05), 0.5, 0.5),
                bounds=([0.0, 0.0, 0.05], [1.0, 10.0, 3.0]), maxfev=20_000,
            )  # fmt: skip
    except (RuntimeError, ValueError):
        return None
    return tuple(float(p) for p in parameters)


def videos_for_gain(parameters: tuple[float, float, float], n_now: float, gain: float = GAIN) -> float | None:
    """Videos per class at which the fitted curve is `gain` above its value at `n_now`; None if it levels
    off below that."""
    a, b, c = parameters
    target = float(power_law(np.array([n_now]), a, b, c)[0]) + gain
    if target >= a or b <= 0:
        return None
    return float((b / (a - target)) ** (1 / c))


def extrapolate(part: pd.DataFrame, seed: int) -> dict[str, Any]:
    """The power law fitted to every fold's point, and bootstrap intervals over outer folds (resampled
    with the config seed)."""
    n, accuracy = part.videos_per_class.to_numpy(float), part.accuracy.to_numpy(float)
    sizes = part.groupby("fraction").videos_per_class.mean().round(6)
    n_now, n_min = float(sizes.max()), float(sizes.min())
    if sizes.nunique() < MIN_SIZES:
        same = [f"{f:g}" for f, size in sizes.items() if (sizes == size).sum() > 1]
        why = (
            f": fractions {', '.join(same)} keep the same videos (each class keeps at least inner_folds of its videos)"
            if same
            else ""
        )
        return {
            "fit": None,
            "sentence": f"{count_of(sizes.nunique(), 'distinct training size')} among {len(sizes)} fractions{why}; "
            f"a power law (3 parameters) is fitted from {MIN_SIZES} sizes up, so none was fitted",
        }
    fitted = _fit(n, accuracy)
    if fitted is None:
        return {"fit": None, "sentence": "the power law did not converge on these points: no curve fitted"}
    rng = np.random.default_rng(seed)
    units = part.repeat * 10_000 + part.fold if "repeat" in part else part.fold  # an outer fold of a repeat
    folds = sorted(set(units))
    gains, needed, plateaus = [], [], []
    for _ in range(BOOTSTRAP):
        chosen = rng.choice(folds, len(folds), replace=True)
        sample = pd.concat([part[units == f] for f in chosen])
        parameters = _fit(sample.videos_per_class.to_numpy(float), sample.accuracy.to_numpy(float))
        if parameters is None:
            continue
        ends = power_law(np.array([n_min, n_now]), *parameters)
        gains.append(float(ends[1] - ends[0]))
        plateaus.append(parameters[0])
        found = videos_for_gain(parameters, n_now)
        needed.append(np.inf if found is None else found)
    gain_low, gain_high = np.percentile(gains, [2.5, 97.5]).tolist() if gains else [None, None]
    more = videos_for_gain(fitted, n_now)
    needed_interval = np.percentile(needed, [2.5, 97.5], method="nearest").tolist() if needed else [None, None]
    result = {
        "fit": {"a": fitted[0], "b": fitted[1], "c": fitted[2], "form": "accuracy = a - b * videos_per_class^-c"},
        "videos_per_class_now": n_now,
        "accuracy_now": float(power_law(np.array([n_now]), *fitted)[0]),
        "plateau": fitted[0],
        "plateau_ci95": np.percentile(plateaus, [2.5, 97.5]).tolist() if plateaus else [None, None],
        "gain_over_range_ci95": [gain_low, gain_high],
        "videos_per_class_for_plus_5_points": more,
        "videos_per_class_for_plus_5_points_ci95": [None if not np.isfinite(v) else v for v in needed_interval],
    }
    if gain_high is not None and gain_high < FLAT:
        sentence = (
            f"the curve is flat: from {n_min:.0f} to {n_now:.0f} videos per class accuracy gains at most "
            f"{100 * gain_high:.1f} points (95% bound); more of the same videos will not help"
        )
    elif more is None:
        sentence = (
            f"the fitted curve levels off at {100 * fitted[0]:.0f}% and never gains 5 more points: more of the same "
            "videos will not get there"
        )
    else:
        low, high = result["videos_per_class_for_plus_5_points_ci95"]
        spread = f" (95% interval {low:.0f} to {'unbounded' if high is None else f'{high:.0f}'})" if low else ""
        sentence = (
            f"~{max(0.0, more - n_now):.0f} more videos per class for +5 points: {more:.0f} videos per class "
            f"instead of {n_now:.0f}{spread}"
        )
    result["sentence"] = sentence
    return result


def curve_lines(curve: dict[str, Any]) -> list[str]:
    lines = [f"{'model':<20} {'strategy':<8} {'videos/class':>12} {'accuracy':>9}   95% CI"]
    for p in curve["points"]:
        lines.append(
            f"{p['model']:<20} {p['strategy']:<8} {p['videos_per_class']:>12.1f} {p['accuracy']:>9.3f}   "
            f"[{p['ci95'][0]:.3f}, {p['ci95'][1]:.3f}]"
        )
    for model, arms in curve["extrapolation"].items():
        if GROUPED in arms:
            lines.append(f"{model}, grouped: {arms[GROUPED]['sentence']}")
    return lines
