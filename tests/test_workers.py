"""Several processes on one benchmark through a shared storage (SQLite, and a real PostgreSQL server):
fold tasks claimed and taken over, and the numbers of one process wherever a task ran."""

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
from harness import QUICK, ROOT, assert_one_line_error, built_once, cli

DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


# Seconds, not a minute: a dead holder's fold task (and trial) is taken over 4 s after its last beat.
LEASE = ["--set", "heartbeat_s=1", "--set", "lease_s=4"]
# What may differ between placements: who trained a fold, when, how long it took, the study's run id.
PLACEMENT_FIELDS = {"trained_by", "trained_at", "tune_s", "train_s", "evaluate_s", "defaults_s", "study"}


def run_args(data: Path, out: Path, run_id: str, storage: str, *extra: str) -> list[str]:
    return ["run", "--data", str(data), "--folds", "2", "--trials", "2", "--models", "CustomCNN",
            "--set", "audit_in_run=false", *QUICK, *LEASE, "--storage", storage, "--run-id", run_id,
            "--out", str(out), *extra]  # fmt: skip


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip


def worker_args(out: Path, run_id: str, storage: str) -> list[str]:
    return ["worker", "--storage", storage, "--run-id", run_id, "--out", str(out), "--wait", "300"]


def fold_numbers(run_dir: Path) -> dict:
    """Every fold record without the fields placement may change, and every fold's predictions file."""
    numbers = {}
    for path in sorted((run_dir / "folds").rglob("fold*.json")):
        record = json.loads(path.read_text())
        key = str(path.relative_to(run_dir))
        numbers[key] = {k: v for k, v in record.items() if k not in PLACEMENT_FIELDS}
        numbers[key + ":predictions"] = path.with_suffix(".predictions.csv").read_text()
    return numbers


def trained_by(run_dir: Path) -> list[str]:
    return [json.loads(p.read_text())["trained_by"] for p in sorted((run_dir / "folds").rglob("fold*.json"))]


def claims(storage: str, run_id: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=f"{run_id}/tasks", storage=storage).trials


@pytest.fixture(scope="session")
def reference_run(small_demo, tmp_path_factory) -> Path:
    """One process on SQLite: the numbers every placement below must give (built once per session)."""

    def build(out: Path) -> None:
        done = cli(*run_args(small_demo, out, "ref", f"sqlite:///{out / 'ref.db'}"))
        assert done.returncode == 0, done.stderr[-3000:]
        assert len(set(trained_by(out / "ref"))) == 1

    return built_once(tmp_path_factory, "reference-run", build) / "ref"


@pytest.mark.slow
def test_a_coordinator_and_two_workers_share_the_fold_tasks_with_the_numbers_of_one_process(
    reference_run, small_demo, tmp_path, postgres_url
):
    """The final fits are shared out (records name at least two processes), each fold is recorded once,
    and every record and prediction equals the single-process run's (SQLite: the restarted-coordinator
    test below)."""
    storage = postgres_url
    out, run_id = tmp_path / "runs", f"three-{tmp_path.name}"
    processes = [start(*run_args(small_demo, out, run_id, storage))]
    processes += [start(*worker_args(out, run_id, storage)) for _ in range(2)]
    finished = [process.communicate(timeout=900) for process in processes]
    for process, (_stdout, stderr) in zip(processes, finished):
        assert process.returncode == 0, stderr[-3000:]
        assert "Traceback" not in stderr
    run_dir = out / run_id
    assert fold_numbers(run_dir) == fold_numbers(reference_run)
    holders = trained_by(run_dir)
    assert len(holders) == 4 and len(set(holders)) >= 2, holders
    reported = {_worker_id(stderr): int(stdout.strip().splitlines()[-1].split()[2]) for stdout, stderr in finished[1:]}
    assert all(holders.count(worker) == count for worker, count in reported.items()), (reported, holders)
    done = [t for t in claims(storage, run_id) if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.user_attrs["task"] for t in done) == sorted(
        f"CustomCNN/{s}/fold{k}" for s in ("grouped", "leaky") for k in range(2)
    )  # one finished claim per task: none trained twice to completion
    results = pd.read_csv(run_dir / "results.csv")
    assert len(results) == 4 and (run_dir / "report.html").is_file()


