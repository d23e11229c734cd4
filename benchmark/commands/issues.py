"""`issues`: the label issues of a finished run (confident learning on its out-of-fold probabilities)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from benchmark.core.errors import BenchmarkError
from benchmark.core.rundir import LABEL_ISSUES, is_run_dir
from benchmark.cv.label_issues import against_truth
from config import Config

SHOWN = 20


def read_issues(run_dir: Path) -> pd.DataFrame:
    path = Path(run_dir) / LABEL_ISSUES
    if not is_run_dir(run_dir):
        raise BenchmarkError(f"{run_dir} is not a run directory")
    if not path.is_file():
        raise BenchmarkError(f"{run_dir} has no {LABEL_ISSUES}: the run has not finished, or predates label issues")
    return pd.read_csv(path, keep_default_na=False)


def main(args: argparse.Namespace, config: Config) -> int:
    issues = read_issues(args.run_dir)
    if args.truth:
        truth = pd.read_csv(args.truth, keep_default_na=False)
        for model, arms in against_truth(issues, truth).items():
            for arm, score in arms.items():
                print(f"{model} {arm}: {score['flagged']} flagged, precision {score['precision']:.3f}, "
                      f"recall {score['recall']:.3f} of {len(truth)} planted")  # fmt: skip
        return 0
    if args.json:
        print(json.dumps(issues.to_dict("records"), indent=2, ensure_ascii=False))
        return 0
    for model, rows in issues.groupby("model", sort=False):
        videos = rows[rows.video_flagged.astype(str) == "True"].group.nunique()
        print(f"{model}: {len(rows)} label issue(s), {videos} whole video(s) against their folder")
        for row in rows.head(SHOWN).itertuples():
            agree = "  (every model agrees)" if str(row.models_agree) == "True" else ""
            print(f"  {row.score:+.3f}  {row.given_label} -> {row.suggested_label}  [{row.arms}]  {row.path}{agree}")
        if len(rows) > SHOWN:
            print(f"  ... {len(rows) - SHOWN} more in {Path(args.run_dir) / LABEL_ISSUES}")
    if issues.empty:
        print("no label issues found")
    return 0
