"""CustomCNN training and prediction throughput per architecture, for sizing its default search space.

One epoch of 1,024 random images (and a mirrored prediction of them) after an untimed warm-up that
traces the graphs, the median of 3 timings with the spread, through the trainer every fit uses.

    .venv/bin/python docs/cnn_speed.py 48/16 64/16 48/24 64/24 64/32 96/16
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from models.custom_cnn import DEFAULTS, CustomCNNLearner, trainer_for
from models.learner import FitResult

IMAGES, CLASSES, REPEATS = 1024, 22, 3


def throughput(size: int, width: int) -> tuple[list[float], list[float]]:
    learner = CustomCNNLearner({**DEFAULTS, "input_size": size, "base_width": width, "epochs": 1}, CLASSES, 0)
    trainer = trainer_for(learner.arch, 0)
    x = np.random.default_rng(0).integers(0, 256, (IMAGES, size, size, 3), dtype=np.uint8)
    y = np.arange(IMAGES) % CLASSES
    weights = trainer.fit(x[:64], y[:64], None, learner.settings(), 0, FitResult(), "train")
    trainer.predict_proba(x[:64], weights, mirror=True)
    train, predict = [], []
    for _ in range(REPEATS):
        started = time.perf_counter()
        weights = trainer.fit(x, y, None, learner.settings(), 0, FitResult(), "train")
        train.append(IMAGES / (time.perf_counter() - started))
        started = time.perf_counter()
        trainer.predict_proba(x, weights, mirror=True)
        predict.append(IMAGES / (time.perf_counter() - started))
    return train, predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("architectures", nargs="+", help="input size/first-block width, e.g. 64/16")
    args = parser.parse_args()
    for text in args.architectures:
        size, width = (int(part) for part in text.split("/"))
        train, predict = throughput(size, width)
        print(f"{size} px, width {width}: training {spread(train)}, prediction with mirror {spread(predict)}")


def spread(values: list[float]) -> str:
    return f"{np.median(values):.0f} img/s ({min(values):.0f}-{max(values):.0f})"


if __name__ == "__main__":
    main()
