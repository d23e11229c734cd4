"""Wall time per stage of one invocation: what timings.json records and `perf` reads back."""

from __future__ import annotations

import time
from typing import Any

from benchmark.core.environment import now


class StageClock:
    """Wall time per stage of one invocation of `run` (a resumed run has several invocations)."""

    def __init__(self) -> None:
        self.started_at = now()
        self.stages: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        current = time.perf_counter()
        self.stages[stage] = round(self.stages.get(stage, 0.0) + current - self._last, 2)
        self._last = current

    def record(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "finished_at": now(),
            "stages_s": dict(self.stages),
            "wall_s": round(sum(self.stages.values()), 2),
        }
