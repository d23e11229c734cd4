"""What a model's learner offers the harness, and what the harness offers it; no TensorFlow here.

A learner knows nothing about folds: it gets an `ImageSource` (all images of a dataset, with
cached pixels and cached frozen-backbone activations) and the indices to train on and validate on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from models.preprocess import Preprocess

# Called after every epoch with (step, validation accuracy); may raise to stop (Optuna pruning).
EpochCallback = Callable[[int, float], None]


class ImageSource(Protocol):
    labels: np.ndarray  # int class index per image

    def pixels(self, preprocess: Preprocess) -> np.ndarray: ...

    def features(
        self,
        namespace: str,
        outputs: Sequence[str],
        preprocess: Preprocess,
        compute: Callable[[np.ndarray], list[np.ndarray]],
        keep: Sequence[bool] | None = None,
    ) -> list[np.ndarray]: ...


@dataclass
class FitResult:
    val_accuracy: list[float] = field(default_factory=list)  # per epoch, all phases in order
    best_epochs: dict[str, int] = field(default_factory=dict)  # per phase: epochs to reach the best val
    best_accuracy: dict[str, float] = field(default_factory=dict)  # per phase: that best validation accuracy


@dataclass(frozen=True)
class Runtime:
    """What the harness decides for every model: where caches live and what runs frozen backbones."""

    cache_dir: Path
    feature_runtime: str = "litert"
    # Test-time augmentation: predictions are the mean of the probabilities of each image and its mirror.
    test_time_mirror: bool = True


@runtime_checkable
class MeasuresItsSpeed(Protocol):
    """An optional part of the contract: a learner with machinery of its own worth timing (a feature
    runtime, say) says how; `perf` reports each figure next to the trial times."""

    def speed_figures(self, source: ImageSource, sample: np.ndarray) -> dict[str, Callable[[], float]]:
        """Figure name -> a call that measures it once (images per second) on `sample`'s images."""
        ...


class Learner(Protocol):
    preprocess: Preprocess

    def fit(self, source: ImageSource, train_idx: np.ndarray, val_idx: np.ndarray | None = None,
            report: EpochCallback | None = None) -> FitResult: ...  # fmt: skip

    def predict_proba(self, source: ImageSource, idx: np.ndarray) -> np.ndarray: ...

    def export_model(self) -> Any: ...
