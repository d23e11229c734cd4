import json

import pandas as pd
import pytest
from harness import assert_one_line_error, cli

from benchmark.data.load import resolve_data_dir
from config import DEFAULT


def test_splits_on_real_images_groups_by_video_and_repeats_bytes(real_sample, tmp_path):
    outputs = []
    for name in ("a.csv", "b.csv"):
        done = cli(
            "splits", "--data", str(real_sample), "--folds", "5", "--strategy", "grouped", "--out", str(tmp_path / name)
        )
        assert done.returncode == 0, done.stderr
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
    manifest = pd.read_csv(tmp_path / "a.csv", keep_default_na=False)
    assert len(manifest) == 110 and manifest.group.nunique() == 110  # one frame per source video here
    assert (manifest.groupby("group").fold.nunique() == 1).all()
    assert (manifest.groupby("label").fold.nunique() == 5).all()  # 5 videos per class: one per fold


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--folds", "1", "--strategy", "grouped"], ["--folds must be at least 2"]),
        (["--folds", "6", "--strategy", "grouped"], ["has 5 groups", "fewer than --folds 6"]),
    ],
)
def test_bad_split_options_are_one_line_errors(real_sample, tmp_path, args, fragments):
    done = cli("splits", "--data", str(real_sample), "--out", str(tmp_path / "m.csv"), *args)
    assert_one_line_error(done, *fragments)


def test_missing_data_and_unwritable_output_are_one_line_errors(real_sample, tmp_path):
    missing = cli(
        "splits",
        "--data",
        str(tmp_path / "nowhere"),
        "--folds",
        "2",
        "--strategy",
        "leaky",
        "--out",
        str(tmp_path / "m.csv"),
    )
    assert_one_line_error(missing, "nowhere")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = cli(
        "splits", "--data", str(real_sample), "--folds", "2", "--strategy", "leaky", "--out", str(blocker / "m.csv")
    )
    assert_one_line_error(unwritable, "cannot write to", "a-file")


def test_without_a_dataset_the_demo_data_is_generated_and_said_so(tmp_path, capsys):
    config = DEFAULT.replace(data_dir=tmp_path / "absent", demo_dir=tmp_path / "demo", demo_scale="tiny")
    found = resolve_data_dir(config, None)
    assert found == tmp_path / "demo" and any(found.rglob("*.jpg"))
    line = capsys.readouterr().err.strip()
    assert "absent" in line and "demo data" in line and "\n" not in line
    stamp = (found / ".workout-bench-demo.json").stat().st_mtime_ns
    resolve_data_dir(config, None)  # second call reuses it
    assert (found / ".workout-bench-demo.json").stat().st_mtime_ns == stamp


def test_scan_json_reports_the_real_sample(real_sample):
    done = cli("scan", "--data", str(real_sample), "--json")
    summary = json.loads(done.stdout)
    assert summary["n_images"] == 110 and summary["single_images"] == 8 and summary["n_videos"] == 102


def test_python_m_benchmark_ignores_a_users_own_config_models_reports_and_splits(real_sample, tmp_path):
    """Run from a user's project folder, whose config.py and packages share our top-level names."""
    import subprocess
    import sys

    (tmp_path / "config.py").write_text("LEARNING_RATE = 0.1  # the user's own config\n")
    for package in ("models", "reports", "splits"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f"raise ImportError('the user folder {package}')\n")
    done = subprocess.run([sys.executable, "-m", "benchmark", "scan", "--data", str(real_sample), "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["n_images"] == 110


def test_every_command_says_what_it_writes_with_an_example_and_every_argument_has_help():
    from benchmark.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    for name, sub in commands.choices.items():
        assert "Writes: " in sub.description and sub.epilog.startswith("example: "), name
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_a_mistyped_option_suggests_the_nearest_one():
    done = cli("run", "--trails", "3")
    assert_one_line_error(done, "unrecognized arguments: --trails 3", "did you mean --trials?")
