"""The commands around one final model: fit (tune + train on all data), evaluate, predict."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.atomic import atomic_write_text
from benchmark.dataset import print_summary
from benchmark.environment import configure_devices, package_versions
from benchmark.errors import BenchmarkError
from benchmark.images import BadImageError, load_rgb
from benchmark.metrics import classification_metrics
from benchmark.pipeline import load
from benchmark.source import DatasetSource
from benchmark.tune import create_study, final_hyperparameters, make_learner, tune
from config import Config
from models.learners import MODEL_NAMES
from models.preprocess import prepare
from models.saved import load_model_dir, save_model_dir
from splits import GROUPED, assign_folds, fold_pairs


def fit(config: Config, data: Path | None, model_name: str, out: Path, trials: int) -> dict[str, Any]:
    if model_name not in MODEL_NAMES:
        raise BenchmarkError(f"unknown --model {model_name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    started = time.time()
    print(configure_devices(config.mixed_precision), file=sys.stderr)
    dataset = load(config, data)
    print_summary(dataset.summary())
    classes = dataset.class_names
    source = DatasetSource.of(dataset, classes, config)
    study = None
    if trials > 0:
        folds = assign_folds(
            dataset.images["label"].to_numpy(),
            dataset.images["group"].to_numpy(),
            GROUPED,
            config.inner_folds,
            config.seed,
        )
        study = create_study(None, f"fit-{model_name}", config.seed)
        tune(config, model_name, source, len(classes), fold_pairs(folds), trials, study, config.seed)
    hp = final_hyperparameters(model_name, study)
    learner = make_learner(config, model_name, hp, len(classes), config.seed)
    learner.fit(source, np.arange(len(source.labels)))
    meta = {
        "model_name": model_name,
        "hyperparameters": hp,
        "trials": trials,
        "best_inner_accuracy": None if study is None or not study.best_trials else study.best_value,
        "trained_on": {"data_dir": str(dataset.root), "n_images": int(len(source.labels))},
        "config": config.to_dict(),
        "seed": config.seed,
        "duration_s": round(time.time() - started, 1),
        "versions": package_versions(),
    }
    save_model_dir(out, learner.export_model(), classes, learner.preprocess, meta)
    return meta


def evaluate(config: Config, model_dir: Path, data: Path | None) -> dict[str, Any]:
    saved = load_model_dir(model_dir)
    dataset = load(config, data)
    unknown = sorted(set(dataset.class_names) - set(saved.class_names))
    if unknown:
        raise BenchmarkError(
            f"{model_dir} was trained on another class set: data class(es) {', '.join(map(repr, unknown[:3]))} "
            f"are not among its {len(saved.class_names)} classes"
        )
    source = DatasetSource.of(dataset, saved.class_names, config)
    proba = saved.predict(source.pixels(saved.preprocess))
    metrics = classification_metrics(source.labels, proba, saved.class_names)
    metrics["model_dir"] = str(model_dir)
    metrics["data_dir"] = str(dataset.root)
    return metrics


def predict(config: Config, model_dir: Path, inputs: list[Path], csv_out: Path | None) -> list[dict[str, Any]]:
    saved = load_model_dir(model_dir)
    rows = []
    for path in expand_inputs(inputs, config.image_extensions):
        try:
            pixels = prepare(load_rgb(path), saved.preprocess)[None]
        except (BadImageError, OSError) as error:
            if config.strict:
                raise BenchmarkError(f"bad image (--strict): {path}: {error}") from None
            print(f"skipped bad image: {path}: {error}", file=sys.stderr)
            continue
        proba = saved.predict(pixels)[0]
        top = np.argsort(proba)[::-1][:3]
        rows.append({"path": str(path), "top": [(saved.class_names[i], float(proba[i])) for i in top]})
    if csv_out is not None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["path", "class_1", "probability_1", "class_2", "probability_2", "class_3", "probability_3"])
        for row in rows:
            writer.writerow([row["path"], *[value for pair in row["top"] for value in (pair[0], f"{pair[1]:.6f}")]])
        atomic_write_text(csv_out, buffer.getvalue())
    return rows


def expand_inputs(inputs: list[Path], extensions: tuple[str, ...]) -> list[Path]:
    wanted = {e.lower() for e in extensions}
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found.extend(
                sorted(
                    p
                    for p in item.rglob("*")
                    if p.is_file()
                    and p.suffix.lower() in wanted
                    and not any(part.startswith(".") for part in p.relative_to(item).parts)
                )
            )
        elif item.is_file():
            found.append(item)
        else:
            raise BenchmarkError(f"no such image or folder: {item}")
    if not found:
        raise BenchmarkError("no images found in: " + ", ".join(map(str, inputs)))
    return found


def format_metrics(metrics: dict[str, Any]) -> str:
    lines = [
        f"images: {metrics['n_images']}",
        f"accuracy: {metrics['accuracy']:.4f}   balanced accuracy: {metrics['balanced_accuracy']:.4f}   "
        f"macro-F1: {metrics['macro_f1']:.4f}",
        f"{'class':<24} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>5}",
    ]
    for name, row in metrics["per_class"].items():
        if row["support"]:
            lines.append(
                f"{name:<24} {row['precision']:9.3f} {row['recall']:7.3f} {row['f1']:6.3f} {row['support']:5d}"
            )
    return "\n".join(lines)


def to_json(metrics: dict[str, Any]) -> str:
    return json.dumps(metrics, indent=2, ensure_ascii=False)
