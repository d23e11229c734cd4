"""Shared fixtures: the real sample (skipped when absent, a failure in CI) and small generated datasets."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from harness import ROOT, built_once, finished_run_cache, run_command

from benchmark.core.outputs import STATE_DIR_ENV
from benchmark.data.demo import generate_demo_data
from config import CACHE_DIR_ENV, DEFAULT, Config

REAL_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "real-sample"

os.environ.setdefault("WORKOUT_BENCH_PROGRESS", "0")


def pytest_configure(config: pytest.Config) -> None:
    """Each xdist worker starts TensorFlow processes whose oneDNN OpenMP pool takes every core: with two
    workers on two cores the pools spin against each other. One share of the cores per worker, set
    before any test module loads TensorFlow (CLI subprocesses inherit it). Measured on 2 cores, a curve
    test and a label-issues test side by side: 128-138 s as they were, 79 s so."""
    if hasattr(config, "workerinput"):  # an xdist worker (the controller's environment has no such setting)
        workers = config.workerinput["workercount"]
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // workers)))


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory) -> Path:
    """Every cache of the test session (and of the CLI processes it starts) under pytest's tmp folder,
    never the repository's .cache: results must not depend on what ran before."""
    folder = tmp_path_factory.mktemp("cache")
    # The ledger of files the tool wrote (benchmark/core/outputs.py) too: never the user's state folder.
    settings = {CACHE_DIR_ENV: str(folder), STATE_DIR_ENV: str(tmp_path_factory.mktemp("state"))}
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    yield folder
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def test_config(session_cache) -> Config:
    return DEFAULT.replace(cache_dir=session_cache)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Tests that need the real sample skip outside CI: said once, loudly, at the end, not only in -ra."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "real sample not found" in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} test(s) did not run: the real sample is not at {REAL_SAMPLE} (CI fails them there); "
            "copy ../shared/real-sample beside the project to run them",
            yellow=True,
            bold=True,
        )


def skip_or_fail(reason: str) -> None:
    """Outside CI a test that cannot run here is skipped; in CI (CI=true, which .ci/run sets) it fails
    with the reason, so a green CI run has run every test."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_sample() -> Path:
    if not REAL_SAMPLE.is_dir():
        skip_or_fail(f"real sample not found at {REAL_SAMPLE}")
    return REAL_SAMPLE


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> Path:
    """The `tiny` demo scale: 22 classes x 5 videos; read-only for tests (copy before changing)."""
    built = built_once(tmp_path_factory, "demo", lambda folder: generate_demo_data(folder / "tiny", "tiny", seed=7))
    return built / "tiny"


@pytest.fixture(scope="session")
def small_demo(tiny_demo, tmp_path_factory) -> Path:
    """8 of the tiny demo's 22 classes (~130 images): for end-to-end properties that do not need every
    class (determinism, concurrency, a moved run), at a third of the cost; read-only."""

    def copy_eight(root: Path) -> None:
        for folder in sorted(p for p in tiny_demo.iterdir() if p.is_dir())[:8]:
            shutil.copytree(folder, root / "eight" / folder.name)

    return built_once(tmp_path_factory, "small-demo", copy_eight) / "eight"


@pytest.fixture(scope="session")
def weights_only_cache(session_cache, tmp_path_factory) -> Path:
    """The converted ImageNet weights of the session cache and nothing else: a cold cache for pixels and
    features that does not convert the same weights file again."""
    from benchmark.data.cache import WEIGHTS_FOLDER
    from models.backbones import backbone, converted_weights

    converted_weights(backbone("EfficientNetLite0"), session_cache)
    folder = tmp_path_factory.mktemp("weights-only")
    shutil.copytree(session_cache / WEIGHTS_FOLDER, folder / WEIGHTS_FOLDER)
    return folder


@pytest.fixture
def in_process(capsys, monkeypatch):
    """The real CLI entry point without a new interpreter (errors that stop before any training)."""
    from benchmark import cli

    monkeypatch.setattr(cli.interrupt, "install", lambda: None)  # keep pytest's own Ctrl-C handling

    def call(*args: str) -> subprocess.CompletedProcess:
        try:
            code = cli.main(list(args))
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return call


@pytest.fixture(scope="session")
def finished_run(tiny_demo, tmp_path_factory) -> Path:
    """The tiny demo, 2 folds, 2 trials, both models: read by many tests, built once for the session
    (its own cache beside it, so a test on another xdist worker can run it again with the same config)."""

    def build(out: Path) -> None:
        started = time.time()
        command = run_command(tiny_demo, out, "--set", f"cache_dir={finished_run_cache(out / 'r')}")
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        (out / "r" / "elapsed").write_text(f"{time.time() - started:.1f}")
        (out / "r" / "stdout").write_text(done.stdout)

    return built_once(tmp_path_factory, "finished-run", build) / "r"


@pytest.fixture
def real_copy(real_sample, tmp_path) -> Path:
    """A writable copy of the real sample's class folders."""
    target = tmp_path / "real"
    shutil.copytree(real_sample, target, ignore=shutil.ignore_patterns("README.md"))
    return target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresCluster:
    """A private PostgreSQL server on loopback, in its own folder; `restart()` for the fault tests."""

    def __init__(self) -> None:
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not binaries:
            skip_or_fail("PostgreSQL is not installed (apt-get install postgresql; .ci/run does)")
        self.bin_dir = binaries[-1].parent
        # Not under pytest's tmp folder: that is private to root, and the server runs as postgres.
        self.folder = Path(tempfile.mkdtemp(prefix="workout-bench-pg-"))
        self.data, self.port = self.folder / "data", _free_port()
        # The server refuses to run as root: run it as the postgres user when we are root.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.folder, "postgres")
        try:
            subprocess.run([*self.as_user, self.bin_dir / "initdb", "-D", self.data, "-U", "bench", "--auth=trust"],
                           check=True, capture_output=True, timeout=120)  # fmt: skip
            self.start()
            subprocess.run([self.bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "bench",
                            "workout"], check=True, capture_output=True, timeout=60)  # fmt: skip
        except (subprocess.CalledProcessError, OSError, subprocess.TimeoutExpired) as error:
            details = getattr(error, "stderr", b"") or b""
            skip_or_fail(f"PostgreSQL could not be started: {error} {details.decode(errors='replace')[-300:]}")
        self.url = f"postgresql://bench@127.0.0.1:{self.port}/workout"

    def _ctl(self, *args: str) -> None:
        subprocess.run([*self.as_user, self.bin_dir / "pg_ctl", "-D", self.data, *args], check=True,
                       capture_output=True, timeout=120)  # fmt: skip

    def start(self) -> None:
        self._ctl("-l", str(self.folder / "log"), "-w", "start", "-o",
                  f"-h 127.0.0.1 -p {self.port} -k {self.folder}")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self.as_user, self.bin_dir / "pg_ctl", "-D", self.data, "-m", "immediate", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url():
    """A private PostgreSQL cluster on loopback for the session, or WORKOUT_BENCH_POSTGRES_URL if set."""
    if os.environ.get("WORKOUT_BENCH_POSTGRES_URL"):
        yield os.environ["WORKOUT_BENCH_POSTGRES_URL"]
        return
    cluster = PostgresCluster()
    yield cluster.url
    cluster.remove()


@pytest.fixture
def postgres_cluster():
    """A cluster of the test's own, which it may stop and start (the session's serves other tests)."""
    cluster = PostgresCluster()
    yield cluster
    cluster.remove()


from hypothesis import settings  # noqa: E402

# CI replays the same examples every time; locally hypothesis explores new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
