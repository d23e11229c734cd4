"""Grouped and leaky k-fold splits over arrays of labels and groups; no I/O, no models.

The strategy names import nothing; the splitters (scikit-learn) and manifests (pandas) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from splits.names import GROUPED, LEAKY, STRATEGIES, SplitError

_LAZY = {
    "MANIFEST_COLUMNS": "splits.manifest",
    "manifest_csv": "splits.manifest",
    "manifest_frame": "splits.manifest",
    "read_manifest": "splits.manifest",
    "assign_folds": "splits.strategies",
    "fold_pairs": "splits.strategies",
    "inner_folds": "splits.strategies",
    "keep_groups": "splits.strategies",
    "verify_no_group_overlap": "splits.strategies",
}

__all__ = ["GROUPED", "LEAKY", "STRATEGIES", "SplitError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'splits' has no attribute {name!r}")
