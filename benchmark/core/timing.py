"""Wall time per stage of one invocation: what timings.json records and `perf` reads back."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from benchmark.core.environment import now

RUNNING, INTERRUPTED, FINISHED = "running", "interrupted", "finished"  # an invocation's `state` in timings.json


class StageClock:
    """Wall time per stage of one invocation of `run` (a resumed run has several invocations)."""

    def __init__(self) -> None:
        self.started_at = now()
        # Which entry of timings.json is this invocation's (host:pid, and the start to the nanosecond).
        self.invocation = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
        self.stages: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        current = time.perf_counter()
        self.stages[stage] = round(self.stages.get(stage, 0.0) + current - self._last, 2)
        self._last = current

    def record(self, state: str = FINISHED, open_stage: str | None = None) -> dict[str, Any]:
        """This invocation so far; `open_stage` gets the time since the last lap (a stage still going)."""
        stages = dict(self.stages)
        if open_stage is not None:
            stages[open_stage] = round(stages.get(open_stage, 0.0) + time.perf_counter() - self._last, 2)
        return {
            "started_at": self.started_at,
            "finished_at": now(),
            "invocation": self.invocation,
            "state": state,
            "stages_s": stages,
            "wall_s": round(sum(stages.values()), 2),
        }

    def same_invocation(self, entry: dict[str, Any]) -> bool:
        return entry.get("invocation") == self.invocation


def invocation_totals(invocations: list[dict[str, Any]]) -> dict[str, Any]:
    """A resumed run's time: every invocation's wall summed (an interrupted one up to its last beat),
    stage by stage."""
    stages: dict[str, float] = {}
    for entry in invocations:
        for stage, seconds in entry["stages_s"].items():
            stages[stage] = round(stages.get(stage, 0.0) + seconds, 2)
    return {
        "invocations": len(invocations),
        "not_finished": sum(entry.get("state", FINISHED) != FINISHED for entry in invocations),
        # The newest entry still `running`: that invocation is going now, or was killed (its last beat).
        "last_running": bool(invocations) and invocations[-1].get("state") == RUNNING,
        "wall_s": round(sum(entry["wall_s"] for entry in invocations), 2),
        "stages_s": stages,
    }


def invocations_phrase(totals: dict[str, Any]) -> str:
    """The totals' parenthesis, e.g. "(2 stopped before the end and resumed)": what became of the
    invocations that did not finish."""
    resumed = totals["not_finished"] - totals["last_running"]
    said = [f"{resumed} stopped before the end and resumed"] if resumed else []
    if totals["last_running"]:
        said.append("the last one running now, or killed: counted to its last beat")
    return f" ({'; '.join(said)})" if said else ""
