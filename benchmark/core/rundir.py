"""The run directory: the contract between the stages that write it and every reader after them.

Every file a run directory holds is named here, once; each is written atomically (temp file and
rename), so a reader sees a whole file or none. In the order a run writes them:

  .lock                 held (flock) by the one process running the run; a second one is refused
  data_summary.json     images, groups and videos per class, bad files, the data's content fingerprint
  config.json           the exact config (its data_dir is the data used); its presence marks a run dir
  environment.json      package versions, machine, storage URL (password redacted)
  thumbnails/           a few images per class for the report (index.json lists them)
  parts.json            the parts of the run: one for `run`, one per fraction for `curve`
  manifests/[repeat<r>/]<strategy>.csv  one row per image: path, label, group, outer fold
  groups.json           with --groups infer: the inferred groups' agreement with the file names
  splits.json           per strategy and fold: sizes and the share of test videos seen in training;
                        written last of the set-up, so a worker waits for it
  audit.json, audit/    the leakage audit and thumbnails of its worst pairs
  optuna.db             the run's Optuna storage when no --storage URL is given
  [fractions/<f>/][repeats/<r>/]folds/<model>/<strategy>/fold<k>.json   one record per finished outer fold
  [fractions/<f>/][repeats/<r>/]folds/<model>/<strategy>/fold<k>.predictions.csv   its test predictions
  [fractions/<f>/][repeats/<r>/]folds/<model>/<strategy>/fold<k>.probabilities.npy every class's probability
  label_issues.csv      (run) images whose label looks wrong, by confident learning on those probabilities
  label_issues/         thumbnails of the strongest of them, for the report
  results.csv, predictions.csv, summary.json, mistakes/    (run) from the records
  curve.json            (curve) the points and the fitted power law
  timings.json          wall time per stage, one entry per invocation, kept current while it runs
  report.html, summary.md   the report, rebuilt from the files above alone
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmark.core.atomic import atomic_write_json
from benchmark.core.environment import now
from benchmark.core.errors import BenchmarkError
from benchmark.core.secrets import redact
from benchmark.core.timing import FINISHED, INTERRUPTED, RUNNING, StageClock
from splits.names import STRATEGIES

LOCK = ".lock"
DATA_SUMMARY = "data_summary.json"
CONFIG = "config.json"
ENVIRONMENT = "environment.json"
THUMBNAILS = "thumbnails"
PARTS = "parts.json"
MANIFESTS = "manifests"
GROUPS = "groups.json"
SPLITS = "splits.json"
AUDIT = "audit.json"
AUDIT_THUMBNAILS = "audit"
OPTUNA_DB = "optuna.db"
FOLDS = "folds"
FRACTIONS = "fractions"  # curve: one records folder per share of the training videos
REPEATS = "repeats"  # --repeats: one records folder per further repeat (repeats/<r>/folds/...)
RESULTS = "results.csv"
PREDICTIONS = "predictions.csv"
SUMMARY = "summary.json"
MISTAKES = "mistakes"
CURVE = "curve.json"
LABEL_ISSUES = "label_issues.csv"
ISSUE_THUMBNAILS = "label_issues"  # thumbnails of the strongest issues, for the report
TIMINGS = "timings.json"
REPORT_HTML = "report.html"
REPORT_MARKDOWN = "summary.md"
INDEX = "index.json"  # in thumbnails/ and mistakes/: what the folder's images show


def manifest_path(run_dir: Path, strategy: str, repeat: int = 0) -> Path:
    """manifests/<strategy>.csv, and manifests/repeat<r>/<strategy>.csv for the further repeats."""
    folder = Path(run_dir) / MANIFESTS
    return (folder if repeat == 0 else folder / f"repeat{repeat}") / f"{strategy}.csv"


def part_folders(run_dir: Path) -> list[Path]:
    """Where the fold records of each part of the run live (parts.json; a run without it: the run dir)."""
    path = Path(run_dir) / PARTS
    if not path.is_file():
        return [Path(run_dir)]
    return [Path(run_dir) / entry["folder"] for entry in json.loads(path.read_text(encoding="utf-8"))]


def load_run_records(run_dir: Path) -> list[dict[str, Any]]:
    """Every finished outer fold record of every part, by model, strategy (grouped first), repeat, fold."""
    records = [record for folder in part_folders(run_dir) for record in load_fold_records(folder)]
    return sorted(records, key=record_order)


def record_order(record: dict[str, Any]) -> tuple:
    order = {name: index for index, name in enumerate(STRATEGIES)}
    return (record["model"], order.get(record["strategy"], len(order)), record.get("repeat", 0), record["fold"])


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of an SQLite file, absolute so any working directory opens the same file."""
    return f"sqlite:///{Path(path).resolve()}"


