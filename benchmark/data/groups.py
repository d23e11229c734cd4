"""Stage 2: give every image its source-video group, so no video ends up on both sides of a split."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import pandas as pd

from benchmark.core.errors import BenchmarkError

VIDEO = "video"
SINGLE = "single"  # a web image (`_g<digits>`): its own group
UNMATCHED = "unmatched"  # a name the rules do not know: its own group, counted in the summary


def compile_rules(video_pattern: str, single_image_pattern: str) -> tuple[re.Pattern, re.Pattern]:
    try:
        video = re.compile(video_pattern)
        single = re.compile(single_image_pattern)
    except re.error as error:
        raise BenchmarkError(f"invalid group pattern in config: {error}") from None
    if "video" not in video.groupindex:
        raise BenchmarkError(f"video_pattern must have a named group 'video': {video_pattern!r}")
    return video, single


def group_of(path: str, label: str, video_rule: re.Pattern, single_rule: re.Pattern) -> tuple[str, str]:
    """(group id, kind) for one image; group ids include the class so video numbers never collide."""
    stem = PurePosixPath(path).stem
    match = video_rule.search(stem)
    if match:
        return f"{label}/video-{int(match.group('video'))}", VIDEO
    if single_rule.search(stem):
        return f"{label}/{PurePosixPath(path).name}", SINGLE
    return f"{label}/{PurePosixPath(path).name}", UNMATCHED


def assign_groups(images: pd.DataFrame, video_pattern: str, single_image_pattern: str) -> pd.DataFrame:
    """A copy of `images` with `group` and `group_kind` columns."""
    video_rule, single_rule = compile_rules(video_pattern, single_image_pattern)
    pairs = [group_of(p, label, video_rule, single_rule) for p, label in zip(images["path"], images["label"])]
    grouped = images.copy()
    grouped["group"] = [group for group, _ in pairs]
    grouped["group_kind"] = [kind for _, kind in pairs]
    return grouped
