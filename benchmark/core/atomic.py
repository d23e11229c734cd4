"""Writes of results are atomic: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmark.core.errors import DISK_ERRNOS, OutputError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_current_umask()  # what open() would give; mkstemp alone gives 0600


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True, exclusive: bool = False) -> bool:
    """`durable=False` skips the fsync: for recomputable cache entries, where a checksum catches a
    torn write and an fsync per entry would cost more than the entry. `exclusive`: publish with a hard
    link, which fails when `path` exists (also on NFS), so of two processes writing one file the first
    wins and the other is told (False); a rename would let the second replace the first."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        _raise_disk_error(path, error)
        raise
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)
        return True
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            _raise_disk_error(path, error)
        raise


def _raise_disk_error(path: Path, error: OSError) -> None:
    """A full disk (or quota, or read-only folder) is the user's to fix: one line naming the file; the
    file it would have replaced is intact (the write went to a temporary file)."""
    if error.errno in DISK_ERRNOS:
        raise OutputError(path, error) from None


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """A folder written whole or not at all: yields a fresh sibling of `target` to fill; when the block
    ends without error it takes `target`'s place (the old one, checked by the caller as replaceable,
    is removed after the swap); on any error or Ctrl-C the sibling is removed and `target` is as it was."""
    target = Path(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield staging
        retired = None
        if target.exists():
            retired = target.with_name(f"{staging.name}.previous")
            target.rename(retired)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


def npy_bytes(array: Any) -> bytes:
    """An array as the bytes of a .npy file (written with atomic_write_bytes)."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(value, indent=indent, ensure_ascii=False) + "\n")


def atomic_publish_json(path: Path, value: Any) -> bool:
    """Write `value` at `path` unless it exists (then False): a record written once by one process."""
    return atomic_write_bytes(path, (json.dumps(value, ensure_ascii=False) + "\n").encode("utf-8"), exclusive=True)
