"""`evaluate`: score a saved model directory on a labelled folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmark.core.errors import BenchmarkError
from benchmark.cv.evaluate import classification_metrics
from benchmark.data.load import load
from benchmark.data.source import DatasetSource
from config import Config
from models.saved import load_model_dir


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


def main(args: argparse.Namespace, config: Config) -> int:
    metrics = evaluate(config, args.model_dir, args.data)
    print(json.dumps(metrics, indent=2, ensure_ascii=False) if args.json else format_metrics(metrics))
    return 0
