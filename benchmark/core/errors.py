"""Errors a user can cause: one root, caught once in the CLI, printed as one line, exit code 2.

Every error a user can fix derives from `BenchmarkError`: a bad option or config value
(`ConfigError`), data that cannot be split as asked (`SplitError`), a model or model directory that
cannot be used (`ModelError`), a file that cannot be read (`BadImageError` when it is an image), an
output that cannot be written (`OutputError`). A model plug-in raises `ModelError` (or its own
subclass of `BenchmarkError`) for its users' mistakes; anything else is a bug and stays a traceback.
"""

from __future__ import annotations

import errno
from pathlib import Path


class BenchmarkError(Exception):
    """A problem with the user's input (data, options, paths), not a bug in the harness."""


class OutputError(BenchmarkError):
    """A result could not be written (a full disk, a read-only folder): what was finished is kept."""

    def __init__(self, path: Path | str, error: OSError):
        reason = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                  errno.EROFS: "read-only file system"}.get(error.errno, error.strerror or str(error))  # fmt: skip
        super().__init__(
            f"cannot write {path}: {reason}; what was finished is kept: make room and run the same command again"
        )
        self.path = Path(path)


DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
