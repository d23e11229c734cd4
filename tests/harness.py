"""Shared by the test modules: the CLI in a fresh interpreter, its one-line error contract, and the
small end-to-end run several modules read (tiny demo, 2 folds, 2 trials, both models)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
