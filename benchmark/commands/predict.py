"""`predict`: the top-3 classes of images or folders of images, from a saved model directory."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.core.errors import BenchmarkError
from benchmark.core.outputs import write_output
from benchmark.data.images import BadImageError, load_rgb
from config import Config
from models.preprocess import prepare
from models.saved import load_model_dir

BATCH = 64  # images decoded and predicted together: one model call per batch, memory stays flat


def predict(config: Config, model_dir: Path, inputs: list[Path], csv_out: Path | None) -> list[dict[str, Any]]:
    saved = load_model_dir(model_dir)
    rows = []
    paths = expand_inputs(inputs, config.image_extensions)
    for start in range(0, len(paths), BATCH):
        good, arrays = [], []
        for path in paths[start : start + BATCH]:
            try:
                arrays.append(prepare(load_rgb(path, config.max_image_pixels), saved.preprocess))
                good.append(path)
            except (BadImageError, OSError) as error:
                if config.strict:
                    raise BenchmarkError(f"bad image (--strict): {path}: {error}") from None
                print(f"skipped bad image: {path}: {error}", file=sys.stderr)
        if not good:
            continue
        for path, proba in zip(good, saved.predict(np.stack(arrays), mirror=config.test_time_mirror)):
            top = np.argsort(proba)[::-1][:3]
            rows.append({"path": str(path), "top": [(saved.class_names[i], float(proba[i])) for i in top]})
    if not rows:
        raise BenchmarkError(f"no readable image among the {len(paths)} file(s) given: nothing to predict")
    if csv_out is not None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["path", "class_1", "probability_1", "class_2", "probability_2", "class_3", "probability_3"])
        for row in rows:
            writer.writerow([row["path"], *[value for pair in row["top"] for value in (pair[0], f"{pair[1]:.6f}")]])
        write_output(csv_out, buffer.getvalue().encode("utf-8"), "--csv")
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


def main(args: argparse.Namespace, config: Config) -> int:
    rows = predict(config, args.model_dir, args.paths, args.csv)
    if args.json:
        top = [[{"class": name, "probability": p} for name, p in row["top"]] for row in rows]
        print(json.dumps([{"path": row["path"], "top": t} for row, t in zip(rows, top)], indent=2, ensure_ascii=False))
        return 0
    for row in rows:
        print(row["path"] + "\t" + "\t".join(f"{name} {p:.3f}" for name, p in row["top"]))
    if args.csv:
        print(f"predictions: {args.csv}")
    return 0
