"""What makes tuning affordable at the real size without changing what it measures: the pruner stops
trials that are behind at equal epochs of the first inner fold, each epoch is checked on a share of the
validation part while the trial is scored on all of it, and large training parts tune on one inner fold.
A scripted learner stands in for a model: its accuracy per epoch is a hyper-parameter."""

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pytest

from benchmark.cv.folds import tuning_folds
from benchmark.cv.storage import open_study
from benchmark.cv.train import ModelPlan
from benchmark.cv.tune import tune
from config import Config
from models.learner import FitResult, Runtime
from models.spec import ModelSpec

EPOCHS = 12
N_CLASSES = 4


@dataclass(frozen=True)
class NoOptions:
    pass


class ScriptedLearner:
    """Reports `quality` as the accuracy of every epoch; predicts the right class for `quality` of the images."""

    calls: list[dict] = []

    def __init__(self, hp):
        self.quality = float(hp["quality"])

    def fit(self, source, train_idx, val_idx=None, report=None) -> FitResult:
        ScriptedLearner.calls.append({"train": np.asarray(train_idx), "watch": np.asarray(val_idx)})
        result = FitResult()
        for epoch in range(EPOCHS):
            result.val_accuracy.append(self.quality)
            report(epoch, self.quality)
        result.best_epochs["train"] = EPOCHS
        return result

    def predict_proba(self, source, idx) -> np.ndarray:
        ScriptedLearner.calls[-1]["scored"] = np.asarray(idx)
        labels = source.labels[idx]
        right = np.arange(len(idx)) < round(self.quality * len(idx))
        predicted = np.where(right, labels, (labels + 1) % N_CLASSES)
        return np.eye(N_CLASSES)[predicted]


SPEC = ModelSpec(
    name="Scripted",
    options=NoOptions,
    defaults={"quality": 0.5},
    suggest=lambda trial, options: {"quality": trial.suggest_float("quality", 0.0, 1.0)},
    build=lambda hp, n_classes, seed, options, runtime, trial: ScriptedLearner(hp),
)


def scripted_inner(n_images: int, n_folds: int) -> tuple[SimpleNamespace, list[tuple[np.ndarray, np.ndarray]]]:
    labels = np.arange(n_images) % N_CLASSES
    folds = (np.arange(n_images) // N_CLASSES) % n_folds  # every class in every fold
    inner = [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(n_folds)]
    return SimpleNamespace(labels=labels), inner


def tuned_study(trials: int, fraction: float = 1.0, n_folds: int = 2) -> optuna.Study:
    ScriptedLearner.calls = []
    plan = ModelPlan(SPEC, NoOptions(), Runtime(Path("unused")), N_CLASSES, seed=7)
    source, inner = scripted_inner(400, n_folds)
    study = open_study(None, "scripted", "owner", plan.default_params())
    return tune(plan, source, inner, study, trials, fraction, seed=3)


def test_successive_halving_stops_trials_behind_at_epoch_four_and_only_watches_the_first_inner_fold():
    study = tuned_study(trials=8)
    trials = study.trials
    assert len(trials) == 8
    assert trials[0].params == {"quality": 0.5} and trials[0].state == optuna.trial.TrialState.COMPLETE
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert pruned, "a budget of 8 trials with flat curves must prune the ones behind"
    for trial in pruned:
        # Stopped at a rung (the 4th or the 10th epoch), behind the best third of those that got there.
        assert trial.last_step in (3, 9)
        rivals = [t.intermediate_values[trial.last_step] for t in trials
                  if t.number < trial.number and trial.last_step in t.intermediate_values]  # fmt: skip
        assert rivals and trial.intermediate_values[trial.last_step] < max(rivals)
    for trial in complete:
        # Only the first inner fold reports: steps are its epochs, never the second fold's.
        assert sorted(trial.intermediate_values) == list(range(EPOCHS))
        assert trial.value == pytest.approx(trial.params["quality"], abs=0.01)
    # The best complete trial is at least as good as the defaults it started from.
    assert study.best_value >= 0.5 - 0.01


def test_each_epoch_is_checked_on_a_share_of_validation_and_the_trial_scored_on_all_of_it():
    tuned_study(trials=1, fraction=0.5)
    source, inner = scripted_inner(400, 2)
    assert len(ScriptedLearner.calls) == 2
    for call, (train_idx, val_idx) in zip(ScriptedLearner.calls, inner):
        assert np.isin(call["watch"], val_idx).all() and len(call["watch"]) == len(val_idx) // 2
        assert np.array_equal(call["scored"], val_idx)
        assert np.isin(call["train"], train_idx).all() and len(call["train"]) == len(train_idx) // 2
        # Stratified: every class keeps its share of the watched images.
        assert np.bincount(source.labels[call["watch"]]).tolist() == [len(val_idx) // 2 // N_CLASSES] * N_CLASSES


@pytest.mark.parametrize(("holdout_above", "fits"), [(1000, 3), (500, 1), (None, 3)])
def test_large_training_parts_tune_on_their_first_inner_fold(holdout_above, fits):
    labels = [f"c{i % 4}" for i in range(1200)]
    groups = [f"v{i // 10}" for i in range(1200)]
    train_idx = np.arange(0, 900)
    config = Config(inner_folds=3, holdout_above=holdout_above)
    folds = tuning_folds(config, labels, groups, train_idx, "grouped", 0, config.seed)
    assert len(folds) == fits
    everything = tuning_folds(config.replace(holdout_above=10_000), labels, groups, train_idx, "grouped", 0, 42)
    assert all(np.array_equal(a, b) for pair, full in zip(folds, everything) for a, b in zip(pair, full))


@pytest.mark.parametrize(("first_state", "second_pruned"), [("COMPLETE", True), ("FAIL", False)])
def test_a_trial_cut_short_by_a_kill_does_not_compete(first_state, second_pruned):
    # Its rerun would otherwise be compared with its own first attempt, and a resumed study would
    # prune differently from an uninterrupted one.
    study = open_study(None, f"rungs-{first_state}", "owner")
    first = study.ask()
    first.report(0.9, 3)
    assert not first.should_prune()  # the first to reach the rung goes on
    study.tell(first, 0.9 if first_state == "COMPLETE" else None, state=optuna.trial.TrialState[first_state])
    second = study.ask()
    second.report(0.5, 3)
    assert second.should_prune() is second_pruned
