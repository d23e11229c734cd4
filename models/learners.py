"""Train, predict and export the two model families over one interface.

A learner knows nothing about folds: it gets an `ImageSource` (all images of a dataset, with
cached pixels and cached frozen-backbone activations) and the indices to train on and validate on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import keras
import numpy as np
import tensorflow as tf

from models.custom_cnn import NAME as CUSTOM_CNN
from models.custom_cnn import build_custom_cnn
from models.efficientnet import B0, LITE0, block_names, converted_lite0_weights, load_backbone
from models.errors import ModelError
from models.preprocess import Preprocess

MODEL_NAMES = (CUSTOM_CNN, LITE0, B0)

# Called after every epoch with (step, validation accuracy); may raise to stop (Optuna pruning).
EpochCallback = Callable[[int, float], None]

# Called after every training batch; may raise to stop (the harness registers its Ctrl-C check here).
STOP_CHECKS: list[Callable[[], None]] = []


class ImageSource(Protocol):
    labels: np.ndarray  # int class index per image

    def pixels(self, spec: Preprocess) -> np.ndarray: ...

    def features(
        self,
        namespace: str,
        outputs: Sequence[str],
        spec: Preprocess,
        compute: Callable[[np.ndarray], list[np.ndarray]],
    ) -> list[np.ndarray]: ...


@dataclass
class FitResult:
    val_accuracy: list[float] = field(default_factory=list)  # per epoch, all phases in order
    best_epochs: dict[str, int] = field(default_factory=dict)  # per phase: epochs to reach the best val


def create_learner(name: str, hp: Mapping[str, Any], n_classes: int, seed: int, cache_dir: Path, **options):
    if name == CUSTOM_CNN:
        return CustomCNNLearner(hp, n_classes, seed)
    if name in (LITE0, B0):
        return EfficientNetLearner(name, hp, n_classes, seed, cache_dir, **options)
    raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")


class _EpochReporter(keras.callbacks.Callback):
    def __init__(self, report: EpochCallback | None, history: list[float], offset: int = 0):
        super().__init__()
        self.report, self.history, self.offset = report, history, offset

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for check in STOP_CHECKS:
            check()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        accuracy = float((logs or {}).get("val_accuracy", np.nan))
        self.history.append(accuracy)
        if self.report is not None:
            self.report(self.offset + epoch, accuracy)


def _train(
    model: keras.Model,
    train: tf.data.Dataset,
    val: tf.data.Dataset | None,
    epochs: int,
    patience: int,
    result: FitResult,
    phase: str,
    report: EpochCallback | None,
) -> None:
    """Fit with early stopping on validation accuracy when there is a validation set."""
    callbacks: list[keras.callbacks.Callback] = [_EpochReporter(report, result.val_accuracy, len(result.val_accuracy))]
    if val is not None:
        stopper = keras.callbacks.EarlyStopping(
            "val_accuracy", patience=patience, restore_best_weights=True, mode="max"
        )
        callbacks.append(stopper)
    start = len(result.val_accuracy)
    model.fit(train, validation_data=val, epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False)
    phase_history = result.val_accuracy[start:]
    if val is not None and phase_history:
        result.best_epochs[phase] = int(np.nanargmax(phase_history)) + 1
    else:
        result.best_epochs[phase] = epochs


def _dataset(x: np.ndarray | Sequence[np.ndarray], y: np.ndarray, batch: int, seed: int, shuffle: bool):
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    return (
        data.batch(batch)
        .map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


class CustomCNNLearner:
    name = CUSTOM_CNN

    def __init__(self, hp: Mapping[str, Any], n_classes: int, seed: int):
        self.hp, self.n_classes, self.seed = dict(hp), n_classes, seed
        self.preprocess = Preprocess(size=int(hp["input_size"]), crop="center", resize_ratio=1.0)
        self.model: keras.Model | None = None

    def fit(self, source: ImageSource, train_idx, val_idx=None, report: EpochCallback | None = None) -> FitResult:
        keras.utils.set_random_seed(self.seed)
        pixels = source.pixels(self.preprocess)
        self.model = build_custom_cnn(self.hp, self.n_classes, self.seed)
        self.model.compile(
            optimizer=keras.optimizers.Adam(float(self.hp["learning_rate"])),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        batch = int(self.hp["batch_size"])
        train = _dataset(pixels[train_idx], source.labels[train_idx], batch, self.seed, shuffle=True)
        val = None if val_idx is None else _dataset(pixels[val_idx], source.labels[val_idx], 128, 0, False)
        result = FitResult()
        _train(self.model, train, val, int(self.hp["epochs"]), int(self.hp.get("patience", 5)), result, "train", report)
        return result

    def predict_proba(self, source: ImageSource, idx) -> np.ndarray:
        pixels = source.pixels(self.preprocess)[idx]
        return self.model.predict(pixels.astype(np.float32), batch_size=128, verbose=0)

    def export_model(self) -> keras.Model:
        return self.model


class EfficientNetLearner:
    """Frozen ImageNet backbone + new head, then the last N blocks fine-tuned at a lower rate.

    Both phases train from cached activations, never from pixels: the head from the pooled output
    of the frozen backbone, the fine-tuning from the input of the first unfrozen block. Every image
    is cached as is and mirrored, for each crop position in `train_positions`; training uses all
    these views, validation and prediction the plain centre crop.
    """

    def __init__(
        self,
        name: str,
        hp: Mapping[str, Any],
        n_classes: int,
        seed: int,
        cache_dir: Path,
        max_unfrozen_blocks: int = 3,
        b0_weights: Path | None = None,
        train_positions: Sequence[str] = ("center",),
    ):
        self.name, self.hp, self.n_classes, self.seed = name, dict(hp), n_classes, seed
        self.cache_dir, self.b0_weights = Path(cache_dir), b0_weights
        self.max_unfrozen = max(max_unfrozen_blocks, int(hp.get("unfrozen_blocks", 0)))
        self.preprocess = Preprocess(size=224, crop="center")
        self.positions = tuple(dict.fromkeys(("center", *train_positions)))
        self.backbone: keras.Model | None = None
        self._extractor: Callable | None = None
        self.pooled_width = 0
        self.head: tuple[keras.layers.Layer, ...] = ()
        self.tail: keras.Model | None = None

    # -- cached activations -------------------------------------------------------------------
    def _cut_layer(self, unfrozen: int) -> str:
        """The last layer before the first unfrozen block."""
        first_unfrozen = block_names()[-unfrozen]
        names = [layer.name for layer in self.backbone.layers]
        return names[names.index(f"{first_unfrozen}_expand_conv") - 1]

    def _weights_id(self) -> str:
        if self.name == LITE0:
            return converted_lite0_weights(self.cache_dir).stem.split(".")[0]
        return f"b0-{Path(self.b0_weights).stem if self.b0_weights else 'imagenet'}"

    def _output_names(self) -> list[str]:
        parts = ["pooled", *(f"cut{n}" for n in range(1, self.max_unfrozen + 1))]
        return [f"{part}-{flip}" for flip in ("plain", "mirrored") for part in parts]

    def _features(self, source: ImageSource) -> dict[str, np.ndarray]:
        """{part}-{position}-{plain|mirrored} -> (n_images, ...) float16, from the cache when there.

        The backbone is built only when some image is missing from the cache.
        """

        def compute(pixels: np.ndarray) -> list[np.ndarray]:
            if self._extractor is None:
                self._build_backbone()
                cuts = [self.backbone.get_layer(self._cut_layer(n)).output for n in range(1, self.max_unfrozen + 1)]
                pooled = keras.layers.GlobalAveragePooling2D()(self.backbone.output)
                model = keras.Model(self.backbone.input, [pooled, *cuts])
                self._extractor = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
            run = self._extractor
            batch = tf.convert_to_tensor(pixels, tf.float32)
            plain, mirrored = run(batch), run(tf.reverse(batch, axis=[2]))
            # A model with one output returns a tensor, not a one-element list.
            plain, mirrored = (list(out) if isinstance(out, (list, tuple)) else [out] for out in (plain, mirrored))
            return [np.asarray(out, dtype=np.float16) for out in (*plain, *mirrored)]

        features = {}
        for position in self.positions:
            spec = dataclasses.replace(self.preprocess, position=position)
            namespace = f"features/{self.name}-{self._weights_id()}/{spec.key()}"
            arrays = source.features(namespace, self._output_names(), spec, compute)
            for name, array in zip(self._output_names(), arrays):
                part, flip = name.split("-")
                features[f"{part}-{position}-{flip}"] = array
        return features

    # -- models -------------------------------------------------------------------------------
    def _build_backbone(self) -> None:
        if self.backbone is None:
            self.backbone = load_backbone(self.name, (224, 224, 3), self.cache_dir, self.b0_weights)
            self.backbone.trainable = False

    def _build_head(self) -> None:
        keras.utils.set_random_seed(self.seed)
        self.head = (
            keras.layers.GlobalAveragePooling2D(name="head_pool"),
            keras.layers.Dropout(float(self.hp["head_dropout"]), seed=self.seed, name="head_dropout"),
            keras.layers.Dense(self.n_classes, activation="softmax", dtype="float32", name="head_predictions"),
        )

    def _head_on_pooled(self) -> keras.Model:
        inputs = keras.Input((self.pooled_width,), name="pooled")
        return keras.Model(inputs, self.head[2](self.head[1](inputs)))

    def _tail_model(self, unfrozen: int) -> keras.Model:
        self._build_backbone()
        cut = self.backbone.get_layer(self._cut_layer(unfrozen)).output
        outputs = self.head[2](self.head[1](self.head[0](self.backbone.output)))
        tail = keras.Model(cut, outputs)
        tail_blocks = tuple(f"{name}_" for name in block_names()[-unfrozen:]) + ("top_",)
        self.backbone.trainable = True
        for layer in self.backbone.layers:
            # Batch norm stays frozen (inference mode), as Keras' fine-tuning guide advises.
            is_tail = layer.name.startswith(tail_blocks)
            layer.trainable = is_tail and not isinstance(layer, keras.layers.BatchNormalization)
        return tail

    def _compile(self, model: keras.Model, rate: float) -> None:
        smoothing = float(self.hp.get("label_smoothing", 0.0))
        model.compile(
            optimizer=keras.optimizers.Adam(rate),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=smoothing),
            metrics=["accuracy"],
        )

    def _onehot(self, labels: np.ndarray) -> np.ndarray:
        return np.eye(self.n_classes, dtype=np.float32)[labels]

    def fit(self, source: ImageSource, train_idx, val_idx=None, report: EpochCallback | None = None) -> FitResult:
        features = self._features(source)
        self.pooled_width = features["pooled-center-plain"].shape[-1]
        self._build_head()
        result = FitResult()
        batch = int(self.hp["batch_size"])
        views = [f"{position}-{flip}" for position in self.positions for flip in ("plain", "mirrored")]
        y_train = self._onehot(np.concatenate([source.labels[train_idx]] * len(views)))

        def data(part: str):
            x = np.concatenate([features[f"{part}-{view}"][train_idx] for view in views])
            train = _dataset(x, y_train, batch, self.seed, shuffle=True)
            val = (
                None
                if val_idx is None
                else _dataset(
                    features[f"{part}-center-plain"][val_idx], self._onehot(source.labels[val_idx]), 256, 0, False
                )
            )
            return train, val

        head = self._head_on_pooled()
        self._compile(head, float(self.hp["head_learning_rate"]))
        _train(head, *data("pooled"), int(self.hp["head_epochs"]), 8, result, "head", report)
        self.unfrozen = int(self.hp.get("unfrozen_blocks", 0))
        if self.unfrozen > 0:
            self.tail = self._tail_model(self.unfrozen)
            self._compile(self.tail, float(self.hp["finetune_learning_rate"]))
            _train(
                self.tail, *data(f"cut{self.unfrozen}"), int(self.hp["finetune_epochs"]), 3, result, "finetune", report
            )
        return result

    def predict_proba(self, source: ImageSource, idx) -> np.ndarray:
        features = self._features(source)
        if self.unfrozen > 0:
            x = features[f"cut{self.unfrozen}-center-plain"][idx]
            return self.tail.predict(x.astype(np.float32), batch_size=256, verbose=0)
        x = features["pooled-center-plain"][idx]
        return self._head_on_pooled().predict(x.astype(np.float32), batch_size=256, verbose=0)

    def export_model(self) -> keras.Model:
        """Pixels in, probabilities out: the backbone with its fine-tuned tail plus the head."""
        self._build_backbone()
        outputs = self.head[2](self.head[1](self.head[0](self.backbone.output)))
        return keras.Model(self.backbone.input, outputs, name=f"{self.name.lower()}_classifier")


def backbone_embeddings(source: ImageSource, cache_dir: Path, name: str = "EfficientNetLite0") -> np.ndarray:
    """(n_images, width) float32: the frozen ImageNet backbone's pooled output of each centre crop.

    The same cached activations the EfficientNet learner trains its head on, so an audit before a
    run (or a run after an audit) computes them once.
    """
    learner = EfficientNetLearner(name, {}, 0, 0, cache_dir, max_unfrozen_blocks=0)
    return learner._features(source)["pooled-center-plain"].astype(np.float32)
