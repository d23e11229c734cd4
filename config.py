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


GROUP_SOURCES = ("names", "infer")


@dataclass(frozen=True)
class Config:
    # --- the one-line model switch (what `fit` trains) and what `run` compares ---
    # "CustomCNN", "EfficientNetLite0" (ImageNet weights that work offline) or "EfficientNetB0"
    # (Keras' weights: b0_weights_file, else the Keras cache, else a download).
    model_name: str = "EfficientNetLite0"
    models: tuple[str, ...] = ("CustomCNN", "EfficientNetLite0")
    b0_weights_file: Path | None = None
    # Largest N of "fine-tune the last N blocks": activations are cached at each of these cut points.
    max_unfrozen_blocks: int = 3
    # Crop windows along the long side cached as extra training views (each also mirrored).
    efficientnet_train_positions: tuple[str, ...] = ("center", "left", "right")

    # Input side of the CustomCNN in pixels (images are decoded and resized to it once, then cached).
    custom_cnn_input_size: int = 64

    # --- tuning ---
    trials: int = 10
    inner_folds: int = 3
    # Multi-fidelity: each trial trains on this fraction of its inner training part (stratified by
    # class, seeded), validated on the whole inner validation part; the final model of every outer
    # fold trains on its whole training part. At the real dataset's size on 2 CPU cores a trial on
    # everything costs minutes to an hour; `python -m benchmark perf` measures what this buys.
    tuning_subsample: float = 0.25
    # ...and the EfficientNet head of a trial trains on the centre crop and its mirror ("center")
    # rather than every cached view ("all", what the final model uses).
    tuning_head_views: str = "center"

    # --- speed ---
    # What runs the frozen EfficientNet backbone once per image: "litert" (LiteRT/TFLite with
    # XNNPACK, ~2x Keras on a CPU; Keras is used anyway on a GPU) or "keras".
    feature_runtime: str = "litert"
    # Cached activations held in memory at once (least recently used dropped, reloaded from disk).
    feature_memory_mb: int = 1500

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

    # Where groups come from: "names" (the patterns above) or "infer" (near-duplicate clusters in the
    # pixels, for datasets whose names carry no video id; see the audit thresholds below).
    groups: str = "names"  # one of GROUP_SOURCES

    # --- leakage audit (python -m benchmark audit, and a section of every run's report) ---
    # Two images are near-duplicates when their 64-bit pHashes differ in at most this many bits...
    audit_phash_max_distance: int = 6
    # ...or the cosine similarity of their frozen Lite0 embeddings is at least this. Calibrated on the
    # demo (frames of one video: 5th percentile 0.91, other videos: max 0.906) and on the real sample
    # (distinct videos: max 0.908 cosine, min 8 bits), so neither flags a distinct video there.
    audit_cosine_min: float = 0.93
    audit_in_run: bool = True

    # --- devices ---
    # TensorFlow uses a GPU by itself when it sees one (pip install 'tensorflow[and-cuda]'). With a
    # GPU, mixed_float16 roughly doubles training throughput; it is ignored on a CPU (slower there).
    mixed_precision: bool = False

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

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        """The inverse of to_dict (a run directory's config.json); unknown keys are ignored."""
        changes: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in values:
                continue
            value, default = values[field.name], field.default
            if isinstance(default, tuple) and isinstance(value, list):
                value = tuple(value)
            elif value is not None and (isinstance(default, Path) or field.name.endswith(("_dir", "_file"))):
                value = Path(value)
            changes[field.name] = value
        return cls(**changes)


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

# Hyper-parameters used when a model is trained without tuning, and the base every trial starts from.
DEFAULT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "CustomCNN": {
        "base_width": 32,  # block widths 32-64-128-256
        "dense_units": 512,
        "dropout": 0.5,
        "pooling": "flatten",
        "learning_rate": 1e-3,
        "batch_size": 32,
        "augment": 0.1,
        "epochs": 20,  # the most epochs; early stopping on inner validation folds picks fewer
        "patience": 4,
    },
    "EfficientNetLite0": {
        "head_dropout": 0.3,
        "head_learning_rate": 3e-3,
        "head_epochs": 30,
        "unfrozen_blocks": 1,
        "finetune_learning_rate": 1e-4,
        "finetune_epochs": 5,
        "batch_size": 32,
        "label_smoothing": 0.1,
    },
}
DEFAULT_HYPERPARAMETERS["EfficientNetB0"] = dict(DEFAULT_HYPERPARAMETERS["EfficientNetLite0"])

# Optuna search spaces: name -> ("int", low, high) | ("float", low, high, log) | ("categorical", choices).
SEARCH_SPACES: dict[str, dict[str, tuple]] = {
    "CustomCNN": {
        "base_width": ("categorical", (16, 32)),
        "dense_units": ("categorical", (128, 256, 512)),
        "dropout": ("float", 0.2, 0.6, False),
        "learning_rate": ("float", 3e-4, 3e-3, True),
        "batch_size": ("categorical", (16, 32, 64)),
        "augment": ("float", 0.0, 0.25, False),
    },
    "EfficientNetLite0": {
        "head_dropout": ("float", 0.0, 0.5, False),
        "head_learning_rate": ("float", 3e-4, 1e-2, True),
        "unfrozen_blocks": ("int", 0, 3),
        "finetune_learning_rate": ("float", 1e-5, 1e-3, True),
    },
}
SEARCH_SPACES["EfficientNetB0"] = dict(SEARCH_SPACES["EfficientNetLite0"])

# The default `run` on the embedded demo data uses a small budget so it ends in minutes on a laptop;
# on real data the Config defaults above apply. Printed when used.
DEMO_RUN_OVERRIDES: dict[str, Any] = {
    "trials": 2,
    "tuning_subsample": 1.0,  # 633 images: a quarter would leave a few frames per class
    "inner_folds": 2,
    "custom_cnn_input_size": 32,
    "max_unfrozen_blocks": 0,
    "efficientnet_train_positions": ("center",),
}

DEFAULT = Config()
