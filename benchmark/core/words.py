"""Counts in words: "1 class", "2 classes", "1 frame", "3-5 frames"."""

from __future__ import annotations

IRREGULAR = {"class": "classes", "index": "indices", "bad image": "bad images", "study": "studies"}


def plural(noun: str) -> str:
    return IRREGULAR.get(noun, noun + "s")


def count_of(count: int | float, noun: str) -> str:
    """`count` and `noun`, singular for exactly one."""
    return f"{count:g} {noun if count == 1 else plural(noun)}"


def range_of(low: int, high: int, noun: str) -> str:
    """`3-5 frames`, or `1 frame` when the two ends meet."""
    return count_of(low, noun) if low == high else f"{low}-{high} {plural(noun)}"
