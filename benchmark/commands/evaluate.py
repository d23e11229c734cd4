"""`evaluate`: score a saved model directory on a labelled folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmark.core.errors import BenchmarkError
from benchmark.cv.evaluate import classification_metrics, video_scores
from benchmark.data.load import load
from benchmark.data.source import DatasetSource
from config import Config
from models.saved import load_model_dir, training_keys


def evaluate(config: Config, model_dir: Path, data: Path | None) -> dict[str, Any]:
    saved = load_model_dir(model_dir)
    dataset = load(config, data, min_classes=1).with_keys(config.scan_workers)
    unknown = sorted(set(dataset.class_names) - set(saved.class_names))
    if unknown:
        raise BenchmarkError(
            f"{model_dir} was trained on another class set: data class(es) {', '.join(map(repr, unknown[:3]))} "
            f"are not among its {len(saved.class_names)} classes"
        )
    source = DatasetSource.of(dataset, saved.class_names, config)
    proba = saved.predict(source.pixels(saved.preprocess), mirror=config.test_time_mirror)
    metrics = classification_metrics(source.labels, proba, saved.class_names)
    metrics |= video_scores(source.labels, proba, dataset.images["group"].to_numpy())
    metrics["test_time_mirror"] = config.test_time_mirror
    metrics["model_dir"] = str(model_dir)
    metrics["data_dir"] = str(dataset.root)
    trained = training_keys(model_dir)
    # By content: a copy of a training image under another name counts as seen.
    metrics["images_seen_in_training"] = None if trained is None else int(dataset.images["key"].isin(trained).sum())
    metrics["note"] = training_note(metrics)
    return metrics


def training_note(metrics: dict[str, Any]) -> str | None:
    """Said when the model was trained on (some of) these very images: their score flatters it."""
    seen, total = metrics["images_seen_in_training"], metrics["n_images"]
    if not seen:
        return None
    share = f"all {total}" if seen == total else f"{seen} of the {total}"
    return (
        f"note: the model was trained on {share} images scored here: their accuracy says how well it fits "
        "them, not how it does on new videos"
    )


def format_metrics(metrics: dict[str, Any], report: str) -> str:
    return "\n".join(
        [
            *([metrics["note"]] if metrics["note"] else []),
            f"images: {metrics['n_images']}   videos (groups): {metrics['n_videos']}",
            f"accuracy: {metrics['accuracy']:.4f}   balanced accuracy: {metrics['balanced_accuracy']:.4f}   "
            f"macro-F1: {metrics['macro_f1']:.4f}   video accuracy: {metrics['video_accuracy']:.4f}",
            "",
            report.rstrip(),
        ]
    )


def main(args: argparse.Namespace, config: Config) -> int:
    metrics = evaluate(config, args.model_dir, args.data)
    if args.json:
        print(json.dumps({k: v for k, v in metrics.items() if k != "report"}, indent=2, ensure_ascii=False))
    else:
        print(format_metrics(metrics, metrics["report"]))
    return 0
