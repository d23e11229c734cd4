"""The small end-to-end run that several test modules read: tiny demo, 2 folds, 2 trials, both models."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "--set",
    "custom_cnn_input_size=32",
    "--set",
    'efficientnet_train_positions=["center"]',
    "--set",
    "max_unfrozen_blocks=1",
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
