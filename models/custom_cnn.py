"""The CustomCNN from scratch: 4 blocks of (3x3 conv, batch norm, ReLU, 2x2 max-pool), dense, softmax.

This module imports no TensorFlow: the spec is read by commands that train nothing; Keras is
imported where the network is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from config import check_fields, setting
from models.learner import EpochCallback, FitResult, ImageSource, Runtime
from models.preprocess import Preprocess
from models.spec import ModelSpec

if TYPE_CHECKING:
    import keras

NAME = "CustomCNN"


@dataclass(frozen=True)
class CustomCNNOptions:
    # Input side in pixels: images are decoded and resized to it once, then cached.
    input_size: int = setting(64, low=16, high=512)

    def __post_init__(self) -> None:
        check_fields(self)


DEFAULTS: dict[str, Any] = {
    "base_width": 32,  # block widths 32-64-128-256
    "dense_units": 512,
    "dropout": 0.5,
    "pooling": "flatten",
    "learning_rate": 1e-3,
    "batch_size": 32,
    "augment": 0.1,
    "epochs": 20,  # the most epochs; early stopping on inner validation folds picks fewer
    "patience": 4,
}


def suggest(trial: Any, options: CustomCNNOptions) -> dict[str, Any]:
    return {
        "base_width": trial.suggest_categorical("base_width", [16, 32]),
        "dense_units": trial.suggest_categorical("dense_units", [128, 256, 512]),
        "dropout": trial.suggest_float("dropout", 0.2, 0.6),
        "learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-3, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64]),
        "augment": trial.suggest_float("augment", 0.0, 0.25),
    }


def build_custom_cnn(hp: Mapping[str, Any], n_classes: int, seed: int) -> keras.Model:
    """Takes uint8-range pixels; scaling and augmentation live inside, so a saved model needs nothing else.

    hp: input_size, base_width (widths base, 2x, 4x, 8x: 32-64-128-256 by default), dense_units,
    dropout, pooling (flatten|avg), augment (0 = off; the strength of random shifts, zoom, rotation and contrast).
    """
    import keras
    from keras import layers

    size = int(hp["input_size"])
    inputs = keras.Input((size, size, 3), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    strength = float(hp["augment"])
    x = layers.RandomFlip("horizontal", seed=seed, name="aug_flip")(x)
    if strength > 0:
        x = layers.RandomTranslation(strength, strength, fill_mode="reflect", seed=seed + 1, name="aug_shift")(x)
        x = layers.RandomZoom(strength, fill_mode="reflect", seed=seed + 2, name="aug_zoom")(x)
        x = layers.RandomRotation(strength / 4, fill_mode="reflect", seed=seed + 3, name="aug_rotate")(x)
        x = layers.RandomContrast(strength, seed=seed + 4, name="aug_contrast")(x)
    width = int(hp["base_width"])
    for block in range(4):
        x = layers.Conv2D(width * 2**block, 3, padding="same", use_bias=False, name=f"block{block + 1}_conv")(x)
        # Momentum 0.9, not 0.99: small datasets give few steps, and stale moving averages wreck inference.
        x = layers.BatchNormalization(momentum=0.9, name=f"block{block + 1}_bn")(x)
        x = layers.ReLU(name=f"block{block + 1}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{block + 1}_pool")(x)
    # Flatten (the seed's shape) keeps where the limbs are; global average pooling trades that for size.
    x = (
        layers.Flatten(name="flatten")(x)
        if hp.get("pooling", "flatten") == "flatten"
        else (layers.GlobalAveragePooling2D(name="pool")(x))
    )
    x = layers.Dense(int(hp["dense_units"]), activation="relu", name="dense")(x)
    x = layers.Dropout(float(hp["dropout"]), seed=seed + 5, name="dropout")(x)
    # float32 output: under mixed precision a float16 softmax loses small probabilities.
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="custom_cnn")


class CustomCNNLearner:
    name = NAME

    def __init__(self, hp: Mapping[str, Any], n_classes: int, seed: int):
        self.hp, self.n_classes, self.seed = dict(hp), n_classes, seed
        self.preprocess = Preprocess(size=int(hp["input_size"]), crop="center", resize_ratio=1.0)
        self.model: keras.Model | None = None

    def fit(self, source: ImageSource, train_idx, val_idx=None, report: EpochCallback | None = None) -> FitResult:
        import keras

        from models.training import train_with_early_stopping, training_dataset

        keras.utils.set_random_seed(self.seed)
        pixels = source.pixels(self.preprocess)
        self.model = build_custom_cnn(self.hp, self.n_classes, self.seed)
        self.model.compile(
            optimizer=keras.optimizers.Adam(float(self.hp["learning_rate"])),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        batch = int(self.hp["batch_size"])
        train = training_dataset(pixels[train_idx], source.labels[train_idx], batch, self.seed, shuffle=True)
        val = None if val_idx is None else training_dataset(pixels[val_idx], source.labels[val_idx], 128, 0, False)
        result = FitResult()
        patience = int(self.hp.get("patience", 5))
        train_with_early_stopping(self.model, train, val, int(self.hp["epochs"]), patience, result, "train", report)
        return result

    def predict_proba(self, source: ImageSource, idx) -> np.ndarray:
        pixels = source.pixels(self.preprocess)[idx]
        return self.model.predict(pixels.astype(np.float32), batch_size=128, verbose=0)

    def export_model(self) -> keras.Model:
        return self.model


def build(hp: Mapping[str, Any], n_classes: int, seed: int, options: CustomCNNOptions, runtime: Runtime,
          trial: bool) -> CustomCNNLearner:  # fmt: skip
    return CustomCNNLearner({**hp, "input_size": options.input_size}, n_classes, seed)


CUSTOM_CNN = ModelSpec(
    name=NAME, options=CustomCNNOptions, defaults=DEFAULTS, suggest=suggest, build=build, epoch_keys={"train": "epochs"}
)
