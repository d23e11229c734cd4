"""`compare`: run against run, per model and strategy: paired over the same folds when the runs share them."""

from __future__ import annotations

import argparse

from benchmark.core.errors import BenchmarkError
from benchmark.core.outputs import write_output, write_output_json
from benchmark.cv.compare import compare_runs
from config import Config
from reports.compare import render_comparison
from reports.text import STRATEGY_WORDS, verdict


def main(args: argparse.Namespace, config: Config) -> int:
    if len(args.run_dirs) < 2:
        raise BenchmarkError("compare needs at least two run directories")
    result = compare_runs(args.run_dirs, args.rope)
    for note in result["notes"]:
        print(note)
    for entry in result["comparisons"]:
        if entry["metric"] == "accuracy":
            where = STRATEGY_WORDS.get(entry["strategy"], entry["strategy"])
            print(f"{entry['model']} {where}: {verdict(entry, entry['run_a'], entry['run_b'])}")
    if args.json:
        write_output_json(args.json, result, "--json")
    if args.out:
        write_output(args.out, render_comparison(result).encode("utf-8"), "--out")
    written = "  ".join(f"{what}: {path}" for what, path in (("json", args.json), ("page", args.out)) if path)
    print(f"compared {len(args.run_dirs)} runs ({'paired' if result['paired'] else 'not all paired'})"
          + (f"  {written}" if written else ""))  # fmt: skip
    return 0
