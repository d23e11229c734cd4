"""Leakage audit: near-duplicate images across a split, seen in the pixels rather than the file names.

Two independent detectors, each with its threshold in config.py: a 64-bit perceptual hash (DCT
pHash from `imagehash`) catches re-encoded, resized or renamed copies of a frame; cosine similarity of
the frozen ImageNet backbone's pooled embedding catches neighbouring frames of one video whose
pixels moved (a person mid-repetition) but whose scene did not. A test image counts as leaked when
either finds a match in its fold's training part.
"""

from __future__ import annotations

import dataclasses
import functools
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

from benchmark.cache import ArrayCache
from benchmark.dataset import Dataset
from benchmark.groups import VIDEO
from benchmark.images import BadImageError, load_rgb
from benchmark.progress import progress
from config import Config
from splits import fold_pairs

PHASH_NAMESPACE = "phash/dct-8x8-v1"
CHUNK = 1024


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


def nearest(queries: np.ndarray, pool: np.ndarray, prints: Fingerprints) -> pd.DataFrame:
    """For each query image: the pool image with the smallest pHash distance and the one with the
    highest cosine similarity (chunked, so memory stays flat at any dataset size)."""
    rows = []
    pool_hashes, pool_embeddings = prints.hashes[pool], prints.embeddings[pool]
    for start in range(0, len(queries), CHUNK):
        chunk = queries[start : start + CHUNK]
        distances = np.bitwise_count(prints.hashes[chunk, None] ^ pool_hashes[None, :])
        cosines = prints.embeddings[chunk] @ pool_embeddings.T
        by_hash, by_cosine = distances.argmin(axis=1), cosines.argmax(axis=1)
        rows.append(
            pd.DataFrame(
                {
                    "image": chunk,
                    "hash_match": pool[by_hash],
                    "hash_distance": distances[np.arange(len(chunk)), by_hash].astype(int),
                    "cosine_match": pool[by_cosine],
                    "cosine": cosines[np.arange(len(chunk)), by_cosine].astype(float),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def audit_split(
    images: pd.DataFrame, folds: np.ndarray, strategy: str, prints: Fingerprints, thresholds: Thresholds
) -> pd.DataFrame:
    """One row per test image of every fold: its nearest training images and whether it is leaked."""
    groups = images["group"].to_numpy()
    frames = []
    for fold, (train_idx, test_idx) in enumerate(fold_pairs(folds)):
        found = nearest(test_idx, train_idx, prints)
        found.insert(0, "fold", fold)
        found.insert(0, "strategy", strategy)
        frames.append(found)
    rows = pd.concat(frames, ignore_index=True)
    rows["by_hash"] = rows.hash_distance <= thresholds.phash_max_distance
    rows["by_embedding"] = rows.cosine >= thresholds.cosine_min
    rows["near_duplicate"] = rows.by_hash | rows.by_embedding
    rows["same_group"] = groups[rows.image] == groups[rows.cosine_match]
    # Both detectors on the embedding's pair, so the worst pairs can show one number per detector.
    rows["pair_hash_distance"] = np.bitwise_count(
        prints.hashes[rows.image.to_numpy()] ^ prints.hashes[rows.cosine_match.to_numpy()]
    ).astype(int)
    return rows


def summarize_audit(rows: pd.DataFrame, images: pd.DataFrame, thresholds: Thresholds, n_pairs: int = 6) -> dict:
    """Per strategy: shares of leaked test images (either detector, and each alone) and the worst pairs."""
    paths = images["path"].to_numpy()
    out: dict[str, Any] = {}
    for strategy, part in rows.groupby("strategy", sort=False):
        ranked = part.sort_values(["cosine", "pair_hash_distance"], ascending=[False, True], kind="mergesort")
        pair_ids = [frozenset(ids) for ids in zip(ranked.image, ranked.cosine_match)]
        worst = ranked[~pd.Series(pair_ids, index=ranked.index).duplicated()].head(n_pairs)  # A<-B and B<-A: once
        out[strategy] = {
            "near_duplicate_share": round(float(part.near_duplicate.mean()), 4),
            "phash_share": round(float(part.by_hash.mean()), 4),
            "embedding_share": round(float(part.by_embedding.mean()), 4),
            "test_images": int(len(part)),
            "per_fold": [round(float(v), 4) for v in part.groupby("fold").near_duplicate.mean()],
            "thresholds": {"phash_max_distance": thresholds.phash_max_distance, "cosine_min": thresholds.cosine_min},
            "worst_pairs": [
                {
                    "fold": int(r.fold),
                    "test": str(paths[r.image]),
                    "train": str(paths[r.cosine_match]),
                    "cosine": round(float(r.cosine), 4),
                    "hash_distance": int(r.pair_hash_distance),
                    "same_group": bool(r.same_group),
                }
                for r in worst.itertuples()
            ],
        }
    return out


def infer_groups(images: pd.DataFrame, prints: Fingerprints, thresholds: Thresholds) -> np.ndarray:
    """Group ids from pixels: connected components of the near-duplicate graph inside each class.

    Edges never cross classes (a group must have one label for the splitters to keep it whole).
    """
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
    return groups


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


# -- the stage: a dataset (and its folds) in, fingerprints, groups and audit tables out ----------------


def thresholds_of(config: Config) -> Thresholds:
    return Thresholds(config.audit_phash_max_distance, config.audit_cosine_min)


def fingerprints(dataset: Dataset, config: Config) -> Fingerprints:
    """pHash and backbone embedding of every image; both cached on disk by content hash, and the last
    result kept in memory, so `--groups infer` followed by the audit computes them once."""
    images = dataset.with_keys(config.scan_workers).images
    return _fingerprints(
        dataset.root, tuple(images["path"]), tuple(images["key"]), config.cache_dir, config.scan_workers
    )


@functools.lru_cache(maxsize=1)
def _fingerprints(
    root: Path, paths: tuple[str, ...], keys: tuple[str, ...], cache_dir: Path, workers: int
) -> Fingerprints:
    from benchmark.source import DatasetSource
    from models.learners import backbone_embeddings

    source = DatasetSource(root, list(paths), np.zeros(len(paths)), cache_dir, workers, keys)
    hashes = perceptual_hashes([root / p for p in paths], keys, cache_dir, workers)
    return Fingerprints(hashes, normalise(backbone_embeddings(source, cache_dir)))


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


def audit(dataset: Dataset, config: Config, folds: dict[str, np.ndarray]) -> tuple[dict[str, Any], pd.DataFrame]:
    """Per strategy: shares of test images with a near-duplicate in training, and the rows behind them."""
    prints = fingerprints(dataset, config)
    limits = thresholds_of(config)
    rows = pd.concat(
        [audit_split(dataset.images, array, strategy, prints, limits) for strategy, array in folds.items()],
        ignore_index=True,
    )
    return summarize_audit(rows, dataset.images, limits), rows


def audit_lines(summary: dict[str, Any]) -> list[str]:
    """The terminal table: per strategy the shares, then its worst pairs."""
    lines = [f"{'strategy':<9} {'test images':>11} {'near-dup':>9} {'pHash':>7} {'embedding':>9}   per fold"]
    for strategy, entry in summary.items():
        lines.append(
            f"{strategy:<9} {entry['test_images']:>11} {entry['near_duplicate_share']:>9.1%} "
            f"{entry['phash_share']:>7.1%} {entry['embedding_share']:>9.1%}   "
            + " ".join(f"{share:.0%}" for share in entry["per_fold"])
        )
    for strategy, entry in summary.items():
        lines.append(f"worst pairs, {strategy} (test <- train):")
        for pair in entry["worst_pairs"]:
            tag = "same group" if pair["same_group"] else "other group"
            lines.append(
                f"  cos {pair['cosine']:.3f}  pHash {pair['hash_distance']:>2} bits  {tag:<11}  "
                f"{pair['test']} <- {pair['train']}"
            )
    return lines
