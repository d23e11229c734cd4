"""Stages 1-3 for `run` and `curve` alike: the data, its groups and splits checked, then one run directory.

Everything a user can get wrong (the data folder's shape, too few videos for the outer or the inner
folds, another run's studies in a shared storage, a run directory holding another run, a second
process on the same run) is refused here, in one line, before the run directory is written to.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.core.atomic import atomic_write_json, atomic_write_text
from benchmark.core.environment import configure_devices, machine, package_versions
from benchmark.core.errors import BenchmarkError
from benchmark.core.outputs import PROBE_PREFIX, check_writable, refuse_data_overlap
from benchmark.core.rundir import (
    CONFIG,
    DATA_SUMMARY,
    ENVIRONMENT,
    FRACTIONS,
    GROUPS,
    LOCK,
    OPTUNA_DB,
    PARTS,
    REPEATS,
    SPLITS,
    THUMBNAILS,
    is_run_dir,
    lock_run_dir,
    manifest_path,
    sqlite_url,
)
from benchmark.core.secrets import redact
from benchmark.core.seeds import repeat_seed
from benchmark.core.timing import StageClock
from benchmark.cv.folds import FoldTask, PartWork, RunData, fold_tasks, study_name, tasks_study_name, tuning_folds
from benchmark.cv.splitting import fold_assignment, split_manifest, split_statistics
from benchmark.cv.storage import config_digest, refuse_foreign_studies
from benchmark.data.dataset import Dataset, print_summary
from benchmark.data.load import load_grouped
from benchmark.data.thumbnails import write_thumbnails
from config import Config
from splits.names import GROUPED
from splits.strategies import fold_pairs


@dataclass(frozen=True)
class Part:
    """One set of outer-fold tasks of a run directory: a plain run has one per repeat, a learning curve
    one per share of the training videos and repeat. Its studies are named `<run_id>/...`, its records
    live in `folder`."""

    run_id: str
    folder: str  # relative to the run directory
    train_fraction: float = 1.0
    repeat: int = 0

    def records_dir(self, run_dir: Path) -> Path:
        return Path(run_dir) / self.folder

    def tasks(self, config: Config) -> list[FoldTask]:
        return fold_tasks(config, self.run_id, self.repeat)

    def run_data(self, dataset: Dataset, assignments: dict[int, dict[str, np.ndarray]], config: Config) -> RunData:
        seed = repeat_seed(config.seed, self.repeat)
        excluded = excluded_rows(dataset, config)
        return RunData(dataset, assignments[self.repeat], seed, self.train_fraction, self.repeat, excluded)

    def work(
        self, run_dir: Path, dataset: Dataset, assignments: dict[int, dict[str, np.ndarray]], config: Config
    ) -> PartWork:
        return PartWork(self.run_data(dataset, assignments, config), self.records_dir(run_dir), self.run_id)


def excluded_rows(dataset: Dataset, config: Config) -> np.ndarray:
    """The rows of the images config.exclude names (a CSV with a `path` column), checked: every path must
    be an image of the dataset."""
    if config.exclude is None:
        return np.empty(0, dtype=np.int64)
    try:
        listed = pd.read_csv(config.exclude, keep_default_na=False, dtype=str)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise BenchmarkError(f"--exclude {config.exclude}: cannot read ({error})") from None
    if "path" not in listed.columns:
        raise BenchmarkError(f"--exclude {config.exclude} has no path column")
    index = pd.Series(np.arange(len(dataset.images)), index=dataset.images["path"])
    unknown = sorted(set(listed["path"]) - set(index.index))
    if unknown:
        raise BenchmarkError(f"--exclude {config.exclude}: {len(unknown)} path(s) not in the data, e.g. {unknown[0]}")
    return np.sort(index[sorted(set(listed["path"]))].to_numpy())


def run_parts(run_id: str, fractions: list[float] | None, repeats: int = 1) -> list[Part]:
    """The parts of a run (`fractions` None) or of a learning curve, for each repeat; the first repeat's
    are named and placed as a run without repeats is."""
    shares = [(run_id, ".", 1.0)] if fractions is None else [
        (f"{run_id}@{f:.2f}", f"{FRACTIONS}/{f:.2f}", f) for f in sorted(fractions)
    ]  # fmt: skip
    parts = []
    for name, folder, fraction in shares:
        for repeat in range(repeats):
            if repeat:
                name_r = f"{name}/repeat{repeat}"
                folder_r = str(Path(folder) / REPEATS / str(repeat)) if folder != "." else f"{REPEATS}/{repeat}"
                parts.append(Part(name_r, folder_r, fraction, repeat))
            else:
                parts.append(Part(name, folder, fraction, 0))
    return parts


@dataclass(frozen=True)
class PreparedRun:
    run_dir: Path
    config: Config  # as recorded in config.json: `data_dir` is the data folder actually used
    storage: str
    dataset: Dataset  # with content keys
    assignments: dict[int, dict[str, np.ndarray]]  # repeat -> strategy -> the outer test fold of every image
    parts: list[Part]
    agreement: dict[str, Any] | None  # --groups infer: the inferred groups' agreement with the names

    def work(self) -> list[PartWork]:
        """What the fold-task claimants (this process, joblib's, workers) share out."""
        return [part.work(self.run_dir, self.dataset, self.assignments, self.config) for part in self.parts]

    def require_every_record(self) -> None:
        """Every fold task of every part has its record before anything is summarised: a summary over
        some of the folds would report its mean and interval as the run's."""
        missing = [
            f"{part.folder}/{task.key}".removeprefix("./")
            for part in self.parts
            for task in part.tasks(self.config)
            if not task.record_path(part.records_dir(self.run_dir)).is_file()
        ]
        if missing:
            total = sum(len(part.tasks(self.config)) for part in self.parts)
            shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            raise BenchmarkError(
                f"run {self.run_dir.name}: {len(missing)} of {total} fold tasks have no record ({shown}): no "
                "results or summary were written; run the same command again to finish them"
            )


def prepare_run(
    config: Config,
    data: Path | None,
    run_id: str | None,
    storage: str | None,
    clock: StageClock,
    fractions: list[float] | None = None,
) -> PreparedRun:
    """Check everything, then create or reopen the run directory and write what every stage after reads."""
    dataset, agreement = load_grouped(config, data)
    dataset = dataset.with_keys(config.scan_workers)
    config = config.replace(data_dir=dataset.root)
    summary = dataset.summary()
    print_summary(summary)
    # Outer and inner folds first: an infeasible split must not leave a run directory behind.
    assignments = {
        repeat: {
            strategy: fold_assignment(dataset, strategy, config, repeat_seed(config.seed, repeat))
            for strategy in config.strategies
        }
        for repeat in range(config.repeats)
    }
    excluded = excluded_rows(dataset, config)
    check_inner_folds(dataset, assignments, config, excluded)
    if config.exclude is not None:  # which images, not only which file: a resumed run must leave out the same
        paths = "\n".join(dataset.images["path"].iloc[excluded])
        summary["excluded"] = {"images": int(len(excluded)), "from": config.exclude_from,
                               "fingerprint": hashlib.sha256(paths.encode()).hexdigest()[:16]}  # fmt: skip
    prefix = "curve-" if fractions is not None else ""
    run_dir = config.runs_dir / (run_id or prefix + default_run_id(config))
    refuse_data_overlap(run_dir, dataset.root, "--out/--run-id")
    parts = run_parts(run_dir.name, fractions, config.repeats)
    if storage:  # a wrong URL, a missing driver or another run's studies: one line now, before any directory
        names = [study_name(task) for part in parts for task in part.tasks(config)]
        names += [tasks_study_name(part.run_id) for part in parts]
        refuse_foreign_studies(storage, names, config_digest(config.to_json()))
    storage = storage or sqlite_url(run_dir / OPTUNA_DB)
    claim_run_dir(run_dir, config, summary, storage)
    clock.lap("scan")
    print(configure_devices(config.mixed_precision), file=sys.stderr)
    atomic_write_json(run_dir / ENVIRONMENT, {"storage": redact(storage), **machine(), "versions": package_versions()})
    write_thumbnails(dataset.images, dataset.root, run_dir / THUMBNAILS)
    atomic_write_json(run_dir / PARTS, [part.__dict__ for part in parts])
    write_splits(run_dir, dataset, assignments, agreement)
    clock.lap("splits")
    return PreparedRun(run_dir, config, storage, dataset, assignments, parts, agreement)


def check_inner_folds(
    dataset: Dataset, assignments: dict[int, dict[str, np.ndarray]], config: Config, excluded: np.ndarray
) -> None:
    """Every outer training part of every repeat splits into the inner folds tuning needs (else the run
    would stop at that fold, hours in)."""
    if config.trials == 0:
        return
    images = dataset.images
    labels, groups = images["label"].tolist(), images["group"].tolist()
    for repeat, by_strategy in assignments.items():
        for strategy, assignment in by_strategy.items():
            for fold, (train_idx, _) in enumerate(fold_pairs(assignment)):
                kept = np.setdiff1d(train_idx, excluded)
                tuning_folds(config, labels, groups, kept, strategy, fold, repeat_seed(config.seed, repeat))


def default_run_id(config: Config) -> str:
    """Same data and config -> same run id, so re-running a command finds its own run directory."""
    digest = hashlib.sha256(config.to_json().encode()).hexdigest()[:8]
    return f"{config.data_dir.name}-k{config.folds}-s{config.seed}-{digest}"


def claim_run_dir(run_dir: Path, config: Config, summary: dict[str, Any], storage: str) -> None:
    """Create the run directory, or take it back only if it holds this run: the same config (which
    names the data folder) and the same data (by content). Held by this process until it exits."""
    if run_dir.exists() and not run_dir.is_dir():
        raise BenchmarkError(f"run directory {run_dir} is a file: pass another --run-id or --out")
    # A run directory being started by another process holds its lock: take the lock first, so the
    # second process is told who holds it (whatever it has written so far), never that it is foreign.
    if (run_dir / LOCK).is_file():
        check_writable(run_dir)
        lock_run_dir(run_dir, storage)
    # What a run directory holds while its run starts (the lock, then the data summary, then config.json),
    # the temporary files of its atomic writes and another process's write probe: none of them foreign.
    foreign = run_dir.is_dir() and any(not _starting_file(p.name) for p in run_dir.iterdir())
    if foreign and not is_run_dir(run_dir):
        raise BenchmarkError(
            f"{run_dir} exists and is not a run directory (no {CONFIG}): pass another --run-id or --out"
        )
    check_writable(run_dir)
    lock_run_dir(run_dir, storage)
    if is_run_dir(run_dir):
        refuse_another_run(run_dir, config, summary)
        return
    # The data summary (with the data's fingerprint) before config.json: a directory with a config
    # always has the fingerprint to check the next invocation against.
    atomic_write_json(run_dir / DATA_SUMMARY, summary)
    atomic_write_text(run_dir / CONFIG, config.to_json())


def _starting_file(name: str) -> bool:
    return (
        name in (LOCK, DATA_SUMMARY)
        or name.startswith(PROBE_PREFIX)
        or (name.startswith(".") and name.endswith(".tmp"))
    )


def refuse_another_run(run_dir: Path, config: Config, summary: dict[str, Any]) -> None:
    recorded = json.loads((run_dir / CONFIG).read_text(encoding="utf-8"))
    current = json.loads(config.to_json())
    if recorded.get("data_dir") != current["data_dir"]:
        raise BenchmarkError(
            f"run directory {run_dir} holds a run on other data ({recorded.get('data_dir')}), not {config.data_dir}: "
            "pass another --run-id"
        )
    changed = sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))
    if changed:
        details = ", ".join(f"{k}: {_short(recorded.get(k))} -> {_short(current.get(k))}" for k in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise BenchmarkError(
            f"run directory {run_dir} was made with another config ({details}{more}); pass a new --run-id "
            "or restore the config"
        )
    path = run_dir / DATA_SUMMARY
    recorded_summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if recorded_summary and recorded_summary.get("excluded") != summary.get("excluded"):
        raise BenchmarkError(
            f"run directory {run_dir} left out other images (--exclude {config.exclude} lists others now); "
            "pass a new --run-id"
        )
    before = recorded_summary.get("content_fingerprint")
    now_ = summary.get("content_fingerprint")
    if before is not None and before != now_:
        raise BenchmarkError(
            f"run directory {run_dir} was made from other contents of {config.data_dir} (data fingerprint "
            f"{before}, now {now_}: images added, removed, moved or edited since); pass a new --run-id"
        )


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def write_splits(
    run_dir: Path, dataset: Dataset, assignments: dict[int, dict[str, np.ndarray]], agreement: dict[str, Any] | None
) -> None:
    """One manifest per strategy and repeat, the per-fold statistics and, with --groups infer, the groups'
    agreement; splits.json last: a worker waits for it."""
    statistics = []
    for repeat, by_strategy in assignments.items():
        for strategy, assignment in by_strategy.items():
            manifest = split_manifest(dataset, strategy, assignment)
            atomic_write_text(manifest_path(run_dir, strategy, repeat), manifest)
            statistics.extend({**row, "repeat": repeat} for row in split_statistics(dataset, strategy, assignment))
    if agreement is not None:
        atomic_write_json(run_dir / GROUPS, {"source": "inferred from pixels", **agreement})
    atomic_write_json(run_dir / SPLITS, statistics)
    for strategy in assignments[0]:
        rows = [r for r in statistics if r["strategy"] == strategy]
        share = np.mean([r["test_share_with_video_in_train"] for r in rows])
        verdict = "no video on both sides" if strategy == GROUPED else "frames of the same video on both sides"
        print(
            f"{strategy}: {len(rows)} folds, {share:.0%} of test images share a video with training ({verdict})",
            file=sys.stderr,
        )
