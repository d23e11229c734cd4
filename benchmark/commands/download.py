"""`download`: the real dataset from Kaggle (kagglehub), or from a local archive with `--from`."""

from __future__ import annotations

import argparse

from benchmark.data.download import download_dataset, install_dataset
from config import Config


def main(args: argparse.Namespace, config: Config) -> int:
    if args.source:
        out = install_dataset(args.source, args.out, config.image_extensions, force=args.force)
    else:
        out = download_dataset(config.kaggle_dataset, args.out, config.image_extensions, force=args.force)
    print(f"dataset: {out}")
    return 0
