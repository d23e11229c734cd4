"""The one output guard: every path a command writes is checked here, before any work goes into it.

Every path option of the command line and every path field of `Config` declares a `Role`: what it
names (an input, a file to write, a folder to create or replace, a folder to make things in). The CLI
hands each command's roles to `check_outputs` before it imports TensorFlow, so a new option cannot
skip the check: the parser refuses to build while a path option has no role. The rules:

- nothing is written inside a folder the command reads (the data folder, a model directory, a run's
  data), nor over a file it reads;
- an existing file is replaced only if workout-bench wrote it (the ledger below says so, by content) or
  the user says `--force`; an existing folder only if it is recognisably the command's own (each role
  brings its recogniser), or, where that makes sense, with `--force`;
- names stay inside the folder the user named (a run id is a name, not a path), and nothing goes at
  the root of the file system.

The ledger of written files (`written.jsonl`, one JSON line per file: its path and SHA-256) lives in
the user's state folder (platformdirs; `WORKOUT_BENCH_STATE_DIR` overrides it), never beside the files.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.core.atomic import atomic_write_bytes
from benchmark.core.errors import BenchmarkError, OutputError

PROBE_PREFIX = ".write-test-"  # check_writable's short-lived file in the folder it checks
STATE_DIR_ENV = "WORKOUT_BENCH_STATE_DIR"
LEDGER = "written.jsonl"

# What a path names (Role.kind).
DATA = "data"  # a folder the command reads: nothing may be written inside it
INPUT = "input"  # a file (or folder) the command reads: never written over
RUN = "run"  # a run directory the command reads (its recorded data folder is protected too)
FILE = "file"  # a file the command writes
FOLDER = "folder"  # a folder the command creates or replaces whole
PARENT = "parent"  # a folder the command creates things in (run directories), never replaced
KINDS = (DATA, INPUT, RUN, FILE, FOLDER, PARENT)


@dataclass(frozen=True)
class Role:
    """What one path option or config field names, and how the guard recognises the command's own output.

    `ours(folder)`: whether an existing folder is what this command writes there (a model directory, a
    demo dataset...); `force`: whether `--force` may replace what is not ours; `dataset`: the output is a
    dataset itself (`download`, `demo-data`), so it is not refused for being the configured data folder."""

    kind: str
    what: str = ""
    ours: Callable[[Path], bool] | None = None
    force: bool = False
    dataset: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown path role {self.kind!r}")

    @property
    def writes(self) -> bool:
        return self.kind in (FILE, FOLDER, PARENT)


@dataclass(frozen=True)
class Output:
    """One path a command is about to write, with the option that named it (`--csv`, `--set cache_dir`)."""

    option: str
    path: Path
    role: Role


@dataclass
class Inputs:
    """What a command reads: folders nothing may be written into, files nothing may be written over."""

    folders: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def add(self, path: Path | None) -> None:
        if path is None:
            return
        path = Path(path)
        if path.is_dir():
            self.folders.append(path)
        elif path.exists():
            self.files.append(path)


def check_outputs(outputs: Iterable[Output], inputs: Inputs, force: bool = False) -> None:
    """Every output of a command checked against what it reads and what is already there; one line each."""
    for output in outputs:
        _refuse_root(output)
        _refuse_overlap(output, inputs)
        if output.role.kind == FILE:
            check_output_file(output.path, output.option, force)
        elif output.role.kind == FOLDER:
            role = output.role
            hint = "pass --force to replace it" if role.force else ""
            check_output_folder(output.path, output.option, role.ours or _never, role.what, hint,
                                force=force and role.force)  # fmt: skip
        elif output.path.exists() and not output.path.is_dir():
            raise BenchmarkError(f"{output.option} {output.path} is a file: give a folder")


def _never(_: Path) -> bool:
    return False


def _refuse_root(output: Output) -> None:
    resolved = Path(output.path).resolve()
    if resolved == Path(resolved.anchor):
        raise BenchmarkError(f"{output.option} {output.path} is the root of the file system: give a folder of yours")


def _refuse_overlap(output: Output, inputs: Inputs) -> None:
    for folder in inputs.folders:
        if output.role.dataset and Path(folder).resolve() == Path(output.path).resolve():
            continue  # demo-data and download write the dataset itself
        refuse_data_overlap(output.path, folder, output.option)
    for path in inputs.files:
        if Path(path).resolve() == Path(output.path).resolve():
            raise BenchmarkError(f"{output.option} {output.path} is a file this command reads: give another name")


def check_writable(folder: Path) -> None:
    """Make `folder` or say in one line why it cannot be written, before any work goes into it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BenchmarkError(f"cannot write to {folder}: it is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # A name of this process's own: two processes probing one folder must not remove each other's.
        handle, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise BenchmarkError(f"cannot write to {folder}: {error.strerror or error}") from None


def check_output_file(path: Path, option: str, force: bool = False) -> None:
    """A file the command will write at the end: not a folder, new or written by us (or `force`), its
    folder writable now."""
    path = Path(path)
    if path.is_dir():
        raise BenchmarkError(f"{option} {path} is a folder: give the name of a file to write")
    if path.exists() and not force and not written_by_us(path):
        raise BenchmarkError(
            f"{option} {path} exists and workout-bench did not write it: give a new name, or pass --force to replace it"
        )
    check_writable(path.parent)


def is_within(inner: Path, outer: Path) -> bool:
    """`inner` is `outer` or somewhere below it (both resolved, so `..` and links count)."""
    inner, outer = Path(inner).resolve(), Path(outer).resolve()
    return inner == outer or outer in inner.parents


def refuse_data_overlap(out: Path, data: Path, option: str) -> None:
    """An output may not be, hold or sit inside the data folder: writing there changes the dataset."""
    if is_within(data, out):
        what = "is" if Path(out).resolve() == Path(data).resolve() else "holds"
        raise BenchmarkError(f"{option} {out} {what} the data folder {data}: write the output somewhere else")
    if is_within(out, data):
        raise BenchmarkError(f"{option} {out} is inside the data folder {data}: write the output somewhere else")


def check_output_folder(
    folder: Path, option: str, is_ours: Callable[[Path], bool], what: str, force_hint: str = "", force: bool = False
) -> None:
    """A folder the command will create or replace: new, empty, recognisably its own (`is_ours`), or
    `force`d. Anything else is somebody's files: refused in one line (naming `force_hint`, or --force
    where it may be replaced on purpose), before any work."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BenchmarkError(f"{option} {folder} is a file: give a folder to write the {what} into")
    if folder.is_dir() and any(folder.iterdir()) and not force and not is_ours(folder):
        hint = f"; {force_hint}" if force_hint else ""
        raise BenchmarkError(
            f"{option} {folder} already holds files that are not a {what}: give a new or empty folder{hint}"
        )
    check_writable(folder.parent)


def check_name(value: str, option: str) -> str:
    """A name of a folder to make inside the folder the user named: one plain path component."""
    if not value or value in (".", "..") or "/" in value or "\\" in value or value.startswith(".") or "\0" in value:
        raise BenchmarkError(f"{option} {value!r} is a name, not a path: use letters, digits, '-', '_' and '.'")
    return value


# --- stamps: folders the tool made for itself ------------------------------------------------------------------

STAMP_PREFIX = ".workout-bench-"
PERF_STAMP = "perf"  # `perf --work`: generated data, caches and runs (benchmark/cv/perf.py)


def stamp_folder(folder: Path, what: str) -> None:
    """Mark `folder` as made by this tool for `what` (e.g. "perf"): its recogniser is `is_stamped`."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(folder) / f"{STAMP_PREFIX}{what}", f"{what}\n".encode())


def is_stamped(folder: Path, what: str) -> bool:
    return (Path(folder) / f"{STAMP_PREFIX}{what}").is_file()


# --- the ledger of files written ---------------------------------------------------------------------------------


def state_dir() -> Path:
    """Where the tool keeps what it must remember between commands (the ledger): the user's state folder."""
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    import platformdirs

    return Path(platformdirs.user_state_dir("workout-bench", appauthor=False))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def written_by_us(path: Path) -> bool:
    """Whether `path` holds exactly what workout-bench last wrote there (by the ledger)."""
    ledger = state_dir() / LEDGER
    key = str(Path(path).resolve())
    recorded = None
    try:
        with open(ledger, encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash: the others still count
                if isinstance(entry, dict) and entry.get("path") == key:
                    recorded = entry.get("sha256")
    except OSError:
        return False
    try:
        return recorded is not None and _sha256(Path(path)) == recorded
    except OSError:
        return False


def write_output_json(path: Path, value: Any, option: str) -> Path:
    """`write_output` of a JSON value, formatted as every JSON file of the tool (atomic_write_json)."""
    return write_output(path, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), option)


def write_output(path: Path, data: bytes, option: str) -> Path:
    """Write a file the user named (atomically) and remember it in the ledger, so the same command may
    replace it next time; a full disk is one line naming the file."""
    path = Path(path)
    atomic_write_bytes(path, data)
    entry = json.dumps({"path": str(path.resolve()), "sha256": hashlib.sha256(data).hexdigest()}) + "\n"
    try:
        state_dir().mkdir(parents=True, exist_ok=True)
        # One short line appended with O_APPEND: lines of processes writing at once never interleave.
        fd = os.open(state_dir() / LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, entry.encode())
        finally:
            os.close(fd)
    except OSError as error:  # the file is written; only replacing it later will ask for --force
        if error.errno not in (errno.EACCES, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            raise OutputError(path, error) from None
    return path
