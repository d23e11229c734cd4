"""Several workers on one benchmark through a real PostgreSQL server (Optuna's RDB storage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from harness import QUICK, ROOT, assert_one_line_error, cli

from benchmark.cv.storage import WORKER_ATTR

DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@pytest.mark.slow
def test_coordinator_and_two_workers_share_the_trials(postgres_url, tiny_demo, tmp_path):
    out, run_id = tmp_path / "runs", "pg"
    common = ["--storage", postgres_url, "--run-id", run_id, "--out", str(out)]
    coordinator = subprocess.Popen(
        [sys.executable, "-m", "benchmark", "run", "--data", str(tiny_demo), "--folds", "2", "--trials", "4",
         "--models", "CustomCNN", "--set", "audit_in_run=false", *QUICK, *common],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmark", "worker", *common],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    started = time.time()
    finished = [process.communicate(timeout=900) for process in (coordinator, *workers)]
    for process, (_stdout, stderr) in zip((coordinator, *workers), finished):
        assert process.returncode == 0, stderr[-3000:]
        assert "Traceback" not in stderr
    print(f"coordinator + 2 workers: {time.time() - started:.0f} s")
    reported = {}  # each worker's own account: its id and the trials it says it ran
    for stdout, stderr in finished[1:]:
        count = int(stdout.strip().splitlines()[-1].removeprefix("worker done: ").split()[0])
        reported[_worker_id(stderr)] = count

    run_dir = out / run_id
    summaries = optuna.get_all_study_summaries(postgres_url)
    assert sorted(s.study_name for s in summaries) == sorted(
        f"{run_id}/CustomCNN/{strategy}/fold{fold}" for strategy in ("grouped", "leaky") for fold in range(2)
    )
    by_process: dict[str, int] = {}
    for summary in summaries:
        trials = optuna.load_study(study_name=summary.study_name, storage=postgres_url).trials
        done = [t for t in trials if t.state in DONE]
        assert len(done) == 4, f"{summary.study_name}: {len(done)} finished trials, budget 4"
        assert len({t.number for t in done}) == 4  # no trial recorded twice
        for trial in done:
            by_process[trial.user_attrs[WORKER_ATTR]] = by_process.get(trial.user_attrs[WORKER_ATTR], 0) + 1
    # Who ran how many is up to the processes' timing; that each worker's line tells the truth is not.
    assert all(by_process.get(worker, 0) == count for worker, count in reported.items()), (reported, by_process)
    assert len(set(by_process) - set(reported)) <= 1 and sum(by_process.values()) == 16  # + the coordinator
    print(f"trials per process: {by_process}")
    results = pd.read_csv(run_dir / "results.csv")
    assert len(results) == 4 and not results.duplicated(["model", "strategy", "fold"]).any()
    assert json.loads((run_dir / "summary.json").read_text())["models"]["CustomCNN"]["inflation"]
    assert (run_dir / "report.html").is_file()


def test_a_worker_rebuilds_the_exact_config_from_the_run_directory():
    from config import DEFAULT, Config

    changed = DEFAULT.replace(
        models=("CustomCNN",), folds=3, cache_dir=Path("/tmp/c"), audit_cosine_min=0.9,
        model_options={"CustomCNN": {"input_sizes": [48]}},
    )  # fmt: skip
    assert Config.from_dict(json.loads(changed.to_json())) == changed


def test_worker_without_a_run_is_one_line_exit_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmark", "worker", "--storage", f"sqlite:///{tmp_path / 'o.db'}", "--run-id", "x",
         "--out", str(tmp_path), "--wait", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no run at" in done.stderr.strip().splitlines()[-1]


def test_float32_outputs_under_mixed_precision():
    import keras

    from models.custom_cnn import Architecture, build_network

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        features, classifier = build_network(Architecture(32, 8, 16, "avg", "batch", 22), 0)
        logits = classifier(features(keras.ops.zeros((2, 32, 32, 3))))
        assert classifier.compute_dtype == "float32" and keras.backend.standardize_dtype(logits.dtype) == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_runs_sharing_a_storage_keep_their_own_studies_and_a_changed_config_is_refused(
    backend, tiny_demo, tmp_path, request
):
    """A team's runs on one database: each study holds exactly its own run's --trials, and a run that
    reuses an id with another config stops in one line instead of counting the other run's trials."""
    storage = f"sqlite:///{tmp_path / 'shared.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    prefix = f"{backend}-{tmp_path.name}"  # the PostgreSQL database is shared by the whole session
    common = ["--data", str(tiny_demo), "--folds", "2", "--models", "CustomCNN", "--strategies", "grouped",
              "--storage", storage, "--set", "audit_in_run=false", *QUICK]  # fmt: skip
    budgets = {f"{prefix}-a": 1, f"{prefix}-b": 2}
    for run_id, trials in budgets.items():
        done = cli("run", *common, "--trials", str(trials), "--run-id", run_id, "--out", str(tmp_path / "runs"))
        assert done.returncode == 0, done.stderr[-2000:]
    names = [s.study_name for s in optuna.get_all_study_summaries(storage) if s.study_name.startswith(prefix)]
    assert sorted(names) == sorted(f"{run_id}/CustomCNN/grouped/fold{f}" for run_id in budgets for f in range(2))
    for name in names:
        trials = optuna.load_study(study_name=name, storage=storage).trials
        assert len([t for t in trials if t.state in DONE]) == budgets[name.split("/")[0]], name
    # The same run id from another run directory, with another config, on the same storage.
    again = cli("run", *common, "--trials", "3", "--run-id", f"{prefix}-a", "--out", str(tmp_path / "elsewhere"))
    assert_one_line_error(again, "belongs to a run with another config")


