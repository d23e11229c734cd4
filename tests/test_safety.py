"""Nothing a user types destroys their files or mixes two datasets; every mistake is one line before the work."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from harness import ROOT, assert_one_line_error, cli, run_command, snapshot

from benchmark.core.rundir import lock_run_dir, unlock_run_dir
from benchmark.core.timing import StageClock
from benchmark.cv.curve import extrapolate
from benchmark.cv.evaluate import classification_metrics
from benchmark.cv.prepare import prepare_run
from benchmark.data.dataset import summary_lines
from config import DEFAULT

TINY_CNN = ["--model", "CustomCNN", "--set", "CustomCNN.input_sizes=[32]", "--set", "CustomCNN.max_epochs=1"]
UNTUNED = ["--trials", "0", "--models", "EfficientNetLite0", "--strategies", "grouped", "--folds", "2",
           "--set", "audit_in_run=false"]  # fmt: skip


@pytest.fixture
def wrapped(real_sample, tmp_path) -> Path:
    """The Kaggle archive unpacked by hand: one extra folder around the class folders."""
    shutil.copytree(real_sample, tmp_path / "download" / "archive", ignore=shutil.ignore_patterns("README.md"))
    return tmp_path / "download"


# --- 1. no command deletes a folder it did not create ---------------------------------------------------


@pytest.mark.parametrize("where", ["data", "parent of data", "inside data"])
def test_fit_refuses_an_output_folder_that_is_holds_or_sits_in_the_data(real_copy, where, in_process):
    before = snapshot(real_copy.parent)
    out = {"data": real_copy, "parent of data": real_copy.parent, "inside data": real_copy / "model"}[where]
    assert_one_line_error(in_process("fit", "--data", str(real_copy), "--out", str(out)), "the data folder")
    assert snapshot(real_copy.parent) == before  # every photo still there, nothing added


def test_fit_refuses_a_folder_of_other_files_and_a_file(real_sample, tmp_path, in_process):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    done = in_process("fit", "--data", str(real_sample), "--out", str(photos))
    assert_one_line_error(done, "--out", "not a model directory")
    assert (photos / "holiday.jpg").read_bytes() == b"\xff\xd8 not really a jpeg"
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert_one_line_error(in_process("fit", "--data", str(real_sample), "--out", str(blocker)), "is a file")
    unwritable = in_process("fit", "--data", str(real_sample), "--out", "/proc/workout-bench/model")
    assert_one_line_error(unwritable, "cannot write to")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "photos"]  # no .partial left anywhere


def test_demo_data_replaces_only_its_own_folders(tmp_path, in_process):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work\n")
    assert_one_line_error(in_process("demo-data", "--out", str(mine), "--scale", "tiny"), "--force")
    assert (mine / "thesis.txt").read_text() == "years of work\n"
    (tmp_path / "a-file").write_text("")
    assert_one_line_error(in_process("demo-data", "--out", str(tmp_path / "a-file"), "--scale", "tiny"), "is a file")
    demo = tmp_path / "demo"
    assert in_process("demo-data", "--out", str(demo), "--scale", "tiny", "--seed", "1").returncode == 0
    first = snapshot(demo)
    assert in_process("demo-data", "--out", str(demo), "--scale", "tiny", "--seed", "2").returncode == 0  # its own
    assert snapshot(demo) != first and json.loads((demo / ".workout-bench-demo.json").read_text())["seed"] == 2
    assert in_process("demo-data", "--out", str(mine), "--scale", "tiny", "--force").returncode == 0
    assert not (mine / "thesis.txt").exists()  # asked for in so many words
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "demo", "mine"]  # no partial folder left


def test_cache_clear_and_info_on_a_dataset_touch_nothing(real_copy, in_process):
    before = snapshot(real_copy)
    assert_one_line_error(in_process("cache", "--clear", "--dir", str(real_copy)), "not a workout-bench cache")
    info = in_process("cache", "--info", "--dir", str(real_copy))
    assert info.returncode == 0 and "0 files  total" in info.stdout and "squat" not in info.stdout
    assert snapshot(real_copy) == before


# --- 2. a run folder holds one dataset -------------------------------------------------------------------


def test_a_run_directory_refuses_other_data_changed_data_and_changed_config(real_copy, tmp_path, capsys):
    config = DEFAULT.replace(runs_dir=tmp_path / "runs", folds=2, strategies=("grouped",), trials=0)
    prepared = prepare_run(config, real_copy, "r", None, StageClock())
    unlock_run_dir(prepared.run_dir)  # as if that process had ended
    recorded = json.loads((prepared.run_dir / "config.json").read_text())
    assert recorded["data_dir"] == str(real_copy.resolve())  # the data actually used, not the default
    assert "content_fingerprint" in json.loads((prepared.run_dir / "data_summary.json").read_text())
    prepare_run(config, real_copy, "r", None, StageClock())  # the same run: taken back
    unlock_run_dir(prepared.run_dir)

    other = tmp_path / "other"
    shutil.copytree(real_copy, other)
    with pytest.raises(Exception, match="holds a run on other data"):
        prepare_run(config, other, "r", None, StageClock())
    with pytest.raises(Exception, match=r"another config \(seed: 42 -> 3\)"):
        prepare_run(config.replace(seed=3), real_copy, "r", None, StageClock())
    sorted((real_copy / "squat").glob("*.jpg"))[0].unlink()  # same folder, other contents
    with pytest.raises(Exception, match="other contents of .*fingerprint"):
        prepare_run(config, real_copy, "r", None, StageClock())
    assert json.loads((prepared.run_dir / "config.json").read_text()) == recorded  # nothing overwritten


def test_a_run_refuses_a_folder_that_is_not_a_run_directory(real_sample, tmp_path, in_process):
    taken = tmp_path / "runs" / "r"
    taken.mkdir(parents=True)
    (taken / "notes.txt").write_text("mine\n")
    done = in_process("run", "--data", str(real_sample), "--out", str(tmp_path / "runs"), "--run-id", "r", *UNTUNED)
    assert_one_line_error(done, "not a run directory")
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]


# --- 3. the data folder's shape, before any work ---------------------------------------------------------


@pytest.mark.parametrize("command", [["scan"], ["run", "--folds", "2"], ["fit", "--out", "{tmp}/m"]])
def test_a_wrapper_folder_is_named_with_the_folder_to_pass(wrapped, tmp_path, command, in_process):
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    done = in_process(*args, "--data", str(wrapped), *(["--out", str(tmp_path / "runs")] if "run" in args else []))
    assert_one_line_error(done, f"pass {wrapped / 'archive'} instead")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "m").exists()


def test_one_class_is_refused_and_fold_errors_name_the_limit_that_binds(real_sample, tmp_path, in_process):
    one = tmp_path / "one"
    shutil.copytree(real_sample / "squat", one / "squat")
    for command in (["run", "--out", str(tmp_path / "runs")], ["fit", "--out", str(tmp_path / "m")]):
        assert_one_line_error(in_process(*command, "--data", str(one)), "1 class folder", "at least 2")
    inner = in_process("run", "--data", str(real_sample), "--folds", "2", "--out", str(tmp_path / "runs"))
    assert_one_line_error(inner, "inner_folds 3", "--set inner_folds=2")  # 2-3 videos per class left to tune on
    two = tmp_path / "two"
    shutil.copytree(real_sample / "squat", two / "squat")
    (two / "plank").mkdir()
    shutil.copy(next((real_sample / "plank").glob("*.jpg")), two / "plank")
    lonely = in_process("run", "--data", str(two), "--folds", "2", "--out", str(tmp_path / "runs"))
    assert_one_line_error(lonely, "'plank' has 1 group", "add data to that class")
    assert "--folds 1" not in lonely.stderr  # never suggest what is itself refused
    assert not (tmp_path / "runs").exists() and not (tmp_path / "m").exists()


# --- 4. outputs checked before the work ------------------------------------------------------------------


def test_file_outputs_are_checked_before_any_work(real_sample, tmp_path, in_process):
    started = time.monotonic()
    not_a_model = tmp_path / "no-model"  # refused for --csv before the model is even opened
    done = in_process("predict", "--model-dir", str(not_a_model), str(real_sample), "--csv", "/proc/x/p.csv")
    assert_one_line_error(done, "cannot write to")
    assert_one_line_error(in_process("predict", "--model-dir", str(not_a_model), str(real_sample), "--csv",
                                     str(tmp_path)), "is a folder")  # fmt: skip
    curve = in_process("curve", "--data", str(real_sample), "--json", "/proc/x/c.json", "--out", str(tmp_path))
    assert_one_line_error(curve, "cannot write to")
    assert time.monotonic() - started < 60 and not list(tmp_path.iterdir())


# --- 5. values that pass validation but cannot work --------------------------------------------------------


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--set", "CustomCNN.input_sizes=0"], "--set CustomCNN.input_sizes must be at least 16, got 0"),
        (["--set", "CustomCNN.input_sizes="], "--set CustomCNN.input_sizes needs at least one value"),
        (["--set", "CustomCNN.input_sizes=-64"], "must be at least 16, got -64"),
        (["--set", "CustomCNN.base_widths=[16, 1000]"], "must be at most 256, got 1000"),
        (["--timeout", "-5"], "--timeout: must be more than 0"),
        (["--folds", "2", "--set", "folds=1"], "--folds 2 and --set folds=1 disagree"),
        (["--out", "a", "--set", "runs_dir=b"], "--out a and --set runs_dir=b disagree"),
    ],
)
def test_values_that_cannot_work_are_refused(real_sample, args, fragment, in_process):
    assert_one_line_error(in_process("run", "--data", str(real_sample), *args), fragment)


def test_the_same_value_twice_is_not_a_conflict():
    from benchmark import cli as cli_module

    args = cli_module.build_parser().parse_args(["run", "--folds", "3", "--set", "folds=3", "--strategies", "grouped",
                                                 "--set", "strategies=grouped"])  # fmt: skip
    config, _ = cli_module.config_from(args)
    assert config.folds == 3 and config.strategies == ("grouped",)


# --- 6. two processes on one run -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written", [[], ["data_summary.json"], [".write-test-x1"]], ids=["locked", "config-not-yet-written", "probing"]
)
def test_a_second_process_on_a_held_run_is_one_line_naming_the_worker(real_sample, tmp_path, written):
    """Also in the moment between the holder's data summary and its config.json, or while another process's
    write probe is there (the second process once called such a folder foreign, and two probes of one
    fixed name removed each other's: seen as a race of two runs started together)."""
    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True)
    lock_run_dir(run_dir, "sqlite:///x")  # this process runs it
    for name in written:
        (run_dir / name).write_text("{}")
    try:
        done = cli("run", "--data", str(real_sample), "--out", str(tmp_path / "runs"), "--run-id", "r", *UNTUNED)
    finally:
        unlock_run_dir(run_dir)
    assert_one_line_error(done, "run r is being run by", "worker --storage sqlite:///", "--run-id r")
    assert sorted(p.name for p in run_dir.iterdir()) == sorted([".lock", *written])  # the refused one wrote nothing


