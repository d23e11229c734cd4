"""Not a command: what every command's path options name, and the one check of them before any work.

Each path option of the parser is typed by its role (`FILE_OUT`, `DATA_IN`...): the argparse type
carries the `Role` the output guard (benchmark/core/outputs.py) checks it by, and the parser refuses
to build while a path option has a plain `Path` type, so a new option cannot skip the guard.
`check_command_paths` runs in the CLI after the options are parsed and before TensorFlow loads.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from benchmark.core.errors import BenchmarkError
from benchmark.core.outputs import (
    DATA,
    FILE,
    FOLDER,
    INPUT,
    PARENT,
    PERF_STAMP,
    RUN,
    Inputs,
    Output,
    Role,
    check_name,
    check_outputs,
    is_stamped,
)
from benchmark.core.rundir import CONFIG, DATA_SUMMARY, is_run_dir
from benchmark.data.demo_files import read_stamp, refuse_foreign_demo
from config import CACHE_DIR_ENV, Config
from models.files import is_model_dir, read_meta

# What perf's work folder holds (benchmark/cv/perf.py): one written before it was stamped is still its own.
_PERF_ENTRY = re.compile(r"^(data-[0-9]+|cache-[0-9]+|run-cache-.+|runs|\..*)$")


class RolePath:
    """The argparse type of a path option: the `Path`, with the role the guard checks it by."""

    def __init__(self, role: Role):
        self.role = role
        self.__name__ = "path"  # argparse's "invalid path value"

    def __call__(self, text: str) -> Path:
        if not text or "\0" in text:
            raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
        return Path(text)


def _is_cache_dir(folder: Path) -> bool:
    from benchmark.data.cache import is_cache_dir  # numpy and Pillow: only when a cache folder is checked

    return is_cache_dir(folder)


def _is_demo_dir(folder: Path) -> bool:
    refuse_foreign_demo(folder, "--out")  # a demo folder with the user's files in it: said precisely
    return read_stamp(folder) is not None  # stamped and (just checked) nothing foreign: one walk, not two


def _is_perf_work(folder: Path) -> bool:
    return is_stamped(folder, PERF_STAMP) or all(_PERF_ENTRY.match(p.name) for p in folder.iterdir())


def _is_starting_run(folder: Path) -> bool:
    """A run directory, or one whose run is starting (the lock and the data summary come first)."""
    return is_run_dir(folder) or all(p.name.startswith(".") or p.name == DATA_SUMMARY for p in folder.iterdir())


DATA_IN = RolePath(Role(DATA, "data folder"))  # read; nothing is written inside (files: never over)
READ = RolePath(Role(INPUT))
MODEL_IN = RolePath(Role(INPUT, "model directory"))
RUN_IN = RolePath(Role(RUN, "run directory"))
FILE_OUT = RolePath(Role(FILE, force=True))
RUNS_PARENT = RolePath(Role(PARENT, "folder of run directories"))
MODEL_OUT = RolePath(Role(FOLDER, "model directory", ours=is_model_dir))
DEMO_OUT = RolePath(Role(FOLDER, "demo dataset", ours=_is_demo_dir, force=True, dataset=True))
DATASET_OUT = RolePath(Role(FOLDER, "dataset", force=True, dataset=True))
CACHE_FOLDER = RolePath(Role(FOLDER, "workout-bench cache", ours=_is_cache_dir))
PERF_WORK = RolePath(Role(FOLDER, "perf work folder", ours=_is_perf_work))
RUN_FOLDER = Role(FOLDER, "run directory", ours=_is_starting_run)
CACHE_ROLE = CACHE_FOLDER.role


def RUN_ID(text: str) -> str:  # noqa: N802 - named as the other option types
    try:
        return check_name(text, "--run-id")
    except BenchmarkError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--run-id ")) from None


RUN_ID.__name__ = "name"  # type: ignore[attr-defined]

# Commands whose work fills config.cache_dir (pixels, features, hashes, converted weights).
CACHE_COMMANDS = {"run", "curve", "worker", "audit", "fit", "evaluate", "predict"}


def require_path_roles(command: str, parser: argparse.ArgumentParser) -> None:
    """A path option without a role would skip the output guard: refuse to build such a parser."""
    for action in parser._actions:
        if action.type is Path:
            raise TypeError(f"{command} {action.option_strings or action.dest}: a path option needs a RolePath type")


def path_options(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action, Role]]:
    """(label, action, role) of every path option of one command's parser: what the guard checks."""
    found = []
    for action in parser._actions:
        if isinstance(action.type, RolePath):
            label = max(action.option_strings, key=len) if action.option_strings else action.metavar or action.dest
            found.append((label, action, action.type.role))
    return found


