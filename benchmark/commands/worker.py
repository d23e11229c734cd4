"""`worker`: join a run through its shared Optuna storage and run trials of its studies."""

from __future__ import annotations

import argparse

from benchmark.cv.worker import run_worker
from config import Config


def main(args: argparse.Namespace, config: Config) -> int:
    run_dir = (args.out or config.runs_dir) / args.run_id
    trials = run_worker(args.storage, run_dir, args.wait)
    print(f"worker done: {trials} trial(s) run here; every study of {run_dir} has its budget")
    return 0
