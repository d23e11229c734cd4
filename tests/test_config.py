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
