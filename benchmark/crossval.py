"""Stages tune -> train -> evaluate for every (model, strategy, outer fold) of a run.

Each finished outer fold is one JSON record in the run directory, written atomically; a re-run
skips the folds that have one, and Optuna's storage keeps every finished trial, so an interrupted
run loses at most the trial and the fold in flight.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from joblib import Parallel, delayed

from benchmark.atomic import atomic_write_json
from benchmark.environment import configure_devices
from benchmark.interrupt import checkpoint
from benchmark.metrics import classification_metrics
from benchmark.progress import progress
from benchmark.source import DatasetSource
from benchmark.tune import create_study, final_hyperparameters, make_learner, tune
from config import Config
from splits import fold_pairs, inner_folds


@dataclass(frozen=True)
class FoldTask:
    model: str
    strategy: str
    fold: int


@dataclass(frozen=True)
class RunData:
    """What every fold task needs, in plain arrays (picklable for joblib workers)."""

    root: Path
    paths: list[str]
    labels: list[str]
    groups: list[str]
    keys: list[str]
    class_names: list[str]
    folds: dict[str, list[int]]  # strategy -> outer test fold per image


def fold_record_path(run_dir: Path, task: FoldTask) -> Path:
    return run_dir / "folds" / task.model / task.strategy / f"fold{task.fold}.json"


def study_name(task: FoldTask) -> str:
    return f"{task.model}/{task.strategy}/fold{task.fold}"


def pending_tasks(run_dir: Path, config: Config, n_folds: int) -> list[FoldTask]:
    tasks = [FoldTask(m, s, f) for m in config.models for s in config.strategies for f in range(n_folds)]
    return [task for task in tasks if not fold_record_path(run_dir, task).is_file()]


def run_folds(
    config: Config, data: RunData, run_dir: Path, storage: str, n_jobs: int = 1, timeout: float | None = None
) -> None:
    tasks = pending_tasks(run_dir, config, config.folds)
    if not tasks:
        return
    for task in tasks:  # schema and studies exist before parallel workers race to create them
        create_study(storage, study_name(task), sampler_seed(config, task))
    jobs = (delayed(run_fold)(config, data, run_dir, storage, task, timeout) for task in tasks)
    if n_jobs == 1:
        source = dataset_source(config, data)
        for job in progress(tasks, total=len(tasks), desc="outer folds"):
            run_fold(config, data, run_dir, storage, job, timeout, source)
        return
    for _ in progress(
        Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs), total=len(tasks), desc="outer folds"
    ):
        pass


def sampler_seed(config: Config, task: FoldTask) -> int:
    """Each study's own stream, derived from the config seed: same seed -> same trial parameters."""
    model_index = list(config.models).index(task.model)
    strategy_index = list(config.strategies).index(task.strategy)
    return int(np.random.SeedSequence([config.seed, model_index, strategy_index, task.fold]).generate_state(1)[0])


@dataclass(frozen=True)
class FoldInputs:
    source: DatasetSource
    train_idx: np.ndarray
    test_idx: np.ndarray
    inner: list[tuple[np.ndarray, np.ndarray]]


def dataset_source(config: Config, data: RunData) -> DatasetSource:
    """One per process: its in-memory pixels and features then serve every fold, not just one."""
    labels = np.array([data.class_names.index(label) for label in data.labels])
    return DatasetSource(
        data.root, data.paths, labels, config.cache_dir, config.scan_workers, data.keys, config.feature_memory_mb
    )


def fold_inputs(config: Config, data: RunData, task: FoldTask, source: DatasetSource) -> FoldInputs:
    """The same images, outer split and inner folds in the coordinator and in every worker."""
    train_idx, test_idx = fold_pairs(np.asarray(data.folds[task.strategy]))[task.fold]
    inner = inner_folds(data.labels, data.groups, train_idx, task.strategy, config.inner_folds, config.seed, task.fold)
    return FoldInputs(source, train_idx, test_idx, inner)


def tune_fold(
    config: Config,
    inputs: FoldInputs,
    n_classes: int,
    storage: str,
    task: FoldTask,
    timeout: float | None = None,
    wait: bool = True,
    sampler_salt: int = 0,
) -> optuna.Study:
    """The fold's study, tuned until its budget is done (`wait`) or taken by running trials (not `wait`).

    `sampler_salt` gives each extra worker its own sampler stream, so parallel workers do not propose
    the same parameters at the same moment.
    """
    seed = sampler_seed(config, task)
    if sampler_salt:
        seed = int(np.random.SeedSequence([seed, sampler_salt]).generate_state(1)[0])
    study = create_study(storage, study_name(task), seed)
    if config.trials > 0:
        tune(config, task.model, inputs.source, n_classes, inputs.inner, config.trials, study, config.seed,
             timeout=timeout, wait=wait)  # fmt: skip
    return study


def run_fold(
    config: Config,
    data: RunData,
    run_dir: Path,
    storage: str,
    task: FoldTask,
    timeout: float | None = None,
    source: DatasetSource | None = None,
) -> dict[str, Any]:
    started = time.time()
    configure_devices(config.mixed_precision)  # joblib's worker processes start with Keras' default policy
    inputs = fold_inputs(config, data, task, source or dataset_source(config, data))
    source, train_idx, test_idx = inputs.source, inputs.train_idx, inputs.test_idx
    tuning_images = np.unique(np.concatenate([np.concatenate(pair) for pair in inputs.inner]))
    # The outer test fold never serves in tuning; checked here, recorded below, tested in the suite.
    assert not np.intersect1d(tuning_images, test_idx).size

    study = tune_fold(config, inputs, len(data.class_names), storage, task, timeout)
    tuned = time.time()
    hp = final_hyperparameters(task.model, study)
    learner = make_learner(config, task.model, hp, len(data.class_names), config.seed)
    checkpoint("train")
    learner.fit(source, train_idx)
    trained = time.time()
    metrics = classification_metrics(source.labels[test_idx], learner.predict_proba(source, test_idx), data.class_names)
    states = [t.state for t in study.trials]
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    record = {
        "model": task.model,
        "strategy": task.strategy,
        "fold": task.fold,
        "n_train": int(len(train_idx)),
        "n_test": int(len(test_idx)),
        **{k: metrics[k] for k in ("accuracy", "balanced_accuracy", "macro_f1")},
        "per_class_f1": {name: row["f1"] for name, row in metrics["per_class"].items()},
        "confusion_matrix": metrics["confusion_matrix"],
        "best_params": hp,
        "best_inner_accuracy": max((t.value for t in completed), default=None),
        "n_trials": len(completed),
        "n_pruned": sum(s == optuna.trial.TrialState.PRUNED for s in states),
        "tune_s": round(tuned - started, 2),
        "train_s": round(trained - tuned, 2),
        "evaluate_s": round(time.time() - trained, 2),
        "study": study_name(task),
        "test_images": test_idx.tolist(),
        "tuning_images": tuning_images.tolist(),
    }
    atomic_write_json(fold_record_path(run_dir, task), record, indent=None)
    return record


def load_fold_records(run_dir: Path) -> list[dict[str, Any]]:
    records = [json.loads(path.read_text()) for path in sorted((run_dir / "folds").rglob("fold*.json"))]
    return sorted(records, key=lambda r: (r["model"], r["strategy"], r["fold"]))
