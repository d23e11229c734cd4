"""Pixel fingerprints of every image: a 64-bit perceptual hash and the frozen backbone's embedding.

Two independent detectors of near-duplicates, each with its threshold in config.py: the DCT pHash
(`imagehash`) catches re-encoded, resized or renamed copies of a frame; cosine similarity of the
frozen ImageNet backbone's pooled embedding catches neighbouring frames of one video whose pixels
moved (a person mid-repetition) but whose scene did not. `--groups infer` clusters them into
groups; the leakage audit (benchmark/cv/audit.py) compares a split's sides with them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import adjusted_rand_score

from benchmark.core.progress import progress
from benchmark.data.cache import ArrayCache
from benchmark.data.dataset import Dataset
from benchmark.data.groups import VIDEO
from benchmark.data.images import BadImageError, load_rgb
from config import Config

PHASH_NAMESPACE = "phash/dct-8x8-v1"


@dataclass(frozen=True)
class Fingerprints:
    """Per image, aligned with the dataset's rows: 64-bit pHash and unit-length embedding."""

    hashes: np.ndarray  # (n,) uint64
    embeddings: np.ndarray  # (n, d) float32, L2-normalised


@dataclass(frozen=True)
class Thresholds:
    phash_max_distance: int
    cosine_min: float


def perceptual_hashes(paths: Sequence[Path], keys: Sequence[str], cache_dir: Path, workers: int = 4) -> np.ndarray:
    import imagehash

    cache = ArrayCache(cache_dir, PHASH_NAMESPACE)

    def one(item: tuple[Path, str]) -> np.uint64:
        path, key = item
        cached = cache.load(key)
        if cached is None:
            try:
                bits = imagehash.phash(load_rgb(path)).hash.flatten()
            except BadImageError:
                bits = np.zeros(64, dtype=bool)  # scan already reported it; an all-zero hash matches nothing real
            cached = np.packbits(bits).view(">u8").astype(np.uint64)
            cache.save(key, cached)
        return cached[0]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        hashes = list(progress(pool.map(one, zip(paths, keys)), total=len(paths), desc="perceptual hashes"))
    return np.asarray(hashes, dtype=np.uint64)


def normalise(embeddings: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return (embeddings / np.maximum(norms, 1e-12)).astype(np.float32)


def infer_groups(images: pd.DataFrame, prints: Fingerprints, thresholds: Thresholds) -> np.ndarray:
    """Group ids from pixels: connected components of the near-duplicate graph inside each class, then
    joined across classes where one picture is filed under two (`cross_class_pairs`): such a pair is
    leakage with a contradiction attached, so the grouped split keeps it on one side."""
    labels = images["label"].to_numpy()
    groups = np.empty(len(images), dtype=object)
    for label in progress(sorted(set(labels)), desc="infer groups"):
        members = np.flatnonzero(labels == label)
        distances = np.bitwise_count(prints.hashes[members, None] ^ prints.hashes[None, members])
        cosines = prints.embeddings[members] @ prints.embeddings[members].T
        linked = (distances <= thresholds.phash_max_distance) | (cosines >= thresholds.cosine_min)
        rows, cols = np.nonzero(linked)
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(members), len(members)))
        _, component = connected_components(graph, directed=False)
        groups[members] = [f"{label}/cluster-{c}" for c in component]
    if "key" in images.columns:
        pairs = cross_class_pairs(labels, images["key"].tolist(), prints, thresholds)
        groups = _joined(groups, pairs)
    return groups


def _joined(groups: np.ndarray, pairs: pd.DataFrame) -> np.ndarray:
    """Groups merged along the pairs (union-find over group ids); a merged group keeps its first id."""
    parent: dict[str, str] = {}

    def root(g: str) -> str:
        while parent.get(g, g) != g:
            g = parent[g]
        return g

    for a, b in zip(pairs.a, pairs.b):
        first, second = sorted((root(groups[a]), root(groups[b])))
        if first != second:
            parent[second] = first
    return np.array([root(g) for g in groups], dtype=object)


CHUNK = 1024  # images compared with all others at once: memory stays flat at any dataset size


