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


# --- end to end: the statistics of a run and of `compare`, recomputed from the CSV files ---------------


@pytest.mark.slow
def test_a_finished_runs_comparisons_and_tuning_gains_are_its_results_csv_by_the_formulas(finished_run):
    import json

    results = pd.read_csv(finished_run / "results.csv")
    summary = json.loads((finished_run / "summary.json").read_text())
    assert {"defaults_accuracy", "defaults_video_accuracy", "repeat"} <= set(results.columns)
    assert not results.defaults_accuracy.isna().any()
    rope = summary["rope"]
    for entry in summary["comparisons"]:
        rows = {m: results[(results.model == m) & (results.strategy == entry["strategy"])].sort_values("fold")
                for m in (entry["a"], entry["b"])}  # fmt: skip
        a, b = rows[entry["a"]], rows[entry["b"]]
        expected = by_formula(a[entry["metric"]].tolist(), b[entry["metric"]].tolist(), a.n_train.mean(),
                              a.n_test.mean(), rope)  # fmt: skip
        assert entry["mean_difference"] == pytest.approx(expected["mean"], abs=1e-12)
        assert entry["ci95"] == pytest.approx([max(-1, expected["low"]), min(1, expected["high"])], abs=1e-12)
        assert entry["p_value"] == pytest.approx(expected["p"], rel=1e-9)
        assert entry["p_a_better"] == pytest.approx(expected["p_a"], abs=1e-9)
    assert {(e["strategy"], e["metric"]) for e in summary["comparisons"]} == {
        (s, m) for s in ("grouped", "leaky") for m in ("accuracy", "video_accuracy")
    }
    for model, arms in summary["tuning_gain"].items():
        for strategy, metrics in arms.items():
            rows = results[(results.model == model) & (results.strategy == strategy)]
            gain = rows.accuracy - rows.defaults_accuracy
            assert metrics["accuracy"]["mean_difference"] == pytest.approx(gain.mean(), abs=1e-12)
    report = (finished_run / "report.html").read_text(encoding="utf-8")
    assert '<section id="comparisons">' in report and "Corani" in report and "Tuned against" not in report
    assert "Model against model" in (finished_run / "summary.md").read_text()


@pytest.mark.slow
def test_compare_pairs_runs_on_the_same_folds_and_says_why_not_otherwise(finished_run, tmp_path):
    import json
    import shutil

    from harness import cli

    twin = tmp_path / "twin"
    shutil.copytree(finished_run, twin)
    results = pd.read_csv(twin / "results.csv")
    results["accuracy"] = results.accuracy + np.where(results.fold == 0, 0.02, 0.04)  # a better "run"
    results.to_csv(twin / "results.csv", index=False)
    done = cli("compare", str(finished_run), str(twin), "--json", str(tmp_path / "c.json"),
               "--out", str(tmp_path / "c.html"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads((tmp_path / "c.json").read_text())
    assert found["paired"] is True and (tmp_path / "c.html").read_text().count("<tr>") >= 8
    entry = next(c for c in found["comparisons"] if c["model"] == "CustomCNN" and c["strategy"] == "grouped"
                 and c["metric"] == "accuracy")  # fmt: skip
    base = pd.read_csv(finished_run / "results.csv").query("model == 'CustomCNN' and strategy == 'grouped'")
    better = results.query("model == 'CustomCNN' and strategy == 'grouped'")
    expected = by_formula(better.accuracy.tolist(), base.accuracy.tolist(), better.n_train.mean(),
                          better.n_test.mean(), found["rope"])  # fmt: skip
    assert entry["run_a"] == "twin" and entry["mean_difference"] == pytest.approx(0.03, abs=1e-12)
    assert entry["p_value"] == pytest.approx(expected["p"], rel=1e-9)
    assert "CustomCNN on new videos: twin" in done.stdout

    shuffled = tmp_path / "other-folds"
    shutil.copytree(twin, shuffled)
    manifest = pd.read_csv(shuffled / "manifests" / "grouped.csv", keep_default_na=False)
    manifest["fold"] = 1 - manifest.fold
    manifest.to_csv(shuffled / "manifests" / "grouped.csv", index=False)
    done = cli("compare", str(finished_run), str(shuffled), "--json", str(tmp_path / "u.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    unpaired = json.loads((tmp_path / "u.json").read_text())
    assert unpaired["paired"] is False and any("their outer folds differ" in n for n in unpaired["notes"])
    grouped = next(c for c in unpaired["comparisons"] if c["strategy"] == "grouped" and c["model"] == "CustomCNN"
                   and c["metric"] == "accuracy")  # fmt: skip
    assert grouped["paired"] is False and grouped["p_a_better"] is None and "Welch" in grouped["method"]
    assert "not paired: their outer folds differ" in done.stdout


@pytest.mark.slow
def test_repeats_have_their_own_folds_and_studies_resume_and_use_the_repeated_variance(small_demo, tmp_path):
    import json
    import os
    import subprocess

    from harness import ROOT, run_command

    command = run_command(small_demo, tmp_path, "--repeats", "2", "--models", "CustomCNN", "--strategies",
                          "grouped", "--trials", "1", "--set", "audit_in_run=false")  # fmt: skip
    env = {**os.environ, "WORKOUT_BENCH_SIGNAL_AT": "train:SIGINT"}
    killed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert killed.returncode == 130, killed.stderr[-2000:]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = tmp_path / "r"
    first = pd.read_csv(run_dir / "manifests" / "grouped.csv", keep_default_na=False)
    second = pd.read_csv(run_dir / "manifests" / "repeat1" / "grouped.csv", keep_default_na=False)
    assert (first.path == second.path).all() and (first.fold != second.fold).any()  # another split
    assert (second.groupby("group").fold.nunique() == 1).all()  # still grouped
    results = pd.read_csv(run_dir / "results.csv")
    assert sorted(zip(results.repeat, results.fold)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    summary = json.loads((run_dir / "summary.json").read_text())
    accuracy = summary["models"]["CustomCNN"]["grouped"]["accuracy"]
    scores = results.accuracy.tolist()
    mean = sum(scores) / 4
    variance = (1 / 4 + results.n_test.mean() / results.n_train.mean()) * np.var(scores, ddof=1)
    half = stats.t.ppf(0.975, 3) * math.sqrt(variance)  # R k - 1 = 3 degrees of freedom
    assert accuracy["n_folds"] == 4 and accuracy["ci95"] == pytest.approx([max(0, mean - half), min(1, mean + half)])
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert len(predictions) == 2 * len(first) and set(predictions.repeat) == {0, 1}
