"""Fetch the real dataset with kagglehub and lay it out as `data/workout-images/<class>/<image>`."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

from benchmark.core.errors import BenchmarkError

KAGGLE_PAGE = "https://www.kaggle.com/datasets/{handle}"


def download_dataset(handle: str, dest: Path, extensions: tuple[str, ...]) -> Path:
    """Download (kagglehub keeps its own cache) and install into `dest`."""
    try:
        import kagglehub

        source = Path(kagglehub.dataset_download(handle))
    except Exception as error:  # kagglehub raises requests/HTTP/auth errors of many kinds
        reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        raise BenchmarkError(
            f"could not download {handle} ({type(error).__name__}: {reason}); offline? download the archive "
            f"from {KAGGLE_PAGE.format(handle=handle)} and run: python -m benchmark download --from ARCHIVE"
        ) from None
    return install_dataset(source, dest, extensions)


def install_dataset(source: Path, dest: Path, extensions: tuple[str, ...]) -> Path:
    """Copy a downloaded folder or archive (zip, tar) into `dest`, whatever nesting it came with."""
    source = Path(source)
    if not source.exists():
        raise BenchmarkError(f"dataset source not found: {source}")
    with tempfile.TemporaryDirectory(prefix="workout-bench-") as scratch:
        unpacked = _unpack(source, Path(scratch)) if source.is_file() else source
        class_root = find_class_root(unpacked, extensions)
        staging = dest.with_name(dest.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(class_root, staging, ignore=shutil.ignore_patterns(".*", "__MACOSX"))
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    return dest


def find_class_root(folder: Path, extensions: tuple[str, ...]) -> Path:
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
            with_images = [c for c in children if any(f.suffix.lower() in wanted for f in c.iterdir() if f.is_file())]
            if len(with_images) >= 2:
                return candidate
            level.extend(children)
        frontier = level
    raise BenchmarkError(f"no folder-per-class image layout found in {folder}")


def _unpack(archive: Path, into: Path) -> Path:
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(into)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as bundle:
                bundle.extractall(into, filter="data")
        else:
            raise BenchmarkError(f"not a zip or tar archive: {archive}")
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as error:
        raise BenchmarkError(f"cannot unpack {archive}: {error}") from None
    return into


def _hidden(path: Path) -> bool:
    return path.name.startswith(".") or path.name == "__MACOSX"