@pytest.mark.slow
def test_workers_killed_in_tuning_and_in_a_final_fit_lose_nothing(reference_run, small_demo, tmp_path, postgres_url):
    """SIGKILL, no clean-up: one worker dies in its first trial, one before its first final fit. Their
    claims lapse after lease_s, the coordinator takes both tasks over, and the numbers are unchanged."""
    out, run_id = tmp_path / "runs", f"killed-{tmp_path.name}"
    coordinator = start(*run_args(small_demo, out, run_id, postgres_url))
    killed = [
        start(*worker_args(out, run_id, postgres_url), env={**os.environ, "WORKOUT_BENCH_SIGNAL_AT": point})
        for point in ("tune:SIGKILL", "train:SIGKILL")
    ]
    stderr = [process.communicate(timeout=900)[1] for process in (coordinator, *killed)]
    assert coordinator.returncode == 0, stderr[0][-3000:]
    assert [process.returncode for process in killed] == [-9, -9], [e[-2000:] for e in stderr[1:]]
    run_dir = out / run_id
    assert fold_numbers(run_dir) == fold_numbers(reference_run)
    dead = {_worker_id(e) for e in stderr[1:]}
    assert not dead & set(trained_by(run_dir))
    lapsed = [t for t in claims(postgres_url, run_id) if t.user_attrs.get("holder") in dead]
    assert {t.state for t in lapsed} == {optuna.trial.TrialState.FAIL} and len(lapsed) == 2, lapsed
    # The trials of the worker killed in tuning: failed, and run again by whoever took the fold over.
    for name in {f"{run_id}/{t.user_attrs['task']}" for t in lapsed}:
        trials = optuna.load_study(study_name=name, storage=postgres_url).trials
        assert len([t for t in trials if t.state in DONE]) == 2, name


@pytest.mark.slow
def test_a_database_restart_mid_run_loses_nothing_and_runs_nothing_twice(
    reference_run, small_demo, tmp_path, postgres_cluster
):
    """The server goes down for a few seconds while the coordinator and a worker tune: both retry with
    backoff and carry on; the run ends with the single-process numbers, each task finished once."""
    out, run_id, storage = tmp_path / "runs", "restart", postgres_cluster.url
    processes = [start(*run_args(small_demo, out, run_id, storage)), start(*worker_args(out, run_id, storage))]
    deadline = time.monotonic() + 300
    while not _running_trials(storage, run_id):
        assert time.monotonic() < deadline and all(p.poll() is None for p in processes), "no trial started"
        time.sleep(0.5)
    postgres_cluster.stop("fast")  # drops every connection
    time.sleep(5)
    postgres_cluster.start()
    stderr = [process.communicate(timeout=900)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [e[-3000:] for e in stderr]
    assert "Traceback" not in "".join(stderr)
    run_dir = out / run_id
    assert fold_numbers(run_dir) == fold_numbers(reference_run)
    done = [t.user_attrs["task"] for t in claims(storage, run_id) if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == len(set(done)) == 4


@pytest.mark.slow
def test_a_coordinator_killed_and_started_again_finishes_the_run_the_workers_carried_on(
    reference_run, small_demo, tmp_path
):
    """The coordinator dies in its first final fit; the worker goes on; the same command again joins,
    waits for what the worker holds and writes the summary. A second coordinator meanwhile is refused."""
    out, run_id, storage = tmp_path / "runs", "again", f"sqlite:///{tmp_path / 'again.db'}"
    first = start(
        *run_args(small_demo, out, run_id, storage), env={**os.environ, "WORKOUT_BENCH_SIGNAL_AT": "train:SIGKILL"}
    )
    worker = start(*worker_args(out, run_id, storage))
    first.communicate(timeout=900)
    assert first.returncode == -9
    second = start(*run_args(small_demo, out, run_id, storage))
    time.sleep(3)  # the second coordinator holds the run directory's lock by now
    third = cli(*run_args(small_demo, out, run_id, storage))
    assert_one_line_error(third, "is being run by")
    for process in (second, worker):
        _stdout, stderr = process.communicate(timeout=900)
        assert process.returncode == 0, stderr[-3000:]
    assert fold_numbers(out / run_id) == fold_numbers(reference_run)
    assert (out / run_id / "summary.json").is_file()


def _running_trials(storage: str, run_id: str) -> bool:
    try:
        names = optuna.study.get_all_study_names(storage)
    except Exception:  # noqa: BLE001 - the schema is not there yet
        return False
    for name in names:
        if name.startswith(f"{run_id}/CustomCNN/"):
            study = optuna.load_study(study_name=name, storage=storage)
            if study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                return True
    return False


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
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_runs_sharing_a_storage_keep_their_own_studies_and_a_changed_config_is_refused(
    small_demo, tmp_path, kind, request
):
    """A team's runs on one database: each study holds exactly its own run's --trials, and a run that
    reuses an id with another config stops in one line instead of counting the other run's trials.
    On an SQLite file and on a PostgreSQL server (the team's case), as docs/guarantees.md says."""
    storage = request.getfixturevalue("postgres_url") if kind == "postgresql" else f"sqlite:///{tmp_path}/shared.db"
    prefix = f"{kind}-{tmp_path.name}"  # the PostgreSQL database is shared by the whole session
    common = ["--data", str(small_demo), "--folds", "2", "--models", "CustomCNN", "--strategies", "grouped",
              "--storage", storage, "--set", "audit_in_run=false", *QUICK]  # fmt: skip
    budgets = {f"{prefix}-a": 1, f"{prefix}-b": 2}
    for run_id, trials in budgets.items():
        done = cli("run", *common, "--trials", str(trials), "--run-id", run_id, "--out", str(tmp_path / "runs"))
        assert done.returncode == 0, done.stderr[-2000:]
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)
             if s.study_name.startswith(prefix) and not s.study_name.endswith("/tasks")]  # fmt: skip
    assert sorted(names) == sorted(f"{run_id}/CustomCNN/grouped/fold{f}" for run_id in budgets for f in range(2))
    for name in names:
        trials = optuna.load_study(study_name=name, storage=storage).trials
        assert len([t for t in trials if t.state in DONE]) == budgets[name.split("/")[0]], name
    # The same run id from another run directory, with another config, on the same storage.
    again = cli("run", *common, "--trials", "3", "--run-id", f"{prefix}-a", "--out", str(tmp_path / "elsewhere"))
    assert_one_line_error(again, "belongs to a run with another config")


