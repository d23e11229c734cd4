"""Optuna's RDB storage: the one seam for resume and for several workers (SQLite file or a server URL)."""

from __future__ import annotations

import functools
import hashlib
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import optuna

from benchmark.core.errors import BenchmarkError
from benchmark.core.secrets import redact
from benchmark.core.seeds import derived_seed

# Heartbeats and fail_stale_trials are marked experimental; they are Optuna's own answer to dead workers.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

# A process beats the heartbeat of what it holds (a trial, a fold task) every 10 s; one silent for 60 s
# belonged to a dead process and is failed by Optuna (fail_stale_trials), so it is run again. A run's
# config may set both (heartbeat_s, lease_s: the fault tests use seconds).
HEARTBEAT_S, GRACE_S = 10, 60
DONE_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
LIVE_STATES = (*DONE_STATES, optuna.trial.TrialState.RUNNING)
OWNER_KEY = "config_sha256"  # study user attribute: the digest of the config of the run that made it
# What a trial records besides its parameters and value (Optuna user attributes); tune.py writes them.
WORKER_ATTR = "worker"  # host:pid of the process that ran the trial
SURPLUS_ATTR = "surplus"  # a trial started when the budget was already taken, stopped before any work
INNER_SCORES_ATTR = "inner_scores"  # validation accuracy on each inner fold


INNER_SIZES_ATTR = "inner_validation_images"  # the size of each inner fold's validation part
WATCH_SIZES_ATTR = "watched_images"  # the size of each inner fold's per-epoch check (a share of validation)


def best_epochs_attr(phase: str) -> str:
    """The mean best epoch count of a training phase over the inner folds: the final fit's epochs."""
    return f"best_epochs_{phase}"


def peak_accuracy_attr(phase: str) -> str:
    """The mean over inner folds of a phase's best per-epoch check: whether its curve rose above chance."""
    return f"peak_accuracy_{phase}"


# Trials sampled at random before TPE models the results: a few, so a budget of 10 is mostly guided.
STARTUP_TRIALS = 4


@dataclass(frozen=True)
class Lease:
    """How often a holder beats and how long silence lasts before what it holds is taken over: whole
    seconds, as Optuna's heartbeat interval and grace period."""

    heartbeat_s: int = HEARTBEAT_S
    lease_s: int = GRACE_S

    @classmethod
    def of(cls, config: Any) -> Lease:
        return cls(config.heartbeat_s, config.lease_s)


class _BeatingThroughOutages(optuna.storages.RDBStorage):
    """Optuna's heartbeat thread stops at the first storage error, with a traceback; here a beat the
    database missed (a restart) is skipped instead, so a live holder keeps what it holds."""

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except Exception as error:  # noqa: BLE001 - the storage's errors come wrapped in several ways
            if not is_outage(error):
                raise


@functools.lru_cache(maxsize=8)
def rdb_storage(url: str | None, lease: Lease = Lease()) -> optuna.storages.BaseStorage | None:
    """One storage (one connection pool) per URL and process; SQLite waits up to a minute for a lock
    instead of failing when parallel folds write at once."""
    if url is None:
        return None
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    beats = {"heartbeat_interval": lease.heartbeat_s, "grace_period": lease.lease_s}
    try:
        try:
            return _BeatingThroughOutages(url, engine_kwargs=engine_kwargs, **beats)
        except Exception as error:  # noqa: BLE001 - two processes creating one new schema at once
            if "already exists" not in str(error):
                raise
            return _BeatingThroughOutages(url, engine_kwargs=engine_kwargs, **beats)
    except (ImportError, ModuleNotFoundError) as error:
        raise BenchmarkError(
            f"--storage {redact(url)}: database driver missing ({error}); pip install 'psycopg[binary]' for PostgreSQL"
        ) from None
    except Exception as error:  # noqa: BLE001 - SQLAlchemy's many connection errors, one line for the user
        if isinstance(error, BenchmarkError):
            raise
        import sqlalchemy.exc

        unreachable = isinstance(error, sqlalchemy.exc.OperationalError)
        raise (StorageUnreachable if unreachable else BenchmarkError)(
            f"--storage {redact(url)}: cannot open ({type(error).__name__}: {str(error).strip().splitlines()[0][:200]})"
        ) from None


class StorageUnreachable(BenchmarkError):
    """The database did not answer (down, restarting, unreachable): a run in progress waits and retries."""


def is_outage(error: BaseException) -> bool:
    """Whether `error`, or any error it was raised from or while handling, is the storage failing to answer:
    an outage can surface as another exception raised while Optuna was handling the first."""
    import sqlalchemy.exc

    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        if isinstance(link, (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError,
                             StorageUnreachable)):  # fmt: skip
            return True
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return False


def config_digest(config_json: str) -> str:
    """What a study records of the run that made it: another config may not add trials to it."""
    return hashlib.sha256(config_json.encode()).hexdigest()[:16]


