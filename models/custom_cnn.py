"""The CustomCNN from scratch: 4 blocks of (3x3 conv, normalisation, ReLU, 2x2 max-pool), dense, softmax.

Its search space is built for what the harness measures, recognising exercises in videos it has
never seen: input size, flatten (where the limbs are) or global average pooling (what is there),
batch or group normalisation (group norm does not depend on the batch), random crops (zoom and
translation), colour and contrast jitter, decoupled weight decay and label smoothing.

This module imports no TensorFlow: the spec is read by commands that train nothing. The network is
trained by models/epoch_trainer.py, traced once per architecture and process.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.core.fields import check_fields, setting
from models.learner import EpochCallback, FitResult, ImageSource, Runtime
from models.preprocess import Preprocess
from models.spec import ModelSpec

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from models.epoch_trainer import EpochTrainer

NAME = "CustomCNN"
POOLINGS = ("flatten", "avg")
NORMS = ("batch", "group")


@dataclass(frozen=True)
class CustomCNNOptions:
    # The default space is sized for 2 CPU cores at the real dataset's size, where a fold's final fit
    # trains ~11,000 images for up to max_epochs (throughput per architecture: docs/cnn_speed.py, figures
    # in the README's speed section). On a GPU widen it: --set CustomCNN.input_sizes=64,96,128.
    # Input sides the search may choose, in pixels (each decoded and resized once, then cached); the
    # first is the one used without tuning.
    input_sizes: tuple[int, ...] = setting((64, 48), low=16, high=512)
    # Widths of the first block the search may choose (the others double it); the first is the default.
    base_widths: tuple[int, ...] = setting((16, 24), low=4, high=256)
    # Most epochs of a fit; early stopping on the inner validation folds picks fewer for the final fit.
    max_epochs: int = setting(20, low=1)

    def __post_init__(self) -> None:
        check_fields(self)


DEFAULTS: dict[str, Any] = {
    "input_size": 64,
    "base_width": 16,  # block widths 16-32-64-128
    "dense_units": 256,
    "pooling": "avg",
    "norm": "batch",
    "dropout": 0.3,
    "learning_rate": 1e-3,
    "weight_decay": 1e-3,
    "label_smoothing": 0.1,
    "batch_size": 32,
    "zoom": 0.2,  # random crops of 80-100% of the side: zoom and translation
    "colour": 0.1,  # per-channel gain within +-10%
    "contrast": 0.2,  # contrast within +-20% around each image's mean
    "epochs": 20,
    "patience": 5,
}


def suggest(trial: Any, options: CustomCNNOptions) -> dict[str, Any]:
    return {
        "input_size": trial.suggest_categorical("input_size", list(options.input_sizes)),
        "base_width": trial.suggest_categorical("base_width", list(options.base_widths)),
        "dense_units": trial.suggest_categorical("dense_units", [128, 256, 512]),
        "pooling": trial.suggest_categorical("pooling", list(POOLINGS)),
        "norm": trial.suggest_categorical("norm", list(NORMS)),
        "dropout": trial.suggest_float("dropout", 0.0, 0.6),
        "learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-3, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-5, 1e-1, log=True),
        "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.2),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64]),
        "zoom": trial.suggest_float("zoom", 0.0, 0.4),
        "colour": trial.suggest_float("colour", 0.0, 0.3),
        "contrast": trial.suggest_float("contrast", 0.0, 0.4),
    }


@dataclass(frozen=True)
class Architecture:
    """What shapes the graph: a trainer is traced once per architecture (and classes and seed)."""

    input_size: int
    base_width: int
    dense_units: int
    pooling: str
    norm: str
    n_classes: int

    @classmethod
    def of(cls, hp: Mapping[str, Any], n_classes: int) -> Architecture:
        return cls(int(hp["input_size"]), int(hp["base_width"]), int(hp["dense_units"]), str(hp["pooling"]),
                   str(hp["norm"]), n_classes)  # fmt: skip


def build_network(arch: Architecture, seed: int) -> tuple[keras.Model, keras.layers.Dense]:
    """(pixels in uint8 range -> dense features, the classifier layer); scaling lives inside, so a saved
    model needs nothing else. Weights are initialised from `seed` alone."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    size = arch.input_size
    inputs = keras.Input((size, size, 3), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    for block in range(4):
        width = arch.base_width * 2**block
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"block{block + 1}_conv")(x)
        if arch.norm == "group":
            # Statistics per image and group of channels: the same in training and at test, any batch size.
            x = layers.GroupNormalization(groups=min(8, width), name=f"block{block + 1}_gn")(x)
        else:
            # Momentum 0.9, not 0.99: small datasets give few steps, and stale moving averages wreck inference.
            x = layers.BatchNormalization(momentum=0.9, name=f"block{block + 1}_bn")(x)
        x = layers.ReLU(name=f"block{block + 1}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{block + 1}_pool")(x)
    # Flatten keeps where the limbs are; global average pooling trades that for translation invariance.
    if arch.pooling == "flatten":
        x = layers.Flatten(name="flatten")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(arch.dense_units, activation="relu", name="dense")(x)
    features = keras.Model(inputs, x, name="custom_cnn")
    # float32 logits: under mixed precision a float16 softmax loses small probabilities.
    classifier = layers.Dense(arch.n_classes, dtype="float32", name="predictions")
    return features, classifier


