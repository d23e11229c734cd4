"""Every statistic the harness reports, recomputed here by its published formula, independently of the code.

- Corrected resampled t-interval of a k-fold mean (Nadeau & Bengio 2003, "Inference for the
  generalization error", Machine Learning 52): var(mean) = (1/k + n_test/n_train) * s^2, with s^2
  the fold scores' sample variance, and Student's t with k - 1 degrees of freedom.
- The inflation (leaky minus grouped): Welch's t over the two corrected variances of the means,
  Welch-Satterthwaite degrees of freedom (Welch 1947).
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from scipy import stats

from benchmark.cv.summary import difference_interval, mean_interval, summarize

SCORES = [0.61, 0.72, 0.66, 0.80, 0.74]
N_TRAIN, N_TEST = 88.0, 22.0


def sample_variance(scores: list[float]) -> float:
    mean = sum(scores) / len(scores)
    return sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)


def corrected_interval(scores: list[float], n_train: float, n_test: float) -> tuple[float, float, float]:
    """Nadeau & Bengio's interval by hand: (mean, low, high), clipped to [0, 1]."""
    k = len(scores)
    mean = sum(scores) / k
    half = stats.t.ppf(0.975, k - 1) * math.sqrt((1 / k + n_test / n_train) * sample_variance(scores))
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def test_a_k_fold_mean_has_the_nadeau_bengio_interval():
    mean, low, high = corrected_interval(SCORES, N_TRAIN, N_TEST)
    got = mean_interval(SCORES, N_TRAIN, N_TEST)
    assert got["mean"] == pytest.approx(mean, abs=1e-12)
    assert got["ci95"] == pytest.approx([low, high], abs=1e-12)
    assert got["std"] == pytest.approx(math.sqrt(sample_variance(SCORES)), abs=1e-12)
    assert got["n_folds"] == 5


def test_the_correction_widens_the_naive_interval_by_the_published_factor():
    """Dropping the n_test/n_train term (the naive t-interval) would give a narrower interval: the ratio of
    the half-widths is sqrt((1/k + n_test/n_train) / (1/k)) = sqrt(1 + k n_test / n_train)."""
    got = mean_interval(SCORES, N_TRAIN, N_TEST)
    mean = got["mean"]
    naive_half = stats.t.ppf(0.975, 4) * math.sqrt(sample_variance(SCORES) / 5)
    assert (got["ci95"][1] - mean) / naive_half == pytest.approx(math.sqrt(1 + 5 * N_TEST / N_TRAIN), rel=1e-12)


def test_the_interval_is_clipped_to_the_range_of_a_score():
    scores = [0.99, 0.90, 1.0]  # k = 3: t quantile 4.30, the raw upper end is above 1
    mean, low, high = corrected_interval(scores, 20, 10)
    got = mean_interval(scores, 20, 10)
    assert high == 1.0 and got["ci95"] == pytest.approx([low, 1.0], abs=1e-12)
    two = mean_interval([0.1, 0.9], 10, 10)  # k = 2: t quantile 12.7, both ends clipped
    assert two["ci95"] == [0.0, 1.0]


def test_zero_variance_gives_a_zero_width_interval_and_one_fold_gives_none():
    assert mean_interval([0.5, 0.5, 0.5], 10, 5)["ci95"] == [0.5, 0.5]
    one = mean_interval([0.7], 10, 5)
    assert one["mean"] == 0.7 and one["ci95"] == [None, None] and one["std"] is None  # not [0, 1]: unknown


def welch(a: list[float], b: list[float], ratio_a: float, ratio_b: float) -> tuple[float, float, float, float]:
    """(mean difference, Welch df, half-width, two-sided p) of a minus b; ratio = n_test / n_train."""
    var_a = (1 / len(a) + ratio_a) * sample_variance(a)
    var_b = (1 / len(b) + ratio_b) * sample_variance(b)
    diff = sum(a) / len(a) - sum(b) / len(b)
    df = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
    se = math.sqrt(var_a + var_b)
    return diff, df, stats.t.ppf(0.975, df) * se, 2 * stats.t.sf(abs(diff) / se, df)


