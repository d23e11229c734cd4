"""Shared by the test modules: the CLI in a fresh interpreter, its one-line error contract, the small
end-to-end run several modules read (tiny demo, 2 folds, 2 trials, both models), and session folders
built once for all xdist workers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "--set",
    "CustomCNN.input_sizes=[32]",
    "--set",
    'EfficientNetLite0.train_positions=["center"]',
    "--set",
    "EfficientNetLite0.max_unfrozen_blocks=1",
    "--set",
    "inner_folds=2",
]


def run_command(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "benchmark",
        "run",
        "--data",
        str(data),
        "--folds",
        "2",
        "--trials",
        "2",
        "--out",
        str(out),
        "--run-id",
        "r",
        *QUICK,
        *extra,
    ]


def cli(*args: str, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m benchmark ARGS` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit code 2, no traceback, and a last line `error: ...` holding every fragment."""
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), last
    for fragment in fragments:
        assert fragment in last, last


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A session fixture's folder, built by the first pytest-xdist worker that asks and read by all
    (pytest-xdist's recipe: a file lock in the folder the workers share). Session fixtures are per
    worker otherwise, and the `xdist_group` way around that does nothing on pytest 9 with xdist 3.8
    (xdist sets `item._nodeid`, which pytest 9 no longer reads: every end-to-end run was built twice)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above every worker's own
    folder, done = root / name, root / f"{name}.built"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            if folder.exists():
                pytest.fail(f"building the shared fixture {name} failed in another worker: see its error")
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def finished_run_cache(run_dir: Path) -> Path:
    return run_dir.parent / "cache"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes: equal before and after means nothing was touched."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
