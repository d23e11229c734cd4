"""Optuna's RDB storage: the one seam for resume and for several workers (SQLite file or a server URL)."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import optuna

from benchmark.core.environment import redact_url
from benchmark.core.errors import BenchmarkError

# Heartbeats and fail_stale_trials are marked experimental; they are Optuna's own answer to dead workers.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

# A worker's heartbeat every 10 s; a RUNNING trial silent for 60 s belonged to a dead process and is
# failed by Optuna (fail_stale_trials), so its slot in the budget is run again.
HEARTBEAT_S, GRACE_S = 10, 60
DONE_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
LIVE_STATES = (*DONE_STATES, optuna.trial.TrialState.RUNNING)


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


def finished_trials(study: optuna.Study) -> int:
    return sum(t.state in DONE_STATES for t in study.get_trials(deepcopy=False))