def test_the_inflation_is_welch_over_the_corrected_variances():
    leaky = [0.95, 0.97, 0.93, 0.96, 0.98]
    grouped = SCORES
    frame = lambda scores: pd.DataFrame({"accuracy": scores, "n_train": N_TRAIN, "n_test": N_TEST})  # noqa: E731
    got = difference_interval(frame(leaky), frame(grouped), "accuracy")
    diff, df, half, p_value = welch(leaky, grouped, N_TEST / N_TRAIN, N_TEST / N_TRAIN)
    assert got["mean"] == pytest.approx(diff, abs=1e-12)
    assert got["df"] == pytest.approx(df, rel=1e-12)
    assert got["ci95"] == pytest.approx([diff - half, diff + half], abs=1e-12)
    assert got["p_value"] == pytest.approx(p_value, rel=1e-9)


def test_an_inflation_without_spread_is_certain_or_nothing():
    frame = lambda scores: pd.DataFrame({"accuracy": scores, "n_train": 10.0, "n_test": 5.0})  # noqa: E731
    certain = difference_interval(frame([0.9, 0.9]), frame([0.5, 0.5]), "accuracy")
    assert (
        certain["mean"] == pytest.approx(0.4)
        and certain["p_value"] == 0.0
        and certain["ci95"] == pytest.approx([0.4, 0.4])
    )
    nothing = difference_interval(frame([0.5, 0.5]), frame([0.5, 0.5]), "accuracy")
    assert nothing["mean"] == 0.0 and nothing["p_value"] == 1.0


def summary_from_results(results: pd.DataFrame) -> dict:
    """summary.json's statistics from results.csv, by the formulas above."""
    out: dict = {}
    for (model, strategy), arm in results.groupby(["model", "strategy"]):
        for metric in ("accuracy", "macro_f1", "balanced_accuracy", "video_accuracy"):
            mean, low, high = corrected_interval(arm[metric].tolist(), arm.n_train.mean(), arm.n_test.mean())
            out[(model, strategy, metric)] = (mean, low, high)
    return out


def test_summarize_gives_what_the_formulas_give_from_a_results_table():
    rows = []
    for strategy, scores in (("grouped", SCORES), ("leaky", [0.95, 0.97, 0.93, 0.96, 0.98])):
        for fold, score in enumerate(scores):
            rows.append({"model": "M", "strategy": strategy, "fold": fold, "accuracy": score, "macro_f1": score / 2,
                         "balanced_accuracy": score, "video_accuracy": score, "n_train": N_TRAIN + fold,
                         "n_test": N_TEST - fold})  # fmt: skip
    results = pd.DataFrame(rows)
    summary = summarize(results)
    for (model, strategy, metric), (mean, low, high) in summary_from_results(results).items():
        entry = summary["models"][model][strategy][metric]
        assert entry["mean"] == pytest.approx(mean, abs=1e-12)
        assert entry["ci95"] == pytest.approx([low, high], abs=1e-12)


@pytest.mark.slow
def test_a_finished_runs_summary_is_its_results_csv_by_the_formulas(finished_run):
    results = pd.read_csv(finished_run / "results.csv")
    summary = json.loads((finished_run / "summary.json").read_text())
    for (model, strategy, metric), (mean, low, high) in summary_from_results(results).items():
        entry = summary["models"][model][strategy][metric]
        assert entry["mean"] == pytest.approx(mean, abs=1e-12) and entry["ci95"] == pytest.approx(
            [low, high], abs=1e-12
        )
    for model, rows in results.groupby("model"):
        leaky, grouped = (rows[rows.strategy == s] for s in ("leaky", "grouped"))
        diff, df, half, p_value = welch(leaky.accuracy.tolist(), grouped.accuracy.tolist(),
                                        leaky.n_test.mean() / leaky.n_train.mean(),
                                        grouped.n_test.mean() / grouped.n_train.mean())  # fmt: skip
        inflation = summary["models"][model]["inflation"]
        assert inflation["mean"] == pytest.approx(diff, abs=1e-12) and inflation["df"] == pytest.approx(df, rel=1e-9)
        assert inflation["p_value"] == pytest.approx(p_value, rel=1e-9)
        assert inflation["ci95"] == pytest.approx([max(-1, diff - half), min(1, diff + half)], abs=1e-12)