@pytest.mark.slow
def test_two_runs_of_one_id_started_together_give_one_result_and_one_clear_line(small_demo, tmp_path):
    command = run_command(small_demo, tmp_path, "--models", "EfficientNetLite0", "--set", "audit_in_run=false",
                          "--trials", "1")  # fmt: skip
    first, second = (subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(2))  # fmt: skip
    outcomes = sorted((p.wait(timeout=600), p.stderr.read()) for p in (first, second))
    assert outcomes[0][0] == 0 and outcomes[1][0] == 2, outcomes
    assert "is being run by" in outcomes[1][1].strip().splitlines()[-1] and "Traceback" not in outcomes[1][1]
    timings = json.loads((tmp_path / "r" / "timings.json").read_text())
    assert len(timings) == 1 and len(pd.read_csv(tmp_path / "r" / "results.csv")) == 4


# --- 7. honest small edges ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_fit_replaces_its_own_model_evaluate_says_when_it_scores_training_images(tiny_demo, tmp_path):
    model = tmp_path / "model"
    first = cli("fit", "--data", str(tiny_demo), "--out", str(model), *TINY_CNN)
    assert first.returncode == 0, first.stderr[-2000:]
    for noise in ("cuInit", "absl::InitializeLog", "Could not find cuda drivers"):
        assert noise not in first.stderr  # TensorFlow's start-up lines are not for a CPU user
    again = cli("fit", "--data", str(tiny_demo), "--out", str(model), *TINY_CNN, "--trials", "1",
                "--storage", f"sqlite:///{tmp_path / 'fit.db'}")  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]  # our own model dir: replaced (and --trials works)
    assert json.loads((model / "meta.json").read_text())["trials"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.db", "model"]
    scored = cli("evaluate", "--model-dir", str(model), "--data", str(tiny_demo), "--json")
    assert scored.returncode == 0 and "UserWarning" not in scored.stderr, scored.stderr[-2000:]
    metrics = json.loads(scored.stdout)
    assert metrics["images_seen_in_training"] == metrics["n_images"] and "trained on all" in metrics["note"]
    text = cli("evaluate", "--model-dir", str(model), "--data", str(tiny_demo))
    assert text.stdout.startswith("note: the model was trained on all")
    (tmp_path / "notes.txt").write_text("not an image\n")
    assert_one_line_error(cli("predict", "--model-dir", str(model), str(tmp_path / "notes.txt")), "no readable image")


def test_a_curve_of_fractions_that_keep_the_same_videos_fits_nothing_and_says_why():
    points = pd.DataFrame(
        {"fraction": [0.25, 0.25, 0.5, 0.5, 1.0, 1.0], "fold": [0, 1] * 3,
         "videos_per_class": [3.0, 3.0, 3.0, 3.0, 4.0, 4.0], "accuracy": [0.3, 0.32, 0.3, 0.32, 0.35, 0.37]}
    )  # fmt: skip
    result = extrapolate(points, seed=0)
    assert result["fit"] is None
    assert "2 distinct training sizes among 3 fractions" in result["sentence"]
    assert "fractions 0.25, 0.5 keep the same videos" in result["sentence"]


def test_counts_read_as_words_and_absent_classes_raise_no_warning():
    summary = {"data_dir": "d", "n_images": 1, "n_classes": 1, "n_groups": 1, "n_videos": 1, "single_images": 0,
               "unmatched_names": 0, "frames_per_video": {"min": 1, "max": 1}, "n_bad_files": 0,
               "empty_classes": [], "ignored_files": []}  # fmt: skip
    line = summary_lines(summary)[1]
    assert line == "  1 image, 1 class, 1 group (1 video of 1 frame, 0 single images, 0 unmatched names)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = classification_metrics(np.array([0, 0]), np.array([[0.2, 0.8], [0.9, 0.1]]), ["a", "b"])
    assert metrics["accuracy"] == 0.5


def test_tensorflow_start_up_noise_is_filtered_and_everything_else_kept(capfd):
    from benchmark.core.environment import native_stderr_filtered

    with native_stderr_filtered():
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write("
                        "'E0000 cuda_platform.cc:52] failed call to cuInit: INTERNAL\\nreal problem\\n')"])  # fmt: skip
    assert capfd.readouterr().err == "real problem\n"
