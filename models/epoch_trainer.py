"""Training a Keras classifier with one graph call per epoch, traced once and reused by every fit.

Keras' `fit` builds and traces a new train, test and predict function for every model it sees,
and a tuning run trains thousands of small models: on 2 CPU cores the tracing and per-step
bookkeeping cost more than the arithmetic (about two thirds of a CustomCNN trial on the demo).
An `EpochTrainer` holds one network and traces its epoch and predict functions once; every fit
starts from the same seeded initial weights with fresh optimizer state, and every hyper-parameter
that does not change a tensor's shape (learning rate, weight decay, dropout, label smoothing,
augmentation strengths, batch size) is a tensor argument, so nothing is ever traced again.

Randomness is stateless, seeded by (seed, epoch, step): the same seed gives the same weights
whatever ran before in the process, which is what makes a resumed or parallel run repeat a
single-process one exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from models.early_stopping import train_epochs
from models.learner import EpochCallback, FitResult

BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7  # Adam's defaults, as Keras'
PREDICT_BATCH = 256

# (images float32 0..255, seed (2,) int32, strengths float32) -> augmented images of the same shape
Augment = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]


@dataclass(frozen=True)
class TrainSettings:
    """Everything a fit may vary without a new trace."""

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.0  # decoupled (AdamW), per step: w -= lr * weight_decay * w
    dropout: float = 0.0  # on the features before the classifier
    label_smoothing: float = 0.0
    patience: int = 5  # epochs without a better validation accuracy before stopping
    augment: tuple[float, ...] = ()  # strengths handed to the augment function

    def vector(self) -> np.ndarray:
        values = [self.learning_rate, self.weight_decay, self.dropout, self.label_smoothing, *self.augment]
        return np.asarray(values, dtype=np.float32)


class EpochTrainer:
    """`features` (inputs -> hidden vector) and `classifier` (a Dense layer giving logits), trained together.

    The exported model is `softmax(classifier(features(x)))`; dropout and augmentation exist only in
    training. Build one per architecture and process (`trainer_for` caches them)."""

    def __init__(
        self,
        features: keras.Model,
        classifier: keras.layers.Dense,
        augment: Augment | None = None,
        stored_dtype: tf.DType = tf.uint8,
    ):
        """`stored_dtype`: how training arrays are held (uint8 pixels, float16 cached activations); each
        batch is cast to the network's input type on the way in."""
        self.features, self.classifier, self.augment = features, classifier, augment
        input_shape = tuple(features.input.shape[1:])
        self.input_dtype = stored_dtype
        self.network_dtype = tf.as_dtype(features.input.dtype)
        hidden = keras.Input(tuple(features.output.shape[1:]))
        classifier(hidden)  # builds its weights
        self.trainable = [*features.trainable_variables, *classifier.trainable_variables]
        self.variables = [*features.variables, *classifier.variables]
        self.initial = [v.numpy() for v in self.variables]
        self.first_moments = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.trainable]
        self.second_moments = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.trainable]
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        images = tf.TensorSpec((None, *input_shape), self.input_dtype)
        vector = tf.TensorSpec((None,), tf.float32)
        index = tf.TensorSpec((None,), tf.int32)
        self._epoch = tf.function(
            self._train_epoch,
            input_signature=[images, index, index, tf.TensorSpec((), tf.int32), tf.TensorSpec((2,), tf.int32), vector],
        )
        self._probabilities = tf.function(self._predict, input_signature=[images, tf.TensorSpec((), tf.bool)])

    # -- weights --------------------------------------------------------------------------------
    def weights(self) -> list[np.ndarray]:
        return [v.numpy() for v in self.variables]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        for variable, value in zip(self.variables, weights):
            variable.assign(value)

    def reset(self, start: Sequence[np.ndarray] | None = None) -> None:
        """The seeded initial weights (or `start`) and a fresh optimizer: every fit starts from a known point."""
        self.set_weights(self.initial if start is None else start)
        for moment in (*self.first_moments, *self.second_moments):
            moment.assign(tf.zeros_like(moment))
        self.iterations.assign(0)

    # -- graphs ---------------------------------------------------------------------------------
    def _train_epoch(self, images, labels, order, batch, seed, hyper) -> tf.Tensor:
        learning_rate, weight_decay, dropout, smoothing = hyper[0], hyper[1], hyper[2], hyper[3]
        strengths = hyper[4:]
        n_classes = tf.shape(self.classifier.kernel)[-1]
        steps = (tf.shape(order)[0] + batch - 1) // batch
        total = tf.constant(0.0)
        for step in tf.range(steps):
            rows = order[step * batch : (step + 1) * batch]
            x = tf.cast(tf.gather(images, rows), tf.float32)
            step_seed = tf.stack([seed[0], seed[1] * 65_536 + step])
            if self.augment is not None:
                x = self.augment(x, step_seed, strengths)
            x = tf.cast(x, self.network_dtype)
            targets = tf.one_hot(tf.gather(labels, rows), n_classes)
            targets = targets * (1.0 - smoothing) + smoothing / tf.cast(n_classes, tf.float32)
            with tf.GradientTape() as tape:
                hidden = self.features(x, training=True)
                keep = 1.0 - dropout
                mask = tf.random.stateless_uniform(tf.shape(hidden), step_seed + 1) < keep
                hidden = tf.where(mask, hidden / keep, 0.0)
                logits = tf.cast(self.classifier(hidden), tf.float32)
                loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(targets, logits))
            gradients = tape.gradient(loss, self.trainable)
            self._apply(gradients, learning_rate, weight_decay)
            total += loss
        return total / tf.cast(tf.maximum(steps, 1), tf.float32)

    def _apply(self, gradients, learning_rate, weight_decay) -> None:
        self.iterations.assign_add(1)
        t = tf.cast(self.iterations, tf.float32)
        correction = tf.sqrt(1.0 - BETA_2**t) / (1.0 - BETA_1**t)
        for variable, gradient, m, v in zip(self.trainable, gradients, self.first_moments, self.second_moments):
            gradient = tf.cast(gradient, variable.dtype)
            m.assign(BETA_1 * m + (1.0 - BETA_1) * gradient)
            v.assign(BETA_2 * v + (1.0 - BETA_2) * tf.square(gradient))
            update = learning_rate * correction * m / (tf.sqrt(v) + EPSILON)
            variable.assign_sub(update + learning_rate * weight_decay * variable)

    def _predict(self, images, mirror) -> tf.Tensor:
        def probabilities(x):
            hidden = self.features(tf.cast(x, self.network_dtype), training=False)
            return tf.nn.softmax(tf.cast(self.classifier(hidden), tf.float32))

        n = tf.shape(images)[0]
        out = tf.TensorArray(tf.float32, size=(n + PREDICT_BATCH - 1) // PREDICT_BATCH, infer_shape=False)
        for index in tf.range((n + PREDICT_BATCH - 1) // PREDICT_BATCH):
            x = images[index * PREDICT_BATCH : (index + 1) * PREDICT_BATCH]
            p = probabilities(x)
            if mirror:
                p = (p + probabilities(tf.reverse(x, axis=[2]))) / 2.0
            out = out.write(index, p)
        return out.concat()

    # -- the interface learners use ---------------------------------------------------------------
    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        val: tuple[np.ndarray, np.ndarray] | None,
        settings: TrainSettings,
        seed: int,
        result: FitResult,
        phase: str,
        report: EpochCallback | None = None,
        start: Sequence[np.ndarray] | None = None,
    ) -> list[np.ndarray]:
        """Train from the initial weights (or `start`); returns the weights of the best validation epoch (of
        the last epoch without validation). Appends per-epoch validation accuracy to `result`, reports it."""
        self.reset(start)
        images = tf.constant(x)
        labels = tf.constant(np.asarray(y, dtype=np.int32))
        hyper = tf.constant(settings.vector())
        batch = tf.constant(int(settings.batch_size), tf.int32)

        def run_epoch(order: np.ndarray, epoch_seed: int, epoch: int) -> None:
            seeds = tf.constant([epoch_seed, epoch], tf.int32)
            self._epoch(images, labels, tf.constant(order), batch, seeds, hyper)

        validate = None
        if val is not None:
            val_images = tf.constant(val[0])

            def validate() -> float:
                proba = self._probabilities(val_images, tf.constant(False)).numpy()
                return float((proba.argmax(1) == val[1]).mean())

        return train_epochs(
            epochs=int(settings.epochs), n_samples=len(y), seed=seed, run_epoch=run_epoch, validate=validate,
            snapshot=self.weights, patience=settings.patience, result=result, phase=phase, report=report,
        )  # fmt: skip

    def predict_proba(self, x: np.ndarray, weights: Sequence[np.ndarray], mirror: bool = False) -> np.ndarray:
        self.set_weights(weights)
        return self._probabilities(tf.constant(x), tf.constant(mirror)).numpy()

    def export(self, weights: Sequence[np.ndarray], name: str) -> keras.Model:
        """A standalone Keras model (inputs -> class probabilities) with `weights`, safe from later fits."""
        self.set_weights(weights)
        clone_features = keras.models.clone_model(self.features)
        clone_features.set_weights(self.features.get_weights())
        classifier = keras.layers.Dense.from_config(self.classifier.get_config())
        outputs = keras.layers.Softmax(dtype="float32", name="probabilities")(classifier(clone_features.output))
        classifier.set_weights(self.classifier.get_weights())
        return keras.Model(clone_features.input, outputs, name=name)
