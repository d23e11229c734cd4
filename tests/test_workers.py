"""Several workers on one benchmark through a real PostgreSQL server (Optuna's RDB storage)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from harness import QUICK, ROOT

DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A private PostgreSQL cluster on loopback for this module, or WORKOUT_BENCH_POSTGRES_URL if set."""
    if os.environ.get("WORKOUT_BENCH_POSTGRES_URL"):
        yield os.environ["WORKOUT_BENCH_POSTGRES_URL"]
        return
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not binaries:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does)")
    bin_dir = binaries[-1].parent
    # Not under pytest's tmp folder: that is private to root, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="workout-bench-pg-"))
    data, port = folder / "data", _free_port()
    # The server refuses to run as root: run it as the postgres user when we are root.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    try:
        subprocess.run([*as_user, bin_dir / "initdb", "-D", data, "-U", "bench", "--auth=trust"], check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        subprocess.run(
            [*as_user, bin_dir / "pg_ctl", "-D", data, "-l", folder / "log", "-w", "start", "-o",
             f"-h 127.0.0.1 -p {port} -k {folder}"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        subprocess.run([bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "bench", "workout"],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
    except (subprocess.CalledProcessError, OSError, subprocess.TimeoutExpired) as error:
        details = getattr(error, "stderr", b"") or b""
        pytest.skip(f"PostgreSQL could not be started: {error} {details.decode(errors='replace')[-300:]}")
    yield f"postgresql://bench@127.0.0.1:{port}/workout"
    subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


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
    assert finished[1][0].strip().splitlines()[-1].startswith("worker done:")

    run_dir = out / run_id
    summaries = optuna.get_all_study_summaries(postgres_url)
    assert sorted(s.study_name for s in summaries) == sorted(
        f"CustomCNN/{strategy}/fold{fold}" for strategy in ("grouped", "leaky") for fold in range(2)
    )
    contributors = set()
    for summary in summaries:
        trials = optuna.load_study(study_name=summary.study_name, storage=postgres_url).trials
        done = [t for t in trials if t.state in DONE]
        assert len(done) == 4, f"{summary.study_name}: {len(done)} finished trials, budget 4"
        assert len({t.number for t in done}) == 4  # no trial recorded twice
        contributors |= {t.user_attrs["worker"] for t in done}
    assert len(contributors) >= 2, f"only {contributors} ran trials"
    results = pd.read_csv(run_dir / "results.csv")
    assert len(results) == 4 and not results.duplicated(["model", "strategy", "fold"]).any()
    assert json.loads((run_dir / "summary.json").read_text())["models"]["CustomCNN"]["inflation"]
    assert (run_dir / "report.html").is_file()


def test_a_worker_rebuilds_the_exact_config_from_the_run_directory():
    from config import DEFAULT, Config

    changed = DEFAULT.replace(
        models=("CustomCNN",), folds=3, cache_dir=Path("/tmp/c"), audit_cosine_min=0.9,
        model_options={"CustomCNN": {"input_size": 48}},
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

    from models.custom_cnn import DEFAULTS, build_custom_cnn

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_custom_cnn({**DEFAULTS, "input_size": 32}, 22, 0)
        assert model.layers[-1].compute_dtype == "float32"
        assert str(model.predict(keras.ops.zeros((2, 32, 32, 3)), verbose=0).dtype) == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
