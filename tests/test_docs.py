"""The documentation site's generated pages cover every command, argument and config field."""

from __future__ import annotations

import dataclasses
import importlib.util

import yaml
from harness import ROOT

from benchmark.cli import build_parser
from config import Config
from models.registry import model_names, model_spec


def generator():
    spec = importlib.util.spec_from_file_location("generate", ROOT / "docs" / "_hooks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_command_reference_names_every_command_and_option():
    page = generator().commands()
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    for name, sub in commands.choices.items():
        assert f"## `{name}`" in page and f"example: python -m benchmark {name}" in page
        for action in sub._actions:
            for option in [] if action.dest == "help" else action.option_strings:
                assert f"`{option}" in page or f", {option}" in page, (name, option)


def test_the_config_reference_names_every_field_and_model_option():
    page = generator().config_fields()
    for field in dataclasses.fields(Config):
        assert f"`{field.name}`" in page, field.name
    for model in model_names():
        for field in dataclasses.fields(model_spec(model).options):
            assert f"`{model}.{field.name}`" in page, f"{model}.{field.name}"


def test_every_guide_page_is_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    # Folders the site leaves out (mkdocs.yml `exclude_docs`: hooks, the plugin example, run state).
    excluded = {line.rstrip("/") for line in yaml.safe_load(nav)["exclude_docs"].split() if line.endswith("/")}
    pages = [p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")
             if not excluded.intersection(p.relative_to(ROOT / "docs").parts)]  # fmt: skip
    assert {"_hooks", "plugin-example", "full-run"} <= excluded, excluded
    assert pages and all(page in nav for page in pages), [p for p in pages if p not in nav]
