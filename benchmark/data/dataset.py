"""Scan + groups in one call, and the data summary every command prints and every run stores."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.core.errors import BenchmarkError
from benchmark.core.words import count_of, range_of
from benchmark.data.groups import SINGLE, UNMATCHED, VIDEO, assign_groups
from benchmark.data.scan import ScanResult, scan_dataset
from config import Config


@dataclass
class Dataset:
    """Images with path, label, width, height, group and group_kind; sorted by path."""

    root: Path
    images: pd.DataFrame
    scan: ScanResult

    @property
    def class_names(self) -> list[str]:
        return sorted(self.images["label"].unique())

    def with_keys(self, workers: int) -> Dataset:
        """A `key` column (SHA-256 of each file: the caches' key), hashed once however many stages ask."""
        if "key" in self.images.columns:
            return self
        from benchmark.data.cache import content_keys

        images = self.images.copy()
        images["key"] = content_keys([self.root / p for p in images["path"]], workers)
        return dataclasses.replace(self, images=images)

    def summary(self) -> dict[str, Any]:
        images = self.images
        kinds = images["group_kind"].value_counts()
        frames_per_video = images[images["group_kind"] == VIDEO].groupby("group").size()
        return {
            "data_dir": str(self.root),
            "n_images": int(len(images)),
            "n_classes": int(images["label"].nunique()),
            "n_groups": int(images["group"].nunique()),
            "images_per_class": {k: int(v) for k, v in images.groupby("label").size().items()},
            "groups_per_class": {k: int(v) for k, v in images.groupby("label")["group"].nunique().items()},
            "video_frames": int(kinds.get(VIDEO, 0)),
            "n_videos": int(len(frames_per_video)),
            "frames_per_video": {
                "min": int(frames_per_video.min()) if len(frames_per_video) else 0,
                "median": float(frames_per_video.median()) if len(frames_per_video) else 0.0,
                "max": int(frames_per_video.max()) if len(frames_per_video) else 0,
            },
            "videos_by_frame_count": {str(k): int(v) for k, v in frames_per_video.value_counts().sort_index().items()},
            "single_images": int(kinds.get(SINGLE, 0)),
            "unmatched_names": int(kinds.get(UNMATCHED, 0)),
            "unmatched_examples": images.loc[images["group_kind"] == UNMATCHED, "path"].head(10).tolist(),
            "bad_files": [{"path": b.path, "reason": b.reason} for b in self.scan.bad_files],
            "n_bad_files": len(self.scan.bad_files),
            "empty_classes": list(self.scan.empty_classes),
            "ignored_files": list(self.scan.ignored_files),
            **(
                {
                    "content_fingerprint": content_fingerprint(images),
                    "cross_class_byte_copies": cross_class_copies(images),
                }
                if "key" in images.columns
                else {}
            ),
        }


def load_dataset(root: Path, config: Config, report: Callable[[str], None] | None = None) -> Dataset:
    scan = scan_dataset(root, config.image_extensions, strict=config.strict, workers=config.scan_workers, report=report,
                        max_pixels=config.max_image_pixels)  # fmt: skip
    images = assign_groups(scan.images, config.video_pattern, config.single_image_pattern)
    return Dataset(Path(root).resolve(), images, scan)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """A few human lines for the terminal; the full summary goes to JSON."""
    frames = summary["frames_per_video"]
    lines = [
        f"data: {summary['data_dir']}",
        f"  {count_of(summary['n_images'], 'image')}, {count_of(summary['n_classes'], 'class')}, "
        f"{count_of(summary['n_groups'], 'group')} ({count_of(summary['n_videos'], 'video')} of "
        f"{range_of(frames['min'], frames['max'], 'frame')}, {count_of(summary['single_images'], 'single image')}, "
        f"{count_of(summary['unmatched_names'], 'unmatched name')})",
    ]
    if summary["n_bad_files"] or summary["empty_classes"] or summary["ignored_files"]:
        lines.append(
            f"  skipped: {count_of(summary['n_bad_files'], 'bad image')}, "
            f"{count_of(len(summary['empty_classes']), 'empty class folder')}, "
            f"{count_of(len(summary['ignored_files']), 'non-image file')}"
        )
    if summary["unmatched_names"]:
        lines.append(f"  names without a video id (own group each), e.g.: {summary['unmatched_examples'][0]}")
    if summary.get("cross_class_byte_copies"):
        lines.append(f"  {count_of(summary['cross_class_byte_copies'], 'file')} whose bytes are also filed under "
                     "another class (the audit lists them)")  # fmt: skip
    return lines


def require_classes(dataset: Dataset, least: int = 2) -> None:
    """A benchmark compares classes: a folder of one class (or a wrapper around the real ones) cannot be split."""
    found = dataset.class_names
    if len(found) < least:
        names = ", ".join(repr(name) for name in found)
        raise BenchmarkError(
            f"{dataset.root} has {count_of(len(found), 'class folder')} ({names}): a benchmark needs at least "
            f"{least}; --data must be the folder whose sub-folders are the classes"
        )


def cross_class_copies(images: pd.DataFrame) -> int:
    """Files whose bytes are also filed under another class (the near-duplicates are the audit's)."""
    labels_per_key = images.groupby("key")["label"].nunique()
    return int(images["key"].isin(labels_per_key[labels_per_key > 1].index).sum())


def content_fingerprint(images: pd.DataFrame) -> str:
    """Which images, under which labels, with which bytes: two datasets share it only if a run on them
    would see the same thing (paths and labels, and each file's content key)."""
    lines = "".join(f"{p}\t{label}\t{key}\n" for p, label, key in zip(images["path"], images["label"], images["key"]))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()[:16]


def print_summary(summary: dict[str, Any]) -> None:
    for line in summary_lines(summary):
        print(line, file=sys.stderr)
