"""Grouped and leaky k-fold splits over arrays of labels and groups; no I/O, no models."""

from splits.manifest import MANIFEST_COLUMNS, manifest_csv, manifest_frame, read_manifest
from splits.strategies import (
    GROUPED,
    LEAKY,
    STRATEGIES,
    SplitError,
    assign_folds,
    fold_pairs,
    inner_folds,
    verify_no_group_overlap,
)

__all__ = [
    "GROUPED",
    "LEAKY",
    "MANIFEST_COLUMNS",
    "STRATEGIES",
    "SplitError",
    "assign_folds",
    "fold_pairs",
    "inner_folds",
    "manifest_csv",
    "manifest_frame",
    "read_manifest",
    "verify_no_group_overlap",
]
