"""The EfficientNet transfer learner: a frozen ImageNet backbone, a new head, the last blocks fine-tuned.

Imported only when an EfficientNet is trained (models/efficientnet.py holds its spec).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from models.backbones import LITE0, block_names, converted_lite0_weights, load_backbone
from models.errors import ModelError
from models.learner import EpochCallback, FitResult, ImageSource, check_stop
from models.preprocess import Preprocess
from models.training import train_with_early_stopping, training_dataset

RUNTIMES = ("litert", "keras")  # what runs the frozen backbone over cached pixels
HEAD_VIEWS = ("all", "center")  # what the head trains on: every cached view, or the centre crop and its mirror

HEAD_BATCH = 256  # the linear head on frozen features: large batches, a few hundred steps per epoch
HEAD_PATIENCE = 8


def train_linear_head(
    x: np.ndarray,
    labels: np.ndarray,
    val: tuple[np.ndarray, np.ndarray] | None,
    n_classes: int,
    hp: Mapping[str, Any],
    seed: int,
    result: FitResult,
    report: EpochCallback | None = None,
) -> list[np.ndarray]:
    """Dropout + softmax layer on cached pooled features, trained by Adam; returns [kernel, bias].

    The same model Keras would fit, trained by one graph call per epoch: Keras' `fit` costs ~1 ms
    of bookkeeping per step, which made a head trial on the real dataset's ~11k images take minutes.
    Early stopping on validation accuracy (patience 8) restores the best epoch's weights.
    """
    keras.utils.set_random_seed(seed)
    width, rate = x.shape[1], float(hp["head_dropout"])
    smoothing = float(hp.get("label_smoothing", 0.0))
    features = tf.constant(x)
    targets = tf.constant(
        np.eye(n_classes, dtype=np.float32)[labels] * (1 - smoothing) + smoothing / n_classes, tf.float32
    )
    limit = float(np.sqrt(6 / (width + n_classes)))  # Glorot uniform, as Keras' Dense
    kernel = tf.Variable(tf.random.stateless_uniform((width, n_classes), (seed, 0), -limit, limit))
    bias = tf.Variable(tf.zeros(n_classes))
    optimizer = keras.optimizers.Adam(float(hp["head_learning_rate"]))
    optimizer.build([kernel, bias])
    threshold = tf.constant(min(255, round(rate * 256)), tf.uint8)  # keep a feature when its random byte >= this

    @tf.function
    def epoch(order: tf.Tensor, epoch_seed: tf.Tensor) -> None:
        steps = (tf.shape(order)[0] + HEAD_BATCH - 1) // HEAD_BATCH
        for step in tf.range(steps):
            rows = order[step * HEAD_BATCH : (step + 1) * HEAD_BATCH]
            batch = tf.cast(tf.gather(features, rows), tf.float32)
            if rate > 0:  # one random byte per feature: a quarter of the random numbers of a float mask
                bits = tf.random.stateless_uniform(
                    [tf.shape(rows)[0], (width + 3) // 4], tf.stack([epoch_seed, step]), None, None, tf.int32
                )
                keep = tf.reshape(tf.bitcast(bits, tf.uint8), [tf.shape(rows)[0], -1])[:, :width] >= threshold
                batch = tf.where(keep, batch * (1.0 / (1.0 - rate)), 0.0)
            with tf.GradientTape() as tape:
                logits = tf.matmul(batch, kernel) + bias
                loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(tf.gather(targets, rows), logits))
            optimizer.apply_gradients(zip(tape.gradient(loss, [kernel, bias]), [kernel, bias]))

    epochs, best, best_weights, since_best = int(hp["head_epochs"]), -1.0, None, 0
    start = len(result.val_accuracy)
    for index in range(epochs):
        order = np.random.default_rng([seed, index]).permutation(len(labels)).astype(np.int32)
        epoch(tf.constant(order), tf.constant(int(np.random.SeedSequence([seed, index]).generate_state(1)[0] >> 1)))
        check_stop()
        if val is None:
            result.val_accuracy.append(float("nan"))
            continue
        logits = val[0].astype(np.float32) @ kernel.numpy() + bias.numpy()
        accuracy = float((logits.argmax(1) == val[1]).mean())
        result.val_accuracy.append(accuracy)
        if report is not None:
            report(start + index, accuracy)  # steps count on across phases, as _EpochReporter's
        if accuracy > best:
            best, best_weights, since_best = accuracy, [kernel.numpy(), bias.numpy()], 0
        else:
            since_best += 1
            if since_best >= HEAD_PATIENCE:
                break
    history = result.val_accuracy[start:]
    result.best_epochs["head"] = int(np.nanargmax(history)) + 1 if val is not None and history else epochs
    return best_weights if best_weights is not None else [kernel.numpy(), bias.numpy()]


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
        runtime: str = "litert",
        head_views: str = "all",
    ):
        self.name, self.hp, self.n_classes, self.seed = name, dict(hp), n_classes, seed
        self.cache_dir, self.b0_weights = Path(cache_dir), b0_weights
        self.max_unfrozen = max(max_unfrozen_blocks, int(hp.get("unfrozen_blocks", 0)))
        self.preprocess = Preprocess(size=224, crop="center")
        self.positions = tuple(dict.fromkeys(("center", *train_positions)))
        if runtime not in RUNTIMES:
            raise ModelError(f"unknown feature runtime {runtime!r}; choose one of: {', '.join(RUNTIMES)}")
        if head_views not in HEAD_VIEWS:
            raise ModelError(f"unknown head views {head_views!r}; choose one of: {', '.join(HEAD_VIEWS)}")
        self.runtime, self.head_views = runtime, head_views
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

    def _parts(self, position: str) -> list[str]:
        """Pooled output for every crop position; cut points only for the centre crop, the one
        fine-tuning trains on (at the real dataset's size, three positions of every cut would be GBs)."""
        cuts = [f"cut{n}" for n in range(1, self.max_unfrozen + 1)] if position == "center" else []
        return ["pooled", *cuts]

    def _output_names(self, position: str) -> list[str]:
        return [f"{part}-{flip}" for flip in ("plain", "mirrored") for part in self._parts(position)]

    def extractor_model(self) -> keras.Model:
        """Pixels -> [pooled, cut1, ..., cutN] of the frozen backbone, as a Keras model."""
        self._build_backbone()
        cuts = [self.backbone.get_layer(self._cut_layer(n)).output for n in range(1, self.max_unfrozen + 1)]
        pooled = keras.layers.GlobalAveragePooling2D()(self.backbone.output)
        return keras.Model(self.backbone.input, [pooled, *cuts])

    def fast_extractor(self, model: keras.Model) -> Callable[[np.ndarray], list[np.ndarray]]:
        """`model` run by LiteRT with XNNPACK on a CPU (exported once into the cache), by Keras on a GPU."""
        if self.runtime == "litert" and not tf.config.list_physical_devices("GPU"):
            from models.litert import LiteRTRunner, export_litert

            target = self.cache_dir / "weights" / f"{self._weights_id()}-extractor-cut{self.max_unfrozen}.tflite"
            return LiteRTRunner(export_litert(model, target))
        run = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

        def keras_extract(pixels: np.ndarray) -> list[np.ndarray]:
            out = run(tf.convert_to_tensor(pixels, tf.float32))
            # A model with one output returns a tensor, not a one-element list.
            return [np.asarray(part) for part in (out if isinstance(out, (list, tuple)) else [out])]

        return keras_extract

    def features(self, source: ImageSource, parts: Sequence[str] = ("pooled",)) -> dict[str, np.ndarray]:
        """{part}-{position}-{plain|mirrored} -> (n_images, ...) float16 for the asked `parts`.

        Every output of a position is cached when any is missing, but only the asked ones are held
        in memory. The backbone is built only when some image is missing from the cache.
        """

        def compute_for(position: str) -> Callable[[np.ndarray], list[np.ndarray]]:
            width = len(self._parts(position))

            def compute(pixels: np.ndarray) -> list[np.ndarray]:
                if self._extractor is None:
                    self._extractor = self.fast_extractor(self.extractor_model())
                plain, mirrored = self._extractor(pixels), self._extractor(pixels[:, :, ::-1])
                return [np.asarray(out, dtype=np.float16) for out in (*plain[:width], *mirrored[:width])]

            return compute

        features = {}
        for position in self.positions:
            spec = dataclasses.replace(self.preprocess, position=position)
            names = self._output_names(position)
            keep = [name.split("-")[0] in parts for name in names]
            if not any(keep):
                continue
            namespace = f"features/{self.name}-{self._weights_id()}/{spec.key()}"
            arrays = source.features(namespace, names, spec, compute_for(position), keep)
            for name, array in zip([n for n, kept in zip(names, keep) if kept], arrays):
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
        self.unfrozen = int(self.hp.get("unfrozen_blocks", 0))
        parts = ("pooled", f"cut{self.unfrozen}") if self.unfrozen > 0 else ("pooled",)
        features = self.features(source, parts)
        self.pooled_width = features["pooled-center-plain"].shape[-1]
        self._build_head()
        result = FitResult()
        labels = source.labels
        positions = self.positions if self.head_views == "all" else ("center",)
        views = [f"{position}-{flip}" for position in positions for flip in ("plain", "mirrored")]
        self._head_on_pooled()  # builds the head's layers
        weights = train_linear_head(
            np.concatenate([features[f"pooled-{view}"][train_idx] for view in views]),
            np.concatenate([labels[train_idx]] * len(views)),
            None if val_idx is None else (features["pooled-center-plain"][val_idx], labels[val_idx]),
            self.n_classes,
            self.hp,
            self.seed,
            result,
            report,
        )
        self.head[2].set_weights(weights)
        if self.unfrozen > 0:
            # Fine-tuning trains on the centre crop and its mirror: the other positions would triple
            # the costliest phase for views the head has already seen.
            cut = f"cut{self.unfrozen}"
            x = np.concatenate([features[f"{cut}-center-{flip}"][train_idx] for flip in ("plain", "mirrored")])
            y = self._onehot(np.concatenate([labels[train_idx]] * 2))
            train = training_dataset(x, y, int(self.hp["batch_size"]), self.seed, shuffle=True)
            val = (
                None
                if val_idx is None
                else training_dataset(
                    features[f"{cut}-center-plain"][val_idx], self._onehot(labels[val_idx]), 256, 0, False
                )
            )
            self.tail = self._tail_model(self.unfrozen)
            self._compile(self.tail, float(self.hp["finetune_learning_rate"]))
            train_with_early_stopping(
                self.tail, train, val, int(self.hp["finetune_epochs"]), 3, result, "finetune", report
            )
        return result

    def predict_proba(self, source: ImageSource, idx) -> np.ndarray:
        if self.unfrozen > 0:
            x = self.features(source, (f"cut{self.unfrozen}",))[f"cut{self.unfrozen}-center-plain"][idx]
            return self.tail.predict(x.astype(np.float32), batch_size=256, verbose=0)
        x = self.features(source)["pooled-center-plain"][idx]
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
    return learner.features(source)["pooled-center-plain"].astype(np.float32)
