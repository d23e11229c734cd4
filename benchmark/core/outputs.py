"""Outputs are checked before the work that fills them: a result is never lost to a bad path at the end.

And no command deletes or replaces a folder it did not create: a folder is replaced only when it is
recognisably the command's own output (each caller says how it recognises one), never when it is,
holds or sits inside the data folder the command reads.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmark.core.errors import BenchmarkError

PROBE_PREFIX = ".write-test-"  # check_writable's short-lived file in the folder it checks


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


def check_output_file(path: Path, option: str) -> None:
    """A file the command will write at the end: not a folder, and its folder writable now."""
    path = Path(path)
    if path.is_dir():
        raise BenchmarkError(f"{option} {path} is a folder: give the name of a file to write")
    check_writable(path.parent)


def is_within(inner: Path, outer: Path) -> bool:
    """`inner` is `outer` or somewhere below it (both resolved, so `..` and links count)."""
    inner, outer = Path(inner).resolve(), Path(outer).resolve()
    return inner == outer or outer in inner.parents


def refuse_data_overlap(out: Path, data: Path, option: str) -> None:
    """An output folder may not be, hold or sit inside the data folder: writing there changes the dataset."""
    if is_within(data, out):
        what = "is" if Path(out).resolve() == Path(data).resolve() else "holds"
        raise BenchmarkError(f"{option} {out} {what} the data folder {data}: write the output somewhere else")
    if is_within(out, data):
        raise BenchmarkError(f"{option} {out} is inside the data folder {data}: write the output somewhere else")


def check_output_folder(
    folder: Path, option: str, is_ours: Callable[[Path], bool], what: str, force_hint: str = ""
) -> None:
    """A folder the command will create or replace: new, empty, or recognisably its own (`is_ours`).

    Anything else is somebody's files: refused in one line (naming `force_hint` where replacing it
    on purpose makes sense), before any work.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BenchmarkError(f"{option} {folder} is a file: give a folder to write the {what} into")
    if folder.is_dir() and any(folder.iterdir()) and not is_ours(folder):
        hint = f"; {force_hint}" if force_hint else ""
        raise BenchmarkError(
            f"{option} {folder} already holds files that are not a {what}: give a new or empty folder{hint}"
        )
    check_writable(folder.parent)
