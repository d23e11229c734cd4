"""Paired comparisons over the same outer folds: model vs model, tuned vs defaults, run vs run.

Two models scored on the same outer folds are paired: what matters is the per-fold difference d,
not two marginal intervals that overlap. For k folds (R repeats of k folds: n = R k differences):

- Corrected paired t-test (Nadeau & Bengio 2003, "Inference for the generalization error", Machine
  Learning 52; for repeats Bouckaert & Frank 2004, "Evaluating the replicability of significance
  tests for comparing learning algorithms", PAKDD): the variance of mean(d) is
  (1/n + n_test/n_train) var(d), Student's t with n - 1 degrees of freedom.
- Bayesian correlated t-test (Corani & Benavoli 2015, "A Bayesian approach for comparing
  cross-validated algorithms on multiple data sets", Machine Learning 100; Benavoli et al. 2017,
  "Time for a change", JMLR 18): the posterior of the mean difference is Student's t with n - 1
  degrees of freedom, location mean(d) and scale the square root of the same corrected variance;
  read against a region of practical equivalence (ROPE, +-`rope`) as P(a better by more than the
  ROPE), P(within it), P(b better).
- With more than two models, the p-values of one family (a strategy and a metric) are adjusted by
  Holm's step-down method (Holm 1979, "A simple sequentially rejective multiple test procedure",
  Scandinavian Journal of Statistics 6).
- Runs on different folds are not paired: Welch's t over the two corrected variances of the means
  (Welch 1947), and no posterior (there is no per-fold difference to model).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from benchmark.cv.summary import difference_interval
from splits.names import STRATEGIES

PAIRED_METHOD = (
    "corrected paired t-test over the outer folds (Nadeau & Bengio 2003; repeats: Bouckaert & Frank 2004) "
    "and Bayesian correlated t-test (Corani & Benavoli 2015)"
)
UNPAIRED_METHOD = "Welch t over the two Nadeau-Bengio corrected variances (unpaired: the runs' folds differ)"
METRICS = ("accuracy", "video_accuracy")


def paired_difference(a: np.ndarray, b: np.ndarray, n_train: float, n_test: float, rope: float) -> dict[str, Any]:
    """a minus b over the same folds: mean, 95% interval, p-value and the ROPE posterior probabilities."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n, mean = len(d), float(np.mean(d))
    entry: dict[str, Any] = {"mean_difference": mean, "rope": rope, "n_folds": n, "df": n - 1, "method": PAIRED_METHOD}
    if n < 2:
        none = dict.fromkeys(("p_value", "p_a_better", "p_equivalent", "p_b_better"))
        return {**entry, "ci95": [None, None], **none}
    variance = (1 / n + n_test / n_train) * float(np.var(d, ddof=1))
    if variance == 0.0:  # every fold gave the same difference: the posterior is a point
        p_a, p_b = float(mean > rope), float(mean < -rope)
        p_value = 1.0 if mean == 0.0 else 0.0
        return {**entry, "ci95": [mean, mean], "p_value": p_value, "p_a_better": p_a, "p_equivalent": 1 - p_a - p_b,
                "p_b_better": p_b}  # fmt: skip
    scale = float(np.sqrt(variance))
    half = float(stats.t.ppf(0.975, n - 1)) * scale
    posterior = stats.t(n - 1, loc=mean, scale=scale)
    p_a, p_b = float(posterior.sf(rope)), float(posterior.cdf(-rope))
    return {
        **entry,
        "ci95": [max(-1.0, mean - half), min(1.0, mean + half)],
        "p_value": float(2 * stats.t.sf(abs(mean) / scale, n - 1)),
        "p_a_better": p_a,
        "p_equivalent": max(0.0, 1.0 - p_a - p_b),
        "p_b_better": p_b,
    }


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of one family of p-values (None stays None)."""
    known = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(known):
        running = max(running, min(1.0, (len(known) - rank) * p))
        adjusted[index] = running
    return adjusted


def _folds(rows: pd.DataFrame) -> pd.DataFrame:
    keys = ["repeat", "fold"] if "repeat" in rows.columns else ["fold"]
    return rows.sort_values(keys).set_index(keys)


def model_comparisons(results: pd.DataFrame, models: list[str], rope: float) -> list[dict[str, Any]]:
    """Every pair of models in every strategy (grouped first) and metric, on the folds both have."""
    out = []
    strategies = [s for s in STRATEGIES if s in set(results.strategy)]
    for strategy in strategies:
        for metric in METRICS:
            family = []
            for a, b in combinations(models, 2):
                rows_a = _folds(results[(results.model == a) & (results.strategy == strategy)])
                rows_b = _folds(results[(results.model == b) & (results.strategy == strategy)])
                shared = rows_a.index.intersection(rows_b.index)
                if len(shared) == 0:
                    continue
                rows_a, rows_b = rows_a.loc[shared], rows_b.loc[shared]
                test = paired_difference(rows_a[metric].to_numpy(), rows_b[metric].to_numpy(),
                                         rows_a.n_train.mean(), rows_a.n_test.mean(), rope)  # fmt: skip
                family.append({"strategy": strategy, "metric": metric, "a": a, "b": b, **test})
            if len(models) > 2:
                for entry, adjusted in zip(family, holm([e["p_value"] for e in family])):
                    entry["p_value_holm"] = adjusted
            out.extend(family)
    return out


def tuning_gains(results: pd.DataFrame, rope: float) -> dict[str, dict[str, Any]]:
    """Per model and strategy: tuned minus defaults on the same outer folds (both metrics)."""
    gains: dict[str, dict[str, Any]] = {}
    if "defaults_accuracy" not in results.columns:
        return gains
    for (model, strategy), rows in results.groupby(["model", "strategy"], sort=False):
        rows = _folds(rows)
        if rows.defaults_accuracy.isna().any():
            continue
        gains.setdefault(model, {})[strategy] = {
            metric: paired_difference(
                rows[metric].to_numpy(),
                rows[f"defaults_{metric}"].to_numpy(),
                rows.n_train.mean(),
                rows.n_test.mean(),
                rope,
            )  # fmt: skip
            for metric in METRICS
        }
    return gains


def unpaired_difference(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> dict[str, Any]:
    """a minus b when the folds differ: Welch over the corrected variances; no posterior."""
    test = difference_interval(a, b, metric)
    return {"mean_difference": test["mean"], "ci95": test["ci95"], "p_value": test["p_value"], "df": test["df"],
            "n_folds": [int(len(a)), int(len(b))], "p_a_better": None, "p_equivalent": None, "p_b_better": None,
            "method": UNPAIRED_METHOD}  # fmt: skip


def verdict(entry: dict[str, Any], a: str, b: str, level: float = 0.95) -> str:
    """The comparison in words: who is better by how much and how sure, or that the folds cannot say."""
    points = 100 * entry["mean_difference"]
    low, high = entry["ci95"]
    span = "" if low is None else f" [{100 * low:+.1f}, {100 * high:+.1f}]"
    rope = 100 * entry.get("rope", 0.0)
    p_a, p_b, p_same = entry.get("p_a_better"), entry.get("p_b_better"), entry.get("p_equivalent")
    if p_a is None:  # unpaired, or a single fold
        p = entry.get("p_value")
        winner, loser = (a, b) if points >= 0 else (b, a)
        if p is None:
            return f"{a} minus {b}: {points:+.1f} points (one fold: no interval)"
        return f"{winner} is {abs(points):.1f} points above {loser}{span}, p {_p(p)}"
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
