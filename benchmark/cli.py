"""`python -m benchmark <command>`: parse options over config.py's defaults, call the stages."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import NoReturn

from benchmark import interrupt, pipeline
from benchmark.dataset import load_dataset, print_summary
from benchmark.demo import generate_demo_data
from benchmark.download import download_dataset, install_dataset
from benchmark.errors import BenchmarkError
from benchmark.summary import headline, inflation_sentence
from config import DEFAULT, DEMO_SCALES, GROUP_SOURCES, Config
from models.errors import ModelError
from models.learners import HEAD_VIEWS, MODEL_NAMES, RUNTIMES
from splits import STRATEGIES, SplitError, read_manifest


class OneLineErrorParser(argparse.ArgumentParser):
    """Bad options get the same one-line `error: ...` and exit code 2 as every other user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="python -m benchmark", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="nested-CV benchmark: grouped vs leaky folds, Optuna tuning inside")
    _data_options(run, required=False)
    run.add_argument("--folds", type=int, help=f"outer folds (default {DEFAULT.folds})")
    run.add_argument("--trials", type=int, help=f"Optuna trials per outer fold (default {DEFAULT.trials})")
    run.add_argument("--models", nargs="+", choices=MODEL_NAMES, help=f"default: {' '.join(DEFAULT.models)}")
    run.add_argument("--strategies", nargs="+", choices=STRATEGIES, help="split strategies to compare")
    _groups_option(run)
    run.add_argument("--storage", help="Optuna RDB URL (default: SQLite optuna.db in the run directory)")
    run.add_argument("--n-jobs", type=int, default=1, help="outer folds run in parallel (joblib processes)")
    run.add_argument("--timeout", type=float, help="seconds of tuning per outer fold (Optuna's timeout)")
    _set_option(run)
    run.add_argument("--run-id", help="name of the run directory (default: derived from data and config)")
    run.add_argument("--out", type=Path, help=f"parent of the run directory (default {DEFAULT.runs_dir})")

    worker = commands.add_parser("worker", help="join a run through its shared Optuna storage and run its trials")
    worker.add_argument("--storage", required=True, help="the run's Optuna RDB URL, e.g. postgresql://user@host/db")
    worker.add_argument("--run-id", required=True, help="the run to join (its directory under --out)")
    worker.add_argument("--out", type=Path, help=f"parent of the run directory (default {DEFAULT.runs_dir})")
    worker.add_argument("--wait", type=float, default=600, help="seconds to wait for the run to appear (default 600)")

    audit = commands.add_parser("audit", help="near-duplicate images across the splits (pHash + backbone embeddings)")
    _data_options(audit, required=True)
    audit.add_argument("--manifest", type=Path, help="audit this manifest's folds (default: both strategies' folds)")
    audit.add_argument("--folds", type=int, help=f"number of folds when no manifest is given (default {DEFAULT.folds})")
    _groups_option(audit)
    audit.add_argument("--json", action="store_true", help="print one JSON object: per strategy near_duplicate_share")
    _set_option(audit)

    report = commands.add_parser("report", help="rebuild report.html and summary.md from a run directory")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    report.add_argument("--storage", help="Optuna RDB URL, when the run used a server rather than its optuna.db")

    cache = commands.add_parser("cache", help="show (--info, the default) or delete (--clear) the on-disk caches")
    action = cache.add_mutually_exclusive_group()
    action.add_argument("--info", action="store_true", help="entries and size per cache folder")
    action.add_argument("--clear", action="store_true", help="delete every cached entry (all are recomputable)")
    cache.add_argument("--dir", type=Path, help=f"cache folder (default {DEFAULT.cache_dir})")

    scan = commands.add_parser("scan", help="scan a dataset and print its summary")
    _data_options(scan, required=False)
    scan.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    splits = commands.add_parser("splits", help="write the k-fold manifest of one strategy")
    _data_options(splits, required=True)
    splits.add_argument("--folds", type=int, help=f"number of folds (default {DEFAULT.folds})")
    splits.add_argument("--strategy", choices=STRATEGIES, required=True)
    splits.add_argument("--out", type=Path, required=True, help="manifest CSV to write")
    _groups_option(splits)

    fit = commands.add_parser("fit", help="tune (with grouped inner folds) and train a final model on all of DIR")
    _data_options(fit, required=False)
    fit.add_argument("--model", help=f"model to train (default {DEFAULT.model_name})")
    fit.add_argument("--out", type=Path, required=True, help="model directory to write")
    fit.add_argument("--trials", type=int, default=0, help="Optuna trials before the final training (default 0)")
    _set_option(fit)

    evaluate = commands.add_parser("evaluate", help="score a model directory on a labelled folder")
    evaluate.add_argument("--model-dir", type=Path, required=True)
    _data_options(evaluate, required=False)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")

    predict = commands.add_parser("predict", help="top-3 classes of images or folders of images")
    predict.add_argument("--model-dir", type=Path, required=True)
    predict.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    predict.add_argument("--csv", type=Path, help="also write the predictions to this CSV file")
    predict.add_argument("--strict", action="store_true", default=None, help="stop at the first bad image (exit 2)")

    demo = commands.add_parser("demo-data", help="generate the synthetic exercise-video dataset")
    demo.add_argument("--out", type=Path, default=DEFAULT.demo_dir)
    demo.add_argument("--seed", type=int, default=DEFAULT.demo_seed)
    demo.add_argument("--scale", choices=sorted(DEMO_SCALES), default=DEFAULT.demo_scale)
    demo.add_argument("--images", type=int, help="exact number of images (overrides the scale's total)")
    demo.add_argument("--jobs", type=int, default=1, help="worker processes")
    demo.add_argument("--preview", type=Path, help="also save a PNG of sample frames (two videos per class)")

    download = commands.add_parser("download", help="fetch the real dataset from Kaggle with kagglehub")
    download.add_argument("--out", type=Path, default=DEFAULT.data_dir)
    download.add_argument("--from", dest="source", type=Path, help="install from a local archive or folder instead")

    perf = commands.add_parser("perf", help="measure speed and memory at the real dataset's size (prints a table)")
    perf.add_argument("--images", type=int, default=13_853, help="images of the generated dataset (default 13853)")
    perf.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    perf.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0],
                      help="shares of --images to measure the steps on (default 0.25 0.5 1.0)")  # fmt: skip
    perf.add_argument("--run-fractions", type=float, nargs="*", default=[0.25, 0.5],
                      help="shares of --images to time a whole run on; the full size is projected from them "
                      "(default 0.25 0.5; add 1.0 to measure it outright; none: --no-run)")  # fmt: skip
    perf.add_argument("--no-run", action="store_true", help="skip the timed runs (the steps only)")
    perf.add_argument("--folds", type=int, default=5, help="outer folds of the timed runs (default 5)")
    perf.add_argument("--trials", type=int, default=10, help="trials per fold of the timed runs (default 10)")
    perf.add_argument("--work", type=Path, help="folder for generated data, caches and runs (default .cache/perf)")
    perf.add_argument("--seed", type=int, help=f"seed of every random choice (default {DEFAULT.seed})")
    _set_option(perf)
    return parser


