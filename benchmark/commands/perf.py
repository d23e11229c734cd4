"""`perf`: measure speed and memory at the real dataset's size (benchmark/cv/perf.py) and print the table."""

from __future__ import annotations

import argparse

from benchmark.core.errors import BenchmarkError
from benchmark.core.outputs import write_output_json
from benchmark.cv.perf import MIN_IMAGES, measure, table, timed_run, timed_run_lines
from config import Config


def main(args: argparse.Namespace, config: Config) -> int:
    if args.from_run:
        figures = timed_run(args.from_run)
        print("\n".join(timed_run_lines(figures)))
        if args.json:
            write_output_json(args.json, figures, "--json")
            print(f"figures: {args.json}")
        return 0
    fractions = [*args.fractions, *([] if args.no_run else args.run_fractions)]
    if args.images < MIN_IMAGES or any(not 0 < f <= 1 for f in fractions):
        raise BenchmarkError(f"perf: --images must be at least {MIN_IMAGES} and every fraction in (0, 1]")
    if not fractions:
        raise BenchmarkError("perf: nothing to measure: give --fractions or --run-fractions (without --no-run)")
    results = measure(config, args)
    print("\n".join(table(results)))
    if args.json:
        write_output_json(args.json, results, "--json")
        print(f"figures: {args.json}")
    return 0
