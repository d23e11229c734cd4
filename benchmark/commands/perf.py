"""`python -m benchmark perf`: what the harness costs at the real dataset's size, measured here.

Generates the demo dataset at the real frame size for each fraction of `--images`, then times each
expensive step against its naive counterpart in the same process on the same arrays, and (unless
`--no-run`) the whole `run` in a subprocess. Figures, not assertions: targets are reported as met
or not, and the JSON keeps every number.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.core.atomic import atomic_write_json
from benchmark.core.environment import machine, now, package_versions
from benchmark.core.errors import BenchmarkError
from benchmark.core.rundir import load_fold_records
from benchmark.data.dataset import load_dataset
from benchmark.data.demo import generate_demo_data
from benchmark.data.source import DatasetSource
from config import Config
from models.custom_cnn import DEFAULTS as CNN_DEFAULTS
from models.efficientnet import DEFAULTS as LITE0_DEFAULTS

MIN_IMAGES = 506  # the real scale's 22 classes x (21 videos of one frame + 2 web images)
SAMPLE_EXTRACT = 256  # images both runtimes extract (decoded once, the same arrays for both)
SAMPLE_TRAIN = 2048  # images both CustomCNN pipelines train on for TRAIN_EPOCHS
TRAIN_EPOCHS = 2
TARGETS = {
    "feature_extraction_speedup": (">=", 3.0),
    "head_trial_s": ("<=", 5.0),
    "custom_cnn_speedup": (">=", 2.0),
    "full_run_hours": ("<=", 8.0),
    "peak_rss_gb": ("<=", 4.0),
}


def _rss_gb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 2**20  # Linux reports KiB


def demo_at(work: Path, images: int, seed: int) -> Path:
    """The real-size demo with exactly `images` images, generated once per size."""
    folder = work / f"data-{images}"
    if not (folder.is_dir() and sum(1 for _ in folder.rglob("*.jpg")) == images):
        generate_demo_data(folder, "real", seed, total_images=images, n_jobs=2)
    return folder


def _source(config: Config, data: Path, cache: Path) -> tuple[DatasetSource, Any]:
    dataset = load_dataset(data, config).with_keys(config.scan_workers)
    return DatasetSource.of(dataset, dataset.class_names, config.replace(cache_dir=cache)), dataset


def measure_decode(source: DatasetSource) -> dict[str, float]:
    from models.preprocess import Preprocess

    spec, everything = Preprocess(size=224, crop="center"), np.arange(len(source.paths))
    started = time.perf_counter()
    for chunk in np.array_split(everything, max(1, len(everything) // 1024)):  # never all pixels in memory
        source.pixels_of(chunk, spec)
    seconds = time.perf_counter() - started
    return {"decode_images_per_s": len(source.paths) / seconds, "decode_s": seconds}


def measure_extraction(config: Config, source: DatasetSource) -> dict[str, float]:
    """LiteRT (what the learner uses) vs Keras `predict(batch_size=32)` of the same model, same arrays."""
    import keras

    from models.preprocess import Preprocess
    from models.transfer import EfficientNetLearner

    options = config.options_for("EfficientNetLite0")
    count = min(SAMPLE_EXTRACT, len(source.paths))
    pixels = source.pixels_of(np.arange(count), Preprocess(size=224, crop="center")).astype(np.float32)
    learner = EfficientNetLearner(
        "EfficientNetLite0", {}, 0, config.seed, source.cache_dir, options.max_unfrozen_blocks
    )
    model = learner.extractor_model()
    model.predict(pixels[:32], batch_size=32, verbose=0)  # build and trace outside the timing
    started = time.perf_counter()
    reference = model.predict(pixels, batch_size=32, verbose=0)
    keras_s = time.perf_counter() - started
    extract = learner.fast_extractor(model)
    extract(pixels[:8])
    started = time.perf_counter()
    fast = extract(pixels)
    fast_s = time.perf_counter() - started
    reference = reference if isinstance(reference, list) else [reference]
    keras.backend.clear_session()
    return {
        "feature_extraction_images_per_s": count / fast_s,
        "keras_predict_images_per_s": count / keras_s,
        "feature_extraction_speedup": keras_s / fast_s,
        "feature_max_abs_difference": float(max(np.abs(a - b).max() for a, b in zip(fast, reference))),
        "feature_extraction_runtime": type(extract).__name__,
    }


def measure_head_trial(config: Config, source: DatasetSource, dataset) -> dict[str, float]:
    """One Optuna trial each, on outer fold 0's training part: the EfficientNet head alone, with one
    block fine-tuned, and the CustomCNN (default parameters, early stopping as in a run)."""
    import optuna

    from benchmark.cv.storage import create_study
    from benchmark.cv.train import ModelPlan
    from benchmark.cv.tune import tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from benchmark.cv.splitting import fold_assignment
    from models.transfer import EfficientNetLearner
    from splits import GROUPED, fold_pairs, inner_folds

    labels, groups = dataset.images["label"].tolist(), dataset.images["group"].tolist()
    train_idx, _ = fold_pairs(fold_assignment(dataset, GROUPED, config))[0]
    inner = inner_folds(labels, groups, train_idx, GROUPED, config.inner_folds, config.seed, 0)
    options = config.options_for("EfficientNetLite0")
    learner = EfficientNetLearner(
        "EfficientNetLite0", {}, 0, config.seed, source.cache_dir, options.max_unfrozen_blocks,
        train_positions=options.train_positions, runtime=config.feature_runtime,
    )  # fmt: skip
    started = time.perf_counter()
    learner.features(source, ("pooled",))  # every view of every image, into the cache (once per dataset)
    cache_s = time.perf_counter() - started
    views = 2 * len(learner.positions)
    results = {"feature_cache_build_s": cache_s, "feature_cache_passes_per_s": views * len(source.paths) / cache_s}
    for name, unfrozen in (("head_trial_s", 0), ("finetune_trial_s", 1)):
        if unfrozen > options.max_unfrozen_blocks:
            continue
        study = create_study(None, "perf", config.seed)
        base = LITE0_DEFAULTS
        params = {"head_dropout": base["head_dropout"], "head_learning_rate": base["head_learning_rate"]}
        if options.max_unfrozen_blocks > 0:
            params |= {"unfrozen_blocks": unfrozen, "finetune_learning_rate": base["finetune_learning_rate"]}
        study.enqueue_trial(params)
        started = time.perf_counter()
        plan = ModelPlan.of(config.replace(cache_dir=source.cache_dir), "EfficientNetLite0", len(dataset.class_names))
        tune(plan, source, inner, study, 1, config.tuning_subsample)
        results[name] = time.perf_counter() - started
    study = create_study(None, "perf", config.seed)
    study.enqueue_trial(CNN_DEFAULTS)
    started = time.perf_counter()
    plan = ModelPlan.of(config.replace(cache_dir=source.cache_dir), "CustomCNN", len(dataset.class_names))
    tune(plan, source, inner, study, 1, config.tuning_subsample)
    results["custom_cnn_trial_s"] = time.perf_counter() - started
    results["custom_cnn_trial_epochs"] = study.trials[0].user_attrs.get("best_epochs_train", 0.0)
    results["tuning_images"] = int(len(train_idx))
    return results


def measure_custom_cnn(config: Config, source: DatasetSource, dataset) -> dict[str, float]:
    """Cached-pixel training (the learner's own pipeline) vs a tf.data pipeline decoding JPEGs every
    epoch, the same model; each after one untimed epoch, so tracing is on neither side."""
    import keras
    import tensorflow as tf

    from models.custom_cnn import CustomCNNLearner, build_custom_cnn
    from models.training import training_dataset

    count = min(SAMPLE_TRAIN, len(source.paths))
    idx = np.sort(np.random.default_rng(config.seed).permutation(len(source.paths))[:count])
    size = config.options_for("CustomCNN").input_size
    hp = {**CNN_DEFAULTS, "input_size": size}
    n_classes, batch = len(dataset.class_names), int(hp["batch_size"])
    pixels = source.pixels(CustomCNNLearner(hp, n_classes, config.seed).preprocess)  # decoded once, as in a run
    cached = training_dataset(pixels[idx], source.labels[idx], batch, config.seed, shuffle=True)

    def decode(path: tf.Tensor, label: tf.Tensor):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        return tf.image.resize(image, (size, size)), label

    paths = [str(source.root / source.paths[i]) for i in idx]
    naive = (
        tf.data.Dataset.from_tensor_slices((paths, source.labels[idx]))
        .shuffle(count, seed=config.seed)
        .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch)
        .prefetch(tf.data.AUTOTUNE)
    )
    seconds = {}
    for name, data in (("cached", cached), ("naive", naive)):
        model = build_custom_cnn(hp, n_classes, config.seed)
        model.compile(
            optimizer=keras.optimizers.Adam(float(hp["learning_rate"])),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        model.fit(data, epochs=1, verbose=0)
        started = time.perf_counter()
        model.fit(data, epochs=TRAIN_EPOCHS, verbose=0)
        seconds[name] = time.perf_counter() - started
        keras.backend.clear_session()
    return {
        "custom_cnn_images_per_s": TRAIN_EPOCHS * count / seconds["cached"],
        "naive_tf_data_images_per_s": TRAIN_EPOCHS * count / seconds["naive"],
        "custom_cnn_speedup": seconds["naive"] / seconds["cached"],
    }


def measure_run(data: Path, work: Path, folds: int, trials: int, extra: list[str]) -> dict[str, Any]:
    """The whole `run` in a fresh interpreter with a cold cache: wall time, stages, peak RSS."""
    cache = work / f"run-cache-{data.name}"
    shutil.rmtree(cache, ignore_errors=True)
    runs = work / "runs"
    run_id = f"perf-{data.name}-f{folds}-t{trials}"
    shutil.rmtree(runs / run_id, ignore_errors=True)
    command = [
        sys.executable, "-m", "benchmark", "run", "--data", str(data), "--folds", str(folds),
        "--trials", str(trials), "--out", str(runs), "--run-id", run_id, "--set", f"cache_dir={json.dumps(str(cache))}",
        *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchmarkError(f"perf: the timed run failed (exit {done.returncode}): {tail}")
    run_dir = runs / run_id
    stages = json.loads((run_dir / "timings.json").read_text())[-1]["stages_s"]
    per_model: dict[str, dict[str, float]] = {}
    for record in load_fold_records(run_dir):
        entry = per_model.setdefault(record["model"], {"tune_s": 0.0, "train_s": 0.0, "evaluate_s": 0.0})
        for key in entry:
            entry[key] += record[key]
    return {
        "run_wall_s": wall,
        "run_stages_s": stages,
        "run_per_model_s": per_model,
        "run_peak_rss_gb": _rss_gb(resource.RUSAGE_CHILDREN),
        "run_dir": str(run_dir),
    }


def measure(
    config: Config,
    images: int,
    fractions: list[float],
    run_fractions: list[float],
    work: Path,
    folds: int,
    trials: int,
    run_extra: list[str],
) -> dict[str, Any]:
    from benchmark.core.environment import configure_devices

    results: dict[str, Any] = {
        "device": configure_devices(config.mixed_precision),  # a GPU, if any, with mixed precision if asked
        "when": now(),
        "machine": machine(),
        "versions": package_versions(),
        "images": images,
        "folds": folds,
        "trials": trials,
        "config": {
            k: config.to_dict()[k] for k in ("tuning_subsample", "feature_runtime", "inner_folds", "model_options")
        },  # fmt: skip
        "by_images": {},
    }
    for fraction in sorted(set(fractions) | set(run_fractions)):
        count = max(MIN_IMAGES, round(images * fraction))
        data = demo_at(work, count, config.demo_seed)
        figures: dict[str, Any] = {"fraction": fraction, "images": count}
        if fraction in fractions:
            cache = work / f"cache-{count}"
            shutil.rmtree(cache, ignore_errors=True)  # cold: decode and extraction measured from scratch
            source, dataset = _source(config, data, cache)
            for step in (measure_decode, measure_extraction):
                figures |= step(config, source) if step is measure_extraction else step(source)
                _print_progress(count, figures)
            figures |= measure_head_trial(config, source, dataset)
            figures |= measure_custom_cnn(config, source, dataset)
            figures["peak_rss_gb"] = _rss_gb(resource.RUSAGE_SELF)
            figures["full_run_estimate"] = estimate_from_steps(figures, config, folds, trials)
            _print_progress(count, figures)
        if fraction in run_fractions:
            figures |= measure_run(data, work, folds, trials, run_extra)
        results["by_images"][str(count)] = figures
    results["full_run"] = project_full_run(results["by_images"], images)
    results["targets"] = targets_met(results)
    return results


def _print_progress(count: int, figures: dict[str, Any]) -> None:
    print(f"perf {count} images: " + ", ".join(f"{k}={_fmt(v)}" for k, v in figures.items()), file=sys.stderr)


def estimate_from_steps(figures: dict[str, Any], config: Config, folds: int, trials: int) -> dict[str, float]:
    """A whole run's time from the step figures, when no run was timed: every trial costs what the
    measured one did (no pruning); a quarter of Lite0 trials train the head only, the rest fine-tune
    (at the 1-block cost); final fits train once on everything for the epochs the trial found."""
    images = figures["images"]
    train = images * (folds - 1) / folds
    scale = train / figures["tuning_images"]  # trials were measured on fold 0's training part
    cnn_trial = figures["custom_cnn_trial_s"] * scale
    cnn_epochs = max(1.0, figures["custom_cnn_trial_epochs"])
    cnn_final = train * cnn_epochs / figures["custom_cnn_images_per_s"]
    lite_trial = (figures["head_trial_s"] + 3 * figures.get("finetune_trial_s", figures["head_trial_s"])) / 4 * scale
    # A trial trains inner_folds fits on a share of (inner_folds - 1) / inner_folds of the training part.
    lite_final = (
        figures.get("finetune_trial_s", figures["head_trial_s"])
        * scale
        / ((config.inner_folds - 1) * config.tuning_subsample)
    )
    positions = config.options_for("EfficientNetLite0").train_positions
    passes = 2 * len(positions)
    prepare = (1 + len(positions)) * images / figures["decode_images_per_s"]
    prepare += passes * images / figures["feature_extraction_images_per_s"]
    units = len(config.strategies) * folds
    seconds = prepare + units * (trials * (cnn_trial + lite_trial) + cnn_final + lite_final)
    return {"hours": seconds / 3600, "prepare_s": prepare, "custom_cnn_trial_s": cnn_trial,
            "custom_cnn_final_s": cnn_final, "lite0_trial_s": lite_trial, "lite0_final_s": lite_final}  # fmt: skip


def project_full_run(by_images: dict[str, dict[str, Any]], images: int) -> dict[str, Any]:
    """Measured when a run used every image; else a least-squares line through the measured runs."""
    points = sorted((int(n), f["run_wall_s"]) for n, f in by_images.items() if "run_wall_s" in f)
    if not points:
        largest = by_images[max(by_images, key=int)]
        bound = largest.get("full_run_estimate")
        if bound is None or int(max(by_images, key=int)) < images:
            return {"hours": None, "how": "not measured (--no-run)"}
        how = "estimated from the measured trials, no run timed (no pruning; fine-tuning at the 1-block cost)"
        return {**bound, "how": how}
    if points[-1][0] >= images:
        return {"hours": points[-1][1] / 3600, "how": f"measured on {points[-1][0]} images"}
    if len(points) < 2:
        return {"hours": None, "how": f"one run ({points[0][0]} images): two sizes are needed to project"}
    counts, seconds = np.array(points, dtype=float).T
    slope, intercept = np.polyfit(counts, seconds, 1)
    exponent = float(np.polyfit(np.log(counts), np.log(seconds), 1)[0])
    return {
        "hours": float(slope * images + intercept) / 3600,
        "how": f"projected linearly from runs on {', '.join(str(int(c)) for c in counts)} images",
        "seconds_per_image": float(slope),
        "growth_exponent": exponent,  # 1.0 = linear in images
    }


def targets_met(results: dict[str, Any]) -> dict[str, Any]:
    largest = results["by_images"][max(results["by_images"], key=int)]
    values = {
        **{key: largest.get(key) for key in ("feature_extraction_speedup", "head_trial_s", "custom_cnn_speedup")},
        "full_run_hours": results["full_run"]["hours"],
        "peak_rss_gb": max(
            (f.get(k, 0.0) for f in results["by_images"].values() for k in ("peak_rss_gb", "run_peak_rss_gb")),
            default=None,
        ),
    }
    verdict = {}
    for key, (sense, limit) in TARGETS.items():
        value = values[key]
        met = None if value is None else (value >= limit if sense == ">=" else value <= limit)
        verdict[key] = {"value": value, "target": f"{sense} {limit:g}", "met": met}
    return verdict


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


ROWS = [
    ("decode_images_per_s", "decode + resize + cache (img/s)"),
    ("feature_extraction_images_per_s", "feature extraction, LiteRT (img/s)"),
    ("keras_predict_images_per_s", "  naive Keras predict, batch 32 (img/s)"),
    ("feature_extraction_speedup", "  speedup (target >= 3)"),
    ("feature_cache_build_s", "feature cache, every view (s)"),
    ("head_trial_s", "EfficientNet head trial (s, target <= 5)"),
    ("finetune_trial_s", "EfficientNet fine-tune trial, 1 block (s)"),
    ("custom_cnn_trial_s", "CustomCNN trial (s)"),
    ("custom_cnn_images_per_s", "CustomCNN training, cached pixels (img/s)"),
    ("naive_tf_data_images_per_s", "  naive tf.data decoding every epoch (img/s)"),
    ("custom_cnn_speedup", "  speedup (target >= 2)"),
    ("peak_rss_gb", "peak RSS, this process (GB)"),
    ("run_wall_s", "full run (s)"),
    ("run_peak_rss_gb", "peak RSS, full run (GB, target <= 4)"),
]


def table(results: dict[str, Any]) -> list[str]:
    sizes = sorted(results["by_images"], key=int)
    lines = [f"| figure | {' | '.join(f'{n} images' for n in sizes)} |", "|---" * (len(sizes) + 1) + "|"]
    for key, label in ROWS:
        cells = [results["by_images"][n].get(key) for n in sizes]
        if any(cell is not None for cell in cells):
            lines.append(f"| {label} | {' | '.join('' if c is None else _fmt(c) for c in cells)} |")
    for n in sizes:
        for stage, seconds in results["by_images"][n].get("run_stages_s", {}).items():
            lines.append(f"| run stage {stage}, {n} images (s) | {_fmt(float(seconds))} |" + " |" * (len(sizes) - 1))
    full = results["full_run"]
    hours = "n/a" if full["hours"] is None else f"{full['hours']:.2f} h"
    lines.append(f"\nfull run at {results['images']} images, --folds {results['folds']} --trials {results['trials']}: "
                 f"{hours} ({full['how']})")  # fmt: skip
    for key, verdict in results["targets"].items():
        state = {True: "met", False: "NOT met", None: "not measured"}[verdict["met"]]
        value = "n/a" if verdict["value"] is None else _fmt(float(verdict["value"]))
        lines.append(f"target {key} {verdict['target']}: {value} -> {state}")
    machine_info = results["machine"]
    lines.append(f"machine: {machine_info['processor']}, {machine_info['usable_cpus']} cores, "
                 f"{machine_info['memory_gb']} GB, GPUs: {', '.join(machine_info['gpus']) or 'none'}")  # fmt: skip
    return lines


def write(results: dict[str, Any], path: Path) -> None:
    atomic_write_json(path, results)


def main(args, config: Config) -> int:
    fractions = sorted(set(args.fractions))
    run_fractions = [] if args.no_run else sorted(set(args.run_fractions))
    if args.images < MIN_IMAGES or any(not 0 < f <= 1 for f in (*fractions, *run_fractions)):
        raise BenchmarkError(f"perf: --images must be at least {MIN_IMAGES} and every fraction in (0, 1]")
    work = args.work or config.cache_dir.parent / "perf"
    run_extra = [arg for pair in args.set for arg in ("--set", pair)]
    results = measure(config, args.images, fractions, run_fractions, work, args.folds, args.trials, run_extra)
    print("\n".join(table(results)))
    if args.json:
        write(results, args.json)
        print(f"figures: {args.json}")
    return 0
