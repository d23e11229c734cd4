"""Split manifests: one CSV row per image, byte-identical for the same data and seed."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from splits.names import STRATEGIES, SplitError

MANIFEST_COLUMNS = ["path", "label", "group", "fold", "strategy"]


def manifest_frame(images: pd.DataFrame, folds: np.ndarray, strategy: str) -> pd.DataFrame:
    """`images` needs path, label and group columns; rows come out sorted by path."""
    frame = images[["path", "label", "group"]].copy()
    frame["fold"] = np.asarray(folds, dtype=np.int64)
    frame["strategy"] = strategy
    return frame.sort_values("path", kind="mergesort", ignore_index=True)[MANIFEST_COLUMNS]


def manifest_csv(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame[MANIFEST_COLUMNS].to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def read_manifest(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            path,
            dtype={"path": str, "label": str, "group": str, "strategy": str},
            keep_default_na=False,
            encoding="utf-8",
        )
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise SplitError(f"cannot read manifest {path}: {error}") from None
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise SplitError(f"manifest {path} lacks column(s): {', '.join(missing)}")
    unknown = sorted(set(frame["strategy"]) - set(STRATEGIES))
    if unknown:
        raise SplitError(f"manifest {path} has unknown strategy {unknown[0]!r}")
    return frame
