"""`run`: the whole benchmark into a run directory, then its report; closes with the headline."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from benchmark.core.rundir import record_invocation
from benchmark.core.timing import StageClock
from benchmark.cv.pipeline import run
from benchmark.data.load import uses_demo_data
from config import DEMO_RUN_OVERRIDES, Config
from reports import build_report
from reports.text import headline, inflation_sentence


def demo_budget(config: Config, explicit: set[str]) -> Config:
    """The small demo budget (config.DEMO_RUN_OVERRIDES) for every field the user did not set."""
    changes: dict[str, Any] = {}
    for name, value in DEMO_RUN_OVERRIDES.items():
        if name == "model_options":
            merged = {model: dict(options) for model, options in config.model_options.items()}
            for model, options in value.items():
                for option, setting in options.items():
                    if f"{model}.{option}" not in explicit:
                        merged.setdefault(model, {})[option] = setting
            changes[name] = merged
        elif name not in explicit:
            changes[name] = value
    return config.replace(**changes)


def main(args: argparse.Namespace, config: Config) -> int:
    if uses_demo_data(config, args.data):
        config = demo_budget(config, args.explicit)
        print(f"demo run budget (config.DEMO_RUN_OVERRIDES, where not set): {DEMO_RUN_OVERRIDES}", file=sys.stderr)
    clock = StageClock()
    run_dir, summary = run(config, args.data, args.run_id, args.storage, args.n_jobs, args.timeout, clock)
    build_report(run_dir)
    clock.lap("report")
    record_invocation(run_dir, clock, replace_last=True)
    for line in headline(summary):
        print(line)
    for model, entry in summary["models"].items():
        print(inflation_sentence(model, entry))
    print(f"results: {run_dir}  report: {run_dir / 'report.html'}  summary: {run_dir / 'summary.md'}")
    return 0
