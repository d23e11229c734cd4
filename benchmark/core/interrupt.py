"""Ctrl-C and SIGTERM stop a run at the next safe point, never inside a write or a finaliser.

The signal handler only sets a flag; long loops (progress bars, training batches, trials) check it
and raise `RunInterrupted` there. A second signal exits at once: results are written atomically,
so even that loses nothing already recorded.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

_requested = threading.Event()


class RunInterrupted(KeyboardInterrupt):
    """Raised at a safe point after SIGINT/SIGTERM; a KeyboardInterrupt so Optuna fails the trial."""


def _handle(signum, frame) -> None:
    if _requested.is_set():
        print("\ninterrupted again: exiting now", file=sys.stderr)
        os._exit(130)
    _requested.set()


def install() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handle)
        signal.signal(signal.SIGTERM, _handle)


def check() -> None:
    if _requested.is_set():
        raise RunInterrupted


SIGNAL_AT_ENV = "WORKOUT_BENCH_SIGNAL_AT"
_fired: set[str] = set()


def checkpoint(point: str) -> None:
    """Fault injection for the reliability tests: `WORKOUT_BENCH_SIGNAL_AT=train:SIGINT` makes the process
    send itself that signal the first time it reaches `point`, so a test can kill a run at a chosen stage
    (decode, tune, train, report) instead of guessing with sleeps. Without the variable it does nothing.
    """
    wanted = os.environ.get(SIGNAL_AT_ENV, "")
    name, _, signal_name = wanted.partition(":")
    if name != point or point in _fired:
        return
    _fired.add(point)
    os.kill(os.getpid(), getattr(signal, signal_name or "SIGTERM"))
