"""Stage 1: find the images of a folder-per-class dataset and set aside the files that are not."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.core.errors import BenchmarkError
from benchmark.core.progress import progress
from benchmark.data.images import BadImageError, check_image


@dataclass(frozen=True)
class BadFile:
    path: str  # relative to the data root, POSIX separators
    reason: str

    def line(self) -> str:
        return f"skipped bad image: {self.path}: {self.reason}"


@dataclass
class ScanResult:
    """The images (path, label, width, height; sorted by path) and what was left out, and why."""

    root: Path
    images: pd.DataFrame
    bad_files: list[BadFile] = field(default_factory=list)
    empty_classes: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)

    @property
    def class_names(self) -> list[str]:
        return sorted(self.images["label"].unique())


def scan_dataset(
    root: Path,
    extensions: tuple[str, ...],
    strict: bool = False,
    workers: int = 4,
    report=None,
) -> ScanResult:
    """Scan `root`; every bad file is reported once through `report` (stderr by default)."""
    report = report or _print_to_stderr
    root = Path(root)
    if not root.is_dir():
        raise BenchmarkError(f"data folder not found: {root}")
    candidates, empty_classes, ignored = _list_candidates(root, {e.lower() for e in extensions})
    for label in empty_classes:
        report(f"empty class folder: {label}")
    if not candidates:
        raise BenchmarkError(f"no images found in {root} (expected one sub-folder of images per class)")

    rows: list[dict] = []
    bad_files: list[BadFile] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        # map keeps the sorted order, so --strict always stops at the same (first) bad file.
        checked = pool.map(_check, [root / rel for rel, _ in candidates])
        for (rel, label), outcome in progress(zip(candidates, checked), total=len(candidates), desc="scan images"):
            if isinstance(outcome, BadImageError):
                bad = BadFile(rel, str(outcome))
                if strict:
                    raise BenchmarkError(f"bad image (--strict): {bad.path}: {bad.reason}")
                report(bad.line())
                bad_files.append(bad)
                continue
            width, height = outcome
            rows.append({"path": rel, "label": label, "width": width, "height": height})
    if not rows:
        raise BenchmarkError(f"no readable images in {root}: all {len(bad_files)} image files are bad")
    images = pd.DataFrame(rows).sort_values("path", ignore_index=True)
    return ScanResult(root, images, bad_files, empty_classes, ignored)


def _check(path: Path) -> tuple[int, int] | BadImageError:
    try:
        return check_image(path)
    except BadImageError as error:
        return error
    except OSError as error:  # unreadable: permissions, vanished file
        return BadImageError(f"unreadable ({error.strerror or error})")


def _list_candidates(root: Path, extensions: set[str]) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Image files per class folder (hidden files skipped), empty class folders, stray files."""
    candidates: list[tuple[str, str]] = []
    empty_classes: list[str] = []
    ignored: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            ignored.append(entry.name)
            continue
        found = 0
        for path in sorted(entry.rglob("*")):
            rel_parts = path.relative_to(root).parts
            if any(part.startswith(".") for part in rel_parts) or not path.is_file():
                continue
            rel = "/".join(rel_parts)
            if path.suffix.lower() in extensions:
                candidates.append((rel, entry.name))
                found += 1
            else:
                ignored.append(rel)
        if found == 0:
            empty_classes.append(entry.name)
    candidates.sort()
    return candidates, empty_classes, ignored


def _print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr)
