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

import json
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from benchmark.core.errors import BenchmarkError
from benchmark.core.rundir import CONFIG, DATA_SUMMARY, RESULTS, is_run_dir, manifest_path
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


def compare_runs(run_dirs: list[Path], rope: float | None = None) -> dict[str, Any]:
    """Each run after the first against the first (a = that run, b = the first), per model, strategy and
    metric both have: paired over the folds when the runs share the data (content fingerprint) and the
    outer folds (identical manifests), else unpaired, with the reason."""
    runs = [_finished_run(Path(path)) for path in run_dirs]
    rope = runs[0]["rope"] if rope is None else rope
    comparisons, notes = [], []
    base = runs[0]
    for other in runs[1:]:
        for strategy in [s for s in STRATEGIES if s in base["strategies"] and s in other["strategies"]]:
            why_not = _why_not_paired(base, other, strategy)
            if why_not:
                notes.append(f"{other['name']} vs {base['name']}, {strategy}: not paired: {why_not}")
            for model in [m for m in other["models"] if m in base["models"]]:
                rows_a = _folds(other["results"].query("model == @model and strategy == @strategy"))
                rows_b = _folds(base["results"].query("model == @model and strategy == @strategy"))
                for metric in METRICS:
                    if why_not:
                        test = unpaired_difference(rows_a, rows_b, metric)
                    else:
                        test = paired_difference(rows_a[metric].to_numpy(), rows_b.loc[rows_a.index, metric].to_numpy(),
                                                 rows_a.n_train.mean(), rows_a.n_test.mean(), rope)  # fmt: skip
                    comparisons.append({"run_a": other["name"], "run_b": base["name"], "model": model,
                                        "strategy": strategy, "metric": metric, "paired": not why_not, "rope": rope,
                                        **test})  # fmt: skip
    return {
        "paired": bool(comparisons) and all(c["paired"] for c in comparisons),
        "rope": rope,
        "runs": [{"name": r["name"], "path": str(r["path"]), "fingerprint": r["fingerprint"]} for r in runs],
        "comparisons": comparisons,
        "notes": notes,
    }


def _finished_run(path: Path) -> dict[str, Any]:
    if not is_run_dir(path) or not (path / RESULTS).is_file():
        raise BenchmarkError(f"{path} is not a finished run directory (no {CONFIG} or {RESULTS})")
    config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    results = pd.read_csv(path / RESULTS, keep_default_na=False, na_values=[""])
    if "repeat" not in results.columns:
        results["repeat"] = 0
    return {
        "name": path.name,
        "path": path,
        "rope": float(config.get("rope", 0.01)),
        "repeats": int(config.get("repeats", 1)),
        "fingerprint": json.loads((path / DATA_SUMMARY).read_text(encoding="utf-8")).get("content_fingerprint"),
        "results": results,
        "models": list(dict.fromkeys(results.model)),
        "strategies": set(results.strategy),
    }


def _why_not_paired(a: dict[str, Any], b: dict[str, Any], strategy: str) -> str:
    """Empty when the two runs saw the same images in the same outer folds; else the reason."""
    if a["fingerprint"] is None or a["fingerprint"] != b["fingerprint"]:
        return f"their data differ (content fingerprints {a['fingerprint']} and {b['fingerprint']})"
    for repeat in range(min(a["repeats"], b["repeats"])):
        first, second = manifest_path(a["path"], strategy, repeat), manifest_path(b["path"], strategy, repeat)
        if not (first.is_file() and second.is_file()) or first.read_bytes() != second.read_bytes():
            return f"their outer folds differ (manifest {first.relative_to(a['path'])}: another seed or fold count)"
    if a["repeats"] != b["repeats"]:
        return f"they ran {a['repeats']} and {b['repeats']} repeats"
    return ""
