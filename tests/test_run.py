"""`run`: nested tuning over grouped and leaky folds, its records, resume after a kill, determinism."""

import json
import shutil
import subprocess
from pathlib import Path

import optuna
import pandas as pd
import pytest
from harness import ROOT, finished_run_cache, run_command

from benchmark.cv.storage import STARTUP_TRIALS

pytestmark = pytest.mark.slow  # every test here reads a finished end-to-end run

METRICS = ["accuracy", "balanced_accuracy", "macro_f1", "video_accuracy", "best_inner_accuracy"]
DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def trial_params(run_dir: Path) -> dict[str, list[dict]]:
    storage = f"sqlite:///{run_dir / 'optuna.db'}"
    return {
        summary.study_name: [
            t.params
            for t in optuna.load_study(study_name=summary.study_name, storage=storage).trials
            if t.state in DONE
        ]
        for summary in optuna.get_all_study_summaries(storage)
        if not summary.study_name.endswith("/tasks")  # the claims on fold tasks, not trials
    }


def test_end_to_end_run_writes_one_row_per_model_strategy_fold(finished_run):
    results = pd.read_csv(finished_run / "results.csv")
    assert len(results) == 2 * 2 * 2
    assert set(results.model) == {"CustomCNN", "EfficientNetLite0"} and set(results.strategy) == {"grouped", "leaky"}
    assert {"accuracy", "macro_f1", "n_train", "n_test", "balanced_accuracy", "n_trials"} <= set(results.columns)
    # The budget counts finished trials: complete and pruned (successive halving may stop the second).
    assert (results.n_trials + results.n_pruned == 2).all() and (results.n_trials >= 1).all()
    summary = json.loads((finished_run / "summary.json").read_text())
    for model in ("CustomCNN", "EfficientNetLite0"):
        entry = summary["models"][model]
        for strategy in ("grouped", "leaky"):
            accuracy = entry[strategy]["accuracy"]
            assert accuracy["ci95"][0] <= accuracy["mean"] <= accuracy["ci95"][1]
            assert {"mean", "std", "ci95"} <= set(entry[strategy]["macro_f1"])
        assert set(entry["inflation"]) >= {"mean", "ci95"}
        arms = results[results.model == model].groupby("strategy").accuracy.mean()
        assert entry["inflation"]["mean"] == pytest.approx(arms["leaky"] - arms["grouped"])
    closing = (finished_run / "stdout").read_text().strip().splitlines()
    assert closing[-1].startswith(f"results: {finished_run}  report: {finished_run / 'report.html'}")
    assert any(line.startswith("CustomCNN: accuracy grouped") for line in closing)
    for name in ("config.json", "manifests/grouped.csv", "manifests/leaky.csv", "optuna.db", "data_summary.json"):
        assert (finished_run / name).is_file()
    print(f"end-to-end run: {(finished_run / 'elapsed').read_text()} s")


def test_same_seed_same_numbers_for_both_models_with_tpe_sampling_and_cold_caches(
    small_demo, weights_only_cache, tmp_path
):
    """The README's determinism guarantee: the same command and seed on one machine gives the same
    manifests, trial parameters (TPE past its start-up trials), metrics and out-of-fold probabilities to
    the last digit, for both models and both strategies (the leaky arm's shuffled folds too), each run
    from an empty cache."""
    trials = STARTUP_TRIALS + 2  # the last two trials of every study are TPE's, not random start-up draws
    runs = []
    for name in ("a", "b"):
        shutil.copytree(weights_only_cache, tmp_path / name / "cache")  # pixels and features: none cached
        command = run_command(small_demo, tmp_path / name, "--trials", str(trials),
                              "--set", f"cache_dir={tmp_path / name / 'cache'}", "--set", "audit_in_run=false",
                              "--set", "CustomCNN.max_epochs=4")  # fmt: skip
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(tmp_path / name / "r")
    first, second = runs
    for strategy in ("grouped", "leaky"):
        name = f"manifests/{strategy}.csv"
        assert (first / name).read_bytes() == (second / name).read_bytes()
    params = trial_params(first)
    assert params == trial_params(second) and len(params) == 8
    assert all(len(sampled) == trials for sampled in params.values())
    columns = ["model", "strategy", "fold", *METRICS, "best_params"]
    pd.testing.assert_frame_equal(
        pd.read_csv(first / "results.csv")[columns], pd.read_csv(second / "results.csv")[columns], check_exact=True
    )
    assert (first / "predictions.csv").read_bytes() == (second / "predictions.csv").read_bytes()  # p_true too


