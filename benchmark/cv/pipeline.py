"""A whole benchmark, stage by stage: scan -> groups -> splits -> (tune -> train -> evaluate per outer
fold) -> results and summary, into one run directory.

A run directory is the contract between stages: the config used, the data summary, one manifest
per split strategy, the Optuna storage, one record per finished outer fold, results.csv and
summary.json, each written atomically. The report (reports/) is built from it afterwards.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.core.atomic import atomic_write_json, atomic_write_text, check_writable
from benchmark.core.environment import configure_devices, machine, now, package_versions, redact_url
from benchmark.core.errors import BenchmarkError
from benchmark.core.rundir import OPTUNA_DB, fold_predictions_path, load_fold_records, sqlite_url
from benchmark.cv.folds import RunData, fold_tasks, run_folds, study_name
from benchmark.cv.splitting import fold_assignment, split_manifest, split_statistics
from benchmark.cv.storage import config_digest, refuse_foreign_studies
from benchmark.cv.summary import results_frame, summarize
from benchmark.data.dataset import print_summary
from benchmark.data.load import load_grouped
from benchmark.data.thumbnails import write_mistake_thumbnails, write_thumbnails
from config import Config
from splits import GROUPED


def run(
    config: Config,
    data: Path | None,
    run_id: str | None,
    storage: str | None = None,
    n_jobs: int = 1,
    timeout: float | None = None,
    clock: StageClock | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Every stage of a benchmark with `config` as given; returns the run directory and its summary.

    `clock` times the stages into timings.json; the caller may lap it further (the report) and record
    the invocation again with `record_invocation(..., replace_last=True)`."""
    clock = clock or StageClock()
    dataset, agreement = load_grouped(config, data)
    summary = dataset.summary()
    print_summary(summary)
    # Folds first: an infeasible split (too few videos for --folds) must not leave a run directory behind.
    folds = {strategy: fold_assignment(dataset, strategy, config) for strategy in config.strategies}
    run_dir = config.runs_dir / (run_id or default_run_id(config, dataset.root))
    if storage:  # a wrong URL, a missing driver or another run's studies: one line now, before any directory
        names = [study_name(task) for task in fold_tasks(run_dir, config)]
        refuse_foreign_studies(storage, names, config_digest(config.to_json()))
    claim_run_dir(run_dir, config)
    atomic_write_json(run_dir / "data_summary.json", summary)
    storage = storage or sqlite_url(run_dir / OPTUNA_DB)
    print(configure_devices(config.mixed_precision), file=sys.stderr)
    atomic_write_json(
        run_dir / "environment.json", {"storage": redact_url(storage), **machine(), "versions": package_versions()}
    )
    write_thumbnails(dataset.images, dataset.root, run_dir / "thumbnails")
    clock.lap("scan")
    statistics = []
    for strategy in config.strategies:
        atomic_write_text(run_dir / "manifests" / f"{strategy}.csv", split_manifest(dataset, strategy, folds[strategy]))
        statistics.extend(split_statistics(dataset, strategy, folds[strategy]))
    atomic_write_json(run_dir / "splits.json", statistics)
    if agreement is not None:
        atomic_write_json(run_dir / "groups.json", {"source": "inferred from pixels", **agreement})
    for strategy in config.strategies:
        rows = [r for r in statistics if r["strategy"] == strategy]
        share = np.mean([r["test_share_with_video_in_train"] for r in rows])
        verdict = "no video on both sides" if strategy == GROUPED else "frames of the same video on both sides"
        print(
            f"{strategy}: {len(rows)} folds, {share:.0%} of test images share a video with training ({verdict})",
            file=sys.stderr,
        )

    clock.lap("splits")
    dataset = dataset.with_keys(config.scan_workers)
    clock.lap("hashing")
    if config.audit_in_run:
        from benchmark.cv.audit import write_audit

        write_audit(run_dir, dataset, config, folds)
        clock.lap("audit")
    run_folds(config, RunData(dataset, folds), run_dir, storage, n_jobs, timeout)
    clock.lap("folds")
    records = load_fold_records(run_dir)
    results = results_frame(records)
    atomic_write_text(run_dir / "results.csv", results.to_csv(index=False, lineterminator="\n"))
    joined = joined_predictions(run_dir, records)
    atomic_write_text(run_dir / "predictions.csv", joined)
    predictions = pd.read_csv(io.StringIO(joined), keep_default_na=False)
    write_mistake_thumbnails(predictions, dataset.root, run_dir / "mistakes")
    run_summary = {
        "run_id": run_dir.name,
        "data_dir": str(dataset.root),
        "folds": config.folds,
        "trials": config.trials,
        "seed": config.seed,
        **summarize(results),
    }
    atomic_write_json(run_dir / "summary.json", run_summary)
    clock.lap("summary")
    record_invocation(run_dir, clock)
    return run_dir, run_summary


def joined_predictions(run_dir: Path, records: list[dict[str, Any]]) -> str:
    """Every outer fold's predictions in record order, as written (one header): exact on any resume."""
    paths = [fold_predictions_path(run_dir, r["model"], r["strategy"], r["fold"]) for r in records]
    parts = [path.read_text(encoding="utf-8").splitlines(True) for path in paths]
    return "".join(parts[0][:1] + [line for part in parts for line in part[1:]]) if parts else ""


class StageClock:
    """Wall time per stage of one invocation of `run` (a resumed run has several invocations)."""

    def __init__(self) -> None:
        self.started_at = now()
        self.stages: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        current = time.perf_counter()
        self.stages[stage] = round(current - self._last, 2)
        self._last = current

    def record(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "finished_at": now(),
            "stages_s": dict(self.stages),
            "wall_s": round(sum(self.stages.values()), 2),
        }


def record_invocation(run_dir: Path, clock: StageClock, replace_last: bool = False) -> None:
    """timings.json: one entry per invocation; `replace_last` updates this invocation's entry."""
    path = run_dir / "timings.json"
    invocations = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    if replace_last and invocations:
        invocations.pop()
    atomic_write_json(path, [*invocations, clock.record()])


def default_run_id(config: Config, data_dir: Path) -> str:
    """Same data and config -> same run id, so re-running a command finds its own run directory."""
    digest = hashlib.sha256((config.to_json() + str(data_dir.resolve())).encode()).hexdigest()[:8]
    return f"{data_dir.name}-k{config.folds}-s{config.seed}-{digest}"


def claim_run_dir(run_dir: Path, config: Config) -> None:
    """Create the run directory, or accept it back only if it was made with the same config."""
    config_file = run_dir / "config.json"
    if config_file.is_file():
        if config_file.read_text(encoding="utf-8") != config.to_json():
            raise BenchmarkError(
                f"run directory {run_dir} was made with another config; pass a new --run-id or restore the config"
            )
        return
    check_writable(run_dir)
    atomic_write_text(config_file, config.to_json())
