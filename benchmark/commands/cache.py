"""`cache`: what the on-disk caches hold (`--info`), or free them (`--clear`)."""

from __future__ import annotations

import argparse

from benchmark.data.cache import cache_usage, clear_cache
from config import Config


def main(args: argparse.Namespace, config: Config) -> int:
    root = args.dir or config.cache_dir
    usage = cache_usage(root)
    if args.clear:
        freed = clear_cache(root)
        others = usage.other_files
        kept = f"; {others} file(s) that are not cache entries left as they were" if others else ""
        print(f"cache cleared: {root} ({usage.entries} entries, {freed / 2**20:.1f} MiB freed{kept})")
        return 0
    for row in usage.rows:
        print(f"{row['bytes'] / 2**20:10.1f} MiB {row['files']:8d} files  {row['cache']}")
    print(f"{usage.bytes / 2**20:10.1f} MiB {usage.entries:8d} files  total in {root}")
    if usage.other_files:
        print(f"{usage.other_files} file(s) in {root} are not cache entries (not counted, never cleared)")
    return 0
