"""Outer fold tasks claimed through the run's storage: every process of a run (the coordinator and each
`worker`) takes the next unfinished task and does all of it: its trials, the final fit, the evaluation,
the record and the predictions.

A claim is a trial of the part's `<run_id>/tasks` study. The tasks without a record are queued as
WAITING trials, and `Study.ask()` pops the oldest one in one transaction (a row lock on PostgreSQL, the
database lock on SQLite), so two processes are never handed the same queued task. The holder beats the
claim's heartbeat in Optuna's heartbeat table, as Optuna does for a trial; a claim silent for `lease_s`
belonged to a dead process: `fail_stale_trials` fails it and the task is queued again for whoever is free.
What counts as done is the fold record on the shared disk, published so that a second copy is refused
(`atomic_publish_json`): a fold is recorded once even when a lapsed lease let two processes train it.

The trials of one fold run in its holder only, one after another: TPE's proposals and the pruner's rungs
depend on which trials have finished, so trials shared between processes would make the numbers depend
on the timing. Placement then never changes a number (tests/test_workers.py).
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import optuna
from joblib import Parallel, delayed

from benchmark.core.errors import BenchmarkError
from benchmark.core.interrupt import check
from benchmark.core.progress import progress
from benchmark.core.secrets import redact
from benchmark.cv.folds import FoldTask, PartWork, run_fold, tasks_study_name
from benchmark.cv.storage import Lease, TrialHandle, config_digest, is_outage, open_study
from benchmark.cv.tune import POLL_S, WORKER_ID
from benchmark.data.source import DatasetSource
from config import Config

# ask() warns that heartbeats are meant for optimize(): a claim's holder beats it itself (Claim).
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
TASK_ATTR = "task"  # a claim's user attribute: the fold task it stands for (model/strategy/fold<k>)
HOLDER_ATTR = "holder"  # host:pid of the process that popped it
WAITING, RUNNING = optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING


class ClaimLost(Exception):
    """The claim lapsed while its holder was cut off (a storage outage longer than the lease) and another
    process may hold the task now: this one drops it without recording anything."""


class Claim:
    """A popped task and the thread that beats its heartbeat until it is finished or released (Optuna
    beats only the trials of `Study.optimize`; through an outage, the storage skips the missed beats)."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial, part: PartWork, task: FoldTask, heartbeat_s: int):
        self.study, self.trial, self.part, self.task = study, trial, part, task
        self.handle = TrialHandle.of(study, trial.number)
        self._stop = threading.Event()
        self._beat()
        self._thread = threading.Thread(target=self._beat_until_stopped, args=(heartbeat_s,), daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        self.handle.beat()

    def _beat_until_stopped(self, heartbeat_s: int) -> None:
        while not self._stop.wait(heartbeat_s):
            self._beat()

    def check_held(self) -> None:
        """Before the final fit and before the record: still ours, or another process took the task over."""
        if self.handle.state() != RUNNING:
            raise ClaimLost

    def finish(self, state: optuna.trial.TrialState = optuna.trial.TrialState.COMPLETE) -> None:
        self._stop.set()
        try:
            if state == optuna.trial.TrialState.COMPLETE:
                self.study.tell(self.trial, 1.0)
            else:
                self.study.tell(self.trial, state=state)
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
            pass  # failed as stale by another process meanwhile: the record on disk is what counts

    def release(self) -> None:
        """On Ctrl-C or an error: fail the claim at once, so the task is queued again without waiting for
        the lease to lapse; if the storage is out, the lease lapses by itself."""
        try:
            self.finish(optuna.trial.TrialState.FAIL)
        except Exception:  # noqa: BLE001 - the storage is out: the lease lapses instead
            self._stop.set()


def queue_free_tasks(study: optuna.Study, pending: list[FoldTask]) -> None:
    """Fail the claims whose holders stopped beating; queue every pending task no live claim holds and
    none waits for. Two processes may queue one task at the same moment: `claim_next` drops the copy."""
    optuna.storages.fail_stale_trials(study)
    taken = {t.user_attrs.get(TASK_ATTR) for t in study.get_trials(deepcopy=False, states=(WAITING, RUNNING))}
    for task in pending:
        if task.key not in taken:
            study.enqueue_trial({}, user_attrs={TASK_ATTR: task.key})
    # A queued claim carries a heartbeat already: a process that dies between popping it and its first
    # beat leaves a claim that lapses like any other (Optuna never fails a trial with no heartbeat).
    for trial in study.get_trials(deepcopy=False, states=(WAITING,)):
        TrialHandle.of(study, trial.number).beat()


def claim_next(study: optuna.Study, part: PartWork, tasks: list[FoldTask], config: Config) -> Claim | None:
    """The oldest queued task of the part, now held by this process; None when none is queued.
    `tasks`: the part's tasks without a record, as the caller just listed them."""
    pending = {task.key: task for task in tasks}
    while study.get_trials(deepcopy=False, states=(WAITING,)):
        trial = study.ask()  # pops the oldest WAITING trial; a fresh one when another process was faster
        claim_key = trial.user_attrs.get(TASK_ATTR)
        trial.set_user_attr(HOLDER_ATTR, WORKER_ID)
        running = study.get_trials(deepcopy=False, states=(RUNNING,))
        rivals = [t for t in running if t.user_attrs.get(TASK_ATTR) == claim_key and t.number < trial.number]
        if claim_key not in pending or rivals:  # none popped, done meanwhile, or a duplicate of a held task
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        claim = Claim(study, trial, part, pending[claim_key], config.heartbeat_s)
        try:  # failed as stale between the pop and the first beat: dropped before any work
            claim.check_held()
        except ClaimLost:
            claim.release()
            continue
        return claim
    return None


class Backoff:
    """Waits 1, 2, 4 ... 30 s between attempts to reach the storage; after `limit_s` without one success it
    stops the process in one line (the same command resumes: what is done is on disk and in the storage)."""

    def __init__(self, limit_s: int, storage: str):
        self.limit_s, self.storage = limit_s, storage
        self.failing_since: float | None = None
        self.delay = 1.0

    def wait(self, error: BaseException) -> None:
        now = time.monotonic()
        self.failing_since = self.failing_since or now
        if now - self.failing_since >= self.limit_s:
            line = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise BenchmarkError(
                f"storage {redact(self.storage)} unreachable for {now - self.failing_since:.0f} s ({line}); "
                "nothing finished is lost: run the same command again to resume"
            ) from None
        time.sleep(self.delay)
        self.delay = min(30.0, self.delay * 2)

    def reset(self) -> None:
        self.failing_since, self.delay = None, 1.0


def work_through(
    config: Config,
    parts: list[PartWork],
    storage: str,
    timeout: float | None = None,
    source: Any = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[FoldTask]:
    """Claim and run tasks of `parts` until every one has a record (some done by other processes);
    returns the tasks this process recorded. `on_progress(done, total)` after each look at the records."""
    lease, owner = Lease.of(config), config_digest(config.to_json())
    if source is None and parts:  # one per process: its in-memory pixels and features serve every task
        source = DatasetSource.of(parts[0].data.dataset, parts[0].data.class_names, config)
    backoff = Backoff(config.storage_retry_s, storage)
    studies: list[optuna.Study] = []
    mine: list[FoldTask] = []
    held: Claim | None = None
    total = sum(len(part.tasks(config)) for part in parts)
    while True:
        check()
        try:
            if not studies:
                studies = [open_study(storage, tasks_study_name(part.run_id), owner, None, lease) for part in parts]
            if held is None:
                pending = [part.pending(config) for part in parts]
                if on_progress:
                    on_progress(total - sum(map(len, pending)), total)
                if not any(pending):
                    return mine
                held = _claim_any(studies, parts, pending, config)
                if held is None:  # the rest is held by other processes: wait for their records, or their leases
                    time.sleep(POLL_S)
                    continue
            path = held.task.record_path(held.part.records_dir)
            if not path.is_file():  # else recorded before an outage cut the claim's finish short
                run_fold(config, held.part.data, held.part.records_dir, storage, held.task, timeout, source,
                         held.check_held)  # fmt: skip
            if json.loads(path.read_text(encoding="utf-8"))["trained_by"] == WORKER_ID:
                held.finish()
                mine.append(held.task)
            else:  # another process recorded it first (a lease that lapsed in an outage)
                held.finish(optuna.trial.TrialState.PRUNED)
            held = None
            backoff.reset()
        except ClaimLost:
            if held is not None:
                held.release()
            held = None
        except Exception as error:
            if not is_outage(error):
                if held is not None:
                    held.release()
                raise
            backoff.wait(error)  # a held claim is kept: its thread beats again once the storage is back
        except BaseException:  # Ctrl-C: the claim is released for whoever is free
            if held is not None:
                held.release()
            raise


def _claim_any(
    studies: list[optuna.Study], parts: list[PartWork], pending: list[list[FoldTask]], config: Config
) -> Claim | None:
    for study, part, tasks in zip(studies, parts, pending):
        if tasks:
            queue_free_tasks(study, tasks)
            claim = claim_next(study, part, tasks, config)
            if claim is not None:
                return claim
    return None


def run_folds(
    config: Config, parts: list[PartWork], storage: str, n_jobs: int = 1, timeout: float | None = None
) -> None:
    """Every outer fold task of `parts` recorded, by this process (`n_jobs` of them) and whichever workers
    join through `storage`; a bar follows the records."""
    total = sum(len(part.tasks(config)) for part in parts)
    bar = progress(range(total), total=total, desc="outer folds")

    def show(done: int, _total: int) -> None:
        bar.update(done - bar.n)

    if n_jobs == 1:
        work_through(config, parts, storage, timeout, on_progress=show)
    else:  # joblib's processes, each a claimant like a worker; this one follows their records
        loops = [delayed(work_through)(config, parts, storage, timeout) for _ in range(n_jobs)]
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(Parallel(n_jobs=n_jobs), loops)
            while not running.done():
                show(total - sum(len(part.pending(config)) for part in parts), total)
                wait([running], timeout=POLL_S)
            running.result()
        show(total, total)
    bar.close()
