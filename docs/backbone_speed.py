"""Frozen-backbone extraction cost per image, for choosing the default EfficientNet-Lite backbone.

Median of 3 timings after one untimed pass (with the spread) of the runtime the learner uses (LiteRT on a CPU) over the
decoded, cached crops of DIR; decoding is excluded, as in `perf`.

    .venv/bin/python docs/backbone_speed.py --data ../shared/real-sample
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmark.data.load import load
from benchmark.data.source import DatasetSource
from config import DEFAULT
from models.backbones import backbone
from models.learner import Runtime
from models.transfer import EfficientNetLearner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--backbones", nargs="+", default=[f"EfficientNetLite{n}" for n in range(3)])
    args = parser.parse_args()
    dataset = load(DEFAULT, args.data)
    source = DatasetSource.of(dataset, dataset.class_names, DEFAULT)
    sample = np.arange(len(source.labels))
    for name in args.backbones:
        learner = EfficientNetLearner(backbone(name), {"head": "probe"}, 0, 0, Runtime(DEFAULT.cache_dir))
        figures = learner.speed_figures(source, sample)
        fast = next(key for key in figures if "Keras" not in key)
        figures[fast]()  # a first full pass runs slower (measured ~2x on the first backbone of a process)
        rates = sorted(figures[fast]() for _ in range(3))
        print(f"{name}: {backbone(name).resolution} px, {rates[1]:.1f} img/s ({rates[0]:.1f}-{rates[2]:.1f}), "
              f"{1000 / rates[1]:.1f} ms per view ({fast.split(',')[1].split('(')[0].strip()})")  # fmt: skip


if __name__ == "__main__":
    main()
