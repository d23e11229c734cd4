"""`curve`: accuracy against videos per class, with the leaky arm beside it, and what more videos would buy."""

from __future__ import annotations

import argparse
import sys

from benchmark.core.outputs import write_output_json
from benchmark.core.rundir import REPORT_HTML
from benchmark.cv.curve import curve_lines, run_curve
from benchmark.data.load import uses_demo_data
from config import Config, demo_budget
from reports import build_report


def main(args: argparse.Namespace, config: Config) -> int:
    if "models" not in args.explicit:
        config = config.replace(models=config.curve_models)
    if uses_demo_data(config, args.data):
        config, changes = demo_budget(config, args.explicit)
        print(f"demo run budget (config.demo_budget, where not set): {changes}", file=sys.stderr)
    run_dir, curve = run_curve(config, args.data, args.run_id, args.fractions, args.storage, args.n_jobs, args.timeout)
    build_report(run_dir)
    if args.json:
        write_output_json(args.json, {k: curve[k] for k in ("points", "extrapolation")}, "--json")
    print("\n".join(curve_lines(curve)))
    print(f"results: {run_dir}  report: {run_dir / REPORT_HTML}" + (f"  json: {args.json}" if args.json else ""))
    return 0
