"""Stage 1: find the images of a folder-per-class dataset and set aside the files that are not."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.core.errors import BenchmarkError
from benchmark.core.progress import progress
from benchmark.data.images import MAX_IMAGE_PIXELS, BadImageError, check_image


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
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> ScanResult:
    """Scan `root`; every bad file is reported once through `report` (stderr by default)."""
    report = report or _print_to_stderr
    root = Path(root)
    if not root.is_dir():
        raise BenchmarkError(f"data folder not found: {root}")
    wanted = {e.lower() for e in extensions}
    wrapped = _wrapped_class_root(root, wanted)
    if wrapped is not None:
        classes = sum(1 for p in wrapped.iterdir() if p.is_dir() and not _hidden(p))
        raise BenchmarkError(
            f"{root} holds one folder, {wrapped.relative_to(root)}, whose {classes} sub-folders look like the "
            f"classes (an extra folder from unpacking the archive?): pass {wrapped} instead"
        )
    candidates, empty_classes, ignored = _list_candidates(root, wanted)
    for label in empty_classes:
        report(f"empty class folder: {label}")
    if not candidates:
        raise BenchmarkError(f"no images found in {root} (expected one sub-folder of images per class)")

    rows: list[dict] = []
    bad_files: list[BadFile] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        # map keeps the sorted order, so --strict always stops at the same (first) bad file.
        checked = pool.map(lambda path: _check(path, max_pixels), [root / rel for rel, _ in candidates])
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


def _check(path: Path, max_pixels: int) -> tuple[int, int] | BadImageError:
    try:
        return check_image(path, max_pixels)
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


def find_class_root(folder: Path, extensions: tuple[str, ...] | set[str]) -> Path:
    """The shallowest folder whose sub-folders hold images directly (at least two of them).

    Kaggle archives nest the class folders one or two levels down, sometimes under a folder named
    like the dataset; the class folders themselves are what we want.
    """
    wanted = {e.lower() for e in extensions}
    frontier = [folder]
    while frontier:
        level: list[Path] = []
        for candidate in frontier:
            children = sorted(p for p in candidate.iterdir() if p.is_dir() and not _hidden(p))
            if len([c for c in children if _holds_images(c, wanted)]) >= 2:
                return candidate
            level.extend(children)
        frontier = level
    raise BenchmarkError(f"no folder-per-class image layout found in {folder}")


def _wrapped_class_root(root: Path, wanted: set[str]) -> Path | None:
    """The class folders' real parent when `root` holds nothing but one wrapper folder around them
    (`DIR/archive/<classes>`): scanned as is, it would be one class whose videos are all exercises."""
    children = [p for p in root.iterdir() if p.is_dir() and not _hidden(p)]
    if len(children) != 1 or _holds_images(children[0], wanted):
        return None
    try:
        return find_class_root(children[0], wanted)
    except BenchmarkError:
        return None


def _holds_images(folder: Path, wanted: set[str]) -> bool:
    return any(f.suffix.lower() in wanted for f in folder.iterdir() if f.is_file())


def _hidden(path: Path) -> bool:
    return path.name.startswith(".") or path.name == "__MACOSX"


def _print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr)
