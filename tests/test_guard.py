"""The one output guard, the one redaction and the one-line errors (issue 39): every command's output
options, found from the parser, refuse a photo of the data folder and a folder of the user's files."""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from harness import ROOT, assert_one_line_error, cli, snapshot

from benchmark.cli import build_parser, command_parser
from benchmark.commands.paths import path_options
from benchmark.core.outputs import FILE, FOLDER, PARENT
from benchmark.core.rundir import lock_run_dir, unlock_run_dir
from benchmark.core.secrets import redact
from config import Config

# The least each command needs to reach its output check (`{data}`, `{model}`, `{run}`: fixtures below).
REQUIRED = {
    "run": ["--data", "{data}"],
    "curve": ["--data", "{data}"],
    "compare": ["{run}", "{run}"],
    "worker": ["--storage", "sqlite:///{tmp}/w.db", "--run-id", "w", "--wait", "1"],
    "cache": ["--clear"],
    "splits": ["--data", "{data}", "--strategy", "grouped"],
    "fit": ["--data", "{data}"],
    "predict": ["--model-dir", "{model}", "{data}/plank"],
    "demo-data": ["--scale", "tiny"],
    "download": ["--from", "{tmp}/archive.zip"],
    "perf": ["--no-run", "--fractions", "0.1"],
}


def written_options() -> list[tuple[str, str, str]]:
    """(command, option, role kind) of every path option of the parser that names something written."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    return [
        (command, label, role.kind)
        for command in subparsers.choices
        for label, _, role in path_options(command_parser(parser, command))
        if role.writes
    ]


def _model_dir(folder: Path, meta: dict | None = None, keras_bytes: bytes | None = None) -> Path:
    folder.mkdir()
    preprocess = {"size": 32, "crop": "center", "resize_ratio": 1.0, "position": "center"}
    meta = meta or {"model_name": "CustomCNN", "class_names": ["plank", "squat"], "preprocess": preprocess}
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "model.keras").write_bytes(keras_bytes if keras_bytes is not None else b"")
    return folder


def _keras_archive(config: dict) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.13.0"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", b"")
    return buffer.getvalue()


@pytest.fixture
def workspace(tmp_path) -> dict[str, Path]:
    """A 3-class data folder, a folder of the user's files, a model dir and a run dir naming the data."""
    data = tmp_path / "data"
    for label in ("plank", "squat", "pull up"):
        (data / label).mkdir(parents=True)
        for k in range(3):
            pixels = np.full((24, 32, 3), 40 * k + 20, np.uint8)
            from PIL import Image

            Image.fromarray(pixels).save(data / label / f"{label}_{k + 1}00001.jpg")
    mine = tmp_path / "home" / "mine"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my notes\n")
    (mine / "holiday.jpg").write_bytes((data / "squat" / "squat_100001.jpg").read_bytes())
    model = _model_dir(tmp_path / "model", keras_bytes=_keras_archive({"class_name": "Sequential"}))
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"data_dir": str(data)}))
    with zipfile.ZipFile(tmp_path / "archive.zip", "w") as archive:
        archive.writestr("squat/x_100001.jpg", (data / "squat" / "squat_100001.jpg").read_bytes())
    return {"data": data, "mine": mine, "model": model, "run": run, "tmp": tmp_path}


def targets(kind: str, space: dict[str, Path]) -> list[list[str]]:
    """What to point one output option at (the option's value, and any extra argument it needs)."""
    photo, mine = space["data"] / "squat" / "squat_100001.jpg", space["mine"]
    if kind == PARENT:  # a folder to make run directories in: the run directory is the user's folder
        return [[str(photo)], [str(space["data"] / "squat")], [str(mine.parent), "--run-id", mine.name]]
    shots = [[str(photo)], [str(space["data"] / "squat")], [str(mine)]]
    if kind == FILE:
        shots.append([str(mine / "notes.txt")])  # a file of the user's outside the data: not ours to replace
    return shots


