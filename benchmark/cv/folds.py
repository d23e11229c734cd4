"""Stages 4-6 for one (model, strategy, outer fold) task of a run: tune on inner folds -> train -> evaluate.

Each finished outer fold is one JSON record in the run directory, written once and atomically; a
re-run skips the folds that have one, and Optuna's storage keeps every finished trial, so an
interrupted run loses at most the trial and the fold in flight. Which process runs a task: claims.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from benchmark.core.atomic import atomic_publish_json, atomic_write_bytes, atomic_write_text, npy_bytes
from benchmark.core.environment import configure_devices, now
from benchmark.core.interrupt import checkpoint
from benchmark.core.rundir import fold_predictions_path, fold_probabilities_path, fold_record_path
from benchmark.core.seeds import derived_seed
from benchmark.cv.evaluate import classification_metrics, prediction_rows, video_scores
from benchmark.cv.storage import Lease, config_digest, open_study
from benchmark.cv.train import ModelPlan
from benchmark.cv.tune import WORKER_ID, tune
from benchmark.data.dataset import Dataset
from benchmark.data.source import DatasetSource
from config import Config
from splits.strategies import fold_pairs, inner_fold_pairs, keep_groups


@dataclass(frozen=True)
class FoldTask:
    run_id: str
    model: str
    strategy: str
    fold: int
    repeat: int = 0

    @property
    def key(self) -> str:
        """`model/strategy/fold<k>`: the task's name in study names, claims and messages (stored in
        storages: it must not change)."""
        return f"{self.model}/{self.strategy}/fold{self.fold}"

    def record_path(self, records_dir: Path) -> Path:
        return fold_record_path(records_dir, self.model, self.strategy, self.fold)

    def predictions_path(self, records_dir: Path) -> Path:
        return fold_predictions_path(records_dir, self.model, self.strategy, self.fold)

    def probabilities_path(self, records_dir: Path) -> Path:
        return fold_probabilities_path(records_dir, self.model, self.strategy, self.fold)


@dataclass(frozen=True)
class RunData:
    """What every fold task needs: the scanned dataset with its content keys, and the outer test fold of
    every image per strategy (plain frames and arrays: picklable for joblib's worker processes)."""

    dataset: Dataset
    assignments: dict[str, np.ndarray]  # strategy -> the outer test fold of every image
    seed: int  # the repeat's seed (benchmark.core.seeds.repeat_seed): its inner folds and video subsets
    # The share of each class's videos every outer training part keeps (`curve`); test folds stay whole.
    train_fraction: float = 1.0
    repeat: int = 0  # which outer split of a repeated cross-validation
    excluded: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # config.exclude's rows

    @property
    def class_names(self) -> list[str]:
        return self.dataset.class_names


@dataclass(frozen=True)
class PartWork:
    """One part's tasks (a run has one per repeat, a curve one per fraction and repeat) and where they go."""

    data: RunData
    records_dir: Path
    run_id: str

    def tasks(self, config: Config) -> list[FoldTask]:
        return fold_tasks(config, self.run_id, self.data.repeat)

    def pending(self, config: Config) -> list[FoldTask]:
        return [task for task in self.tasks(config) if not task.record_path(self.records_dir).is_file()]


def study_name(task: FoldTask) -> str:
    """Named by run: runs sharing one storage never share a study."""
    return f"{task.run_id}/{task.key}"


def tasks_study_name(run_id: str) -> str:
    """The study whose trials are the claims on a part's fold tasks (claims.py)."""
    return f"{run_id}/tasks"


def fold_tasks(config: Config, run_id: str, repeat: int = 0) -> list[FoldTask]:
    return [
        FoldTask(run_id, model, strategy, fold, repeat)
        for model in config.models
        for strategy in config.strategies
        for fold in range(config.folds)
    ]


def open_fold_study(config: Config, task: FoldTask, storage: str | None, n_classes: int) -> optuna.Study:
    plan = ModelPlan.of(config, task.model, n_classes)
    owner = config_digest(config.to_json())
    return open_study(storage, study_name(task), owner, plan.default_params(), Lease.of(config))


def sampler_seed(config: Config, task: FoldTask) -> int:
    """Each study's own stream, derived from the config seed: same seed -> same trial parameters."""
    model_index = list(config.models).index(task.model)
    strategy_index = list(config.strategies).index(task.strategy)
    path = (model_index, strategy_index, task.fold) + ((task.repeat,) if task.repeat else ())
    return derived_seed(config.seed, *path)


@dataclass(frozen=True)
class FoldInputs:
    source: DatasetSource
    train_idx: np.ndarray
    test_idx: np.ndarray
    inner: list[tuple[np.ndarray, np.ndarray]]


def fold_inputs(config: Config, data: RunData, task: FoldTask, source: DatasetSource) -> FoldInputs:
    """The same images, outer split and inner folds in the coordinator and in every worker."""
    train_idx, test_idx = fold_pairs(np.asarray(data.assignments[task.strategy]))[task.fold]
    train_idx = np.setdiff1d(train_idx, data.excluded)  # the folds are cut before anything is left out
    if config.exclude_from == "test":
        test_idx = np.setdiff1d(test_idx, data.excluded)
    images = data.dataset.images
    labels, groups = images["label"].tolist(), images["group"].tolist()
    if data.train_fraction < 1.0:
        seed = derived_seed(data.seed, task.fold)
        train_idx = keep_groups(train_idx, labels, groups, data.train_fraction, seed, least=config.inner_folds)
    # No trials, no inner folds: a dataset too small to tune on can still be cross-validated untuned.
    inner = (
        tuning_folds(config, labels, groups, train_idx, task.strategy, task.fold, data.seed) if config.trials else []
    )
    return FoldInputs(source, train_idx, test_idx, inner)


def tuning_folds(
    config: Config, labels: list, groups: list, train_idx: np.ndarray, strategy: str, fold: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The inner folds trials fit: all `inner_folds` of them, or only the first when the training part
    has more than `holdout_above` images (a grouped holdout, a third of the cost at the real size).
    `seed` is the repeat's (the config seed for the first)."""
    inner = inner_fold_pairs(labels, groups, train_idx, strategy, config.inner_folds, seed, fold)
    if config.holdout_above is not None and len(train_idx) > config.holdout_above:
        return inner[:1]
    return inner


def tune_fold(
    config: Config,
    inputs: FoldInputs,
    n_classes: int,
    storage: str,
    task: FoldTask,
    timeout: float | None = None,
) -> optuna.Study:
    """The fold's study, tuned until its budget is done (trials a dead holder left running are failed
    once their heartbeat lapses, and run again)."""
    study = open_fold_study(config, task, storage, n_classes)
    if config.trials > 0:
        plan = ModelPlan.of(config, task.model, n_classes)
        tune(plan, inputs.source, inputs.inner, study, config.trials, config.tuning_subsample,
             seed=sampler_seed(config, task), min_per_class=config.tuning_min_per_class, timeout=timeout)  # fmt: skip
    return study


def fit_and_predict(
    plan: ModelPlan, hp: dict[str, Any], source: DatasetSource, train_idx: np.ndarray, test_idx: np.ndarray
) -> np.ndarray:
    """A final fit on the whole outer training part, and its probabilities on the outer test fold."""
    learner = plan.learner(hp)
    learner.fit(source, train_idx)
    return learner.predict_proba(source, test_idx)


def defaults_scores(
    config: Config,
    plan: ModelPlan,
    hp: dict[str, Any],
    metrics: dict[str, Any],
    videos: dict[str, Any],
    source: DatasetSource,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    images: Any,
) -> dict[str, Any]:
    """What the model's defaults score on the same outer fold (config.compare_defaults): trained and
    evaluated like the tuned model, or copied where the final choice is the defaults themselves."""
    started = time.time()
    if not config.compare_defaults:
        return {"defaults_accuracy": None, "defaults_video_accuracy": None, "defaults_s": 0.0}
    defaults_hp = plan.default_hyperparameters()
    if hp == defaults_hp:
        accuracy, video_accuracy = metrics["accuracy"], videos["video_accuracy"]
    else:
        proba = fit_and_predict(plan, defaults_hp, source, train_idx, test_idx)
        labels = source.labels[test_idx]
        accuracy = float((proba.argmax(1) == labels).mean())
        video_accuracy = video_scores(labels, proba, images["group"].to_numpy())["video_accuracy"]
    return {"defaults_accuracy": accuracy, "defaults_video_accuracy": video_accuracy,
            "defaults_s": round(time.time() - started, 2)}  # fmt: skip


class LeakageError(RuntimeError):
    """An outer test image reached tuning: a bug in the harness, never the user's; the fold stops."""


def refuse_leakage(tuning_images: np.ndarray, test_idx: np.ndarray, task: FoldTask) -> None:
    """The outer test fold never serves in tuning. An explicit check, not an `assert`: `python -O`
    would strip that, and the guarantee with it."""
    leaked = np.intersect1d(tuning_images, test_idx)
    if leaked.size:
        raise LeakageError(
            f"{task.model} {task.strategy} fold {task.fold}: {leaked.size} outer test image(s) in the inner folds "
            f"(rows {leaked[:5].tolist()}): nothing was recorded"
        )


def run_fold(
    config: Config,
    data: RunData,
    records_dir: Path,
    storage: str,
    task: FoldTask,
    timeout: float | None = None,
    source: DatasetSource | None = None,
    still_held: Callable[[], None] = lambda: None,
) -> dict[str, Any] | None:
    """One outer fold task, whole; its record, or None when another process recorded it first.

    `still_held` raises when this process's claim on the task lapsed (claims.py): called before the
    final fit and before anything is written."""
    started = time.time()
    configure_devices(config.mixed_precision)  # joblib's worker processes start with Keras' default policy
    # One source per process: its in-memory pixels and features then serve every fold, not just one.
    inputs = fold_inputs(config, data, task, source or DatasetSource.of(data.dataset, data.class_names, config))
    source, train_idx, test_idx = inputs.source, inputs.train_idx, inputs.test_idx
    tuning_images = np.unique(np.concatenate([np.concatenate(pair) for pair in inputs.inner] or [[]])).astype(int)
    refuse_leakage(tuning_images, test_idx, task)  # checked here, recorded below, tested in the suite

    study = tune_fold(config, inputs, len(data.class_names), storage, task, timeout)
    tuned = time.time()
    plan = ModelPlan.of(config, task.model, len(data.class_names))
    choice = plan.final_choice(study, config.final_selection)
    hp = choice.hyperparameters
    still_held()
    checkpoint("train")
    proba = fit_and_predict(plan, hp, source, train_idx, test_idx)
    trained = time.time()
    images = data.dataset.images.iloc[test_idx]
    images_of_train = data.dataset.images.iloc[train_idx]
    labels = source.labels[test_idx]
    metrics = classification_metrics(labels, proba, data.class_names)
    videos = video_scores(labels, proba, images["group"].to_numpy())
    defaults = defaults_scores(config, plan, hp, metrics, videos, source, train_idx, test_idx, images)
    keys = {"model": task.model, "strategy": task.strategy, "repeat": task.repeat, "fold": task.fold}
    predictions = prediction_rows(keys, images["path"], labels, images["group"], proba, data.class_names)
    still_held()
    if task.record_path(records_dir).is_file():
        return None  # a lapsed lease let another process train it too, and it was first
    # Before the record: a fold counts as done only once its predictions are on disk too.
    atomic_write_bytes(task.probabilities_path(records_dir), npy_bytes(proba.astype(np.float32)))
    atomic_write_text(task.predictions_path(records_dir), predictions.to_csv(index=False, lineterminator="\n"))
    states = [t.state for t in study.trials]
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    record = {
        "model": task.model,
        "strategy": task.strategy,
        "repeat": task.repeat,
        "fold": task.fold,
        "n_train": int(len(train_idx)),
        "n_test": int(len(test_idx)),
        "train_videos_per_class": float(images_of_train.groupby("label")["group"].nunique().mean()),
        **{k: metrics[k] for k in ("accuracy", "balanced_accuracy", "macro_f1")},
        **videos,
        **defaults,
        "per_class_f1": {name: row["f1"] for name, row in metrics["per_class"].items()},
        "confusion_matrix": metrics["confusion_matrix"],
        "best_params": hp,
        "selected_trial": choice.trial,
        "selection": choice.reason,
        "best_inner_accuracy": max((t.value for t in completed), default=None),
        "n_trials": len(completed),
        "n_pruned": sum(s == optuna.trial.TrialState.PRUNED for s in states),
        "tune_s": round(tuned - started, 2),
        "train_s": round(trained - tuned, 2),
        "evaluate_s": round(time.time() - trained - defaults["defaults_s"], 2),
        "study": study_name(task),
        "trained_by": WORKER_ID,  # host:pid; where a task ran never changes its numbers
        "trained_at": now(),
        "test_images": test_idx.tolist(),
        "tuning_images": tuning_images.tolist(),
    }
    return record if atomic_publish_json(task.record_path(records_dir), record) else None