def check_command_paths(parser: argparse.ArgumentParser, args: argparse.Namespace, config: Config) -> None:
    """Every path the command will write, checked against what it reads and what is there, in one line each."""
    outputs: list[Output] = []
    inputs = Inputs()
    models: list[Path] = []
    reads_only = args.command == "cache" and not args.clear  # `cache --info` writes nothing anywhere
    for label, action, role in path_options(parser):
        value = getattr(args, action.dest, None)
        for path in value if isinstance(value, list) else [value] if value is not None else []:
            if role.writes and reads_only:
                continue
            if role.writes:
                outputs.append(Output(label, Path(path), role))
            elif role.kind in (DATA, INPUT):
                if role.kind == DATA and not Path(path).exists() and label == "--data":
                    raise BenchmarkError(f"--data folder not found: {path}")
                if role is MODEL_IN.role:
                    models.append(Path(path))
                inputs.add(Path(path))
            elif role.kind == RUN:
                inputs.add(_recorded_data_dir(Path(path)))
    for folder in (config.data_dir, config.demo_dir):  # the configured datasets are never written into
        if Path(folder).is_dir():
            inputs.folders.append(Path(folder))
    if config.exclude is not None:
        inputs.add(config.exclude)
    outputs += _defaulted_outputs(args, config)
    check_outputs(outputs, inputs, force=bool(getattr(args, "force", False)))
    for model_dir in models:  # a bad model directory is one line before TensorFlow loads
        read_meta(model_dir)


def _defaulted_outputs(args: argparse.Namespace, config: Config) -> list[Output]:
    """What a command writes where the user named no path: the config's folders, and the run directory."""
    explicit = getattr(args, "explicit", set())
    outputs = []
    if args.command in CACHE_COMMANDS:
        label = "--set cache_dir" if "cache_dir" in explicit else f"config.cache_dir (or ${CACHE_DIR_ENV})"
        outputs.append(Output(label, config.cache_dir, CACHE_ROLE))
    if args.command in ("run", "curve", "worker"):
        parent = args.out if getattr(args, "out", None) is not None else config.runs_dir
        if args.out is None:
            label = "--set runs_dir" if "runs_dir" in explicit else "config.runs_dir"
            outputs.append(Output(label, Path(parent), RUNS_PARENT.role))
        if getattr(args, "run_id", None):  # a worker joins a run directory: one, or one yet to appear
            outputs.append(Output("--run-id", Path(parent) / args.run_id, RUN_FOLDER))
    if args.command == "cache" and args.dir is None and args.clear:
        outputs.append(Output("config.cache_dir", config.cache_dir, CACHE_ROLE))
    if args.command == "perf" and args.work is None and args.from_run is None:
        outputs.append(Output("--work", config.cache_dir.parent / "perf", PERF_WORK.role))
    return outputs


def _recorded_data_dir(run_dir: Path) -> Path | None:
    """The data folder a run directory was made from (its config.json): protected like --data."""
    try:
        recorded: Any = json.loads((run_dir / CONFIG).read_text(encoding="utf-8")).get("data_dir")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(recorded) if isinstance(recorded, str) and recorded else None