def _data_options(parser: argparse.ArgumentParser, required: bool) -> None:
    default = "" if required else f" (default {DEFAULT.data_dir}, else the demo data)"
    parser.add_argument("--data", type=Path, required=required, help=f"folder with one sub-folder per class{default}")
    parser.add_argument("--seed", type=int, help=f"seed of every random choice (default {DEFAULT.seed})")
    parser.add_argument("--strict", action="store_true", default=None, help="stop at the first bad image (exit 2)")


def _groups_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--groups",
        choices=GROUP_SOURCES,
        help="names: video ids from file names (default); infer: near-duplicate clusters found in the pixels",
    )


def _set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any field of config.Config, e.g. --set custom_cnn_input_size=96 (JSON values)",
    )


def parse_overrides(pairs: list[str]) -> dict:
    fields = {f.name: f for f in dataclasses.fields(Config)}
    overrides = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or key not in fields:
            raise BenchmarkError(f"--set {pair!r}: expected KEY=VALUE with KEY one of: {', '.join(sorted(fields))}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        current = getattr(DEFAULT, key)
        if isinstance(current, tuple):
            value = tuple(value) if isinstance(value, list) else (value,)
        elif isinstance(current, Path) or key.endswith(("_dir", "_file")):
            value = Path(value)
        overrides[key] = value
    return overrides


def config_from(args: argparse.Namespace) -> Config:
    base = DEFAULT.replace(**parse_overrides(getattr(args, "set", [])))
    return checked(
        base.replace(
            seed=getattr(args, "seed", None),
            folds=getattr(args, "folds", None),
            strict=getattr(args, "strict", None),
            strategies=tuple(args.strategies) if getattr(args, "strategies", None) else None,
            models=tuple(args.models) if getattr(args, "models", None) else None,
            trials=getattr(args, "trials", None),
            groups=getattr(args, "groups", None),
            runs_dir=getattr(args, "out", None) if args.command == "run" else None,
        )
    )


def checked(config: Config) -> Config:
    """Options that would otherwise fail deep inside a run, refused before any work starts."""
    unknown = [m for m in (*config.models, config.model_name) if m not in MODEL_NAMES]
    if unknown:
        raise BenchmarkError(f"unknown model {unknown[0]!r}: choose from {', '.join(MODEL_NAMES)}")
    if config.groups not in GROUP_SOURCES:
        raise BenchmarkError(f"unknown group source {config.groups!r}: choose from {', '.join(GROUP_SOURCES)}")
    strategies = [s for s in config.strategies if s not in STRATEGIES]
    if strategies or not config.strategies:
        raise BenchmarkError(f"unknown split strategy {strategies[:1]}: choose from {', '.join(STRATEGIES)}")
    if not 0 < config.tuning_subsample <= 1:
        raise BenchmarkError(f"--set tuning_subsample must be in (0, 1], got {config.tuning_subsample}")
    if config.tuning_head_views not in HEAD_VIEWS:
        raise BenchmarkError(
            f"unknown tuning_head_views {config.tuning_head_views!r}: choose from {', '.join(HEAD_VIEWS)}"
        )
    if config.feature_runtime not in RUNTIMES:
        raise BenchmarkError(f"unknown feature_runtime {config.feature_runtime!r}: choose from {', '.join(RUNTIMES)}")
    for name, least in (("folds", 2), ("inner_folds", 2), ("trials", 0), ("scan_workers", 1)):
        if getattr(config, name) < least:
            label = f"--{name}" if name in ("folds", "trials") else f"--set {name}"
            raise BenchmarkError(f"{label} must be at least {least}, got {getattr(config, name)}")
    return config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Ctrl-C and SIGTERM stop at the next safe point: finished trials and folds are already on disk.
    interrupt.install()
    try:
        return _dispatch(args)
    except (BenchmarkError, SplitError, ModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: results written so far are kept; run the same command again to go on", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    config = config_from(args)
    if args.command == "run":
        if args.n_jobs < 1:
            raise BenchmarkError(f"--n-jobs must be at least 1, got {args.n_jobs}")
        if args.trials is not None and args.trials < 0:
            raise BenchmarkError(f"--trials must be 0 or more, got {args.trials}")
        run_dir, summary = pipeline.run(config, args.data, args.run_id, args.storage, args.n_jobs, args.timeout)
        for line in headline(summary):
            print(line)
        for model, entry in summary["models"].items():
            print(inflation_sentence(model, entry))
        print(f"results: {run_dir}  report: {run_dir / 'report.html'}  summary: {run_dir / 'summary.md'}")
    elif args.command == "worker":
        from benchmark.worker import run_worker

        run_dir = (args.out or config.runs_dir) / args.run_id
        trials = run_worker(args.storage, run_dir, args.wait)
        print(f"worker done: {trials} trial(s) run here; every study of {run_dir} has its budget")
    elif args.command == "audit":
        from benchmark import audit

        dataset, agreement = pipeline.load_grouped(config, args.data)
        print_summary(dataset.summary())
        if args.manifest:
            folds = pipeline.folds_from_manifest(dataset, read_manifest(args.manifest), args.manifest)
        else:
            folds = {strategy: pipeline.fold_assignment(dataset, strategy, config) for strategy in config.strategies}
        summary, _ = audit.audit(dataset, config, folds)
        if args.json:
            extra = {"inferred_groups": agreement} if agreement is not None else {}
            print(json.dumps({**summary, **extra}, indent=2, ensure_ascii=False))
        else:
            print("\n".join(audit.audit_lines(summary)))
    elif args.command == "report":
        from reports import build_report

        html_path, markdown_path = build_report(args.run_dir, args.storage)
        print(markdown_path.read_text(encoding="utf-8"), end="")
        print(f"report: {html_path}  summary: {markdown_path}")
    elif args.command == "cache":
        from benchmark.cache import cache_usage, clear_cache

        root = args.dir or config.cache_dir
        if args.clear:
            print(f"cache cleared: {root} ({clear_cache(root) / 2**20:.1f} MiB freed)")
        else:
            rows = cache_usage(root)
            for row in rows:
                print(f"{row['bytes'] / 2**20:10.1f} MiB {row['files']:8d} files  {row['cache']}")
            total = sum(r["bytes"] for r in rows)
            print(f"{total / 2**20:10.1f} MiB {sum(r['files'] for r in rows):8d} files  total in {root}")
    elif args.command == "scan":
        dataset = pipeline.load(config, args.data)
        summary = dataset.summary()
        if args.json:
            print(json.dumps(summary, indent=2, ensure_ascii=False))
        else:
            print("\n".join(pipeline.summary_lines(summary)))
    elif args.command == "splits":
        manifest = pipeline.write_split(config, args.data, args.strategy, args.out)
        print(f"manifest: {manifest}")
    elif args.command == "fit":
        if args.trials < 0:
            raise BenchmarkError(f"--trials must be 0 or more, got {args.trials}")
        from benchmark import modelcmds

        meta = modelcmds.fit(config, args.data, args.model or config.model_name, args.out, args.trials)
        print(
            f"model: {args.out} ({meta['model_name']}, {meta['trained_on']['n_images']} images, {meta['duration_s']} s)"
        )
    elif args.command == "evaluate":
        from benchmark import modelcmds

        metrics = modelcmds.evaluate(config, args.model_dir, args.data)
        print(modelcmds.to_json(metrics) if args.json else modelcmds.format_metrics(metrics))
    elif args.command == "predict":
        from benchmark import modelcmds

        rows = modelcmds.predict(config, args.model_dir, args.paths, args.csv)
        for row in rows:
            print(row["path"] + "\t" + "\t".join(f"{name} {p:.3f}" for name, p in row["top"]))
        if args.csv:
            print(f"predictions: {args.csv}")
    elif args.command == "demo-data":
        out = generate_demo_data(args.out, args.scale, args.seed, args.images, args.jobs)
        print(f"demo data: {out}")
        if args.preview:
            from benchmark.preview import save_preview

            title = "Demo data: per class, two frames of one video | two frames of another video"
            print(f"preview: {save_preview(load_dataset(out, config), args.preview, title)}")
    elif args.command == "perf":
        from benchmark import perf

        fractions = sorted(set(args.fractions))
        run_fractions = [] if args.no_run else sorted(set(args.run_fractions))
        if args.images < perf.MIN_IMAGES or any(not 0 < f <= 1 for f in (*fractions, *run_fractions)):
            raise BenchmarkError(f"perf: --images must be at least {perf.MIN_IMAGES} and every fraction in (0, 1]")
        work = args.work or config.cache_dir.parent / "perf"
        run_extra = [arg for pair in args.set for arg in ("--set", pair)]
        results = perf.measure(config, args.images, fractions, run_fractions, work, args.folds, args.trials, run_extra)
        print("\n".join(perf.table(results)))
        if args.json:
            perf.write(results, args.json)
            print(f"figures: {args.json}")
    elif args.command == "download":
        if args.source:
            out = install_dataset(args.source, args.out, config.image_extensions)
        else:
            out = download_dataset(config.kaggle_dataset, args.out, config.image_extensions)
        print(f"dataset: {out}")
    return 0
