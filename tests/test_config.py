"""One typed, validated configuration: the CLI, a Python caller and a run directory's config.json share it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import assert_one_line_error

from benchmark import cli
from benchmark.core.fields import ConfigError
from config import DEFAULT, DEMO_RUN_OVERRIDES, Config, demo_budget
from models.registry import model_spec


def parsed(*argv: str) -> tuple[Config, set[str]]:
    args = cli.build_parser().parse_args(list(argv))
    return cli.config_from(args)


def test_values_are_parsed_by_their_type_not_by_how_they_look():
    config, _ = parsed(
        "run", "--set", "mixed_precision=False", "--set", "audit_in_run=no", "--set", "strategies=grouped",
        "--set", "tuning_subsample=0.5", "--set", "CustomCNN.input_sizes=[32, 48]", "--set", "cache_dir=/tmp/c",
    )  # fmt: skip
    assert config.mixed_precision is False and config.audit_in_run is False  # not the truthy string "False"
    assert config.strategies == ("grouped",) and config.tuning_subsample == 0.5
    assert config.options_for("CustomCNN").input_sizes == (32, 48) and config.cache_dir == Path("/tmp/c")


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "--set", 'EfficientNetLite0.train_positions=["top"]'], "--set EfficientNetLite0.train_positions"),
        (["run", "--set", "mixed_precision=perhaps"], "--set mixed_precision must be true or false"),
        (["run", "--set", "inner_folds=1"], "--set inner_folds must be at least 2"),
        (["run", "--set", "tuning_subsample=0"], "--set tuning_subsample must be more than 0"),
        (["run", "--set", "feature_runtime=gpu"], "--set feature_runtime must be one of litert, keras"),
        (["run", "--set", "CustomCNN.colour=1"], "is not an option of CustomCNN"),
        (["run", "--set", "Unknown.x=1"], "MODEL.OPTION"),
        (["run", "--folds", "1"], "--folds must be at least 2"),
        (["run", "--trials", "-1"], "--trials must be at least 0"),
        (["run", "--set", "folds=two"], "--set folds must be a whole number"),
        (["run", "--set", "model_name=ResNet"], "--set model_name must be one of"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_option(argv, fragment, capsys, monkeypatch):
    monkeypatch.setattr(cli.interrupt, "install", lambda: None)
    code = cli.main(argv)
    err = capsys.readouterr().err
    import subprocess

    assert_one_line_error(subprocess.CompletedProcess(argv, code, "", err), fragment)


def test_a_python_caller_gets_the_same_checks():
    with pytest.raises(ConfigError, match="trials must be at least 0"):
        Config(trials=-1)
    with pytest.raises(ConfigError, match="EfficientNetLite0.train_positions must be one of"):
        Config(model_options={"EfficientNetLite0": {"train_positions": ["top"]}})
    with pytest.raises(ConfigError, match="models must be one of"):
        DEFAULT.replace(models=("ResNet",))
    with pytest.raises(ConfigError, match=r"lease_s must exceed heartbeat_s \(10\), got 10"):
        DEFAULT.replace(lease_s=10)  # a claim would lapse between two beats of a live holder
    config = Config(mixed_precision="false", folds="3", model_options={"CustomCNN": {"max_epochs": "12"}})
    assert config.mixed_precision is False and config.folds == 3
    assert config.model_options == {"CustomCNN": {"max_epochs": 12}}
    assert Config.from_dict(json.loads(config.to_json())) == config


def test_an_explicit_option_always_wins_over_the_demo_budget():
    config, explicit = parsed("run", "--trials", "10", "--set", "CustomCNN.input_sizes=[64]")
    assert explicit == {"trials", "CustomCNN.input_sizes"}
    demo, _ = demo_budget(config, explicit)
    assert demo.trials == 10  # typed by the user, even though 10 is the default
    assert demo.options_for("CustomCNN").input_sizes == (64,)
    assert demo.inner_folds == DEMO_RUN_OVERRIDES["inner_folds"]  # not typed: the demo budget applies
    untouched, _ = demo_budget(*parsed("run"))
    assert untouched.trials == DEMO_RUN_OVERRIDES["trials"]
    for model in untouched.models:
        for option, value in model_spec(model).demo_options.items():
            got = getattr(untouched.options_for(model), option)
            assert got == (tuple(value) if isinstance(value, list) else value)


def sample_value(attribute, annotation, default):
    """A valid value unlike the default, as a user types it on the command line, and as it should parse."""
    import types
    import typing

    meta = attribute.metadata
    choices = meta.get("choices")
    allowed = choices() if callable(choices) else choices
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return "none", None
    if origin is tuple:
        if allowed:
            return allowed[-1], (allowed[-1],)
        low = meta.get("low") or 0
        return f"{low + 3},{low + 5}", (args[0](low + 3), args[0](low + 5))
    if annotation is bool:
        return str(not default).lower(), not default
    if annotation is int:
        value = default + 1 if meta.get("high") is None or default + 1 <= meta["high"] else default - 1
        return str(value), value
    if annotation is float:
        high = meta.get("high", 1.0)
        value = (default + high) / 2 if default != high else default / 2
        return repr(value), value
    if annotation is str:
        if allowed:
            other = next(c for c in allowed if c != default) if len(allowed) > 1 else default
            return other, other
        return "x_(?P<video>[0-9]+)$", "x_(?P<video>[0-9]+)$"
    if str(annotation).startswith("dict"):
        return '{"CustomCNN": {"max_epochs": 3}}', {"CustomCNN": {"max_epochs": 3}}
    if annotation.__name__ == "Path":
        return "/tmp/elsewhere", Path("/tmp/elsewhere")
    raise AssertionError(f"no sample for {attribute.name}: {annotation}")


def test_every_config_field_and_model_option_is_parsed_by_its_type():
    import dataclasses
    import typing

    from models.registry import model_names

    hints = typing.get_type_hints(Config)
    for attribute in dataclasses.fields(Config):
        text, expected = sample_value(attribute, hints[attribute.name], getattr(DEFAULT, attribute.name))
        config, explicit = parsed("run", "--set", f"{attribute.name}={text}")
        assert getattr(config, attribute.name) == expected, attribute.name
        assert explicit == ({"CustomCNN.max_epochs"} if attribute.name == "model_options" else {attribute.name})
    for model in model_names():
        options = model_spec(model).make_options()
        option_hints = typing.get_type_hints(type(options))
        for attribute in dataclasses.fields(options):
            text, expected = sample_value(attribute, option_hints[attribute.name], getattr(options, attribute.name))
            config, _ = parsed("run", "--set", f"{model}.{attribute.name}={text}")
            assert getattr(config.options_for(model), attribute.name) == expected, f"{model}.{attribute.name}"
