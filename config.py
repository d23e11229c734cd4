"""The user's choices: which models a run compares, the budgets, the data, the seed.

Every field is typed and checked here, once, whoever builds the `Config` (the CLI's options and
`--set KEY=VALUE`, a Python caller, a run directory's config.json): values are parsed from their
annotation and refused in one line naming the field. What a model needs (default hyper-parameters,
search space, its own options) lives with the model in `models/`; `model_options` only holds what
the user changed there, checked by that model's options class.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.core.fields import ConfigError, check_fields, plain, setting
from benchmark.data.demo_scales import DEMO_SCALES
from models.registry import embedding_models, model_names, model_spec
from splits.names import STRATEGIES

PROJECT_ROOT = Path(__file__).resolve().parent

GROUP_SOURCES = ("names", "infer")
EXCLUDE_FROM = ("train", "test")  # --exclude-from: training parts only, or the test folds as well
# How a study becomes the final fit's hyper-parameters (benchmark/cv/train.py, ModelPlan.final_choice).
SELECTION_RULES = ("one_se", "best")
FEATURE_RUNTIMES = ("litert", "keras")  # what runs a frozen backbone over cached pixels
# Where the caches go unless config says otherwise (tests and shared machines point it elsewhere).
CACHE_DIR_ENV = "WORKOUT_BENCH_CACHE_DIR"
SEED_MAX = 2**32 - 1
MAX_IMAGE_PIXELS = 200_000_000  # the biggest phone cameras: 200 megapixels


def _default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or PROJECT_ROOT / ".cache" / "workout-bench")


@dataclass(frozen=True, kw_only=True)
class Config:
    # --- the one-line model switch (what `fit` trains) and what `run` compares ---
    model_name: str = setting("EfficientNetLite0", choices=model_names)
    models: tuple[str, ...] = setting(("CustomCNN", "EfficientNetLite0"), choices=model_names)
    # Per-model options the user changed, e.g. {"CustomCNN": {"input_sizes": [96]}}; the rest comes
    # from each model's options class in models/ (`--set CustomCNN.input_sizes=96` on the command line).
    model_options: dict[str, dict[str, Any]] = setting(factory=dict)

    # --- tuning ---
    trials: int = setting(10, low=0)
    inner_folds: int = setting(3, low=2)
    # Multi-fidelity: each trial trains on this fraction of its inner training part (stratified by
    # class, seeded), validated on the whole inner validation part; the final model of every outer
    # fold trains on its whole training part. At the real dataset's size on 2 CPU cores a trial on
    # everything costs minutes to an hour; `python -m benchmark perf` measures what this buys.
    tuning_subsample: float = setting(0.25, above=0.0, high=1.0)
    # ...but never fewer images of a class than this (all of a smaller class): on a small dataset a
    # quarter of an inner training part is a few images per class, too few to rank anything. At the
    # real size (~330 images per class in an inner training part) the fraction decides.
    tuning_min_per_class: int = setting(10, low=1)
    # Fewer inner folds when the training part is large: an outer training part of more images than
    # this tunes on the first inner fold only, a grouped holdout of 1/inner_folds of it. At the real
    # size (~11,000 images in a training part) that holdout holds ~3,700 images (~120 videos in the
    # generated real-size data), enough to rank trials, and tuning costs a third; the demo (~500) and
    # the real sample keep every inner fold. None: always every inner fold.
    holdout_above: int | None = setting(1000, low=1)
    # How the study becomes the final fit: "one_se" keeps the defaults unless a trial beats them on the
    # inner folds by more than one standard error, and trusts early-stopped epochs only where the
    # validation curve rose above chance; "best" takes the arg-max trial and its early-stopped epochs.
    final_selection: str = setting("one_se", choices=SELECTION_RULES)
    # Every outer fold also fits the model's defaults on its whole training part and scores them on the
    # test fold (none where the final choice is the defaults): results.csv's defaults_* columns and
    # summary.json's tuning_gain. Off: one final fit per fold, no tuned-vs-defaults comparison.
    compare_defaults: bool = True

    # --- evaluation ---
    # The region of practical equivalence of the comparisons (accuracy units: 0.01 = 1 point): two
    # models, or tuned and defaults, within it are "equivalent" (benchmark/cv/compare.py).
    rope: float = setting(0.01, low=0.0, high=1.0)
    # Test-time augmentation in every evaluation (outer folds, inner validation, evaluate, predict):
    # the mean of the probabilities of each image and its mirror image.
    test_time_mirror: bool = True

    # --- speed ---
    # What runs the frozen EfficientNet backbone once per image: "litert" (LiteRT/TFLite with
    # XNNPACK, ~2x Keras on a CPU; Keras is used anyway on a GPU) or "keras".
    feature_runtime: str = setting("litert", choices=FEATURE_RUNTIMES)
    # Cached activations held in memory at once (least recently used dropped, reloaded from disk).
    feature_memory_mb: int = setting(1500, low=0)

    # --- data ---
    data_dir: Path = PROJECT_ROOT / "data" / "workout-images"
    demo_dir: Path = PROJECT_ROOT / "data" / "demo"
    runs_dir: Path = PROJECT_ROOT / "runs"
    cache_dir: Path = setting(factory=_default_cache_dir)
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
    groups: str = setting("names", choices=GROUP_SOURCES)

    # --- leakage audit (python -m benchmark audit, and a section of every run's report) ---
    # Two images are near-duplicates when their 64-bit pHashes differ in at most this many bits...
    audit_phash_max_distance: int = setting(6, low=0, high=64)
    # ...or the cosine similarity of their frozen Lite0 embeddings is at least this. Calibrated on the
    # demo (frames of one video: 5th percentile 0.91, other videos: max 0.906) and on the real sample
    # (distinct videos: max 0.908 cosine, min 8 bits), so neither flags a distinct video there.
    audit_cosine_min: float = setting(0.93, low=-1.0, high=1.0)
    audit_in_run: bool = True
    # The model whose frozen embeddings the audit (and `--groups infer`) compares; audit_cosine_min was
    # calibrated on EfficientNetLite0's.
    audit_embedder: str = setting("EfficientNetLite0", choices=embedding_models)

    # --- devices ---
    # TensorFlow uses a GPU by itself when it sees one (pip install 'tensorflow[and-cuda]'). With a
    # GPU, mixed_float16 roughly doubles training throughput; it is ignored on a CPU (slower there).
    mixed_precision: bool = False

    # --- several processes on one run (`worker`) ---
    # Whoever holds an outer fold task (or a trial) beats its heartbeat in the storage every
    # `heartbeat_s`; one silent for `lease_s` belonged to a dead process, and another takes it over.
    heartbeat_s: int = setting(10, low=1)
    lease_s: int = setting(60, low=2)
    # How long a process retries a storage it cannot reach (a database restart) before it stops in
    # one line; the same command then resumes.
    storage_retry_s: int = setting(300, low=0)

    # --- what to leave out ---
    # A CSV with a `path` column (relative to the data folder, e.g. a reviewed label_issues.csv): those
    # images never reach a training part (nor an inner fold); the outer test folds stay as they are,
    # so the score is not flattered by dropping hard test images. exclude_from="test": out of the
    # test folds as well (the report says so).
    exclude: Path | None = None
    exclude_from: str = setting("train", choices=EXCLUDE_FROM)

    # --- splits ---
    # numpy's and TensorFlow's generators take seeds of 32 bits.
    seed: int = setting(42, low=0, high=SEED_MAX)
    folds: int = setting(5, low=2)
    # Repeated cross-validation: this many outer splits, each with its own seed (derived from `seed`;
    # the first is `seed` itself), folds, studies and records; intervals and tests use the corrected
    # repeated k-fold variance (Bouckaert & Frank 2004).
    repeats: int = setting(1, low=1)
    # What `curve` trains unless --models says otherwise: the cheapest strong model (frozen ImageNet
    # features with a linear probe or dense head, seconds per fold).
    curve_models: tuple[str, ...] = setting(("EfficientNetLite0",), choices=model_names)
    strategies: tuple[str, ...] = setting(STRATEGIES, choices=STRATEGIES)

    # --- scanning ---
    scan_workers: int = setting(4, low=1)
    # Images above this many pixels are refused from their header, before any decode (a 20000 x 20000
    # PNG of 1 MB on disk would take 1.6 GB of memory): a frame of the dataset is well under a megapixel,
    # a phone photo 12-200 megapixels.
    max_image_pixels: int = setting(MAX_IMAGE_PIXELS, low=1)
    strict: bool = False

    # --- demo data ---
    demo_scale: str = setting("small", choices=tuple(DEMO_SCALES))
    demo_seed: int = setting(42, low=0, high=SEED_MAX)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.lease_s <= self.heartbeat_s:
            raise ConfigError("lease_s", f"must exceed heartbeat_s ({self.heartbeat_s}), got {self.lease_s}")
        object.__setattr__(self, "model_options", self._checked_model_options())

    def _checked_model_options(self) -> dict[str, dict[str, Any]]:
        """Each model's changed options, parsed and checked by its options class; stored as plain values."""
        checked: dict[str, dict[str, Any]] = {}
        for name, changes in sorted(self.model_options.items()):
            if name not in model_names():
                raise ConfigError("model_options", f"must name models among {', '.join(model_names())}, got {name!r}")
            if not isinstance(changes, Mapping):
                raise ConfigError(f"model_options.{name}", f"must be a mapping, got {changes!r}")
            options = model_spec(name).make_options(changes)
            checked[name] = {key: plain(getattr(options, key)) for key in sorted(changes)}
        return checked

    def options_for(self, model: str) -> Any:
        """The model's options: its defaults with what this config changed."""
        return model_spec(model).make_options(self.model_options.get(model, {}))

    def replace(self, **changes: Any) -> Config:
        """A copy with the non-None `changes` applied: the CLI's way of overriding defaults."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Config:
        """The inverse of to_dict (a run directory's config.json); unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


# The default `run` on the embedded demo data uses a small budget so it ends in minutes on a laptop;
# on real data the Config defaults above apply. Each model brings its own demo options (its spec's
# `demo_options`). Only fields the user did not set are changed; printed when used.
DEMO_RUN_OVERRIDES: dict[str, Any] = {
    "trials": 2,
    "tuning_subsample": 0.5,  # 633 images: half of an inner training part keeps ~6 frames per class
    "tuning_min_per_class": 1,  # the demo's budget: trials really train on that half
    "inner_folds": 2,
}


def demo_budget(config: Config, explicit: set[str]) -> tuple[Config, dict[str, Any]]:
    """The small demo budget for every field the user did not set (`explicit`: fields, and `Model.option`
    for model options), and what it changed."""
    changes: dict[str, Any] = {name: value for name, value in DEMO_RUN_OVERRIDES.items() if name not in explicit}
    merged = {model: dict(options) for model, options in config.model_options.items()}
    for model in config.models:
        for option, value in model_spec(model).demo_options.items():
            if f"{model}.{option}" not in explicit:
                merged.setdefault(model, {})[option] = value
                changes.setdefault("model_options", {}).setdefault(model, {})[option] = value
    return config.replace(**{**changes, "model_options": merged}), changes


DEFAULT = Config()
