"""Keras training shared by the learners: early stopping on validation accuracy, epoch reports, tf.data."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from models.learner import EpochCallback, FitResult, check_stop


class EpochReporter(keras.callbacks.Callback):
    def __init__(self, report: EpochCallback | None, history: list[float], offset: int = 0):
        super().__init__()
        self.report, self.history, self.offset = report, history, offset

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        check_stop()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        accuracy = float((logs or {}).get("val_accuracy", np.nan))
        self.history.append(accuracy)
        if self.report is not None:
            self.report(self.offset + epoch, accuracy)


def train_with_early_stopping(
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
    callbacks: list[keras.callbacks.Callback] = [EpochReporter(report, result.val_accuracy, len(result.val_accuracy))]
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


def training_dataset(x: np.ndarray | Sequence[np.ndarray], y: np.ndarray, batch: int, seed: int, shuffle: bool):
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    return (
        data.batch(batch)
        .map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