def cross_class_pairs(
    labels: np.ndarray, keys: Sequence[str], prints: Fingerprints, thresholds: Thresholds
) -> pd.DataFrame:
    """Pairs of images filed under different classes that are the same picture: byte-identical (same
    content key), or near-duplicates by either detector. Columns a, b (row indices, a < b), kind
    ("byte-identical", "phash" or "embedding") and distance (0, pHash bits, or cosine)."""
    labels, keys = np.asarray(labels), np.asarray(keys)
    rows = []
    for start in range(0, len(labels), CHUNK):
        a = np.arange(start, min(start + CHUNK, len(labels)))
        bits = np.bitwise_count(prints.hashes[a, None] ^ prints.hashes[None, :])
        cosine = prints.embeddings[a] @ prints.embeddings.T
        near = (bits <= thresholds.phash_max_distance) | (cosine >= thresholds.cosine_min)
        near &= labels[a, None] != labels[None, :]
        near &= a[:, None] < np.arange(len(labels))[None, :]  # each pair once
        for i, j in zip(*np.nonzero(near)):
            first, second = int(a[i]), int(j)
            if keys[first] == keys[second]:
                rows.append((first, second, "byte-identical", 0.0))
            elif bits[i, j] <= thresholds.phash_max_distance:
                rows.append((first, second, "phash", float(bits[i, j])))
            else:
                rows.append((first, second, "embedding", round(float(cosine[i, j]), 4)))
    return pd.DataFrame(rows, columns=["a", "b", "kind", "distance"])


def group_agreement(name_groups: np.ndarray, kinds: np.ndarray, inferred: np.ndarray, video_kind: str) -> dict:
    """How well pixel groups reproduce the file-name video ids, on the images that have one."""
    has_video = kinds == video_kind
    if not has_video.any():
        return {"images_compared": 0, "adjusted_rand_index": None}
    return {
        "images_compared": int(has_video.sum()),
        "adjusted_rand_index": round(float(adjusted_rand_score(name_groups[has_video], inferred[has_video])), 4),
        "name_groups": int(len(set(name_groups[has_video]))),
        "inferred_groups": int(len(set(inferred[has_video]))),
    }


def thresholds_of(config: Config) -> Thresholds:
    return Thresholds(config.audit_phash_max_distance, config.audit_cosine_min)


_LAST: dict[tuple, Fingerprints] = {}  # the last dataset's fingerprints, so infer + audit compute them once


def fingerprints(dataset: Dataset, config: Config) -> Fingerprints:
    """pHash and backbone embedding of every image; both cached on disk by content hash, and the last
    result kept in memory, so `--groups infer` followed by the audit computes them once."""
    from benchmark.data.source import DatasetSource
    from models.learner import Runtime
    from models.registry import model_spec

    dataset = dataset.with_keys(config.scan_workers)
    keys = dataset.images["key"].tolist()
    memo = (dataset.root, tuple(dataset.images["path"]), tuple(keys), config.cache_dir, config.audit_embedder)
    if memo not in _LAST:
        source = DatasetSource.of(dataset, dataset.class_names, config)
        hashes = perceptual_hashes(
            [dataset.root / p for p in source.paths], keys, config.cache_dir, config.scan_workers
        )
        _LAST.clear()
        # The embedder's own cached activations (for Lite0 the ones its learner trains on): an audit and
        # a run compute them once.
        embed = model_spec(config.audit_embedder).embed
        _LAST[memo] = Fingerprints(hashes, normalise(embed(source, Runtime(config.cache_dir, config.feature_runtime))))
    return _LAST[memo]


def with_inferred_groups(dataset: Dataset, config: Config) -> tuple[Dataset, dict[str, Any]]:
    """The dataset with groups from pixels; the file-name groups stay in `name_group` for comparison."""
    dataset = dataset.with_keys(config.scan_workers)
    prints = fingerprints(dataset, config)
    images = dataset.images.copy()
    inferred = infer_groups(images, prints, thresholds_of(config))
    agreement = group_agreement(images["group"].to_numpy(), images["group_kind"].to_numpy(), inferred, VIDEO)
    agreement["groups"] = int(len(set(inferred)))
    images["name_group"] = images["group"]
    images["group"] = inferred
    return dataclasses.replace(dataset, images=images), agreement
