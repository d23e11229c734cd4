"""`run`: the whole benchmark into a run directory, then its report; closes with the headline."""

from __future__ import annotations

import argparse
import sys

from benchmark.core.rundir import REPORT_HTML, REPORT_MARKDOWN, record_invocation
from benchmark.core.timing import StageClock
from benchmark.cv.pipeline import run
from benchmark.data.load import uses_demo_data
from config import Config, demo_budget
from reports import build_report
from reports.text import comparison_sentence, headline, inflation_sentence, tuning_sentence
from splits.names import GROUPED


def main(args: argparse.Namespace, config: Config) -> int:
    if uses_demo_data(config, args.data):
        config, changes = demo_budget(config, args.explicit)
        print(f"demo run budget (config.demo_budget, where not set): {changes}", file=sys.stderr)
    clock = StageClock()
    run_dir, summary = run(config, args.data, args.run_id, args.storage, args.n_jobs, args.timeout, clock)
    build_report(run_dir)  # it shows this invocation as timed so far: finished, its report not yet counted
    clock.lap("report")
    record_invocation(run_dir, clock)
    for line in headline(summary):
        print(line)
    for model, entry in summary["models"].items():
        print(inflation_sentence(model, entry))
    for entry in summary["comparisons"]:
        if entry["metric"] == "accuracy" and entry["strategy"] == GROUPED:
            print(comparison_sentence(entry))
    for model, arms in summary["tuning_gain"].items():
        if GROUPED in arms and summary["trials"]:
            print(tuning_sentence(model, GROUPED, arms[GROUPED]["accuracy"], summary["trials"]))
    print(f"results: {run_dir}  report: {run_dir / REPORT_HTML}  summary: {run_dir / REPORT_MARKDOWN}")
    return 0
