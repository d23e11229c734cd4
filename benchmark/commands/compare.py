"""`compare`: run against run, per model and strategy: paired over the same folds when the runs share them."""

from __future__ import annotations

import argparse

from benchmark.core.atomic import atomic_write_json, atomic_write_text
from benchmark.core.errors import BenchmarkError
from benchmark.core.outputs import check_output_file
from benchmark.cv.compare import compare_runs
from config import Config
from reports.compare import render_comparison
from reports.text import STRATEGY_WORDS, verdict


def main(args: argparse.Namespace, config: Config) -> int:
    if len(args.run_dirs) < 2:
        raise BenchmarkError("compare needs at least two run directories")
    for path, option in ((args.json, "--json"), (args.out, "--out")):
        if path is not None:
            check_output_file(path, option)
    result = compare_runs(args.run_dirs, args.rope)
    for note in result["notes"]:
        print(note)
    for entry in result["comparisons"]:
        if entry["metric"] == "accuracy":
            where = STRATEGY_WORDS.get(entry["strategy"], entry["strategy"])
            print(f"{entry['model']} {where}: {verdict(entry, entry['run_a'], entry['run_b'])}")
    if args.json:
        atomic_write_json(args.json, result)
    if args.out:
        atomic_write_text(args.out, render_comparison(result))
    written = "  ".join(f"{what}: {path}" for what, path in (("json", args.json), ("page", args.out)) if path)
    print(f"compared {len(args.run_dirs)} runs ({'paired' if result['paired'] else 'not all paired'})"
          + (f"  {written}" if written else ""))  # fmt: skip
    return 0
