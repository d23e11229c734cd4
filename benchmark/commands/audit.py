"""`audit`: near-duplicate test/train pairs of both strategies' folds, or of a manifest's."""

from __future__ import annotations

import argparse
import json

from benchmark.cv.audit import audit, audit_lines
from benchmark.cv.splitting import assignments_from_manifest, fold_assignment
from benchmark.data.dataset import print_summary
from benchmark.data.load import load_grouped
from config import Config
from splits.manifest import read_manifest


def main(args: argparse.Namespace, config: Config) -> int:
    dataset, agreement = load_grouped(config, args.data)
    print_summary(dataset.summary())
    if args.manifest:
        assignments = assignments_from_manifest(dataset, read_manifest(args.manifest), args.manifest)
    else:
        assignments = {strategy: fold_assignment(dataset, strategy, config) for strategy in config.strategies}
    summary, _ = audit(dataset, config, assignments)
    if args.json:
        extra = {"inferred_groups": agreement} if agreement is not None else {}
        print(json.dumps({**summary, **extra}, indent=2, ensure_ascii=False))
    else:
        print("\n".join(audit_lines(summary)))
    return 0
