"""A whole benchmark, stage by stage: scan -> groups -> splits -> (tune -> train -> evaluate per outer
fold) -> results and summary, into one run directory.

A run directory is the contract between stages: the config used, the data summary, one manifest
per split strategy, the Optuna storage, one record per finished outer fold, results.csv and
summary.json, each written atomically. The report (reports/) is built from it afterwards.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.core.atomic import atomic_write_json, atomic_write_text
from benchmark.core.rundir import (
    DATA_SUMMARY,
    ISSUE_THUMBNAILS,
    LABEL_ISSUES,
    MISTAKES,
    PREDICTIONS,
    RESULTS,
    SUMMARY,
    fold_predictions_path,
    load_fold_records,
    record_order,
    timed_invocation,
)
from benchmark.core.timing import StageClock
from benchmark.cv.claims import run_folds
from benchmark.cv.compare import model_comparisons, tuning_gains
from benchmark.cv.label_issues import run_label_issues
from benchmark.cv.prepare import PreparedRun, prepare_run
from benchmark.cv.summary import results_frame, summarize
from benchmark.data.thumbnails import write_issue_thumbnails, write_mistake_thumbnails
from config import Config


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

    `clock` times the stages into timings.json, kept current as they go; the caller may lap it further
    (the report) and write this invocation's entry again with `record_invocation`."""
    clock = clock or StageClock()
    prepared = prepare_run(config, data, run_id, storage, clock)
    run_dir, config = prepared.run_dir, prepared.config
    with timed_invocation(run_dir, clock, config.heartbeat_s) as begin:
        if config.audit_in_run:
            from benchmark.cv.audit import write_audit

            begin("audit")
            write_audit(run_dir, prepared.dataset, config, prepared.assignments[0])  # the first repeat's folds
            clock.lap("audit")
        begin("folds")
        run_folds(config, prepared.work(), prepared.storage, n_jobs, timeout)
        clock.lap("folds")
        prepared.require_every_record()
        begin("summary")
        run_summary = write_results(prepared)
        clock.lap("summary")
    return run_dir, run_summary


def write_results(prepared: PreparedRun) -> dict[str, Any]:
    """results.csv, predictions.csv, the label issues, the thumbnails and summary.json from the records."""
    run_dir, config, dataset = prepared.run_dir, prepared.config, prepared.dataset
    folders = {part.repeat: part.records_dir(run_dir) for part in prepared.parts}
    records = sorted((r for folder in folders.values() for r in load_fold_records(folder)), key=record_order)
    results = results_frame(records)
    atomic_write_text(run_dir / RESULTS, results.to_csv(index=False, lineterminator="\n"))
    joined = joined_predictions(folders, records)
    atomic_write_text(run_dir / PREDICTIONS, joined)
    predictions = pd.read_csv(io.StringIO(joined), keep_default_na=False)
    write_mistake_thumbnails(predictions, dataset.root, run_dir / MISTAKES)
    issues = run_label_issues(records, folders, dataset.images, dataset.class_names, list(config.models))
    atomic_write_text(run_dir / LABEL_ISSUES, issues.to_csv(index=False, lineterminator="\n"))
    write_issue_thumbnails(issues, dataset.root, run_dir / ISSUE_THUMBNAILS)
    run_summary = {
        "run_id": run_dir.name,
        "data_dir": str(dataset.root),
        "folds": config.folds,
        "repeats": config.repeats,
        "trials": config.trials,
        "seed": config.seed,
        "rope": config.rope,
        **({"excluded": prepared_excluded(run_dir)} if config.exclude is not None else {}),
        **summarize(results),
        "comparisons": model_comparisons(results, list(config.models), config.rope),
        "tuning_gain": tuning_gains(results, config.rope),
    }
    atomic_write_json(run_dir / SUMMARY, run_summary)
    return run_summary


def prepared_excluded(run_dir: Path) -> dict[str, Any]:
    """What --exclude left out (recorded in the data summary when the run was made)."""
    return json.loads((run_dir / DATA_SUMMARY).read_text(encoding="utf-8"))["excluded"]


def joined_predictions(folders: dict[int, Path], records: list[dict[str, Any]]) -> str:
    """Every outer fold's predictions in record order, as written (one header): exact on any resume.
    `folders`: where each repeat's records live."""
    paths = [fold_predictions_path(folders[r.get("repeat", 0)], r["model"], r["strategy"], r["fold"]) for r in records]
    parts = [path.read_text(encoding="utf-8").splitlines(True) for path in paths]
    return "".join(parts[0][:1] + [line for part in parts for line in part[1:]]) if parts else ""