@pytest.mark.slow
def test_a_worker_joins_a_curve_run_and_does_its_trials(small_demo, tmp_path):
    """`curve` and `run` share one set-up, so a worker finds a curve's parts and studies as it finds a run's.
    The coordinator is stopped at its first trial (fault injection, not a race): the worker alone then
    runs every trial of every part, and the resumed curve only trains and scores."""
    out, storage = tmp_path / "runs", f"sqlite:///{tmp_path / 'curve.db'}"
    curve = ["curve", "--data", str(small_demo), "--folds", "2", "--trials", "2", "--fractions", "0.5", "1.0",
             "--models", "CustomCNN", "--storage", storage, "--run-id", "c", "--out", str(out), *QUICK]  # fmt: skip
    stopped = cli(*curve, env={**os.environ, "WORKOUT_BENCH_SIGNAL_AT": "tune:SIGTERM"})
    assert stopped.returncode == 130, stopped.stderr[-2000:]
    worker = cli("worker", "--storage", storage, "--run-id", "c", "--out", str(out), "--wait", "5")
    assert worker.returncode == 0, worker.stderr[-2000:]
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
    assert names == sorted(
        f"c@{f}/CustomCNN/{s}/fold{k}" for f in ("0.50", "1.00") for s in ("grouped", "leaky") for k in range(2)
    )
    for name in names:
        done = [t for t in optuna.load_study(study_name=name, storage=storage).trials if t.state in DONE]
        assert len(done) == 2 and {t.user_attrs[WORKER_ATTR] for t in done} == {_worker_id(worker.stderr)}, name
    resumed = cli(*curve)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    points = json.loads((out / "c" / "curve.json").read_text())["points"]
    assert sorted((p["strategy"], p["fraction"]) for p in points) == [
        ("grouped", 0.5), ("grouped", 1.0), ("leaky", 0.5), ("leaky", 1.0)
    ]  # fmt: skip


def _worker_id(stderr: str) -> str:
    return next(line.split()[1].rstrip(":") for line in stderr.splitlines() if line.startswith("worker "))