def augment(images: tf.Tensor, seed: tf.Tensor, strengths: tf.Tensor) -> tf.Tensor:
    """Mirror, random crop (zoom and translation), per-channel colour gain and contrast; stateless."""
    import tensorflow as tf

    zoom, colour, contrast = strengths[0], strengths[1], strengths[2]
    count, size = tf.shape(images)[0], tf.shape(images)[1]
    flip = tf.random.stateless_uniform([count, 1, 1, 1], seed) < 0.5
    images = tf.where(flip, tf.reverse(images, axis=[2]), images)
    draws = tf.random.stateless_uniform([count, 3], seed + 2)
    side = 1.0 - zoom * draws[:, 0]
    top, left = (1.0 - side) * draws[:, 1], (1.0 - side) * draws[:, 2]
    boxes = tf.stack([top, left, top + side, left + side], axis=1)
    images = tf.image.crop_and_resize(images, boxes, tf.range(count), tf.stack([size, size]))
    gain = 1.0 + colour * (2.0 * tf.random.stateless_uniform([count, 1, 1, 3], seed + 3) - 1.0)
    spread = 1.0 + contrast * (2.0 * tf.random.stateless_uniform([count, 1, 1, 1], seed + 4) - 1.0)
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return tf.clip_by_value((images * gain - mean) * spread + mean, 0.0, 255.0)


_TRAINERS: OrderedDict[tuple[Architecture, int], EpochTrainer] = OrderedDict()
MAX_TRAINERS = 8  # architectures kept traced per process (least recently used dropped)


def trainer_for(arch: Architecture, seed: int) -> EpochTrainer:
    from models.epoch_trainer import EpochTrainer

    key = (arch, seed)
    if key not in _TRAINERS:
        features, classifier = build_network(arch, seed)
        _TRAINERS[key] = EpochTrainer(features, classifier, augment)
        while len(_TRAINERS) > MAX_TRAINERS:
            _TRAINERS.popitem(last=False)
    _TRAINERS.move_to_end(key)
    return _TRAINERS[key]


class CustomCNNLearner:
    name = NAME

    def __init__(self, hp: Mapping[str, Any], n_classes: int, seed: int, mirror: bool = True):
        self.hp, self.n_classes, self.seed, self.mirror = dict(hp), n_classes, seed, mirror
        self.arch = Architecture.of(hp, n_classes)
        self.preprocess = Preprocess(size=self.arch.input_size, crop="center", resize_ratio=1.0)
        self.weights: list[np.ndarray] | None = None

    def settings(self):
        from models.epoch_trainer import TrainSettings

        hp = self.hp
        return TrainSettings(
            epochs=int(hp["epochs"]), batch_size=int(hp["batch_size"]), learning_rate=float(hp["learning_rate"]),
            weight_decay=float(hp["weight_decay"]), dropout=float(hp["dropout"]),
            label_smoothing=float(hp["label_smoothing"]), patience=int(hp["patience"]),
            augment=(float(hp["zoom"]), float(hp["colour"]), float(hp["contrast"])),
        )  # fmt: skip

    def fit(self, source: ImageSource, train_idx, val_idx=None, report: EpochCallback | None = None) -> FitResult:
        pixels = source.pixels(self.preprocess)
        val = None if val_idx is None else (pixels[val_idx], source.labels[val_idx])
        result = FitResult()
        trainer = trainer_for(self.arch, self.seed)
        self.weights = trainer.fit(pixels[train_idx], source.labels[train_idx], val, self.settings(), self.seed,
                                   result, "train", report)  # fmt: skip
        return result

    def predict_proba(self, source: ImageSource, idx) -> np.ndarray:
        pixels = source.pixels(self.preprocess)[idx]
        return trainer_for(self.arch, self.seed).predict_proba(pixels, self.weights, mirror=self.mirror)

    def export_model(self) -> keras.Model:
        return trainer_for(self.arch, self.seed).export(self.weights, "custom_cnn")


def build(hp: Mapping[str, Any], *, n_classes: int, seed: int, options: CustomCNNOptions, runtime: Runtime,
          trial: bool) -> CustomCNNLearner:  # fmt: skip
    # A value the options rule out (an untuned default, say) becomes the options' first choice.
    size, width = int(hp["input_size"]), int(hp["base_width"])
    hp = {**hp, "input_size": size if size in options.input_sizes else options.input_sizes[0],
          "base_width": width if width in options.base_widths else options.base_widths[0],
          "epochs": min(int(hp["epochs"]), options.max_epochs)}  # fmt: skip
    return CustomCNNLearner(hp, n_classes, seed, mirror=runtime.test_time_mirror)


CUSTOM_CNN = ModelSpec(
    name=NAME,
    options=CustomCNNOptions,
    defaults=DEFAULTS,
    suggest=suggest,
    build=build,
    epoch_keys={"train": "epochs"},
    # The demo's budget: 32 px, one width, 12 epochs (the default run ends in minutes on 2 cores).
    demo_options={"input_sizes": [32], "base_widths": [16], "max_epochs": 12},
)