def refuse_foreign_studies(storage: str, names: list[str], owner: str) -> None:
    """Before a run writes anything: none of its studies may exist in `storage` with another owner."""
    existing = set(optuna.study.get_all_study_names(rdb_storage(storage)))
    for name in names:
        if name in existing:
            recorded = optuna.load_study(study_name=name, storage=rdb_storage(storage)).user_attrs.get(OWNER_KEY)
            if recorded not in (None, owner):
                raise _foreign(name, storage)


def _foreign(name: str, storage: str | None) -> BenchmarkError:
    where = redact(storage) if storage else "memory"
    return BenchmarkError(
        f"study {name!r} in {where} belongs to a run with another config; pass another --run-id "
        "(or another --storage) to start a new run, or restore that run's config to resume it"
    )


def open_study(
    storage: str | None, name: str, owner: str, first_params: dict[str, Any] | None = None, lease: Lease = Lease()
) -> optuna.Study:
    """Create a study, or load it to resume, but only if the run that made it had the same config.

    Two runs on one storage (a team's PostgreSQL database) have their own studies because names carry
    the run id; a run that reuses an id with another config is refused rather than silently counting
    the other run's trials in its budget. A new study's first trial is `first_params` (the model's
    defaults): a known-good point before the search.
    """
    # A trial cut short by Ctrl-C would otherwise be logged with a traceback; outcomes are in the records.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    backend = rdb_storage(storage, lease) or optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        storage=backend,
        study_name=name,
        direction="maximize",
        load_if_exists=True,
        pruner=SuccessiveHalving(),
    )
    recorded = study.user_attrs.get(OWNER_KEY)
    if recorded is None:
        study.set_user_attr(OWNER_KEY, owner)
        if first_params:
            queue_defaults(study, first_params)
    elif recorded != owner:
        raise _foreign(name, storage)
    _BACKENDS[study] = backend
    return study


# The storage each study was opened on: Optuna's public storage API (heartbeats, one trial's state) is
# reached through it, not through the study's private `_storage` and a trial's `_trial_id`.
_BACKENDS: weakref.WeakKeyDictionary[optuna.Study, optuna.storages.BaseStorage] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class TrialHandle:
    """One trial of a study `open_study` opened, as its storage knows it: resolved once (while the
    storage answers), so a heartbeat is one call, and one the database missed is skipped, not raised."""

    storage: optuna.storages.BaseStorage
    trial_id: int

    @classmethod
    def of(cls, study: optuna.Study, number: int) -> TrialHandle:
        backend = _BACKENDS[study]
        study_id = backend.get_study_id_from_name(study.study_name)
        return cls(backend, backend.get_trial_id_from_study_id_trial_number(study_id, number))

    def beat(self) -> None:
        self.storage.record_heartbeat(self.trial_id)

    def state(self) -> optuna.trial.TrialState:
        """The trial's state in the storage now (not a study's cached copy)."""
        return self.storage.get_trial(self.trial_id).state


class SuccessiveHalving(optuna.pruners.SuccessiveHalvingPruner):
    """Successive halving on epochs: at epochs 4, 10 and 28 a trial goes on only while it is among the
    best third of the trials that reached that epoch (the best so far, for the first few). The
    defaults trial always finishes; most others stop after 4 epochs, so a budget of 10 trials costs
    a few full fits. Trials that learn slowly but end well are the price (Optuna's pruner docs).

    Optuna's version also compares with trials a kill cut short (FAIL), and the rerun of such a
    trial would compete with its own first attempt: they are left out, so a resumed study prunes
    what an uninterrupted one would.
    """

    def __init__(self) -> None:
        super().__init__(min_resource=3, reduction_factor=3, bootstrap_count=0)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return super().prune(_WithoutFailed(study), trial)


class _WithoutFailed:
    """A study whose trial list leaves out failed trials; everything else is the study's."""

    def __init__(self, study: optuna.Study):
        self._study = study

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[optuna.trial.FrozenTrial]:
        trials = self._study.get_trials(deepcopy=deepcopy, states=states)
        return [t for t in trials if t.state != optuna.trial.TrialState.FAIL]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


def queue_defaults(study: optuna.Study, defaults: dict[str, Any]) -> None:
    """Queue the model's defaults as the study's next trial unless they are queued, running or done: the
    first trial of every new study, and again when a kill cut that trial short, so a resumed study runs
    the trials an uninterrupted one would."""
    kept = (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING, *DONE_STATES)
    if not any(t.system_attrs.get("fixed_params", t.params) == defaults for t in study.get_trials(False, states=kept)):
        study.enqueue_trial(defaults)


def sampler_for(seed: int, finished: int) -> optuna.samplers.TPESampler:
    """The sampler of a study's next trial: seeded by the study's seed and how many trials are done,
    so trial k draws the same parameters whether or not the run was interrupted before it."""
    return optuna.samplers.TPESampler(seed=derived_seed(seed, finished), n_startup_trials=STARTUP_TRIALS)
