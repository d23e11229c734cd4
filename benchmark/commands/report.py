"""`report`: rebuild report.html and summary.md from a run directory alone."""

from __future__ import annotations

import argparse

from config import Config
from reports import build_report


def main(args: argparse.Namespace, config: Config) -> int:
    html_path, markdown_path = build_report(args.run_dir, args.storage)
    print(markdown_path.read_text(encoding="utf-8"), end="")
    print(f"report: {html_path}  summary: {markdown_path}")
    return 0
