"""Stage 3: a scanned dataset's outer assignment per strategy, their manifests and statistics.

The splitters themselves are pure (splits/); this is where they meet a `Dataset` and files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.core.errors import BenchmarkError
from benchmark.core.outputs import write_output
from benchmark.core.rundir import manifest_path
from benchmark.data.dataset import Dataset
from config import Config
from splits.manifest import manifest_csv, manifest_frame, read_manifest
from splits.strategies import assign_folds, fold_pairs


def fold_assignment(dataset: Dataset, strategy: str, config: Config, seed: int | None = None) -> np.ndarray:
    """The outer test fold of every image; `seed` is a repeat's (default: the config seed)."""
    images = dataset.images
    seed = config.seed if seed is None else seed
    return assign_folds(images["label"].to_numpy(), images["group"].to_numpy(), strategy, config.folds, seed)


def split_manifest(dataset: Dataset, strategy: str, assignment: np.ndarray) -> str:
    return manifest_csv(manifest_frame(dataset.images, assignment, strategy))


def write_split(dataset: Dataset, strategy: str, config: Config, out: Path) -> Path:
    manifest = split_manifest(dataset, strategy, fold_assignment(dataset, strategy, config))
    write_output(out, manifest.encode("utf-8"), "--out")
    return out


def assignments_from_manifest(dataset: Dataset, manifest: pd.DataFrame, source: Path) -> dict[str, np.ndarray]:
    """Align a manifest's fold column with the dataset's rows; every row must match an image."""
    out = {}
    index = pd.Series(np.arange(len(dataset.images)), index=dataset.images["path"])
    for strategy, part in manifest.groupby("strategy", sort=False):
        unknown = sorted(set(part["path"]) - set(index.index))
        if unknown:
            raise BenchmarkError(f"manifest {source}: {len(unknown)} path(s) not in the data folder, e.g. {unknown[0]}")
        assignment = np.full(len(dataset.images), -1, dtype=np.int64)
        assignment[index[part["path"]].to_numpy()] = part["fold"].to_numpy()
        if (assignment < 0).any():
            missing = dataset.images["path"].to_numpy()[assignment < 0][0]
            raise BenchmarkError(f"manifest {source} has no fold for {missing} (made from another data folder?)")
        out[str(strategy)] = assignment
    return out


def assignments_from_manifests(
    run_dir: Path, dataset: Dataset, strategies: tuple[str, ...], repeat: int = 0
) -> dict[str, np.ndarray]:
    """A run's fold assignments read back from its manifests: what a worker joining the run trains on."""
    assignments: dict[str, np.ndarray] = {}
    for strategy in strategies:
        path = manifest_path(run_dir, strategy, repeat)
        assignments.update(assignments_from_manifest(dataset, read_manifest(path), path))
    return assignments


def split_statistics(dataset: Dataset, strategy: str, assignment: np.ndarray) -> list[dict[str, Any]]:
    """Per fold: sizes, classes present, and how much of the test fold shares a video with training."""
    images = dataset.images
    labels, groups = images["label"].to_numpy(), images["group"].to_numpy()
    rows = []
    for fold, (train_idx, test_idx) in enumerate(fold_pairs(assignment)):
        seen = set(groups[train_idx])
        shared = np.array([g in seen for g in groups[test_idx]])
        rows.append(
            {
                "strategy": strategy,
                "fold": fold,
                "n_train": int(len(train_idx)),
                "n_test": int(len(test_idx)),
                "test_classes": int(len(set(labels[test_idx]))),
                "test_groups": int(len(set(groups[test_idx]))),
                "test_share_with_video_in_train": round(float(shared.mean()), 4),
            }
        )
    return rows
