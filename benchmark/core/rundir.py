"""The run directory's layout: the contract between the stages that write it and the report that reads it."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from benchmark.core.atomic import atomic_write_json
from benchmark.core.environment import now
from benchmark.core.errors import BenchmarkError
from benchmark.core.timing import StageClock
from splits.names import STRATEGIES

OPTUNA_DB = "optuna.db"  # a run's own Optuna storage when no --storage URL is given
CONFIG = "config.json"  # the exact config; written first, so its presence marks a run directory
LOCK = ".lock"  # held by the one process that runs the run (see `lock_run_dir`)


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of an SQLite file, absolute so any working directory opens the same file."""
    return f"sqlite:///{Path(path).resolve()}"


def fold_record_path(run_dir: Path, model: str, strategy: str, fold: int) -> Path:
    return Path(run_dir) / "folds" / model / strategy / f"fold{fold}.json"


def fold_predictions_path(run_dir: Path, model: str, strategy: str, fold: int) -> Path:
    """Per test image of one outer fold: true and predicted class, confidence (written before the record)."""
    return fold_record_path(run_dir, model, strategy, fold).with_suffix(".predictions.csv")


def load_fold_records(run_dir: Path) -> list[dict[str, Any]]:
    """Every finished outer fold's record, by model, then strategy (grouped first), then fold."""
    records = [json.loads(path.read_text(encoding="utf-8")) for path in (Path(run_dir) / "folds").rglob("fold*.json")]
    order = {name: index for index, name in enumerate(STRATEGIES)}
    return sorted(records, key=lambda r: (r["model"], order.get(r["strategy"], len(order)), r["fold"]))


def is_run_dir(folder: Path) -> bool:
    return (Path(folder) / CONFIG).is_file()


def remove_run_dir(folder: Path) -> None:
    """Delete a run directory to start it again; anything that is not one is refused."""
    folder = Path(folder)
    if not folder.exists():
        return
    if not is_run_dir(folder):
        raise BenchmarkError(f"{folder} is not a run directory (no {CONFIG}): nothing was deleted")
    shutil.rmtree(folder)


_HELD: dict[Path, int] = {}  # run directory -> the descriptor whose flock this process holds


def lock_run_dir(run_dir: Path, storage_hint: str) -> None:
    """Take the run directory for this process until it exits: a second `run` of the same run (same
    --run-id, or the same command twice) stops in one line instead of racing this one for its files
    and its SQLite schema. `storage_hint` is the storage URL a worker would join it with."""
    run_dir = Path(run_dir).resolve()
    if run_dir in _HELD:
        return
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise BenchmarkError(
            f"run {run_dir.name} is being run by {holder}: wait for it to finish (the same command then "
            f"resumes or reports it), or help it: worker --storage {storage_hint} --run-id {run_dir.name} "
            f"--out {run_dir.parent}"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{socket.gethostname()}:{os.getpid()} (since {now()})".encode())
    _HELD[run_dir] = fd


def unlock_run_dir(run_dir: Path) -> None:
    fd = _HELD.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def record_invocation(run_dir: Path, clock: StageClock, replace_last: bool = False) -> None:
    """timings.json: one entry per invocation; `replace_last` updates this invocation's entry."""
    path = Path(run_dir) / "timings.json"
    invocations = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    if replace_last and invocations:
        invocations.pop()
    atomic_write_json(path, [*invocations, clock.record()])
