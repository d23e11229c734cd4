"""One progress-bar style for every stage that takes more than a few seconds."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterable[T]:
    """A tqdm bar with ETA on a terminal; silent in logs unless WORKOUT_BENCH_PROGRESS=1."""
    forced = os.environ.get("WORKOUT_BENCH_PROGRESS")
    disable = None if forced is None else forced != "1"
    return tqdm(
        items,
        total=total,
        desc=desc,
        unit="img" if "image" in desc else "it",
        disable=disable,
        dynamic_ncols=True,
        leave=False,
    )