def fold_record_path(run_dir: Path, model: str, strategy: str, fold: int) -> Path:
    return Path(run_dir) / FOLDS / model / strategy / f"fold{fold}.json"


def fold_predictions_path(run_dir: Path, model: str, strategy: str, fold: int) -> Path:
    """Per test image of one outer fold: true and predicted class, confidence (written before the record)."""
    return fold_record_path(run_dir, model, strategy, fold).with_suffix(".predictions.csv")


def fold_probabilities_path(run_dir: Path, model: str, strategy: str, fold: int) -> Path:
    """(test images, classes) float32 .npy: every class's out-of-fold probability, in test_images order."""
    return fold_record_path(run_dir, model, strategy, fold).with_suffix(".probabilities.npy")


def load_fold_records(run_dir: Path) -> list[dict[str, Any]]:
    """Every finished outer fold's record, by model, then strategy (grouped first), then fold."""
    records = [json.loads(path.read_text(encoding="utf-8")) for path in (Path(run_dir) / FOLDS).rglob("fold*.json")]
    return sorted(records, key=record_order)


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
        holder = _holder(fd)
        os.close(fd)
        raise BenchmarkError(
            f"run {run_dir.name} is being run by {holder}: wait for it to finish (the same command then "
            f"resumes or reports it), or help it: worker --storage {redact(storage_hint)} --run-id {run_dir.name} "
            f"--out {run_dir.parent}"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{socket.gethostname()}:{os.getpid()} (since {now()})".encode())
    _HELD[run_dir] = fd


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it: it writes right after taking the lock, so an empty
    file is read again for a moment rather than answered with "another process"."""
    for _ in range(50):
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if text:
            return text
        time.sleep(0.05)
    return "another process"


def unlock_run_dir(run_dir: Path) -> None:
    fd = _HELD.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def record_invocation(run_dir: Path, clock: StageClock, state: str = FINISHED, open_stage: str | None = None) -> None:
    """timings.json: one entry per invocation, this one's written again in place as it goes."""
    path = Path(run_dir) / TIMINGS
    invocations = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    entry = clock.record(state, open_stage)
    mine = [index for index, old in enumerate(invocations) if clock.same_invocation(old)]
    if mine:
        invocations[mine[0]] = entry
    else:
        invocations.append(entry)
    atomic_write_json(path, invocations)


@contextmanager
def timed_invocation(run_dir: Path, clock: StageClock, every_s: float) -> Iterator[Callable[[str], None]]:
    """timings.json kept current while the invocation runs, so that a resumed run's time adds up: beaten
    every `every_s` (a kill -9 loses at most that much of it), and on Ctrl-C, SIGTERM or an error the time
    so far is recorded, state `interrupted`, before the error goes on. Yields `begin(stage)`: the name
    the time since the last lap goes under until the stage's own lap."""
    lock, stop, current = threading.Lock(), threading.Event(), {"stage": "unfinished"}

    def write(state: str, open_stage: str | None) -> None:
        with lock:
            record_invocation(run_dir, clock, state, open_stage)

    def beat() -> None:
        while not stop.wait(every_s):
            write(RUNNING, current["stage"])

    def begin(stage: str) -> None:
        current["stage"] = stage

    write(RUNNING, current["stage"])
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield begin
    except BaseException:
        stop.set()
        thread.join()
        clock.lap(current["stage"])
        write(INTERRUPTED, None)
        raise
    stop.set()
    thread.join()
    write(FINISHED, None)
