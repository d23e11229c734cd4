"""`worker`: join a run through its shared Optuna storage and take whole outer fold tasks.

The coordinator (`run --storage URL --run-id ID`) writes the run directory (config, data summary,
manifests); then it and every worker claim fold tasks through the storage (claims.py) and each does
all of a task it holds: trials, final fit, evaluation, record. A worker reads the config and
manifests from the run directory on shared disk and rebuilds the rest deterministically (scan,
groups, content hashes, caches by content), so it trains on exactly the coordinator's folds and a
task gives the same numbers wherever it runs. The coordinator writes the summary and the report.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from benchmark.core.environment import configure_devices
from benchmark.core.errors import BenchmarkError
from benchmark.core.rundir import CONFIG, PARTS, SPLITS
from benchmark.cv.claims import work_through
from benchmark.cv.folds import FoldTask
from benchmark.cv.prepare import Part
from benchmark.cv.splitting import assignments_from_manifests
from benchmark.cv.tune import POLL_S, WORKER_ID
from benchmark.data.load import load_grouped
from config import Config


def run_worker(storage: str, run_dir: Path, wait_s: float) -> list[FoldTask]:
    """The fold tasks this worker recorded; returns when every task of the run (every part of a curve)
    has its record."""
    _wait_for(run_dir / SPLITS, wait_s)  # written after config, data summary, parts and every manifest
    config = Config.from_dict(json.loads((run_dir / CONFIG).read_text(encoding="utf-8")))
    if not config.data_dir.is_dir():
        raise BenchmarkError(f"the run's data folder {config.data_dir} is not visible here: mount it at the same path")
    print(configure_devices(config.mixed_precision), file=sys.stderr)
    dataset = load_grouped(config, config.data_dir)[0].with_keys(config.scan_workers)
    parts = [Part(**entry) for entry in json.loads((run_dir / PARTS).read_text(encoding="utf-8"))]
    assignments = {
        repeat: assignments_from_manifests(run_dir, dataset, config.strategies, repeat)
        for repeat in {part.repeat for part in parts}
    }
    work = [part.work(run_dir, dataset, assignments, config) for part in parts]
    tasks = sum(len(part.tasks(config)) for part in work)
    print(
        f"worker {WORKER_ID}: joined {run_dir.name} ({tasks} fold tasks, {config.trials} trials each)", file=sys.stderr
    )
    return work_through(config, work, storage)


def _wait_for(path: Path, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while not path.is_file():
        if time.monotonic() > deadline:
            raise BenchmarkError(
                f"no run at {path.parent} after {wait_s:.0f} s: start `run --storage ... --run-id {path.parent.name}` "
                "first, with the same --out"
            )
        time.sleep(POLL_S)