def test_folds_in_parallel_processes_give_the_same_metrics_and_parameters(finished_run, tiny_demo, tmp_path):
    """`--n-jobs 2` runs the folds in joblib's worker processes, in another order: the same trials, metrics
    and best parameters to the last digit; probabilities within 1e-6, because joblib runs each worker's
    BLAS on fewer threads (cpu_count / n_jobs), which may round a product differently in its last bit.
    One strategy's two folds are the two processes' tasks, and no audit: neither is what is tested."""
    command = run_command(tiny_demo, tmp_path, "--models", "CustomCNN", "--strategies", "grouped", "--n-jobs", "2",
                          "--set", "audit_in_run=false")  # fmt: skip
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    name = "manifests/grouped.csv"
    assert (tmp_path / "r" / name).read_bytes() == (finished_run / name).read_bytes()
    first, second = trial_params(finished_run), trial_params(tmp_path / "r")
    assert len(second) == 2 and all(first[study] == params for study, params in second.items())
    columns = ["strategy", "fold", *METRICS, "best_params"]
    before = pd.read_csv(finished_run / "results.csv").query("model == 'CustomCNN' and strategy == 'grouped'")
    after = pd.read_csv(tmp_path / "r" / "results.csv")
    assert len(after) == 2
    pd.testing.assert_frame_equal(before[columns].reset_index(drop=True), after[columns], check_exact=True)
    keys = ["strategy", "fold", "path"]
    old = pd.read_csv(finished_run / "predictions.csv").query("model == 'CustomCNN' and strategy == 'grouped'")
    old = old.sort_values(keys)
    new = pd.read_csv(tmp_path / "r" / "predictions.csv").sort_values(keys)
    assert (old.predicted.to_numpy() == new.predicted.to_numpy()).all()
    assert abs(old.p_true.to_numpy() - new.p_true.to_numpy()).max() <= 1e-6


def test_run_directory_holds_data_summary_and_verified_manifests(finished_run):
    assert json.loads((finished_run / "config.json").read_text())["folds"] == 2
    assert json.loads((finished_run / "data_summary.json").read_text())["n_classes"] == 22
    stats = pd.DataFrame(json.loads((finished_run / "splits.json").read_text()))
    assert (stats[stats.strategy == "grouped"].test_share_with_video_in_train == 0).all()
    assert stats[stats.strategy == "leaky"].test_share_with_video_in_train.mean() > 0.5
    for strategy in ("grouped", "leaky"):
        manifest = pd.read_csv(finished_run / "manifests" / f"{strategy}.csv", keep_default_na=False)
        assert list(manifest.columns) == ["path", "label", "group", "fold", "strategy"]
        assert manifest.path.tolist() == sorted(manifest.path) and set(manifest.fold) == {0, 1}


def test_rerun_of_a_finished_run_redoes_nothing_and_another_config_is_refused(finished_run, tiny_demo):
    records = {p: p.read_bytes() for p in (finished_run / "folds").rglob("fold*.json")}
    out, same_cache = finished_run.parent, ["--set", f"cache_dir={finished_run_cache(finished_run)}"]
    again = subprocess.run(run_command(tiny_demo, out, *same_cache), cwd=ROOT, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.strip().splitlines()[-1].startswith(f"results: {finished_run} ")
    assert all(path.read_bytes() == content for path, content in records.items())
    refused = subprocess.run(
        run_command(tiny_demo, out, *same_cache, "--seed", "5"), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "made with another config (seed: 42 -> 5)" in refused.stderr.strip().splitlines()[-1]


def test_predictions_csv_has_every_test_image_once_and_matches_the_fold_records(finished_run):
    predictions = pd.read_csv(finished_run / "predictions.csv", keep_default_na=False)
    assert list(predictions.columns) == [
        "model", "strategy", "repeat", "fold", "path", "label", "group", "predicted", "confidence", "correct", "p_true",
    ]  # fmt: skip
    results = pd.read_csv(finished_run / "results.csv")
    for record_file in sorted((finished_run / "folds").rglob("fold*.json")):
        record = json.loads(record_file.read_text())
        rows = predictions.query(f"model == '{record['model']}' and strategy == '{record['strategy']}'")
        rows = rows[rows.fold == record["fold"]]
        manifest = pd.read_csv(finished_run / "manifests" / f"{record['strategy']}.csv", keep_default_na=False)
        assert sorted(rows.path) == sorted(manifest.path[record["test_images"]])  # every test image exactly once
        assert rows.correct.mean() == record["accuracy"]  # to the last digit
        assert ((rows.label == rows.predicted) == rows.correct).all() and (rows.p_true <= rows.confidence).all()
        votes = rows.groupby("group").size()
        assert len(votes) == record["n_videos"] and 0 <= record["video_accuracy"] <= 1
    assert len(predictions) == results.n_test.sum()
    assert "video_accuracy" in results.columns and not results.video_accuracy.isna().any()
