"""`cache`: what the on-disk caches hold (`--info`), or free them (`--clear`)."""

from __future__ import annotations

import argparse

from benchmark.data.cache import cache_usage, clear_cache
from config import Config


def main(args: argparse.Namespace, config: Config) -> int:
    root = args.dir or config.cache_dir
    if args.clear:
        print(f"cache cleared: {root} ({clear_cache(root) / 2**20:.1f} MiB freed)")
        return 0
    rows = cache_usage(root)
    for row in rows:
        print(f"{row['bytes'] / 2**20:10.1f} MiB {row['files']:8d} files  {row['cache']}")
    total = sum(r["bytes"] for r in rows)
    print(f"{total / 2**20:10.1f} MiB {sum(r['files'] for r in rows):8d} files  total in {root}")
    return 0
