"""Stage: tune. An Optuna study per (model, strategy, outer fold) over inner folds of the training part."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from benchmark.interrupt import checkpoint
from benchmark.progress import progress
from config import DEFAULT_HYPERPARAMETERS, SEARCH_SPACES, Config
from models.learners import create_learner

STEPS_PER_FOLD = 1000  # pruning steps: inner fold f, epoch e -> f * 1000 + e


def suggest(trial: optuna.Trial, space: Mapping[str, tuple]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec[0]
        if kind == "int":
            params[name] = trial.suggest_int(name, spec[1], spec[2])
        elif kind == "float":
            params[name] = trial.suggest_float(name, spec[1], spec[2], log=spec[3])
        elif kind == "categorical":
            params[name] = trial.suggest_categorical(name, list(spec[1]))
        else:
            raise ValueError(f"unknown search-space kind {kind!r} for {name}")
    return params


def search_space(config: Config, model_name: str) -> dict[str, tuple]:
    """The configured space, with the unfrozen-block range cut to the cached cut points."""
    space = dict(SEARCH_SPACES[model_name])
    if "unfrozen_blocks" in space:
        kind, low, high = space["unfrozen_blocks"]
        space["unfrozen_blocks"] = (kind, low, min(high, config.max_unfrozen_blocks))
        if config.max_unfrozen_blocks == 0:
            space.pop("finetune_learning_rate", None)
    return space


def learner_options(config: Config, model_name: str) -> dict[str, Any]:
    if model_name == "CustomCNN":
        return {}
    return {
        "max_unfrozen_blocks": config.max_unfrozen_blocks,
        "b0_weights": config.b0_weights_file,
        "train_positions": config.efficientnet_train_positions,
    }


def make_learner(config: Config, model_name: str, hp: Mapping[str, Any], n_classes: int, seed: int):
    if model_name == "CustomCNN":
        hp = {**hp, "input_size": config.custom_cnn_input_size}
    elif "unfrozen_blocks" in hp:
        hp = {**hp, "unfrozen_blocks": min(int(hp["unfrozen_blocks"]), config.max_unfrozen_blocks)}
    return create_learner(model_name, hp, n_classes, seed, config.cache_dir, **learner_options(config, model_name))


DONE_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def create_study(storage: str | None, study_name: str, seed: int) -> optuna.Study:
    """Create or load (resume) a study; the sampler's seed also depends on how many trials exist,
    so trials after a resume continue the search instead of replaying its first parameters."""
    # A trial cut short by Ctrl-C would otherwise be logged with a traceback; outcomes are in the records.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(
        storage=rdb_storage(storage),
        study_name=study_name,
        direction="maximize",
        load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=3),
    )
    existing = len(study.trials)
    stream = seed if existing == 0 else int(np.random.SeedSequence([seed, existing]).generate_state(1)[0])
    study.sampler = optuna.samplers.TPESampler(seed=stream)
    return study


def tune(
    config: Config,
    model_name: str,
    source,
    n_classes: int,
    inner: list[tuple[np.ndarray, np.ndarray]],
    n_trials: int,
    study: optuna.Study,
    seed: int,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
    timeout: float | None = None,
) -> optuna.Study:
    """Run trials until the study holds `n_trials` done ones (resumes a study loaded from storage)."""
    base = DEFAULT_HYPERPARAMETERS[model_name]
    space = search_space(config, model_name)

    def objective(trial: optuna.Trial) -> float:
        hp = {**base, **suggest(trial, space)}
        scores, best_epochs = [], []
        for fold, (train_idx, val_idx) in enumerate(inner):

            def report(epoch: int, accuracy: float, fold: int = fold) -> None:
                checkpoint("tune")
                if not np.isnan(accuracy):
                    trial.report(accuracy, fold * STEPS_PER_FOLD + epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned()

            learner = make_learner(config, model_name, hp, n_classes, seed)
            result = learner.fit(source, train_idx, val_idx, report)
            proba = learner.predict_proba(source, val_idx)
            scores.append(float((proba.argmax(1) == source.labels[val_idx]).mean()))
            best_epochs.append(result.best_epochs)
        for phase in best_epochs[0]:
            trial.set_user_attr(f"best_epochs_{phase}", float(np.mean([b[phase] for b in best_epochs])))
        trial.set_user_attr("inner_scores", scores)
        return float(np.mean(scores))

    # Completed and pruned trials count towards the budget; one cut short by a kill (FAIL or a
    # stale RUNNING) does not, so it is run again and the budget is met exactly.
    done = [t for t in study.trials if t.state in DONE_STATES]
    remaining = max(0, n_trials - len(done))
    if remaining:
        bar = progress(range(remaining), total=remaining, desc=f"tune {model_name}")
        iterator = iter(bar)

        def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            next(iterator, None)
            if on_trial:
                on_trial(trial)

        study.optimize(objective, n_trials=remaining, callbacks=[callback], timeout=timeout, catch=())
    return study


def final_hyperparameters(model_name: str, study: optuna.Study | None) -> dict[str, Any]:
    """Best trial's parameters, with epochs set to what early stopping found on the inner folds."""
    hp = dict(DEFAULT_HYPERPARAMETERS[model_name])
    completed = [] if study is None else [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        return hp
    best = study.best_trial
    hp.update(best.params)
    epoch_keys = {"train": "epochs", "head": "head_epochs", "finetune": "finetune_epochs"}
    for phase, key in epoch_keys.items():
        found = best.user_attrs.get(f"best_epochs_{phase}")
        if found is not None:
            hp[key] = max(1, int(round(found)))
    return hp


def rdb_storage(url: str | None) -> optuna.storages.BaseStorage | None:
    """SQLite waits for a lock (up to a minute) instead of failing when parallel folds write at once."""
    if url is None:
        return None
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


def study_storage_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"