def test_every_output_option_of_every_command_refuses_the_data_and_the_users_files(workspace, in_process):
    options = written_options()
    assert {command for command, _, _ in options} <= set(REQUIRED), "a command with outputs has no REQUIRED entry"
    assert {kind for _, _, kind in options} == {FILE, FOLDER, PARENT}
    before = {name: snapshot(workspace[name]) for name in ("data", "mine")}
    tried = 0
    for command, option, kind in options:
        required = [a.format(**{k: str(v) for k, v in workspace.items()}) for a in REQUIRED[command]]
        for target in targets(kind, workspace):
            if command == "worker" and "--run-id" in target:
                required = required[:2] + required[4:]  # the target names the run itself
            if command == "perf" and option == "--json":
                target = [*target, "--work", str(workspace["tmp"] / "perf-work")]
            done = in_process(command, *required, option, *target)
            assert_one_line_error(done, "--run-id" if "--run-id" in target else option)
            tried += 1
    extras = [  # config fields that name folders the work writes into
        ["run", "--data", str(workspace["data"]), "--set", f"cache_dir={workspace['data']}"],
        ["run", "--data", str(workspace["data"]), "--set", f"cache_dir={workspace['mine']}"],
        ["fit", "--data", str(workspace["data"]), "--out", str(workspace["tmp"] / "m"), "--set",
         f"cache_dir={workspace['data'] / 'pixels'}"],
        ["run", "--data", str(workspace["data"]), "--set", f"runs_dir={workspace['data'] / 'runs'}"],
        ["run", "--data", str(workspace["data"]), "--out", str(workspace["tmp"]), "--run-id", "../escape"],
        ["run", "--data", str(workspace["data"]), "--run-id", str(workspace["tmp"] / "abs")],
        ["run", "--data", str(workspace["data"]), "--out", "/"],
    ]  # fmt: skip
    for args in extras:
        assert_one_line_error(in_process(*args))
    assert tried >= 3 * len(options)
    assert {name: snapshot(workspace[name]) for name in ("data", "mine")} == before
    assert [p.name for p in workspace["mine"].parent.iterdir()] == ["mine"]
    assert sorted(p.name for p in workspace["tmp"].iterdir()) == ["archive.zip", "data", "home", "model", "runs"]
    assert not Path("/zz-escape").exists()


def test_a_file_the_tool_wrote_may_be_replaced_one_it_did_not_asks_for_force(workspace, in_process):
    out = workspace["tmp"] / "grouped.csv"
    args = ["splits", "--data", str(workspace["data"]), "--strategy", "grouped", "--folds", "2", "--out", str(out)]
    assert in_process(*args).returncode == 0
    first = out.read_bytes()
    assert in_process(*args).returncode == 0 and out.read_bytes() == first  # ours: replaced
    out.write_text("edited by hand\n")
    assert_one_line_error(in_process(*args), "did not write it", "--force")
    assert out.read_text() == "edited by hand\n"
    assert in_process(*args, "--force").returncode == 0 and out.read_bytes() == first


def test_demo_data_replaces_only_what_its_manifest_lists(tmp_path, in_process):
    demo = tmp_path / "demo"
    assert in_process("demo-data", "--out", str(demo), "--scale", "tiny", "--seed", "3").returncode == 0
    (demo / "my class").mkdir()
    (demo / "my class" / "mine.jpg").write_bytes(b"my photo")
    (demo / "squat" / "notes.txt").write_text("my notes\n")
    done = in_process("demo-data", "--out", str(demo), "--scale", "tiny", "--seed", "4")
    assert_one_line_error(done, "did not write", "my class/", "squat/notes.txt", "--force")
    assert (demo / "my class" / "mine.jpg").read_bytes() == b"my photo"
    assert (demo / "squat" / "notes.txt").read_text() == "my notes\n"
    shutil.rmtree(demo / "my class")
    (demo / "squat" / "notes.txt").unlink()
    assert in_process("demo-data", "--out", str(demo), "--scale", "tiny", "--seed", "4").returncode == 0  # ours again
    edited = next((demo / "squat").glob("*.jpg"))
    edited.write_bytes(edited.read_bytes() + b"retouched")
    assert_one_line_error(in_process("demo-data", "--out", str(demo), "--scale", "tiny"), edited.name)


def test_redaction_covers_every_form_of_password_in_a_url():
    cases = {
        "postgresql://bench:pw1@host:5499/db": "postgresql://bench:***@host:5499/db",
        "postgresql://:pw2@host/db": "postgresql://:***@host/db",
        "postgresql://bench@host:5499/db?password=pw3&sslmode=require": (
            "postgresql://bench@host:5499/db?password=***&sslmode=require"
        ),
        "mysql://u@h/db?auth_token=pw4;api_key=pw5": "mysql://u@h/db?auth_token=***;api_key=***",
        "worker --storage postgresql://u:pw6@h/d --run-id r": "worker --storage postgresql://u:***@h/d --run-id r",
        "sqlite:////tmp/runs/r/optuna.db": "sqlite:////tmp/runs/r/optuna.db",
    }  # fmt: skip
    for text, expected in cases.items():
        assert redact(text) == expected


