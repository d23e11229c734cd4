"""`splits`: the k-fold manifest of one strategy, as a CSV file."""

from __future__ import annotations

import argparse

from benchmark.cv.splitting import write_split
from benchmark.data.dataset import print_summary
from benchmark.data.load import load
from config import Config


def main(args: argparse.Namespace, config: Config) -> int:
    dataset = load(config, args.data)
    print_summary(dataset.summary())
    print(f"manifest: {write_split(dataset, args.strategy, config, args.out)}")
    return 0
