"""Paired comparisons recomputed by their published formulas: the corrected paired t-test (Nadeau & Bengio
2003; Bouckaert & Frank 2004 for repeats), the Bayesian correlated t-test (Corani & Benavoli 2015), Holm."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.cv.compare import holm, model_comparisons, paired_difference, tuning_gains
from reports.text import verdict

A = [0.70, 0.64, 0.75, 0.68, 0.72]
B = [0.10, 0.06, 0.12, 0.02, 0.08]
N_TRAIN, N_TEST = 88.0, 22.0


def by_formula(a: list[float], b: list[float], n_train: float, n_test: float, rope: float) -> dict[str, float]:
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    mean = sum(d) / n
    s2 = sum((x - mean) ** 2 for x in d) / (n - 1)
    scale = math.sqrt((1 / n + n_test / n_train) * s2)
    t_stat = mean / scale
    half = stats.t.ppf(0.975, n - 1) * scale
    # The posterior of the mean difference: Student t(n - 1), location mean(d), that scale.
    below = stats.t.cdf((-rope - mean) / scale, n - 1)
    above = 1 - stats.t.cdf((rope - mean) / scale, n - 1)
    return {"mean": mean, "low": mean - half, "high": mean + half, "p": 2 * (1 - stats.t.cdf(abs(t_stat), n - 1)),
            "p_a": above, "p_b": below, "p_same": 1 - above - below}  # fmt: skip


def test_the_paired_difference_is_the_corrected_t_test_and_its_bayesian_posterior():
    a = [0.61, 0.66, 0.58, 0.70, 0.64]
    b = [0.60, 0.62, 0.60, 0.66, 0.61]
    expected = by_formula(a, b, N_TRAIN, N_TEST, 0.01)
    got = paired_difference(np.array(a), np.array(b), N_TRAIN, N_TEST, 0.01)
    assert got["mean_difference"] == pytest.approx(expected["mean"], abs=1e-12)
    assert got["ci95"] == pytest.approx([expected["low"], expected["high"]], abs=1e-12)
    assert got["p_value"] == pytest.approx(expected["p"], rel=1e-9)
    assert got["p_a_better"] == pytest.approx(expected["p_a"], abs=1e-12)
    assert got["p_b_better"] == pytest.approx(expected["p_b"], abs=1e-12)
    assert got["p_equivalent"] == pytest.approx(expected["p_same"], abs=1e-12)
    assert got["n_folds"] == 5 and got["df"] == 4 and got["rope"] == 0.01


def test_pairing_is_what_makes_a_small_difference_sure():
    """The same scores, shifted by a constant per fold: unpaired intervals overlap, the paired test is sure."""
    base = np.array([0.40, 0.55, 0.70, 0.50, 0.62])
    got = paired_difference(base + 0.03 + np.array([0.002, -0.001, 0.0, 0.001, -0.002]), base, N_TRAIN, N_TEST, 0.01)
    assert got["ci95"][0] > 0.01 and got["p_a_better"] > 0.99 and got["p_value"] < 0.001


def test_repeated_folds_use_the_bouckaert_frank_variance():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 0.7, 15), rng.uniform(0.45, 0.65, 15)  # 3 repeats x 5 folds
    d = a - b
    variance = (1 / 15 + N_TEST / N_TRAIN) * np.var(d, ddof=1)
    got = paired_difference(a, b, N_TRAIN, N_TEST, 0.01)
    half = stats.t.ppf(0.975, 14) * math.sqrt(variance)
    assert got["df"] == 14 and got["ci95"] == pytest.approx([d.mean() - half, d.mean() + half], abs=1e-12)


def test_zero_spread_and_one_fold():
    same = paired_difference(np.array([0.5, 0.6]), np.array([0.5, 0.6]), 10, 5, 0.01)
    assert same["p_value"] == 1.0 and same["p_equivalent"] == 1.0 and same["ci95"] == [0.0, 0.0]
    ahead = paired_difference(np.array([0.6, 0.7]), np.array([0.5, 0.6]), 10, 5, 0.01)
    assert ahead["p_value"] == 0.0 and ahead["p_a_better"] == 1.0
    one = paired_difference(np.array([0.6]), np.array([0.5]), 10, 5, 0.01)
    assert one["ci95"] == [None, None] and one["p_value"] is None


def test_holm_adjusts_by_rank_and_keeps_the_order():
    raw = [0.01, 0.04, 0.03, None]
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
    adjusted = holm(raw)
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06]) and adjusted[3] is None
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def results_table(models: dict[str, list[float]], strategy: str = "grouped") -> pd.DataFrame:
    rows = []
    for model, scores in models.items():
        for fold, score in enumerate(scores):
            rows.append({"model": model, "strategy": strategy, "fold": fold, "repeat": 0, "accuracy": score,
                         "video_accuracy": score, "n_train": N_TRAIN, "n_test": N_TEST,
                         "defaults_accuracy": score - 0.05, "defaults_video_accuracy": score})  # fmt: skip
    return pd.DataFrame(rows)


def test_model_comparisons_cover_every_pair_and_holm_adjust_three_models():
    table = results_table({"A": A, "B": B, "C": [0.5, 0.45, 0.55, 0.5, 0.52]})
    found = model_comparisons(table, ["A", "B", "C"], 0.01)
    pairs = [(e["a"], e["b"], e["metric"]) for e in found]
    assert pairs == [(a, b, m) for m in ("accuracy", "video_accuracy") for a, b in (("A", "B"), ("A", "C"), ("B", "C"))]
    accuracy = [e for e in found if e["metric"] == "accuracy"]
    assert [e["p_value_holm"] for e in accuracy] == pytest.approx(holm([e["p_value"] for e in accuracy]))
    first = accuracy[0]
    expected = by_formula(A, B, N_TRAIN, N_TEST, 0.01)
    assert first["mean_difference"] == pytest.approx(expected["mean"]) and first["p_value"] == pytest.approx(
        expected["p"], rel=1e-9
    )
    two = model_comparisons(table[table.model != "C"], ["A", "B"], 0.01)
    assert all("p_value_holm" not in e for e in two)  # one pair: nothing to adjust


def test_tuning_gain_is_tuned_minus_defaults_on_the_same_folds():
    gains = tuning_gains(results_table({"A": A}), 0.01)
    accuracy = gains["A"]["grouped"]["accuracy"]
    assert accuracy["mean_difference"] == pytest.approx(0.05) and accuracy["p_value"] == 0.0
    assert gains["A"]["grouped"]["video_accuracy"]["mean_difference"] == 0.0


def test_verdicts_read_as_sentences():
    sure = paired_difference(np.array(A), np.array(B), N_TRAIN, N_TEST, 0.01)
    assert verdict(sure, "Lite0", "CNN").startswith("Lite0 beats CNN by 62.2 points [")
    assert verdict(sure, "Lite0", "CNN").endswith("P(better by more than 1 point) > 0.99")
    flipped = paired_difference(np.array(B), np.array(A), N_TRAIN, N_TEST, 0.01)
    assert verdict(flipped, "CNN", "Lite0").startswith("Lite0 beats CNN by 62.2 points [+")
    unsure = paired_difference(np.array([0.5, 0.6, 0.4]), np.array([0.52, 0.55, 0.45]), 10, 5, 0.01)
    assert "cannot be told apart" in verdict(unsure, "X", "Y")