@pytest.mark.slow
def test_no_password_reaches_the_run_folder_the_report_or_the_output(real_sample, tmp_path, postgres_url):
    """The test cluster trusts every login, so any password is accepted and must be found nowhere."""
    secret = "Hunter2-secret"
    assert postgres_url.startswith("postgresql://bench@")
    url = postgres_url.replace("bench@", f"bench:{secret}@") + f"?password={secret}&application_name=wb"
    args = ["--data", str(real_sample), "--out", str(tmp_path / "runs"), "--run-id", "pw", "--storage", url,
            "--trials", "1", "--models", "CustomCNN", "--strategies", "grouped", "--folds", "2",
            "--set", "audit_in_run=false", "--set", "CustomCNN.input_sizes=[32]", "--set", "CustomCNN.max_epochs=1",
            "--set", "inner_folds=2"]  # fmt: skip
    done = cli("run", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = tmp_path / "runs" / "pw"
    report = cli("report", str(run_dir), "--storage", url)
    assert report.returncode == 0, report.stderr[-2000:]
    lock_run_dir(run_dir, url)  # a second process on a held run: its error line names the storage
    try:
        held = cli("run", *args)
    finally:
        unlock_run_dir(run_dir)
    assert_one_line_error(held, "is being run by", "bench:***@")
    outputs = done.stdout + done.stderr + report.stdout + report.stderr + held.stdout + held.stderr
    assert secret not in outputs
    found = [p.name for p in run_dir.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert found == [], found
    assert "password=***" in (run_dir / "environment.json").read_text()


@pytest.mark.parametrize("seed", ["-1", "99999999999"])
def test_a_seed_outside_32_bits_is_one_line_from_the_cli_and_from_config(real_sample, tmp_path, seed, in_process):
    done = in_process("splits", "--data", str(real_sample), "--strategy", "grouped", "--seed", seed,
                      "--out", str(tmp_path / "m.csv"))  # fmt: skip
    assert_one_line_error(done, "--seed", "4294967295" if seed != "-1" else "at least 0")
    with pytest.raises(ValueError, match="seed must be"):
        Config(seed=int(seed))
    assert not (tmp_path / "m.csv").exists()


def test_the_same_model_twice_is_recorded_once():
    assert Config(models=("CustomCNN", "CustomCNN", "EfficientNetLite0", "CustomCNN")).models == (
        "CustomCNN",
        "EfficientNetLite0",
    )


@pytest.mark.slow
def test_a_full_disk_names_the_file_and_keeps_the_report_there(finished_run, tmp_path, in_process, monkeypatch):
    run_dir = tmp_path / "r"
    shutil.copytree(finished_run, run_dir)
    before = (run_dir / "report.html").read_bytes()

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    done = in_process("report", str(run_dir))
    assert_one_line_error(done, "cannot write", "no space left", "run the same command again")
    assert (run_dir / "report.html").read_bytes() == before
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_a_bad_model_directory_is_one_line_naming_what_is_wrong(real_sample, tmp_path, in_process):
    photo = str(next((real_sample / "squat").glob("*.jpg")))
    cases = [
        (_model_dir(tmp_path / "names", {"model_name": "x", "class_names": 5, "preprocess": {}}), "class_names"),
        (_model_dir(tmp_path / "cut", keras_bytes=b"PK\x03\x04 cut short"), "not a whole Keras model file"),
        (_model_dir(tmp_path / "json"), "not a whole Keras model file"),
        (tmp_path / "absent", "not found"),
    ]
    (tmp_path / "json" / "meta.json").write_text("{not json")
    cases[2] = (tmp_path / "json", "not valid JSON")
    for folder, fragment in cases:
        assert_one_line_error(in_process("predict", "--model-dir", str(folder), photo), str(folder.name), fragment)
    # A whole archive whose layer Keras cannot build (a Lambda's function or a class that is not there).
    missing = {"module": "keras", "class_name": "NoSuchLayerAnywhere", "config": {}, "registered_name": None}
    _model_dir(tmp_path / "layer", keras_bytes=_keras_archive(missing))
    assert_one_line_error(in_process("predict", "--model-dir", str(tmp_path / "layer"), photo), "cannot load")


def test_a_run_being_started_is_named_by_its_holder_whatever_it_has_written(real_sample, tmp_path):
    """The second of two runs started together once read the first one's temporary files as foreign."""
    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True)
    lock_run_dir(run_dir, "sqlite:///x")
    for name in (".data_summary.json.k3j2.tmp", ".config.json.x9.tmp", "data_summary.json"):  # mid-write
        (run_dir / name).write_text("{")
    try:
        done = cli("run", "--data", str(real_sample), "--out", str(tmp_path / "runs"), "--run-id", "r",
                   "--trials", "0", "--models", "CustomCNN", "--folds", "2")  # fmt: skip
    finally:
        unlock_run_dir(run_dir)
    assert_one_line_error(done, "run r is being run by", f":{os.getpid()}")


def _png_header(width: int, height: int) -> bytes:
    """A PNG that says it is width x height (a decompression bomb needs no more to be refused)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = b"IDAT" + zlib.compress(b"\0" * 64)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
            + struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
            + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))  # fmt: skip


def test_an_image_above_the_pixel_limit_is_refused_from_its_header_and_named_once(real_copy, in_process):
    bomb = real_copy / "squat" / "poster_100001.png"
    bomb.write_bytes(_png_header(20000, 20000))
    done = in_process("scan", "--data", str(real_copy))
    assert done.returncode == 0
    lines = [line for line in done.stderr.splitlines() if "poster_100001.png" in line]
    assert len(lines) == 1 and "20000 x 20000" in lines[0] and "max_image_pixels" in lines[0], done.stderr
    assert "DecompressionBomb" not in done.stderr + done.stdout
    assert_one_line_error(in_process("scan", "--data", str(real_copy), "--set", "max_image_pixels=100"), "are bad")
    assert_one_line_error(in_process("scan", "--data", str(real_copy), "--set", "max_image_pixels=0"), "at least 1")


def test_class_names_in_any_script_draw_without_a_warning_and_the_report_says_what_it_replaced():
    from reports import figures
    from reports.build import glyph_note

    names = ["深蹲", "squat", "Жим лёжа"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = figures.confusion_matrix(np.eye(3, dtype=int) * 4, names, "深蹲: grouped folds")
    assert png.startswith(b"\x89PNG")
    missing = figures.undrawable("".join(names))
    assert set(missing) <= set("深蹲Жимлёжа") and "Ж" not in missing  # DejaVu Sans draws Cyrillic
    assert figures.drawable("深蹲 squat") == ("?? squat" if missing else "深蹲 squat")
    assert (glyph_note(names) != "") == bool(missing)


def test_fit_checks_its_output_before_importing_tensorflow(real_sample, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(next((real_sample / "squat").glob("*.jpg")).read_bytes())
    code = ("import sys; from benchmark.cli import main; rc = main(sys.argv[1:]); "
            "print('tensorflow' in sys.modules); sys.exit(rc)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, "fit", "--data", str(real_sample), "--out", str(photo)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert_one_line_error(done, "--out", "is a file")
    assert done.stdout.strip() == "False"


@pytest.mark.slow
def test_fit_records_the_data_it_was_given(tiny_demo, tmp_path):
    data = tmp_path / "three"
    for label in ("plank", "squat", "pull up"):
        shutil.copytree(tiny_demo / label, data / label)
    model = tmp_path / "model"
    done = cli("fit", "--data", str(data), "--out", str(model), "--model", "CustomCNN",
               "--set", "CustomCNN.input_sizes=[32]", "--set", "CustomCNN.max_epochs=1")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    meta = json.loads((model / "meta.json").read_text())
    assert meta["config"]["data_dir"] == str(data.resolve()) == meta["trained_on"]["data_dir"]


@pytest.mark.slow
def test_the_wheel_holds_every_package_and_its_command_starts(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    target = tmp_path / "site"
    wheel = [str(path) for path in wheels.glob("*.whl")]
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                              *wheel], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    code = ("import benchmark, benchmark.commands.run, benchmark.cv.pipeline, benchmark.data.scan, reports.build; "
            "from pathlib import Path; print(benchmark.__file__); "
            "print((Path(reports.build.__file__).parent / 'templates' / 'report.html.j2').is_file())")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [str(target / "benchmark" / "__init__.py"), "True"]
    helped = subprocess.run([sys.executable, "-m", "benchmark", "run", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert helped.returncode == 0 and "--folds" in helped.stdout, helped.stderr[-2000:]
