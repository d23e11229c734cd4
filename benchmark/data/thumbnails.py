"""A few small thumbnails per class, saved into the run directory so the report needs no data folder."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from PIL import Image

from benchmark.core.atomic import atomic_write_bytes, atomic_write_json
from benchmark.core.rundir import INDEX
from benchmark.data.images import BadImageError, load_rgb
from splits.names import GROUPED

THUMBNAIL_HEIGHT = 96
PER_CLASS = 3


def write_thumbnails(images: pd.DataFrame, root: Path, out_dir: Path) -> dict[str, list[str]]:
    """Per class, the first frame of each of its first PER_CLASS groups (different videos where possible).

    index.json maps class name -> thumbnail file names, so readers need not parse file names.
    """
    index: dict[str, list[str]] = {}
    for class_index, (label, rows) in enumerate(images.groupby("label", sort=True)):
        index[str(label)] = []
        firsts = rows.sort_values("path").drop_duplicates("group").head(PER_CLASS)
        for n, path in enumerate(firsts["path"]):
            target = out_dir / f"{class_index:02d}-{n}.jpg"
            if target.is_file() or write_thumbnail(root / path, target):
                index[str(label)].append(target.name)
    atomic_write_json(out_dir / INDEX, index)
    return index


def write_thumbnail(source: Path, target: Path) -> bool:
    """One thumbnail; False when the file no longer decodes (the report then shows its name only)."""
    try:
        atomic_write_bytes(target, _thumbnail_jpeg(source))
    except (BadImageError, OSError):
        return False
    return True


def _thumbnail_jpeg(path: Path) -> bytes:
    image = load_rgb(path)
    width = max(1, round(image.width * THUMBNAIL_HEIGHT / image.height))
    image = image.resize((width, THUMBNAIL_HEIGHT), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def write_issue_thumbnails(issues: pd.DataFrame, root: Path, out_dir: Path, per_model: int = 8) -> list[dict]:
    """Per model, the strongest label issues as thumbnails; index.json lists them for the report."""
    index = []
    for model, rows in issues.groupby("model", sort=True):
        for n, row in enumerate(rows.head(per_model).itertuples()):
            target = out_dir / f"{model}-{n}.jpg"
            if write_thumbnail(root / row.path, target):
                index.append({"model": model, "path": row.path, "given": row.given_label,
                              "suggested": row.suggested_label, "score": float(row.score), "thumbnail": target.name,
                              "video": bool(row.video_flagged)})  # fmt: skip
    atomic_write_json(out_dir / INDEX, index)
    return index


def write_mistake_thumbnails(predictions: pd.DataFrame, root: Path, out_dir: Path, per_model: int = 8) -> list[dict]:
    """Per model, the most confident mistakes on grouped test folds (videos never seen in training),
    as thumbnails; index.json lists them (model, path, true and predicted class, confidence)."""
    wrong = predictions[(predictions["strategy"] == GROUPED) & ~predictions["correct"].astype(bool)]
    index = []
    for model, rows in wrong.groupby("model", sort=True):
        top = rows.sort_values(["confidence", "path"], ascending=[False, True], kind="mergesort").head(per_model)
        for n, row in enumerate(top.itertuples()):
            target = out_dir / f"{model}-{n}.jpg"
            if write_thumbnail(root / row.path, target):
                index.append(
                    {
                        "model": model, "path": row.path, "label": row.label, "predicted": row.predicted,
                        "confidence": float(row.confidence), "fold": int(row.fold), "thumbnail": target.name,
                    }
                )  # fmt: skip
    atomic_write_json(out_dir / INDEX, index)
    return index
