"""`worker`: join a run through its shared Optuna storage and run trials of its studies.

The coordinator (`run --storage URL --run-id ID`) writes the run directory (config, data summary,
manifests) and does every outer fold's final training; workers only add trials. A worker reads the
config and manifests from the run directory on shared disk and rebuilds the rest deterministically
(scan, groups, content hashes, caches by content), so it trains on exactly the coordinator's folds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import optuna

from benchmark.core.environment import configure_devices
from benchmark.core.errors import BenchmarkError
from benchmark.core.rundir import CONFIG, PARTS, SPLITS
from benchmark.cv.folds import FoldTask, fold_inputs, study_name, tune_fold
from benchmark.cv.prepare import Part
from benchmark.cv.splitting import assignments_from_manifests
from benchmark.cv.storage import DONE_STATES, WORKER_ATTR, rdb_storage
from benchmark.cv.tune import POLL_S, WORKER_ID
from benchmark.data.load import load_grouped
from benchmark.data.source import DatasetSource
from config import Config


def run_worker(storage: str, run_dir: Path, wait_s: float) -> int:
    """Trials this worker finished; returns when every study of the run (every part of a curve) has its budget."""
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
    work = [(part, part.run_data(dataset, assignments, config), task) for part in parts for task in part.tasks(config)]
    source = DatasetSource.of(dataset, dataset.class_names, config)
    print(
        f"worker {WORKER_ID}: joined {run_dir.name} ({len(work)} studies, {config.trials} trials each)",
        file=sys.stderr,
    )
    while True:
        pending = [
            (data, task)
            for part, data, task in work
            if not task.record_path(part.records_dir(run_dir)).is_file() and _finished(storage, task) < config.trials
        ]
        if not pending:
            return _count_mine(storage, [task for _, _, task in work])
        for data, task in pending:
            inputs = fold_inputs(config, data, task, source)
            tune_fold(config, inputs, len(data.class_names), storage, task, wait=False, sampler_salt=os.getpid())
        time.sleep(POLL_S)  # what is left is running in other workers


def _finished(storage: str, task: FoldTask) -> int:
    try:
        study = optuna.load_study(study_name=study_name(task), storage=rdb_storage(storage))
    except KeyError:  # the coordinator has not created it yet
        return -1
    return sum(t.state in DONE_STATES for t in study.get_trials(deepcopy=False))


def _count_mine(storage: str, tasks: list[FoldTask]) -> int:
    total = 0
    for task in tasks:
        try:
            study = optuna.load_study(study_name=study_name(task), storage=rdb_storage(storage))
        except KeyError:
            continue
        total += sum(t.state in DONE_STATES and t.user_attrs.get(WORKER_ATTR) == WORKER_ID for t in study.trials)
    return total


def _wait_for(path: Path, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while not path.is_file():
        if time.monotonic() > deadline:
            raise BenchmarkError(
                f"no run at {path.parent} after {wait_s:.0f} s: start `run --storage ... --run-id {path.parent.name}` "
                "first, with the same --out"
            )
        time.sleep(POLL_S)
