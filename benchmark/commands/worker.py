"""`worker`: join a run through its shared Optuna storage and take whole outer fold tasks."""

from __future__ import annotations

import argparse

from benchmark.core.words import count_of
from benchmark.cv.worker import run_worker
from config import Config


def main(args: argparse.Namespace, config: Config) -> int:
    run_dir = (args.out or config.runs_dir) / args.run_id
    recorded = run_worker(args.storage, run_dir, args.wait)
    print(f"worker done: {count_of(len(recorded), 'fold task')} recorded here; every fold of {run_dir} has its record")
    return 0
