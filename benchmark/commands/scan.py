"""`scan`: the data summary of a dataset (images, classes, videos, bad files)."""

from __future__ import annotations

import argparse
import json

from benchmark.data.dataset import summary_lines
from benchmark.data.load import load
from config import Config


def main(args: argparse.Namespace, config: Config) -> int:
    # The content keys too: the data's fingerprint, and files whose bytes are filed under two classes.
    summary = load(config, args.data, min_classes=1).with_keys(config.scan_workers).summary()
    print(json.dumps(summary, indent=2, ensure_ascii=False) if args.json else "\n".join(summary_lines(summary)))
    return 0
