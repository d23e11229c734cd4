"""`python -m benchmark <command>`: parse options over config.py's defaults, run one command.

Each command lives in its own module under benchmark/commands/, imported only when it runs: this
module and what it imports (config, the model registry, the split names) load no TensorFlow,
scikit-learn or pandas, so `--help` answers at once.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import sys
import typing
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

from benchmark.commands.paths import (
    CACHE_FOLDER,
    DATA_IN,
    DATASET_OUT,
    DEMO_OUT,
    FILE_OUT,
    MODEL_IN,
    MODEL_OUT,
    PERF_WORK,
    READ,
    RUN_ID,
    RUN_IN,
    RUNS_PARENT,
    check_command_paths,
    require_path_roles,
)
from benchmark.core import interrupt
from benchmark.core.errors import DISK_ERRNOS, BenchmarkError, OutputError
from benchmark.core.fields import ConfigError, parse_value
from benchmark.core.secrets import redact
from benchmark.data.demo_scales import DEMO_SCALES
from config import DEFAULT, EXCLUDE_FROM, GROUP_SOURCES, Config
from models.errors import ModelError
from models.registry import check_plugins, model_names
from splits.names import STRATEGIES

DESCRIPTION = (
    "Grouped vs leaky k-fold benchmarks for workout-exercise image classifiers: how much of your accuracy "
    "is frames of the same video on both sides of the split."
)
# Command -> the module under benchmark/commands/ whose `main(args, config)` runs it.
COMMANDS = {
    "run": "run",
    "worker": "worker",
    "audit": "audit",
    "report": "report",
    "cache": "cache",
    "scan": "scan",
    "splits": "splits",
    "fit": "fit",
    "evaluate": "evaluate",
    "predict": "predict",
    "demo-data": "demo",
    "download": "download",
    "perf": "perf",
    "curve": "curve",
    "compare": "compare",
    "issues": "issues",
}
# What each command writes, and where, and one example line: the end of its --help.
WRITES_AND_EXAMPLE = {
    "run": ("a run directory under --out (default runs/): config, manifests, fold records, results.csv, "
            "summary.json, report.html", "run --folds 5 --models CustomCNN --trials 10 --run-id cnn10"),
    "curve": ("a run directory like run's, with one part per fraction, curve.json and its report",
              "curve --fractions 0.25 0.5 1.0 --json curve.json"),
    "issues": ("nothing: prints the run's label_issues.csv, strongest first", "issues runs/demo-k5-s42-1234abcd"),
    "compare": ("nothing unless asked: --json FILE, --out HTML", "compare runs/cnn10 runs/cnn30 --out compare.html"),
    "worker": ("whole outer fold tasks into the run directory (records, predictions) and their trials into the "
               "storage", "worker --storage postgresql://bench@db/workout "
               "--run-id shared"),
    "audit": ("nothing: prints the shares and the worst pairs (--json: one JSON object)", "audit --data DIR --json"),
    "report": ("report.html and summary.md in RUN_DIR", "report runs/cnn10"),
    "cache": ("nothing (--info); --clear deletes cache entries only, never other files", "cache --info"),
    "scan": ("nothing: prints the data summary", "scan --data data/workout-images --json"),
    "splits": ("the manifest CSV at --out", "splits --data DIR --strategy grouped --out grouped.csv"),
    "fit": ("a model directory at --out (model.keras, meta.json, training_images.txt)",
            "fit --data DIR --out my-model --model EfficientNetLite0"),
    "evaluate": ("nothing: prints the metrics (--json: one JSON object)", "evaluate --model-dir my-model --data DIR"),
    "predict": ("nothing unless --csv FILE", "predict --model-dir my-model photo.jpg folder/ --csv top3.csv"),
    "demo-data": ("the demo dataset at --out (replacing only a demo folder of its own), with --mislabel its "
                  "mislabelled.csv, --preview PNG",
                  "demo-data --out data/demo --scale small"),
    "download": ("the class folders at --out (default data/workout-images)", "download --from archive.zip"),
    "perf": ("generated data, caches and runs under --work (default .cache/perf); --json FILE",
             "perf --fractions --run-fractions 0.1 0.25 --json perf.json"),
}  # fmt: skip
# Commands that train or predict: TensorFlow is imported first, once, with its start-up noise filtered.
TENSORFLOW_COMMANDS = {"run", "worker", "audit", "fit", "evaluate", "predict", "perf", "curve"}
# Options that set a Config field (option dest -> field); `--set KEY=VALUE` reaches every other field.
OPTION_FIELDS = {
    "exclude": "exclude",
    "exclude_from": "exclude_from",
    "seed": "seed",
    "folds": "folds",
    "repeats": "repeats",
    "strict": "strict",
    "strategies": "strategies",
    "models": "models",
    "trials": "trials",
    "groups": "groups",
}


class OneLineErrorParser(argparse.ArgumentParser):
    """Bad options get the same one-line `error: ...` and exit code 2 as every other user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def program_name() -> str:
    """What the user typed: `workout-bench` for the console script, else `python -m benchmark`."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name and name not in ("__main__.py", "-m", "-c") else "python -m benchmark"


def _version() -> str:
    try:
        return version("workout-bench")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog=prog or program_name(), description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="nested-CV benchmark: grouped vs leaky folds, Optuna tuning inside")
    _run_options(run, f"default: {' '.join(DEFAULT.models)}")

    curve = commands.add_parser("curve", help="learning curve: accuracy vs videos per class, and what more would buy")
    _run_options(curve, f"default: {' '.join(DEFAULT.curve_models)} (config.curve_models)")
    curve.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0],
                       help="shares of each class's training videos (default 0.25 0.5 0.75 1.0)")  # fmt: skip
    curve.add_argument("--json", type=FILE_OUT, help="also write the points and the extrapolation to this file")
    _force_option(curve)

    compare = commands.add_parser("compare", help="run against run: paired tests over the same outer folds")
    compare.add_argument("run_dirs", type=RUN_IN, nargs="+", metavar="RUN_DIR",
                         help="two or more run directories; each after the first is compared with it")  # fmt: skip
    compare.add_argument("--json", type=FILE_OUT, help="also write every comparison to this JSON file")
    compare.add_argument("--out", type=FILE_OUT, help="also write an HTML page of the comparison to this file")
    _force_option(compare)
    compare.add_argument(
        "--rope", type=float, help="region of practical equivalence, accuracy units (default: the first run's)"
    )

    issues = commands.add_parser("issues", help="images whose label looks wrong, from a run's out-of-fold predictions")
    issues.add_argument("run_dir", type=RUN_IN, metavar="RUN_DIR", help="a run directory that `run` made")
    issues.add_argument("--json", action="store_true", help="print every issue as one JSON list")
    issues.add_argument("--truth", type=READ, help="score the issues against planted errors (demo-data --mislabel's "
                        "mislabelled.csv): precision and recall per model and arm")  # fmt: skip

    worker = commands.add_parser(
        "worker", help="join a run through its shared Optuna storage and take whole outer fold tasks"
    )
    worker.add_argument("--storage", required=True, help="the run's Optuna RDB URL, e.g. postgresql://user@host/db")
    worker.add_argument("--run-id", type=RUN_ID, required=True, help="the run to join (its directory under --out)")
    worker.add_argument("--out", type=RUNS_PARENT, help=f"parent of the run directory (default {DEFAULT.runs_dir})")
    worker.add_argument("--wait", type=float, default=600, help="seconds to wait for the run to appear (default 600)")

    audit = commands.add_parser("audit", help="near-duplicate images across the splits (pHash + backbone embeddings)")
    _data_options(audit, required=True)
    audit.add_argument("--manifest", type=READ, help="audit this manifest's folds (default: both strategies' folds)")
    audit.add_argument("--folds", type=int, help=f"number of folds when no manifest is given (default {DEFAULT.folds})")
    _groups_option(audit)
    audit.add_argument("--json", action="store_true", help="print one JSON object: per strategy near_duplicate_share")
    _set_option(audit)

    report = commands.add_parser("report", help="rebuild report.html and summary.md from a run directory")
    report.add_argument("run_dir", type=RUN_IN, metavar="RUN_DIR", help="a run directory that `run` or `curve` made")
    report.add_argument("--storage", help="Optuna RDB URL, when the run used a server rather than its optuna.db")

    cache = commands.add_parser("cache", help="show (--info, the default) or delete (--clear) the on-disk caches")
    action = cache.add_mutually_exclusive_group()
    action.add_argument("--info", action="store_true", help="entries and size per cache folder")
    action.add_argument("--clear", action="store_true", help="delete every cached entry (all are recomputable)")
    cache.add_argument("--dir", type=CACHE_FOLDER, help=f"cache folder (default {DEFAULT.cache_dir})")

    scan = commands.add_parser("scan", help="scan a dataset and print its summary")
    _data_options(scan, required=False)
    scan.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    _set_option(scan)

    splits = commands.add_parser("splits", help="write the k-fold manifest of one strategy")
    _data_options(splits, required=True)
    splits.add_argument("--folds", type=int, help=f"number of folds (default {DEFAULT.folds})")
    splits.add_argument("--strategy", choices=STRATEGIES, required=True, help="grouped: by video; leaky: at random")
    splits.add_argument("--out", type=FILE_OUT, required=True, help="manifest CSV to write")
    _force_option(splits)
    _groups_option(splits)

    fit = commands.add_parser("fit", help="tune (with grouped inner folds) and train a final model on all of DIR")
    _data_options(fit, required=False)
    fit.add_argument("--model", choices=model_names(), help=f"model to train (default {DEFAULT.model_name})")
    fit.add_argument("--out", type=MODEL_OUT, required=True, help="model directory to write")
    fit.add_argument(
        "--trials", type=_at_least(0), default=0,
        help="Optuna trials on grouped inner folds before the final training (default 0: the model's defaults, "
        "which beat 10 tuned trials in grouped CV on the 110-image real sample; see the README)",
    )  # fmt: skip
    fit.add_argument("--storage", help="Optuna RDB URL that keeps the study, so the same command resumes it")
    _set_option(fit)

    evaluate = commands.add_parser("evaluate", help="score a model directory on a labelled folder")
    evaluate.add_argument("--model-dir", type=MODEL_IN, required=True, help="a model directory that `fit` wrote")
    _data_options(evaluate, required=False)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    _set_option(evaluate)

    predict = commands.add_parser("predict", help="top-3 classes of images or folders of images")
    predict.add_argument("--model-dir", type=MODEL_IN, required=True, help="a model directory that `fit` wrote")
    predict.add_argument("paths", nargs="+", type=DATA_IN, metavar="PATH", help="images, or folders searched for them")
    predict.add_argument("--csv", type=FILE_OUT, help="also write the predictions to this CSV file")
    _force_option(predict)
    predict.add_argument("--json", action="store_true", help="print one JSON list: path and top-3 per image")
    _set_option(predict)
    predict.add_argument("--strict", action="store_true", default=None, help="stop at the first bad image (exit 2)")

    demo = commands.add_parser("demo-data", help="generate the synthetic exercise-video dataset")
    demo.add_argument("--out", type=DEMO_OUT, default=DEFAULT.demo_dir, help=f"folder to write ({DEFAULT.demo_dir})")
    demo.add_argument("--seed", type=int, default=DEFAULT.demo_seed, help="seed of the generated videos")
    demo.add_argument("--force", action="store_true",
                      help="replace a folder at --out that is not a demo dataset, and a --preview file")  # fmt: skip
    demo.add_argument("--mislabel", type=float, default=0.0,
                      help="plant label errors: a share of the frames (below 1) or a number of them, moved into "
                      "another class's folder; the truth in mislabelled.csv")  # fmt: skip
    demo.add_argument("--mislabel-videos", action="store_true", help="--mislabel moves whole videos, not frames")
    demo.add_argument("--scale", choices=sorted(DEMO_SCALES), default=DEFAULT.demo_scale,
                      help=f"videos and frames (default {DEFAULT.demo_scale}; real: the Kaggle size)")  # fmt: skip
    demo.add_argument("--images", type=int, help="exact number of images (overrides the scale's total)")
    demo.add_argument("--jobs", type=_at_least(1), default=1, help="worker processes")
    demo.add_argument("--preview", type=FILE_OUT, help="also save a PNG of sample frames (two videos per class)")

    download = commands.add_parser("download", help="fetch the real dataset from Kaggle with kagglehub")
    download.add_argument("--out", type=DATASET_OUT, default=DEFAULT.data_dir,
                          help=f"folder to install the class folders into (default {DEFAULT.data_dir})")  # fmt: skip
    download.add_argument("--from", dest="source", type=READ, help="install from a local archive or folder instead")
    download.add_argument("--force", action="store_true", help="replace a dataset already at --out")

    perf = commands.add_parser("perf", help="measure speed and memory at the real dataset's size (prints a table)")
    perf.add_argument("--images", type=int, default=13_853, help="images of the generated dataset (default 13853)")
    perf.add_argument("--json", type=FILE_OUT, help="also write every figure to this JSON file")
    _force_option(perf)
    perf.add_argument("--fractions", type=float, nargs="*", default=[0.25, 0.5, 1.0],
                      help="shares of --images to measure the steps on "
                      "(default 0.25 0.5 1.0; none: only the timed runs)")  # fmt: skip
    perf.add_argument("--run-fractions", type=float, nargs="*", default=[0.1, 0.25],
                      help="shares of --images to time a whole run on; the full size is projected from them "
                      "(default 0.1 0.25; add 1.0 to measure it outright)")  # fmt: skip
    perf.add_argument("--repeats", type=_at_least(1), default=3, help="times each step is measured (median reported)")
    perf.add_argument("--no-run", action="store_true", help="skip the timed runs (the steps only)")
    perf.add_argument("--folds", type=int, default=5, help="outer folds of the timed runs (default 5)")
    perf.add_argument("--trials", type=int, default=10, help="trials per fold of the timed runs (default 10)")
    perf.add_argument("--work", type=PERF_WORK, help="folder for generated data, caches and runs (default .cache/perf)")
    perf.add_argument("--seed", type=int, help=f"seed of every random choice (default {DEFAULT.seed})")
    perf.add_argument("--from-run", type=RUN_IN, metavar="RUN_DIR",
                      help="measure nothing: what a run already made took, every invocation of a resumed run "
                      "summed, each fold task, and the wall time on N machines from them")  # fmt: skip
    _set_option(perf)
    for name, subparser in commands.choices.items():
        require_path_roles(name, subparser)
        writes, example = WRITES_AND_EXAMPLE[name]
        subparser.description = f"{subparser.description or commands_help(commands, name)}. Writes: {writes}."
        subparser.epilog = f"example: {parser.prog} {example}"
    return parser


def commands_help(commands: argparse._SubParsersAction, name: str) -> str:
    return next(action.help for action in commands._choices_actions if action.dest == name)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _at_least(least: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value

    parse.__name__ = "count"
    return parse


def _run_options(parser: argparse.ArgumentParser, models_help: str) -> None:
    """What `run` and `curve` share: both are nested cross-validation into a run directory."""
    _data_options(parser, required=False)
    parser.add_argument("--folds", type=int, help=f"outer folds (default {DEFAULT.folds})")
    parser.add_argument("--repeats", type=int, help="repeated cross-validation: outer splits of their own (default 1)")
    parser.add_argument("--trials", type=int, help=f"Optuna trials per outer fold (default {DEFAULT.trials})")
    parser.add_argument("--models", nargs="+", choices=model_names(), help=models_help)
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, help="split strategies to compare")
    _groups_option(parser)
    parser.add_argument("--storage", help="Optuna RDB URL (default: SQLite optuna.db in the run directory)")
    parser.add_argument("--n-jobs", type=_at_least(1), default=1, help="outer folds run in parallel (joblib processes)")
    parser.add_argument("--timeout", type=_positive, help="seconds of tuning per outer fold (Optuna's timeout)")
    parser.add_argument("--exclude", type=READ, help="CSV with a path column: images kept out of every training part")
    parser.add_argument("--exclude-from", choices=EXCLUDE_FROM,
                        help="train (default): training parts only; test: the test folds as well")  # fmt: skip
    _set_option(parser)
    parser.add_argument(
        "--run-id", type=RUN_ID, help="name of the run directory under --out (default: from the config)"
    )
    parser.add_argument("--out", type=RUNS_PARENT, help=f"parent of the run directory (default {DEFAULT.runs_dir})")


def _data_options(parser: argparse.ArgumentParser, required: bool) -> None:
    default = "" if required else f" (default {DEFAULT.data_dir}, else the demo data)"
    parser.add_argument(
        "--data", type=DATA_IN, required=required, help=f"folder with one sub-folder per class{default}"
    )
    parser.add_argument("--seed", type=int, help=f"seed of every random choice (default {DEFAULT.seed})")
    parser.add_argument("--strict", action="store_true", default=None, help="stop at the first bad image (exit 2)")


def _force_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true",
                        help="replace an existing output file that workout-bench did not write")  # fmt: skip


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
        help="a field of config.Config (--set inner_folds=2) or a model option (--set CustomCNN.input_sizes=96)",
    )


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set` pairs as Config keyword arguments (values JSON-decoded when they are JSON; Config parses
    and checks them by type); `Model.option=VALUE` lands in model_options."""
    fields = {name for name in Config.__dataclass_fields__}
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        model, dot, option = key.partition(".")
        if not sep or not key or (not dot and key not in fields) or (dot and model not in model_names()):
            raise BenchmarkError(
                f"--set {pair!r}: expected KEY=VALUE with KEY a config field ({', '.join(sorted(fields))}) "
                f"or MODEL.OPTION with MODEL one of {', '.join(model_names())}"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if dot:
            overrides.setdefault("model_options", {}).setdefault(model, {})[option] = value
        else:
            overrides[key] = value
    return overrides


def config_from(args: argparse.Namespace) -> tuple[Config, set[str]]:
    """The config the options ask for, and the fields the user set (`Model.option` for model options)."""
    overrides = parse_overrides(getattr(args, "set", []))
    explicit = {key for key in overrides if key != "model_options"}
    explicit |= {f"{m}.{o}" for m, options in overrides.get("model_options", {}).items() for o in options}
    flags = dict(OPTION_FIELDS)
    if args.command in ("run", "curve"):
        flags["out"] = "runs_dir"
    for dest, field_name in flags.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        value = tuple(value) if isinstance(value, list) else value
        if field_name in overrides and not _same_value(field_name, overrides[field_name], value):
            raise BenchmarkError(
                f"--{dest} {_shown(value)} and --set {field_name}={_shown(overrides[field_name])} disagree: give one"
            )
        overrides[field_name] = value
        explicit.add(field_name)
    data = getattr(args, "data", None)
    if data is not None and "data_dir" in overrides and not _same_value("data_dir", overrides["data_dir"], data):
        raise BenchmarkError(f"--data {data} and --set data_dir={overrides['data_dir']} disagree: give one")
    model_options = overrides.pop("model_options", None)
    try:
        config = Config(**overrides, **({"model_options": model_options} if model_options else {}))
    except ConfigError as error:
        raise BenchmarkError(f"{_option_label(error.field, overrides, args)} {error.reason}") from None
    return config, explicit


def _same_value(field_name: str, a: Any, b: Any) -> bool:
    """Whether two spellings of a field mean the same value (`--folds 2` and `--set folds=2`)."""
    annotation = typing.get_type_hints(Config)[field_name]
    try:
        return parse_value(field_name, annotation, a) == parse_value(field_name, annotation, b)
    except ConfigError:
        return False


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _option_label(field_name: str, overrides: dict[str, Any], args: argparse.Namespace) -> str:
    """How the user spelled the field in error: `--trials`, `--set inner_folds` or `--set CustomCNN.input_sizes`."""
    for dest, name in OPTION_FIELDS.items():
        if name == field_name and getattr(args, dest, None) is not None:
            return f"--{dest}"
    return f"--set {field_name}"


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """parse_args, with a mistyped option answered by the nearest one of its command (`--trails`: --trials)."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        known = [o for a in command_parser(parser, args.command)._actions for o in a.option_strings]
        hints = [difflib.get_close_matches(extra.split("=")[0], known, n=1, cutoff=0.6) for extra in extras]
        near = "; ".join(f"did you mean {h[0]}?" for h in hints if h)
        parser.error(f"unrecognized arguments: {' '.join(extras)}" + (f" ({near})" if near else ""))
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        check_plugins()  # an installed plug-in that clashes with a built-in model: one line
        parser = build_parser()
    except ModelError as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return 2
    args = parse_arguments(parser, argv)
    # Ctrl-C and SIGTERM stop at the next safe point: finished trials and folds are already on disk.
    interrupt.install()
    try:
        config, explicit = config_from(args)
        args.explicit = explicit
        # Every path the command writes is checked before any work, and before TensorFlow loads.
        check_command_paths(command_parser(parser, args.command), args, config)
        if args.command in TENSORFLOW_COMMANDS:
            from benchmark.core.environment import import_tensorflow

            import_tensorflow()
        command = importlib.import_module(f"benchmark.commands.{COMMANDS[args.command]}")
        return command.main(args, config)
    except BenchmarkError as error:  # ConfigError, SplitError, ModelError, OutputError...: the user's to fix
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in DISK_ERRNOS:
            raise
        print(f"error: {OutputError(error.filename or 'a result', error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: results written so far are kept; run the same command again to go on", file=sys.stderr)
        return 130


def command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices[command]
