"""The EfficientNet transfer learner: a frozen ImageNet backbone, a new head, the last blocks fine-tuned.

Three heads, chosen by the `head` hyper-parameter (Optuna's inner folds pick per fold):
- `probe`: multinomial logistic regression (scikit-learn, L2 strength `probe_c`) on the standardised
  pooled features of every cached view; the plainest linear probe, often the best with few videos;
- `dense`: dropout + softmax layer trained by Adam with early stopping on the same features;
- `finetune`: the dense head, then the last `unfrozen_blocks` blocks and the head trained together.
Every head ends as one Dense layer on the pooled features, so the exported model (pixels in,
probabilities out) is the same shape whatever the head, and a probe's standardisation is folded
into that layer's weights. Training never touches pixels: the head trains on cached pooled
features, fine-tuning on the cached input of the first unfrozen block.

Imported only when an EfficientNet is trained (models/efficientnet.py declares its ModelSpec).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from models.backbones import Backbone, converted_weights, load_backbone
from models.early_stopping import train_epochs
from models.epoch_trainer import EpochTrainer, TrainSettings
from models.learner import EpochCallback, FitResult, ImageSource, Runtime
from models.preprocess import Preprocess

HEAD_BATCH = 256  # the dense head on frozen features: large batches, a few hundred steps per epoch
HEAD_PATIENCE = 8
FINETUNE_PATIENCE = 3
PROBE_MAX_ITER = 500


def fit_probe(x: np.ndarray, labels: np.ndarray, n_classes: int, c: float) -> list[np.ndarray]:
    """[kernel, bias] of a Dense layer equal to scikit-learn's multinomial logistic regression on the
    standardised features (the standardisation folded into the weights: one layer, pixels to logits).

    A class absent from `labels` gets zero weights and a bias far below the others: never predicted."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(x, dtype=np.float32)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=PROBE_MAX_ITER, tol=1e-4)
    model.fit((x - mean) / scale, labels)
    coef = np.zeros((n_classes, x.shape[1]), np.float32)
    intercept = np.full(n_classes, -1e4, np.float32)
    present = model.classes_.astype(int)
    if len(present) == 2:  # scikit-learn keeps one row for two classes: expand it to both softmax logits
        coef[present] = np.stack([-model.coef_[0] / 2, model.coef_[0] / 2])
        intercept[present] = [-model.intercept_[0] / 2, model.intercept_[0] / 2]
    else:
        coef[present], intercept[present] = model.coef_, model.intercept_
    kernel = (coef / scale).T
    bias = intercept - kernel.T @ mean
    return [kernel.astype(np.float32), bias.astype(np.float32)]


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

    def run_epoch(order: np.ndarray, epoch_seed: int, _: int) -> None:
        epoch(tf.constant(order), tf.constant(epoch_seed))

    validate = None
    if val is not None:

        def validate() -> float:
            logits = val[0].astype(np.float32) @ kernel.numpy() + bias.numpy()
            return float((logits.argmax(1) == val[1]).mean())

    return train_epochs(
        epochs=int(hp["head_epochs"]), n_samples=len(labels), seed=seed, run_epoch=run_epoch, validate=validate,
        snapshot=lambda: [kernel.numpy(), bias.numpy()], patience=HEAD_PATIENCE, result=result, phase="head",
        report=report,
    )  # fmt: skip


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class EfficientNetLearner:
    """Frozen ImageNet backbone + new head, then optionally the last N blocks fine-tuned at a lower rate.

    Every image is cached as is and mirrored, for each crop position in `train_positions`; the head
    trains on all these views (a trial on `head_views`), fine-tuning on the centre crop and its
    mirror; validation and prediction use the centre crop, averaged with its mirror when
    `runtime.test_time_mirror`.
    """

    def __init__(
        self,
        backbone: Backbone,
        hp: Mapping[str, Any],
        n_classes: int,
        seed: int,
        runtime: Runtime,
        max_unfrozen_blocks: int = 3,
        train_positions: Sequence[str] = ("center",),
        head_views: str = "all",
        b0_weights: Path | None = None,
    ):
        self.variant, self.hp, self.n_classes, self.seed = backbone, dict(hp), n_classes, seed
        self.name = backbone.name
        self.runtime, self.cache_dir, self.b0_weights = runtime, Path(runtime.cache_dir), b0_weights
        self.head_kind = str(self.hp.get("head", "dense"))
        self.unfrozen = int(self.hp.get("unfrozen_blocks", 0)) if self.head_kind == "finetune" else 0
        self.max_unfrozen = max(max_unfrozen_blocks, self.unfrozen)
        self.preprocess = Preprocess(size=backbone.resolution, crop="center")
        self.positions = tuple(dict.fromkeys(("center", *train_positions)))
        self.head_views = head_views
        self._extractor: Callable | None = None
        self.head_weights: list[np.ndarray] | None = None
        self.tail_weights: list[np.ndarray] | None = None

    # -- cached activations -------------------------------------------------------------------
    def _weights_id(self) -> str:
        if self.variant.lite:
            return converted_weights(self.variant, self.cache_dir).stem.split(".")[0]
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
        backbone = self._backbone()
        cuts = [
            backbone.get_layer(cut_layer(backbone, self.variant, n)).output for n in range(1, self.max_unfrozen + 1)
        ]
        pooled = keras.layers.GlobalAveragePooling2D()(backbone.output)
        return keras.Model(backbone.input, [pooled, *cuts])

    def fast_extractor(self, model: keras.Model) -> Callable[[np.ndarray], list[np.ndarray]]:
        """`model` run by LiteRT with XNNPACK on a CPU (exported once into the cache), by Keras on a GPU."""
        if self.runtime.feature_runtime == "litert" and not tf.config.list_physical_devices("GPU"):
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
            view = dataclasses.replace(self.preprocess, position=position)
            names = self._output_names(position)
            keep = [name.split("-")[0] in parts for name in names]
            if not any(keep):
                continue
            namespace = f"features/{self.name}-{self._weights_id()}/{view.key()}"
            arrays = source.features(namespace, names, view, compute_for(position), keep)
            for name, array in zip([n for n, kept in zip(names, keep) if kept], arrays):
                part, flip = name.split("-")
                features[f"{part}-{position}-{flip}"] = array
        return features

    def speed_figures(self, source: ImageSource, sample: np.ndarray) -> dict[str, Callable[[], float]]:
        """Images per second of the frozen backbone on the same decoded arrays: the runtime the learner
        uses (LiteRT on a CPU) and Keras' own `predict(batch_size=32)` (`perf` reports both)."""
        import time

        pixels = source.pixels(self.preprocess)[sample].astype(np.float32)
        model = self.extractor_model()
        extract = self.fast_extractor(model)
        extract(pixels[:8])
        model.predict(pixels[:32], batch_size=32, verbose=0)  # build and trace outside the timing

        def rate(call: Callable[[], Any]) -> Callable[[], float]:
            def measure() -> float:
                started = time.perf_counter()
                call()
                return len(pixels) / (time.perf_counter() - started)

            return measure

        return {
            f"feature extraction, {type(extract).__name__} (img/s)": rate(lambda: extract(pixels)),
            "feature extraction, Keras predict (img/s)": rate(lambda: model.predict(pixels, batch_size=32, verbose=0)),
        }

    def _backbone(self) -> keras.Model:
        model = load_backbone(self.variant, self.cache_dir, self.b0_weights)
        model.trainable = False
        return model

    # -- training -------------------------------------------------------------------------------
    def fit(self, source: ImageSource, train_idx, val_idx=None, report: EpochCallback | None = None) -> FitResult:
        cut = f"cut{self.unfrozen}"
        features = self.features(source, ("pooled", cut) if self.unfrozen else ("pooled",))
        labels, result = source.labels, FitResult()
        positions = self.positions if self.head_views == "all" else ("center",)
        views = [f"{position}-{flip}" for position in positions for flip in ("plain", "mirrored")]
        x = np.concatenate([features[f"pooled-{view}"][train_idx] for view in views])
        y = np.concatenate([labels[train_idx]] * len(views))
        if self.head_kind == "probe":
            self.head_weights = fit_probe(x, y, self.n_classes, float(self.hp["probe_c"]))
        else:
            val = None if val_idx is None else (features["pooled-center-plain"][val_idx], labels[val_idx])
            self.head_weights = train_linear_head(x, y, val, self.n_classes, self.hp, self.seed, result, report)
        if self.unfrozen:
            # Fine-tuning trains on the centre crop and its mirror: the other positions would triple
            # the costliest phase for views the head has already seen.
            trainer = tail_trainer(
                self.variant, self.unfrozen, self.n_classes, self.seed, self.cache_dir, self.b0_weights
            )
            x = np.concatenate([features[f"{cut}-center-{flip}"][train_idx] for flip in ("plain", "mirrored")])
            y = np.concatenate([labels[train_idx]] * 2)
            val = None if val_idx is None else (features[f"{cut}-center-plain"][val_idx], labels[val_idx])
            settings = TrainSettings(
                epochs=int(self.hp["finetune_epochs"]), batch_size=int(self.hp["batch_size"]),
                learning_rate=float(self.hp["finetune_learning_rate"]),
                label_smoothing=float(self.hp.get("label_smoothing", 0.0)), patience=FINETUNE_PATIENCE,
            )  # fmt: skip
            start = [*trainer.initial[:-2], *self.head_weights]
            self.tail_weights = trainer.fit(x, y, val, settings, self.seed, result, "finetune", report, start=start)
        return result

    def predict_proba(self, source: ImageSource, idx) -> np.ndarray:
        flips = ("plain", "mirrored") if self.runtime.test_time_mirror else ("plain",)
        if self.unfrozen:
            cut = f"cut{self.unfrozen}"
            features = self.features(source, (cut,))
            trainer = tail_trainer(
                self.variant, self.unfrozen, self.n_classes, self.seed, self.cache_dir, self.b0_weights
            )
            probabilities = [trainer.predict_proba(features[f"{cut}-center-{flip}"][idx], self.tail_weights)
                             for flip in flips]  # fmt: skip
        else:
            features = self.features(source)
            kernel, bias = self.head_weights
            probabilities = [softmax(features[f"pooled-center-{flip}"][idx].astype(np.float32) @ kernel + bias)
                             for flip in flips]  # fmt: skip
        return np.mean(probabilities, axis=0)

    def export_model(self) -> keras.Model:
        """Pixels in, probabilities out: the backbone with its fine-tuned tail plus the head."""
        backbone = self._backbone()
        if self.unfrozen:
            trainer = tail_trainer(
                self.variant, self.unfrozen, self.n_classes, self.seed, self.cache_dir, self.b0_weights
            )
            trainer.set_weights(self.tail_weights)
            for layer in trainer.features.layers:
                if layer.weights and layer.name in {other.name for other in backbone.layers}:
                    backbone.get_layer(layer.name).set_weights(layer.get_weights())
            head = trainer.classifier.get_weights()
        else:
            head = self.head_weights
        pooled = keras.layers.GlobalAveragePooling2D(name="head_pool")(backbone.output)
        dense = keras.layers.Dense(self.n_classes, dtype="float32", name="head_logits")
        outputs = keras.layers.Softmax(dtype="float32", name="probabilities")(dense(pooled))
        dense.set_weights(head)
        return keras.Model(backbone.input, outputs, name=f"{self.name.lower()}_classifier")