@pytest.mark.slow
def test_a_worker_joins_a_curve_run_and_takes_its_fold_tasks(small_demo, tmp_path):
    """`curve` and `run` share one set-up, so a worker finds a curve's parts as it finds a run's. The
    coordinator is stopped at its first trial (fault injection, not a race) and releases its claim: the
    worker alone then does every task of every part, and the resumed curve only summarises."""
    out, storage = tmp_path / "runs", f"sqlite:///{tmp_path / 'curve.db'}"
    curve = ["curve", "--data", str(small_demo), "--folds", "2", "--trials", "2", "--fractions", "0.5", "1.0",
             "--models", "CustomCNN", "--strategies", "grouped", "--storage", storage, "--run-id", "c",
             "--out", str(out), *QUICK]  # fmt: skip
    stopped = cli(*curve, env={**os.environ, "WORKOUT_BENCH_SIGNAL_AT": "tune:SIGTERM"})
    assert stopped.returncode == 130, stopped.stderr[-2000:]
    worker = cli("worker", "--storage", storage, "--run-id", "c", "--out", str(out), "--wait", "5")
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert worker.stdout.strip().splitlines()[-1].startswith("worker done: 4 fold tasks recorded here")
    records = sorted((out / "c").rglob("fold*.json"))
    assert len(records) == 4 and {json.loads(p.read_text())["trained_by"] for p in records} == {
        _worker_id(worker.stderr)
    }
    for name in (s.study_name for s in optuna.get_all_study_summaries(storage)):
        if not name.endswith("/tasks"):
            done = [t for t in optuna.load_study(study_name=name, storage=storage).trials if t.state in DONE]
            assert len(done) == 2, name
    resumed = cli(*curve)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    points = json.loads((out / "c" / "curve.json").read_text())["points"]
    assert sorted((p["strategy"], p["fraction"]) for p in points) == [("grouped", 0.5), ("grouped", 1.0)]


def _worker_id(stderr: str) -> str:
    return next(line.split()[1].rstrip(":") for line in stderr.splitlines() if line.startswith("worker "))
