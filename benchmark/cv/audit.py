"""Leakage audit of a split: near-duplicate test/train pairs, seen in the pixels rather than the names.

A test image counts as leaked when either fingerprint (benchmark/data/fingerprints.py) finds a
match in its fold's training part: a pHash within `audit_phash_max_distance` bits or an embedding
cosine of at least `audit_cosine_min`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.core.atomic import atomic_write_json
from benchmark.core.rundir import AUDIT, AUDIT_THUMBNAILS
from benchmark.data.dataset import Dataset
from benchmark.data.fingerprints import Fingerprints, Thresholds, cross_class_pairs, fingerprints, thresholds_of
from benchmark.data.thumbnails import write_thumbnail
from config import Config
from splits.strategies import fold_pairs

PAIRS_IN_REPORT = 3
CROSS_CLASS = "cross_class_duplicates"  # audit.json / audit --json: pictures filed under two classes
CHUNK = 1024  # test images compared at once: memory stays flat at any dataset size


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
    images: pd.DataFrame, assignment: np.ndarray, strategy: str, prints: Fingerprints, thresholds: Thresholds
) -> pd.DataFrame:
    """One row per test image of every fold: its nearest training images and whether it is leaked."""
    groups = images["group"].to_numpy()
    frames = []
    for fold, (train_idx, test_idx) in enumerate(fold_pairs(assignment)):
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


def audit(dataset: Dataset, config: Config, assignments: dict[str, np.ndarray]) -> tuple[dict[str, Any], pd.DataFrame]:
    """Per strategy: shares of test images with a near-duplicate in training, and the rows behind them;
    under CROSS_CLASS, the pictures filed under two classes, and per strategy how many straddle its split."""
    dataset = dataset.with_keys(config.scan_workers)
    prints = fingerprints(dataset, config)
    limits = thresholds_of(config)
    rows = pd.concat(
        [audit_split(dataset.images, array, strategy, prints, limits) for strategy, array in assignments.items()],
        ignore_index=True,
    )
    summary = summarize_audit(rows, dataset.images, limits)
    images = dataset.images
    pairs = cross_class_pairs(images["label"].to_numpy(), images["key"].tolist(), prints, limits)
    for strategy, array in assignments.items():
        summary[strategy]["cross_class_straddling"] = int((array[pairs.a] != array[pairs.b]).sum())
    paths, labels = images["path"].to_numpy(), images["label"].to_numpy()
    summary[CROSS_CLASS] = [
        {"a": str(paths[a]), "b": str(paths[b]), "a_label": str(labels[a]), "b_label": str(labels[b]), "kind": kind,
         "distance": distance}
        for a, b, kind, distance in zip(pairs.a, pairs.b, pairs.kind, pairs.distance)
    ]  # fmt: skip
    return summary, rows


def strategies_of(summary: dict[str, Any]) -> list[str]:
    """The strategy entries of an audit summary (the other keys are the dataset's, like CROSS_CLASS)."""
    return [key for key in summary if key != CROSS_CLASS]


def audit_lines(summary: dict[str, Any]) -> list[str]:
    """The terminal table: per strategy the shares, then its worst pairs."""
    lines = [f"{'strategy':<9} {'test images':>11} {'near-dup':>9} {'pHash':>7} {'embedding':>9}   per fold"]
    for strategy in strategies_of(summary):
        entry = summary[strategy]
        lines.append(
            f"{strategy:<9} {entry['test_images']:>11} {entry['near_duplicate_share']:>9.1%} "
            f"{entry['phash_share']:>7.1%} {entry['embedding_share']:>9.1%}   "
            + " ".join(f"{share:.0%}" for share in entry["per_fold"])
        )
    crossed = summary.get(CROSS_CLASS, [])
    lines.append(f"the same picture under two classes: {len(crossed)} pair(s)")
    for strategy in strategies_of(summary):
        entry = summary[strategy]
        lines.append(f"worst pairs, {strategy} (test <- train):")
        for pair in entry["worst_pairs"]:
            tag = "same group" if pair["same_group"] else "other group"
            lines.append(
                f"  cos {pair['cosine']:.3f}  pHash {pair['hash_distance']:>2} bits  {tag:<11}  "
                f"{pair['test']} <- {pair['train']}"
            )
    return lines


def write_audit(run_dir: Path, dataset: Dataset, config: Config, assignments: dict[str, np.ndarray]) -> None:
    """audit.json and side-by-side thumbnails of the worst pairs, for the report's leakage section."""
    summary, _ = audit(dataset, config, assignments)
    for strategy in strategies_of(summary):
        for n, pair in enumerate(summary[strategy]["worst_pairs"][:PAIRS_IN_REPORT]):
            for side in ("test", "train"):
                name = f"{strategy}-{n}-{side}.jpg"
                write_thumbnail(dataset.root / pair[side], run_dir / AUDIT_THUMBNAILS / name)
                pair[f"{side}_thumbnail"] = f"{AUDIT_THUMBNAILS}/{name}"
    atomic_write_json(run_dir / AUDIT, summary)
    for line in audit_lines(summary)[: len(strategies_of(summary)) + 2]:
        print(f"audit: {line}", file=sys.stderr)
