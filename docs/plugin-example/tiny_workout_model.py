"""A complete workout-bench model plug-in: a small Keras CNN, tuned over three hyper-parameters.

Installed (`pip install ./docs/plugin-example`), it is offered as `--models TinyKerasCNN` and is
tuned, cross-validated, reported, compared and perf-measured like the built-in models. The module
imports no TensorFlow: the learner imports Keras when it trains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.core.fields import check_fields, setting
from models.learner import EpochCallback, FitResult, ImageSource, Runtime
from models.preprocess import Preprocess
from models.spec import ModelSpec

NAME = "TinyKerasCNN"


@dataclass(frozen=True)
class TinyOptions:
    """What a user may change without editing the plug-in: --set TinyKerasCNN.size=48."""

    size: int = setting(32, low=16, high=256)
    epochs: int = setting(4, low=1)

    def __post_init__(self) -> None:
        check_fields(self)


DEFAULTS: dict[str, Any] = {"filters": 16, "learning_rate": 1e-3, "dropout": 0.2}


def suggest(trial: Any, options: TinyOptions) -> dict[str, Any]:
    """The search space, define-by-run: three parameters."""
    return {
        "filters": trial.suggest_categorical("filters", [8, 16, 32]),
        "learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-3, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
    }


class TinyLearner:
    def __init__(self, hp: Mapping[str, Any], n_classes: int, seed: int, options: TinyOptions):
        self.hp, self.n_classes, self.seed, self.options = dict(hp), n_classes, seed, options
        self.preprocess = Preprocess(size=options.size, crop="center")
        self.model = None

    def _network(self):
        import keras

        keras.utils.set_random_seed(self.seed)  # the same weights from the same seed, in any process
        size, filters = self.options.size, int(self.hp["filters"])
        model = keras.Sequential([
            keras.Input((size, size, 3)), keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(filters, 3, activation="relu"), keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(2 * filters, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(float(self.hp["dropout"])), keras.layers.Dense(self.n_classes, activation="softmax"),
        ])  # fmt: skip
        model.compile(keras.optimizers.Adam(float(self.hp["learning_rate"])), "sparse_categorical_crossentropy")
        return model

    def fit(self, source: ImageSource, train_idx, val_idx=None, report: EpochCallback | None = None) -> FitResult:
        pixels, labels, result = source.pixels(self.preprocess), source.labels, FitResult()
        self.model = self._network()
        for epoch in range(self.options.epochs):
            self.model.fit(pixels[train_idx], labels[train_idx], epochs=1, batch_size=32, verbose=0, shuffle=False)
            if val_idx is None:
                continue
            accuracy = float((self.predict_proba(source, val_idx).argmax(1) == labels[val_idx]).mean())
            result.val_accuracy.append(accuracy)
            if report is not None:
                report(epoch, accuracy)  # Optuna's pruner reads it
        return result

    def predict_proba(self, source: ImageSource, idx) -> np.ndarray:
        return self.model.predict(source.pixels(self.preprocess)[idx], batch_size=64, verbose=0)

    def export_model(self):
        return self.model


def build(hp: Mapping[str, Any], *, n_classes: int, seed: int, options: TinyOptions, runtime: Runtime,
          trial: bool) -> TinyLearner:  # fmt: skip
    return TinyLearner(hp, n_classes, seed, options)


SPEC = ModelSpec(name=NAME, options=TinyOptions, defaults=DEFAULTS, suggest=suggest, build=build,
                 demo_options={"epochs": 2})  # fmt: skip
