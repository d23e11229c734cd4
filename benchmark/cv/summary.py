"""From fold records to results.csv and summary.json: means, spreads and confidence intervals.

Cross-validation folds overlap in their training data, so fold scores are not independent and the
naive standard error is too small. Intervals here use the Nadeau & Bengio (2003) correction: the
variance of a k-fold mean is taken as (1/k + n_test/n_train) times the fold variance, Student's t
with k - 1 degrees of freedom. With R repeats of k folds the same formula runs over all R k scores,
(1/(R k) + n_test/n_train) times their variance with R k - 1 degrees of freedom: Bouckaert & Frank's
(2004) corrected repeated k-fold test.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from splits.names import GROUPED, LEAKY

RESULT_COLUMNS = [
    "model",
    "strategy",
    "repeat",
    "fold",
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "video_accuracy",
    "defaults_accuracy",
    "defaults_video_accuracy",
    "n_videos",
    "n_train",
    "n_test",
    "n_trials",
    "n_pruned",
    "best_inner_accuracy",
    "tune_s",
    "train_s",
    "evaluate_s",
    "best_params",
]


def results_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            **{k: r.get(k) for k in RESULT_COLUMNS if k != "best_params"},
            "best_params": json.dumps(r["best_params"], sort_keys=True),
        }
        for r in records
    ]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def corrected_variance_of_mean(scores: np.ndarray, n_train: float, n_test: float) -> float:
    k = len(scores)
    if k < 2:
        return float("nan")
    return float((1 / k + n_test / n_train) * np.var(scores, ddof=1))


def mean_interval(scores: np.ndarray, n_train: float, n_test: float) -> dict[str, Any]:
    """Mean and 95% interval of a k-fold score (corrected resampled t, Nadeau & Bengio 2003). One fold
    has no spread to estimate: its interval is unknown (None), not [0, 1]."""
    scores = np.asarray(scores, dtype=float)
    mean = float(scores.mean())
    if len(scores) < 2:
        return {"mean": mean, "std": None, "ci95": [None, None], "n_folds": int(len(scores))}
    variance = corrected_variance_of_mean(scores, n_train, n_test)
    half = float(stats.t.ppf(0.975, len(scores) - 1) * np.sqrt(variance))
    return {
        "mean": mean,
        "std": float(scores.std(ddof=1)),
        # Scores live in [0, 1]: the interval is clipped there rather than claim 110% accuracy.
        "ci95": [max(0.0, mean - half), min(1.0, mean + half)],
        "n_folds": int(len(scores)),
    }


def difference_interval(leaky: pd.DataFrame, grouped: pd.DataFrame, metric: str) -> dict[str, Any]:
    """Leaky minus grouped, Welch-style over the two corrected variances; p from the matching t-test."""
    var_l = corrected_variance_of_mean(leaky[metric].to_numpy(), leaky.n_train.mean(), leaky.n_test.mean())
    var_g = corrected_variance_of_mean(grouped[metric].to_numpy(), grouped.n_train.mean(), grouped.n_test.mean())
    diff = float(leaky[metric].mean() - grouped[metric].mean())
    se = float(np.sqrt(var_l + var_g))
    k_l, k_g = len(leaky) - 1, len(grouped) - 1
    df = (var_l + var_g) ** 2 / (var_l**2 / k_l + var_g**2 / k_g) if se > 0 else float(k_l + k_g)
    half = float(stats.t.ppf(0.975, df) * se)
    p_value = float(2 * stats.t.sf(abs(diff) / se, df)) if se > 0 else (0.0 if diff else 1.0)
    return {
        "mean": diff,
        "ci95": [max(-1.0, diff - half), min(1.0, diff + half)],
        "p_value": p_value,
        "df": float(df),
        "method": "Welch t over Nadeau-Bengio corrected variances of the two k-fold means",
    }


def summarize(results: pd.DataFrame) -> dict[str, Any]:
    """Per model and strategy, every metric's mean and interval over all folds of all repeats; per model
    the inflation (leaky minus grouped)."""
    summary: dict[str, Any] = {"models": {}}
    for model, rows in results.groupby("model", sort=False):
        entry: dict[str, Any] = {}
        for strategy, arm in rows.groupby("strategy", sort=False):
            entry[strategy] = {
                metric: mean_interval(arm[metric].to_numpy(), arm.n_train.mean(), arm.n_test.mean())
                for metric in ("accuracy", "macro_f1", "balanced_accuracy", "video_accuracy")
            }
        arms = dict(tuple(rows.groupby("strategy")))
        if {LEAKY, GROUPED} <= set(arms) and min(len(arms[LEAKY]), len(arms[GROUPED])) > 1:
            entry["inflation"] = difference_interval(arms[LEAKY], arms[GROUPED], "accuracy")
        summary["models"][model] = entry
    return summary
