"""Fetch the real dataset with kagglehub and lay it out as `data/workout-images/<class>/<image>`.

Never deletes a dataset that is already there unless told to (`--force`), and never keeps a second
full copy: kagglehub downloads straight into a staging folder beside the destination, whose class
folders are then moved (renamed, not copied) into place.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

from benchmark.core.errors import BenchmarkError
from benchmark.data.scan import find_class_root

KAGGLE_PAGE = "https://www.kaggle.com/datasets/{handle}"
TOKEN_HELP = (
    "put your API token in ~/.kaggle/kaggle.json or set KAGGLE_USERNAME and KAGGLE_KEY "
    "(kaggle.com -> Settings -> API -> Create New Token)"
)


def download_dataset(handle: str, dest: Path, extensions: tuple[str, ...], force: bool = False) -> Path:
    """Download with kagglehub straight into a staging folder beside `dest`, then move it into place."""
    refuse_existing(dest, force)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.download-", dir=_parent(dest)))
    try:
        try:
            import kagglehub

            source = Path(kagglehub.dataset_download(handle, output_dir=str(staging)))
        except Exception as error:  # kagglehub raises requests/HTTP/auth errors of many kinds
            raise download_error(handle, error) from None
        return install_dataset(source, dest, extensions, force=force, move=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_error(handle: str, error: Exception) -> BenchmarkError:
    """One line that tells a refused credential apart from being offline, and names the fix."""
    manual = f"or download the archive from {KAGGLE_PAGE.format(handle=handle)} and run: download --from ARCHIVE"
    status = getattr(getattr(error, "response", None), "status_code", None)
    kind = type(error).__name__
    if status in (401, 403) or kind in ("UnauthenticatedError", "CredentialError"):
        code = f"HTTP {status}" if status else kind
        return BenchmarkError(f"Kaggle refused the credentials for {handle} ({code}): {TOKEN_HELP}; {manual}")
    if status == 404:
        return BenchmarkError(f"Kaggle has no dataset {handle} (HTTP 404): check config.kaggle_dataset")
    reason = str(error).splitlines()[0][:160] if str(error) else kind
    offline = kind in ("ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout") or "resolve" in reason.lower()
    what = "Kaggle is unreachable (offline?)" if offline else "the download failed"
    return BenchmarkError(f"could not download {handle}: {what} ({kind}: {reason}); {manual}")


def refuse_existing(dest: Path, force: bool) -> None:
    if Path(dest).exists() and not Path(dest).is_dir():
        raise BenchmarkError(f"--out {dest} is a file: give a folder to install the dataset into")
    if Path(dest).exists() and any(Path(dest).iterdir()) and not force:
        raise BenchmarkError(f"{dest} already holds a dataset: pass --force to replace it, or --out another folder")


def install_dataset(
    source: Path, dest: Path, extensions: tuple[str, ...], force: bool = False, move: bool = False
) -> Path:
    """Install a downloaded folder or archive (zip, tar) into `dest`, whatever nesting it came with.

    An archive is unpacked beside `dest` and its class folders moved into place (one copy on disk); a
    folder is copied, or moved when `move` (kagglehub's own staging folder). An existing `dest` is
    replaced only with `force`, and only once the new one is complete.
    """
    source = Path(source)
    if not source.exists():
        raise BenchmarkError(f"dataset source not found: {source}")
    refuse_existing(dest, force)
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=_parent(dest)) as scratch:
        unpacked = _unpack(source, Path(scratch) / "unpacked") if source.is_file() else source
        class_root = find_class_root(unpacked, extensions)
        staging = Path(scratch) / "staging"
        if source.is_file() or move:
            class_root.rename(staging)  # same file system: a rename, not a copy
            shutil.rmtree(staging / "__MACOSX", ignore_errors=True)
        else:
            shutil.copytree(class_root, staging, ignore=shutil.ignore_patterns(".*", "__MACOSX"))
        if dest.exists():
            retired = Path(scratch) / "previous"
            dest.rename(retired)  # removed with the scratch folder, after the new one is in place
        staging.rename(dest)
    return dest


def _parent(dest: Path) -> Path:
    parent = Path(dest).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    return parent


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
