"""The one training loop of every epoch-based learner: shuffled epochs, validation, early stopping.

A learner brings how to run one epoch, how to score the validation part and how to copy its
weights; the loop decides the order of the images (seeded by (seed, epoch), the same in every
process), reports each epoch's validation accuracy (Optuna's pruner reads it), stops after
`patience` epochs without a better one, and returns the weights of the best epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from benchmark.core.interrupt import check
from benchmark.core.seeds import derived_seed
from models.learner import EpochCallback, FitResult

Weights = TypeVar("Weights")


def train_epochs(
    *,
    epochs: int,
    n_samples: int,
    seed: int,
    run_epoch: Callable[[np.ndarray, int, int], None],
    validate: Callable[[], float] | None,
    snapshot: Callable[[], Weights],
    patience: int,
    result: FitResult,
    phase: str,
    report: EpochCallback | None = None,
) -> Weights:
    """Train up to `epochs` epochs: `run_epoch(order, epoch_seed, epoch)` with a seeded permutation of the
    samples and a 31-bit seed for the epoch's random numbers. With `validate`, keep the weights of the
    best validation epoch (`snapshot`), stop after `patience` epochs without a better one, and record in
    `result` each epoch's accuracy (NaN without validation) and the best epoch count of `phase`."""
    start, best, best_weights, since_best = len(result.val_accuracy), -1.0, None, 0
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(n_samples).astype(np.int32)
        run_epoch(order, derived_seed(seed, epoch, bits=31), epoch)
        check()  # Ctrl-C stops between epochs
        if validate is None:
            result.val_accuracy.append(float("nan"))
            continue
        accuracy = validate()
        result.val_accuracy.append(accuracy)
        if report is not None:
            report(start + epoch, accuracy)  # steps count on across phases
        if accuracy > best:
            best, best_weights, since_best = accuracy, snapshot(), 0
        else:
            since_best += 1
            if since_best >= patience:
                break
    history = result.val_accuracy[start:]
    result.best_epochs[phase] = int(np.nanargmax(history)) + 1 if validate is not None and history else epochs
    result.best_accuracy[phase] = best if validate is not None and history else float("nan")
    return best_weights if best_weights is not None else snapshot()
