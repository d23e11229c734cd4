"""Content-addressed on-disk caches of decoded pixels and frozen-backbone activations.

Every entry is one file named by the SHA-256 of the image file's bytes, under a folder named by
everything that shapes the array (preprocessing, backbone, weights, cut point, view). Editing an
image changes its key, so exactly the affected entries are recomputed. An entry is the `.npy` bytes
followed by their BLAKE2b digest: a flipped bit loads as a silently wrong array in plain `.npy`, so
the digest is checked on every load and a corrupted or half-written entry is deleted and recomputed.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from benchmark.core.atomic import atomic_write_bytes
from benchmark.core.errors import BenchmarkError
from benchmark.core.interrupt import checkpoint
from benchmark.core.outputs import is_within
from benchmark.core.progress import progress
from benchmark.data.images import load_rgb
from models.preprocess import Preprocess, prepare


def content_key(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:32]


def content_keys(paths: Sequence[Path], workers: int = 4) -> list[str]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(progress(pool.map(content_key, paths), total=len(paths), desc="hash images"))


ENTRY_SUFFIX = ".npyc"
DIGEST_SIZE = 16


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest()


class ArrayCache:
    def __init__(self, root: Path, namespace: str):
        self.folder = Path(root) / namespace
        self.rebuilt = 0  # corrupted entries found (and deleted) by this instance

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{ENTRY_SUFFIX}"

    def load(self, key: str) -> np.ndarray | None:
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            raw = b""
        payload, digest = raw[:-DIGEST_SIZE], raw[-DIGEST_SIZE:]
        if len(raw) > DIGEST_SIZE and _digest(payload) == digest:
            try:
                return np.load(io.BytesIO(payload), allow_pickle=False)
            except (ValueError, EOFError):
                pass
        path.unlink(missing_ok=True)  # corrupted: the caller recomputes it
        self.rebuilt += 1
        return None

    def save(self, key: str, array: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        payload = buffer.getvalue()
        atomic_write_bytes(self.path(key), payload + _digest(payload), durable=False)


def pixel_cache(cache_root: Path, preprocess: Preprocess) -> ArrayCache:
    return ArrayCache(cache_root, f"pixels/{preprocess.key()}")


def load_pixels(
    paths: Sequence[Path], keys: Sequence[str], preprocess: Preprocess, cache_root: Path, workers: int = 4
) -> np.ndarray:
    """(n, size, size, 3) uint8; each image decoded and resized once, ever."""
    cache = pixel_cache(cache_root, preprocess)

    def one(item: tuple[Path, str]) -> np.ndarray:
        path, key = item
        cached = cache.load(key)
        if cached is not None and cached.shape == (preprocess.size, preprocess.size, 3):
            return cached
        array = prepare(load_rgb(path), preprocess)
        cache.save(key, array)
        checkpoint("decode")
        return array

    out = np.empty((len(paths), preprocess.size, preprocess.size, 3), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, array in enumerate(progress(pool.map(one, zip(paths, keys)), total=len(paths), desc="decode images")):
            out[i] = array
    return out


def load_features(
    keys: Sequence[str],
    caches: Sequence[ArrayCache],
    compute: Callable[[np.ndarray], list[np.ndarray]],
    pixels: Callable[[np.ndarray], np.ndarray],
    keep: Sequence[bool] | None = None,
    batch_size: int = 64,
    desc: str = "extract features",
) -> list[np.ndarray]:
    """One array per cache with `keep` true (all by default), rows in `keys` order.

    Only images missing from any cache are run through `compute`, in batches, with their pixels
    fetched by `pixels(indices)`: the frozen part of the backbone runs once per image and view.
    Caches not kept are only checked for presence and filled, never read into memory: at the real
    dataset's size each cut point is hundreds of MB, and a fold needs one of them at a time.
    """
    keep = [True] * len(caches) if keep is None else list(keep)
    loaded = [[cache.load(key) for key in keys] if wanted else None for cache, wanted in zip(caches, keep)]

    def present(index: int) -> bool:
        return all(
            column[index] is not None if column is not None else cache.path(keys[index]).is_file()
            for column, cache in zip(loaded, caches)
        )

    missing = np.array([i for i in range(len(keys)) if not present(i)], dtype=np.int64)
    batches = [missing[start : start + batch_size] for start in range(0, len(missing), batch_size)]
    for batch in progress(batches, total=len(batches), desc=desc):
        outputs = compute(pixels(batch))
        for column, cache, output in zip(loaded, caches, outputs):
            for row, index in zip(output, batch):
                cache.save(keys[index], row)
                if column is not None:
                    column[index] = row
    return [np.stack(column) for column in loaded if column is not None]


# What this module and the model caches write, and nothing else: `cache --clear` deletes only these.
_ENTRY = re.compile(r"^\.?(?P<key>[0-9a-f]{32})\.npyc(\..*\.tmp)?$")  # an entry, or a write cut short
WEIGHTS_FOLDER = "weights"  # converted ImageNet weights and exported LiteRT models
_WEIGHTS = re.compile(r"^\.?.+\.(weights\.h5|tflite)$")


# The top-level folders of a cache root: pixels/<preprocess>, features/<backbone view>, phash/, weights/.
CACHE_FOLDERS = ("pixels", "features", "phash", WEIGHTS_FOLDER)


def is_cache_dir(folder: Path) -> bool:
    """A folder the caches may write into: empty, or laid out as ours (only our top-level folders, dot
    files aside), or holding at least one cache entry (a cache the user also put other files in)."""
    folder = Path(folder)
    if not folder.is_dir():
        return not folder.exists()
    names = [p.name for p in folder.iterdir() if not p.name.startswith(".")]
    if all(name in CACHE_FOLDERS for name in names):
        return True
    return any(path.is_file() and is_cache_file(path.relative_to(folder)) for path in folder.rglob("*"))


def is_cache_file(relative: PurePath) -> bool:
    """A file of our cache layout: `<namespace...>/<shard>/<key>.npyc` or `weights/<file>`."""
    parts = relative.parts
    if len(parts) == 2 and parts[0] == WEIGHTS_FOLDER:
        return bool(_WEIGHTS.match(parts[1]))
    match = _ENTRY.match(parts[-1]) if len(parts) >= 3 else None
    return match is not None and match.group("key")[:2] == parts[-2]


@dataclass(frozen=True)
class CacheUsage:
    """Entries and bytes per cache folder, and the files in `root` that are not ours (left alone)."""

    rows: list[dict[str, Any]]
    other_files: int

    @property
    def entries(self) -> int:
        return sum(row["files"] for row in self.rows)

    @property
    def bytes(self) -> int:
        return sum(row["bytes"] for row in self.rows)


def cache_usage(root: Path) -> CacheUsage:
    """Per cache folder (pixels per preprocessing, features per backbone view, weights): entries and bytes."""
    usage: dict[str, list[int]] = {}
    other = 0
    root = Path(root)
    for path in _files(root):
        relative = path.relative_to(root)
        if not is_cache_file(relative):
            other += 1
            continue
        parts = relative.parts
        namespace = "/".join(parts[:-2] if parts[0] != WEIGHTS_FOLDER else parts[:-1])
        entry = usage.setdefault(namespace, [0, 0])
        entry[0] += 1
        entry[1] += path.stat().st_size
    rows = [{"cache": name, "files": n, "bytes": size} for name, (n, size) in sorted(usage.items())]
    return CacheUsage(rows, other)


def clear_cache(root: Path) -> int:
    """Delete the cache entries under `root` (all recomputable), and the folders that held only them;
    returns the bytes freed. Any other file stays, and a folder without a single entry is refused:
    `--dir` pointed at a dataset must not cost the dataset."""
    root = Path(root)
    usage = cache_usage(root)
    if usage.entries == 0 and usage.other_files:
        raise BenchmarkError(
            f"{root} is not a workout-bench cache: it holds no cache entries and {usage.other_files} other "
            "file(s); nothing was deleted"
        )
    folders = set()
    for path in _files(root):
        if is_cache_file(path.relative_to(root)):
            path.unlink(missing_ok=True)
            folders.update(p for p in path.parents if is_within(p, root))
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return usage.bytes


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.is_dir() else []
