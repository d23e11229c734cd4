"""The single home of workout-bench's defaults.

The CLI only overrides these values; every stage reads them from a `Config`.
Switch the model trained by `fit` with `model_name`; a `run` compares every model in `models`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent

# The real dataset's 22 class folders, as published on Kaggle.
CLASS_NAMES: tuple[str, ...] = (
    "barbell biceps curl",
    "bench press",
    "chest fly machine",
    "deadlift",
    "decline bench press",
    "hammer curl",
    "hip thrust",
    "incline bench press",
    "lat pulldown",
    "lateral raises",
    "leg extension",
    "leg raises",
    "plank",
    "pull up",
    "push up",
    "romanian deadlift",
    "russian twist",
    "shoulder press",
    "squat",
    "t bar row",
    "tricep dips",
    "tricep pushdown",
)

# File-name prefixes that differ from the folder name in the real dataset.
FILE_PREFIXES: dict[str, str] = {
    "chest fly machine": "cfm",
    "decline bench press": "dbp",
    "lateral raises": "lateral raise",
}


@dataclass(frozen=True)
class Config:
    # --- the one-line model switch (what `fit` trains) and what `run` compares ---
    model_name: str = "CustomCNN"
    models: tuple[str, ...] = ("CustomCNN", "EfficientNetLite0")

    # --- data ---
    data_dir: Path = PROJECT_ROOT / "data" / "workout-images"
    demo_dir: Path = PROJECT_ROOT / "data" / "demo"
    runs_dir: Path = PROJECT_ROOT / "runs"
    cache_dir: Path = PROJECT_ROOT / ".cache" / "workout-bench"
    image_extensions: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
    kaggle_dataset: str = "hasyimabdillah/workoutexercises-images"

    # --- video groups ---
    # Applied to the file stem. The number after the last underscore is the video number
    # followed by a 5-digit frame part: squat_2200351 -> video 22, squat_600451 -> video 6.
    # `video` is lazy so it keeps exactly five digits for the frame: the seed project took the
    # first two digits of any long number, which merged video 1 (100111) with video 10 (1000151).
    video_pattern: str = r"_(?P<video>[0-9]+?)(?P<frame>[0-9]{5})$"
    # Single web images (plank_g3): each is its own group, counted apart from unmatched names.
    single_image_pattern: str = r"_g(?P<image>[0-9]+)$"

    # --- splits ---
    seed: int = 42
    folds: int = 5
    strategies: tuple[str, ...] = ("grouped", "leaky")

    # --- scanning ---
    scan_workers: int = 4
    strict: bool = False

    # --- demo data ---
    demo_scale: str = "small"
    demo_seed: int = 42

    def replace(self, **changes: Any) -> Config:
        """A copy with the non-None `changes` applied: the CLI's way of overriding defaults."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, tuple):
                return list(value)
            return value

        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class DemoScale:
    """How big the synthetic dataset is: `small` keeps the default run short, `real` matches Kaggle."""

    videos_per_class: int
    min_frames: int
    max_frames: int
    web_images_per_class: int
    width: int
    height: int
    total_images: int | None = None  # exact total, reached by nudging frames per video


DEMO_SCALES: dict[str, DemoScale] = {
    "tiny": DemoScale(videos_per_class=5, min_frames=2, max_frames=4, web_images_per_class=1, width=160, height=120),
    "small": DemoScale(videos_per_class=8, min_frames=4, max_frames=9, web_images_per_class=1, width=192, height=144),
    # 22 classes x 21 videos x ~29 frames + web images ~= 13,853 images at the real frame size.
    "real": DemoScale(
        videos_per_class=21,
        min_frames=10,
        max_frames=50,
        web_images_per_class=2,
        width=480,
        height=360,
        total_images=13_853,
    ),
}

DEFAULT = Config()