def cut_layer(backbone: keras.Model, variant: Backbone, unfrozen: int) -> str:
    """The last layer before the first of the last `unfrozen` blocks."""
    first_unfrozen = variant.block_names()[-unfrozen]
    names = [layer.name for layer in backbone.layers]
    return names[names.index(f"{first_unfrozen}_expand_conv") - 1]


_TAILS: dict[tuple, EpochTrainer] = {}


def tail_trainer(variant: Backbone, unfrozen: int, n_classes: int, seed: int, cache_dir: Path,
                 b0_weights: Path | None) -> EpochTrainer:  # fmt: skip
    """The last `unfrozen` blocks (batch norm frozen, in inference mode, as Keras' fine-tuning guide
    advises) and a Dense classifier, on their own copy of the backbone; traced once per process."""
    key = (variant.name, unfrozen, n_classes, seed, str(cache_dir), str(b0_weights))
    if key not in _TAILS:
        keras.utils.set_random_seed(seed)
        backbone = load_backbone(variant, cache_dir, b0_weights)
        cut = backbone.get_layer(cut_layer(backbone, variant, unfrozen)).output
        pooled = keras.layers.GlobalAveragePooling2D(name="head_pool")(backbone.output)
        tail = keras.Model(cut, pooled, name=f"{variant.name.lower()}_tail")
        tail_blocks = tuple(f"{name}_" for name in variant.block_names()[-unfrozen:]) + ("top_",)
        backbone.trainable = True
        for layer in backbone.layers:
            is_tail = layer.name.startswith(tail_blocks)
            layer.trainable = is_tail and not isinstance(layer, keras.layers.BatchNormalization)
        classifier = keras.layers.Dense(n_classes, dtype="float32", name="head_logits")
        _TAILS[key] = EpochTrainer(tail, classifier, stored_dtype=tf.float16)
    return _TAILS[key]


def backbone_embeddings(source: ImageSource, runtime: Runtime, variant: Backbone) -> np.ndarray:
    """(n_images, width) float32: the frozen ImageNet backbone's pooled output of each centre crop.

    The same cached activations the EfficientNet learner trains its head on, so an audit before a
    run (or a run after an audit) computes them once.
    """
    learner = EfficientNetLearner(variant, {"head": "probe"}, 0, 0, runtime, max_unfrozen_blocks=0)
    return learner.features(source)["pooled-center-plain"].astype(np.float32)
