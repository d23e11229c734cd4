"""Stage 4: tune. Optuna trials over inner folds of one outer training part, until the study's budget is met."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna

from benchmark.core.interrupt import checkpoint
from benchmark.core.progress import progress
from benchmark.cv.storage import (
    DONE_STATES,
    INNER_SCORES_ATTR,
    INNER_SIZES_ATTR,
    LIVE_STATES,
    SURPLUS_ATTR,
    WATCH_SIZES_ATTR,
    WORKER_ATTR,
    best_epochs_attr,
    peak_accuracy_attr,
    queue_defaults,
    sampler_for,
)
from benchmark.cv.train import ModelPlan

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
POLL_S = 2.0


class SurplusTrial(Exception):
    """Two workers started the budget's last trial at once; the later one stops before any work."""


def subsample(
    indices: np.ndarray, labels: np.ndarray, fraction: float, seed: int | Sequence[int], min_per_class: int = 1
) -> np.ndarray:
    """`fraction` of `indices`, the same share of every class but never fewer than `min_per_class` images
    of it (all of a smaller class), sorted: a small dataset is not cut to a few images per class."""
    if fraction >= 1.0:
        return indices
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels[indices]):
        members = indices[labels[indices] == label]
        keep = min(len(members), max(1, min_per_class, round(len(members) * fraction)))
        chosen.append(rng.choice(members, keep, replace=False))
    return np.sort(np.concatenate(chosen))


def objective(
    plan: ModelPlan, source: Any, inner: list[tuple[np.ndarray, np.ndarray]], study: optuna.Study, n_trials: int,
    fraction: float, min_per_class: int = 1,
) -> Callable[[optuna.Trial], float]:  # fmt: skip
    """Mean inner-fold validation accuracy of the trial's hyper-parameters.

    Each epoch is checked on `fraction` of the validation part (early stopping, and on the first inner
    fold the pruner, which compares trials at equal epochs of the same fold); the trial's score is on
    all of it. Checking every epoch on the whole part was a large share of a trial at the real size
    (~3,700 images each epoch) and teaches the model nothing.
    """

    def evaluate(trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, WORKER_ID)
        # Trial numbers are unique and ordered in the storage: the budget belongs to the first n_trials live ones.
        earlier = [t for t in study.get_trials(deepcopy=False, states=LIVE_STATES) if t.number < trial.number]
        if len(earlier) >= n_trials:
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise SurplusTrial
        hp = plan.trial_hyperparameters(trial)
        scores, best_epochs, peaks, watched = [], [], [], []
        for fold, (full_train_idx, val_idx) in enumerate(inner):
            train_idx = subsample(full_train_idx, source.labels, fraction, plan.seed + fold, min_per_class)
            watch_idx = subsample(val_idx, source.labels, fraction, [plan.seed, fold, 1], min_per_class)

            def report(epoch: int, accuracy: float, fold: int = fold) -> None:
                checkpoint("tune")
                if fold == 0 and not np.isnan(accuracy):
                    trial.report(accuracy, epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned()

            learner = plan.learner(hp, trial=True)
            result = learner.fit(source, train_idx, watch_idx, report)
            proba = learner.predict_proba(source, val_idx)
            scores.append(float((proba.argmax(1) == source.labels[val_idx]).mean()))
            best_epochs.append(result.best_epochs)
            peaks.append(result.best_accuracy)
            watched.append(int(len(watch_idx)))
        for phase in best_epochs[0]:
            trial.set_user_attr(best_epochs_attr(phase), float(np.mean([b[phase] for b in best_epochs])))
            seen = [p[phase] for p in peaks if not np.isnan(p.get(phase, np.nan))]
            if seen:  # a learner that reports no per-epoch accuracy leaves its curve undoubted
                trial.set_user_attr(peak_accuracy_attr(phase), float(np.mean(seen)))
        trial.set_user_attr(INNER_SCORES_ATTR, scores)
        trial.set_user_attr(INNER_SIZES_ATTR, [int(len(val)) for _, val in inner])
        trial.set_user_attr(WATCH_SIZES_ATTR, watched)
        return float(np.mean(scores))

    return evaluate


def fail_own_leftovers(study: optuna.Study) -> None:
    """A trial this process left RUNNING (a storage outage cut it off before it was told) is dead: this
    process runs one trial at a time. Failed now rather than after its lease, so its rungs are not
    counted by the pruner beside its own rerun, and the rerun is the trial an uninterrupted study runs."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if trial.user_attrs.get(WORKER_ATTR) == WORKER_ID:
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)


def tune(
    plan: ModelPlan,
    source: Any,
    inner: list[tuple[np.ndarray, np.ndarray]],
    study: optuna.Study,
    n_trials: int,
    fraction: float,
    *,
    seed: int,
    min_per_class: int = 1,
    timeout: float | None = None,
) -> optuna.Study:
    """Run trials until the study holds `n_trials` done ones, alongside any other worker on the storage.

    Resumes a study loaded from storage. Each trial trains on `fraction` of its inner training part
    (at least `min_per_class` images of each class);
    its parameters are sampled with a seed derived from `seed` and the number of finished trials.
    A trial still running elsewhere (a dead holder's, until its heartbeat lapses) is waited for.
    """
    # Completed and pruned trials count towards the budget; one cut short by a kill (FAIL, or a RUNNING
    # one whose heartbeat stopped) does not, so it is run again and the budget is met exactly.
    done = [t for t in study.trials if t.state in DONE_STATES]
    bar = progress(range(max(0, n_trials - len(done))), total=max(0, n_trials - len(done)), desc=f"tune {plan.name}")
    iterator = iter(bar)

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state in DONE_STATES:
            next(iterator, None)

    evaluate = objective(plan, source, inner, study, n_trials, fraction, min_per_class)
    fail_own_leftovers(study)
    deadline = None if timeout is None else time.monotonic() + timeout
    while deadline is None or time.monotonic() < deadline:
        optuna.storages.fail_stale_trials(study)
        states = [t.state for t in study.get_trials(deepcopy=False, states=LIVE_STATES)]
        finished = sum(state in DONE_STATES for state in states)
        if finished >= n_trials:
            break
        if len(states) >= n_trials:  # the rest of the budget is running elsewhere
            time.sleep(POLL_S)
            continue
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        queue_defaults(study, plan.default_params())  # again, if a kill cut that trial short
        study.sampler = sampler_for(seed, finished)
        study.optimize(evaluate, n_trials=1, callbacks=[callback], timeout=left, catch=(SurplusTrial,))
    bar.close()
    return study
