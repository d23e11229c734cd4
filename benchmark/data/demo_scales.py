"""The demo dataset's layout and sizes: the real dataset's class folders and file names, and how many
videos and frames each scale generates. No imports: `config.py` and the CLI read the scale names.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    "small": DemoScale(videos_per_class=7, min_frames=3, max_frames=5, web_images_per_class=1, width=128, height=96),
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
