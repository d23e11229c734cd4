"""Stage: tune. An Optuna study per (model, strategy, outer fold) over inner folds of the training part."""

from __future__ import annotations

import functools
import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from benchmark.environment import redact_url
from benchmark.errors import BenchmarkError
from benchmark.interrupt import checkpoint
from benchmark.progress import progress
from config import DEFAULT_HYPERPARAMETERS, SEARCH_SPACES, Config
from models.learners import create_learner

# Heartbeats and fail_stale_trials are marked experimental; they are Optuna's own answer to dead workers.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

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
        "runtime": config.feature_runtime,
    }


def make_learner(
    config: Config, model_name: str, hp: Mapping[str, Any], n_classes: int, seed: int, trial: bool = False
):
    """The learner of `model_name`; `trial` ones train at the tuning fidelity (see config.tuning_*)."""
    options = learner_options(config, model_name)
    if trial and model_name != "CustomCNN":
        options["head_views"] = config.tuning_head_views
    if model_name == "CustomCNN":
        hp = {**hp, "input_size": config.custom_cnn_input_size}
    elif "unfrozen_blocks" in hp:
        hp = {**hp, "unfrozen_blocks": min(int(hp["unfrozen_blocks"]), config.max_unfrozen_blocks)}
    return create_learner(model_name, hp, n_classes, seed, config.cache_dir, **options)


def subsample(indices: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """`fraction` of `indices`, the same share of every class (at least one image each), sorted."""
    if fraction >= 1.0:
        return indices
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels[indices]):
        members = indices[labels[indices] == label]
        chosen.append(rng.choice(members, max(1, round(len(members) * fraction)), replace=False))
    return np.sort(np.concatenate(chosen))


DONE_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
LIVE_STATES = (*DONE_STATES, optuna.trial.TrialState.RUNNING)
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
POLL_S = 2.0
# A worker's heartbeat every 10 s; a RUNNING trial silent for 60 s belonged to a dead process and is
# failed by Optuna (fail_stale_trials), so its slot in the budget is run again.
HEARTBEAT_S, GRACE_S = 10, 60


class SurplusTrial(Exception):
    """Two workers started the budget's last trial at once; the later one stops before any work."""


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
    wait: bool = True,
) -> optuna.Study:
    """Run trials until the study holds `n_trials` done ones, alongside any other worker on the storage.

    Resumes a study loaded from storage. With `wait`, also waits for trials other workers are running;
    without, returns as soon as the rest of the budget is taken (a worker then helps another study).
    """
    base = DEFAULT_HYPERPARAMETERS[model_name]
    space = search_space(config, model_name)

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", WORKER_ID)
        # Trial numbers are unique and ordered in the storage: the budget belongs to the first n_trials live ones.
        earlier = [t for t in study.get_trials(deepcopy=False, states=LIVE_STATES) if t.number < trial.number]
        if len(earlier) >= n_trials:
            trial.set_user_attr("surplus", True)
            raise SurplusTrial
        hp = {**base, **suggest(trial, space)}
        scores, best_epochs = [], []
        for fold, (full_train_idx, val_idx) in enumerate(inner):
            train_idx = subsample(full_train_idx, source.labels, config.tuning_subsample, seed + fold)

            def report(epoch: int, accuracy: float, fold: int = fold) -> None:
                checkpoint("tune")
                if not np.isnan(accuracy):
                    trial.report(accuracy, fold * STEPS_PER_FOLD + epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned()

            learner = make_learner(config, model_name, hp, n_classes, seed, trial=True)
            result = learner.fit(source, train_idx, val_idx, report)
            proba = learner.predict_proba(source, val_idx)
            scores.append(float((proba.argmax(1) == source.labels[val_idx]).mean()))
            best_epochs.append(result.best_epochs)
        for phase in best_epochs[0]:
            trial.set_user_attr(f"best_epochs_{phase}", float(np.mean([b[phase] for b in best_epochs])))
        trial.set_user_attr("inner_scores", scores)
        return float(np.mean(scores))

    # Completed and pruned trials count towards the budget; one cut short by a kill (FAIL, or a RUNNING
    # one whose heartbeat stopped) does not, so it is run again and the budget is met exactly.
    done = [t for t in study.trials if t.state in DONE_STATES]
    bar = progress(range(max(0, n_trials - len(done))), total=max(0, n_trials - len(done)), desc=f"tune {model_name}")
    iterator = iter(bar)

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state in DONE_STATES:
            next(iterator, None)
            if on_trial:
                on_trial(trial)

    deadline = None if timeout is None else time.monotonic() + timeout
    while deadline is None or time.monotonic() < deadline:
        optuna.storages.fail_stale_trials(study)
        states = [t.state for t in study.get_trials(deepcopy=False, states=LIVE_STATES)]
        finished = sum(state in DONE_STATES for state in states)
        if finished >= n_trials:
            break
        if len(states) >= n_trials:  # the rest of the budget is running in other workers
            if not wait:
                break
            time.sleep(POLL_S)
            continue
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        study.optimize(objective, n_trials=1, callbacks=[callback], timeout=left, catch=(SurplusTrial,))
    bar.close()
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


@functools.lru_cache(maxsize=8)
def rdb_storage(url: str | None) -> optuna.storages.BaseStorage | None:
    """One storage (one connection pool) per URL and process; SQLite waits up to a minute for a lock
    instead of failing when parallel folds write at once."""
    if url is None:
        return None
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
        )
    except (ImportError, ModuleNotFoundError) as error:
        raise BenchmarkError(
            f"--storage {redact_url(url)}: database driver missing ({error}); "
            "pip install 'psycopg[binary]' for PostgreSQL"
        ) from None
    except Exception as error:  # noqa: BLE001 - SQLAlchemy's many connection errors, one line for the user
        if isinstance(error, BenchmarkError):
            raise
        raise BenchmarkError(
            f"--storage {redact_url(url)}: cannot open ({type(error).__name__}: "
            f"{str(error).strip().splitlines()[0][:200]})"
        ) from None


def study_storage_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"
