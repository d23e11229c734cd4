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
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
FEATURE_RUNTIMES = ("litert", "keras")  # what runs a frozen backbone over cached pixels
# Where the caches go unless config says otherwise (tests and shared machines point it elsewhere).
CACHE_DIR_ENV = "WORKOUT_BENCH_CACHE_DIR"


class ConfigError(ValueError):
    """A configuration value the user gave is not usable; `field` names it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name} {message}")
        self.field = field_name
        self.reason = message


def _models() -> tuple[str, ...]:
    from models.registry import MODEL_NAMES  # the registry imports no TensorFlow

    return MODEL_NAMES


def _strategies() -> tuple[str, ...]:
    from splits.names import STRATEGIES

    return STRATEGIES


def setting(
    default: Any = dataclasses.MISSING,
    *,
    choices: Any = None,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field with the limits `check_fields` enforces: allowed values (a tuple, or a function
    returning one, for names registered elsewhere), inclusive bounds, or a strict lower bound."""
    metadata = {"choices": choices, "low": low, "high": high, "above": above}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def check_fields(instance: Any) -> None:
    """Parse every field of a frozen dataclass from its annotation and check its limits, in place.

    The one validator: `Config` and every model's options class call it from `__post_init__`.
    """
    hints = typing.get_type_hints(type(instance))
    for spec in dataclasses.fields(instance):
        value = parse_value(spec.name, hints[spec.name], getattr(instance, spec.name))
        _check_limits(spec, value)
        object.__setattr__(instance, spec.name, value)


def parse_value(name: str, annotation: Any, value: Any) -> Any:
    """`value` (a Python value, a JSON value or a command-line string) as `annotation` says."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        empty = value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", ""))
        if empty and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return parse_value(name, inner[0], value)
    if origin is tuple:
        items = _as_list(name, value)
        return tuple(parse_value(name, args[0], item) for item in items)
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if isinstance(value, str):
            value = _json(name, value)
        if not isinstance(value, Mapping):
            raise ConfigError(name, f"must be a mapping, got {value!r}")
        return {str(k): v for k, v in value.items()}
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ConfigError(name, f"must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(name, f"must be a whole number, got {value!r}")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value) if not isinstance(value, str) else int(value.strip())
        except (TypeError, ValueError):
            raise ConfigError(name, f"must be a whole number, got {value!r}") from None
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(name, f"must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(name, f"must be a number, got {value!r}") from None
    if annotation is Path:
        if not isinstance(value, (str, Path)) or not str(value):
            raise ConfigError(name, f"must be a path, got {value!r}")
        return Path(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(name, f"must be text, got {value!r}")
        return value
    return value


def _json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(name, f"is not valid JSON: {text!r}") from None


def _as_list(name: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = _json(name, text)
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _check_limits(spec: dataclasses.Field, value: Any) -> None:
    meta = spec.metadata
    choices = meta.get("choices")
    if choices is not None:
        allowed = choices() if callable(choices) else choices
        values = value if isinstance(value, tuple) else (value,)
        for item in values:
            if item is not None and item not in allowed:
                raise ConfigError(spec.name, f"must be one of {', '.join(map(str, allowed))}, got {item!r}")
        if isinstance(value, tuple) and not value:
            raise ConfigError(spec.name, f"needs at least one of {', '.join(map(str, allowed))}")
    bounded = any(meta.get(key) is not None for key in ("low", "high", "above"))
    if isinstance(value, tuple) and bounded and not value:
        raise ConfigError(spec.name, "needs at least one value")
    for item in value if isinstance(value, tuple) else (value,):
        if item is None or isinstance(item, (dict, str, Path, bool)):
            continue
        if meta.get("low") is not None and item < meta["low"]:
            raise ConfigError(spec.name, f"must be at least {meta['low']:g}, got {item:g}")
        if meta.get("high") is not None and item > meta["high"]:
            raise ConfigError(spec.name, f"must be at most {meta['high']:g}, got {item:g}")
        if meta.get("above") is not None and item <= meta["above"]:
            raise ConfigError(spec.name, f"must be more than {meta['above']:g}, got {item:g}")


def _default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or PROJECT_ROOT / ".cache" / "workout-bench")


@dataclass(frozen=True, kw_only=True)
class Config:
    # --- the one-line model switch (what `fit` trains) and what `run` compares ---
    model_name: str = setting("EfficientNetLite0", choices=_models)
    models: tuple[str, ...] = setting(("CustomCNN", "EfficientNetLite0"), choices=_models)
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

    # --- evaluation ---
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

    # --- devices ---
    # TensorFlow uses a GPU by itself when it sees one (pip install 'tensorflow[and-cuda]'). With a
    # GPU, mixed_float16 roughly doubles training throughput; it is ignored on a CPU (slower there).
    mixed_precision: bool = False

    # --- splits ---
    seed: int = 42
    folds: int = setting(5, low=2)
    strategies: tuple[str, ...] = setting(("grouped", "leaky"), choices=_strategies)

    # --- scanning ---
    scan_workers: int = setting(4, low=1)
    strict: bool = False

    # --- demo data ---
    demo_scale: str = setting("small", choices=lambda: tuple(DEMO_SCALES))
    demo_seed: int = 42

    def __post_init__(self) -> None:
        check_fields(self)
        object.__setattr__(self, "model_options", self._checked_model_options())

    def _checked_model_options(self) -> dict[str, dict[str, Any]]:
        """Each model's changed options, parsed and checked by its options class; stored as plain values."""
        from models.registry import model_spec

        checked: dict[str, dict[str, Any]] = {}
        for name, changes in sorted(self.model_options.items()):
            if name not in _models():
                raise ConfigError("model_options", f"must name models among {', '.join(_models())}, got {name!r}")
            if not isinstance(changes, Mapping):
                raise ConfigError(f"model_options.{name}", f"must be a mapping, got {changes!r}")
            options = model_spec(name).make_options(changes)
            checked[name] = {key: _plain(getattr(options, key)) for key in sorted(changes)}
        return checked

    def options_for(self, model: str) -> Any:
        """The model's options: its defaults with what this config changed."""
        from models.registry import model_spec

        return model_spec(model).make_options(self.model_options.get(model, {}))

    def replace(self, **changes: Any) -> Config:
        """A copy with the non-None `changes` applied: the CLI's way of overriding defaults."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Config:
        """The inverse of to_dict (a run directory's config.json); unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def _plain(value: Any) -> Any:
    """JSON-ready: paths as text, tuples as lists, mappings recursively."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


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

# The default `run` on the embedded demo data uses a small budget so it ends in minutes on a laptop;
# on real data the Config defaults above apply. Only fields the user did not set are changed; printed when used.
DEMO_RUN_OVERRIDES: dict[str, Any] = {
    "trials": 2,
    "tuning_subsample": 0.5,  # 633 images: half of an inner training part keeps ~6 frames per class
    "tuning_min_per_class": 1,  # the demo's budget: trials really train on that half
    "inner_folds": 2,
    "model_options": {
        "CustomCNN": {"input_sizes": [32], "base_widths": [16], "max_epochs": 12},
        "EfficientNetLite0": {"max_unfrozen_blocks": 0, "train_positions": ["center"]},
    },
}


def __getattr__(name: str) -> Any:
    """`config.DEFAULT`, built on first use: validating it needs the model registry, whose modules import
    this one (for `check_fields`), so it cannot be built while this module is still loading."""
    if name == "DEFAULT":
        globals()["DEFAULT"] = Config()
        return globals()["DEFAULT"]
    raise AttributeError(f"module 'config' has no attribute {name!r}")
