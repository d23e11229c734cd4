"""MkDocs hook: the reference pages and the measurement tables are generated at build time from the
code and the JSON the measuring commands write, so they cannot drift from either.

A page asks for a generated block with a marker line: `<!-- generated: commands -->` (every command
and argument, from the CLI's parser), `<!-- generated: config -->` (every config field and model
option, from config.Config and the model registry), `<!-- generated: perf -->` (the timed runs of
docs/perf.json, as `perf` prints them).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 - MkDocs' hook signature
    for name, render in (("commands", commands), ("config", config_fields), ("perf", perf_tables)):
        marker = f"<!-- generated: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown


def commands() -> str:
    from benchmark.cli import build_parser

    parser = build_parser(prog="python -m benchmark")
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    blocks = []
    for name, sub in subparsers.choices.items():
        rows = ["| argument | what it does |", "|---|---|"]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            spelled = ", ".join(action.option_strings) or action.metavar or action.dest
            choices = f" (one of {', '.join(map(str, action.choices))})" if action.choices else ""
            rows.append(f"| `{spelled}` | {_cell(action.help or '')}{_cell(choices)} |")
        usage = sub.format_usage().replace("usage: ", "").strip()
        blocks.append(f"## `{name}`\n\n{sub.description}\n\n```\n{usage}\n```\n\n" + "\n".join(rows)
                      + f"\n\n{sub.epilog}\n")  # fmt: skip
    return "\n".join(blocks)


def config_fields() -> str:
    import config as config_module
    from config import DEFAULT, Config
    from models.registry import model_names, model_spec

    comments = _field_comments(inspect.getsource(config_module))
    blocks = [_fields_table(Config, DEFAULT, comments, "")]
    for model in model_names():
        spec = model_spec(model)
        options = spec.make_options()
        source = inspect.getsource(inspect.getmodule(spec.options))
        blocks.append(f"## `{model}` options (`--set {model}.OPTION=VALUE`)\n\n"
                      + _fields_table(spec.options, options, _field_comments(source), f"{model}."))  # fmt: skip
    return "\n".join(blocks)


def perf_tables() -> str:
    from benchmark.cv.perf import table

    results = json.loads((ROOT / "docs" / "perf.json").read_text(encoding="utf-8"))
    return "```\n" + "\n".join(table(results)) + "\n```\n"


def _fields_table(cls: type, instance, comments: dict[str, str], prefix: str) -> str:
    hints = typing.get_type_hints(cls)
    rows = ["| field | type | default | limits | what it is |", "|---|---|---|---|---|"]
    for field in dataclasses.fields(cls):
        meta = field.metadata
        limits = ", ".join(
            f"{word} {value}" for word, value in (("at least", meta.get("low")), ("at most", meta.get("high")),
                                                  ("more than", meta.get("above"))) if value is not None
        )  # fmt: skip
        choices = meta.get("choices")
        if choices is not None:
            allowed = choices() if callable(choices) else choices
            limits = (limits + "; " if limits else "") + "one of " + ", ".join(map(str, allowed))
        default = getattr(instance, field.name)
        type_name = str(hints[field.name]).replace("typing.", "").replace("pathlib.", "")
        rows.append(f"| `{prefix}{field.name}` | `{type_name}` | `{_cell(json.dumps(_plain(default)))}` | "
                    f"{_cell(limits)} | {_cell(comments.get(field.name, ''))} |")  # fmt: skip
    return "\n".join(rows) + "\n"


def _field_comments(source: str) -> dict[str, str]:
    """The comment lines right above each `name: type = ...` field of a dataclass, joined."""
    found, pending = {}, []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("# ") and not stripped.startswith("# ---"):
            pending.append(stripped[2:])
            continue
        match = re.match(r"^\s{4}(\w+): [^=]+(=|$)", line)
        if match and pending:
            found[match.group(1)] = " ".join(pending)
        pending = [] if not stripped.startswith("#") else pending
    return found


def _plain(value):
    from benchmark.core.fields import plain

    return plain(value)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
