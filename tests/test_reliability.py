"""What real datasets and machines do to a harness: bad files, bad options, kills, stale caches, reruns."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from harness import ROOT, assert_one_line_error, cli, run_command
from PIL import Image

from benchmark.core.rundir import timed_invocation
from benchmark.core.timing import StageClock, invocation_totals
from benchmark.data.cache import ArrayCache, cache_usage, content_key, load_pixels
from models.preprocess import Preprocess

# Each bad file and a fragment of the reason its one line must give.
BAD = {
    "squat/zero bytes_100001.jpg": "0 bytes",
    "squat/truncated_100001.jpg": "truncated",
    "plank/text_100001.jpg": "not an image",
    "plank/saved page_100001.png": "not an image",
}
# Valid files in odd formats: used like any other image.
ODD = [
    "bench press/cmyk_7700001.jpg",
    "deadlift/sixteen bit_7700001.png",
    "hip thrust/alpha_7700001.png",
    "lat pulldown/grayscale_7700001.jpg",
    "pull up/palette gif_7700001.jpg",
    "push up/exif rotated_7700001.jpg",
    "leg raises/huge_7700001.jpg",
    "shoulder press/Übung mit Leerzeichen ñ_7700001.jpg",
]
FAST = ["--set", "CustomCNN.input_sizes=[32]", "--set", "inner_folds=2"]


def one_line_each(stderr: str, paths) -> None:
    lines = stderr.splitlines()
    for path in paths:
        hits = [line for line in lines if path in line]
        assert len(hits) == 1, f"{path!r} named in {len(hits)} lines"


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def messy(real_sample, tmp_path_factory) -> Path:
    """The real sample plus every bad kind and every odd-but-valid kind, an empty class and a stray file."""
    root = tmp_path_factory.mktemp("messy") / "data"
    shutil.copytree(real_sample, root, ignore=shutil.ignore_patterns("README.md"))
    photo_path = sorted((root / "squat").glob("*.jpg"))[0]
    photo = Image.open(photo_path).convert("RGB")
    files = {
        BAD_KEYS[0]: b"",
        BAD_KEYS[1]: photo_path.read_bytes()[: photo_path.stat().st_size // 3],
        BAD_KEYS[2]: b"these are my training notes, not a picture\n",
        BAD_KEYS[3]: b"<!DOCTYPE html><html><body><img src='squat.jpg'></body></html>\n",
        ODD[0]: _save(photo.convert("CMYK"), "JPEG"),
        ODD[1]: _save(Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257), "PNG"),
        ODD[2]: _save(photo.convert("RGBA"), "PNG"),
        ODD[3]: _save(photo.convert("L"), "JPEG"),
        ODD[4]: _save(photo.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        ODD[5]: _rotated(photo),
        ODD[6]: _save(photo.resize((12000, 9000)), "JPEG", quality=60),
        ODD[7]: photo_path.read_bytes(),
    }
    for relative, data in files.items():
        (root / relative).write_bytes(data)
    (root / "empty class").mkdir()
    (root / "notes.txt").write_text("a stray file at the top level\n")
    return root


BAD_KEYS = list(BAD)


@pytest.fixture(scope="module")
def messy_fit(messy, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    model = tmp_path_factory.mktemp("messy-model") / "model"
    return model, cli("fit", "--data", str(messy), "--model", "CustomCNN", "--out", str(model), *FAST)


def _rotated(photo: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    return _save(photo.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif)


@pytest.mark.slow
def test_odd_files_are_used_and_every_bad_file_named_once_by_every_command(messy, messy_fit, tmp_path):
    manifest = tmp_path / "m.csv"
    splits = cli("splits", "--data", str(messy), "--folds", "5", "--strategy", "grouped", "--out", str(manifest))
    assert splits.returncode == 0 and "Traceback" not in splits.stderr, splits.stderr[-2000:]
    one_line_each(splits.stderr, BAD)
    for path, reason in BAD.items():
        assert reason in next(line for line in splits.stderr.splitlines() if path in line)
    assert "empty class folder: empty class" in splits.stderr
    paths = set(pd.read_csv(manifest, keep_default_na=False).path)
    assert set(ODD) <= paths and not set(BAD) & paths and len(paths) == 110 + len(ODD)

    model, fit = messy_fit
    assert fit.returncode == 0 and "Traceback" not in fit.stderr, fit.stderr[-2000:]
    one_line_each(fit.stderr, BAD)
    assert json.loads((model / "meta.json").read_text())["trained_on"]["n_images"] == 110 + len(ODD)

    evaluate = cli("evaluate", "--model-dir", str(model), "--data", str(messy), "--json")
    assert evaluate.returncode == 0 and "Traceback" not in evaluate.stderr, evaluate.stderr[-2000:]
    one_line_each(evaluate.stderr, BAD)
    assert json.loads(evaluate.stdout)["n_images"] == 110 + len(ODD)

    folders = sorted({str(messy / p.split("/")[0]) for p in [*BAD, *ODD]})
    predict = cli("predict", "--model-dir", str(model), *folders, "--csv", str(tmp_path / "p.csv"))
    assert predict.returncode == 0 and "Traceback" not in predict.stderr, predict.stderr[-2000:]
    one_line_each(predict.stderr, BAD)
    predicted = set(pd.read_csv(tmp_path / "p.csv").path)
    assert {str(messy / p) for p in ODD} <= predicted and not {str(messy / p) for p in BAD} & predicted

    out = tmp_path / "runs"
    run = cli(
        "run", "--data", str(messy), "--folds", "2", "--trials", "1", "--models", "CustomCNN", "--out", str(out),
        "--run-id", "messy", *FAST,
    )  # fmt: skip
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    one_line_each(run.stderr, BAD)
    summary = json.loads((out / "messy" / "data_summary.json").read_text())
    assert {b["path"] for b in summary["bad_files"]} == set(BAD)
    report = (out / "messy" / "report.html").read_text(encoding="utf-8")
    assert all(path in report for path in BAD)


@pytest.mark.parametrize(
    "args",
    [
        ["splits", "--folds", "5", "--strategy", "grouped", "--out", "{tmp}/m.csv"],
        ["fit", "--model", "CustomCNN", "--out", "{tmp}/model"],
        ["run", "--folds", "2", "--trials", "1", "--out", "{tmp}/runs"],
    ],
    ids=["splits", "fit", "run"],
)
def test_strict_stops_at_the_first_bad_file_with_exit_2(messy, tmp_path, args, in_process):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = in_process(*args, "--data", str(messy), "--strict")
    assert_one_line_error(done, "bad image (--strict): ")
    assert any(path in done.stderr.strip().splitlines()[-1] for path in BAD)
    assert not list(tmp_path.iterdir()), "nothing may be written before the data is known good"


@pytest.mark.slow
def test_strict_evaluate_and_predict_stop_too(messy, messy_fit, in_process):
    model, fit = messy_fit
    assert fit.returncode == 0, fit.stderr[-2000:]
    assert_one_line_error(
        in_process("evaluate", "--model-dir", str(model), "--data", str(messy), "--strict"), "--strict"
    )
    done = in_process("predict", "--model-dir", str(model), str(messy / "plank"), "--strict")
    assert_one_line_error(done, "bad image (--strict): ")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["run", "--models", "ResNet"], "invalid choice: 'ResNet'"),
        (["run", "--set", 'models=["ResNet"]'], "ResNet"),
        (["fit", "--model", "ResNet", "--out", "{tmp}/m"], "ResNet"),
        (["run", "--folds", "1"], "folds"),
        (["run", "--folds", "6"], "fewer than --folds 6"),
        (["run", "--data", "{tmp}/missing"], "not found"),
        (["run", "--data", "{tmp}/empty"], "no images found"),
        (["run", "--folds", "2", "--set", "inner_folds=2", "--out", "/proc/workout-bench-runs"], "cannot write to"),
        (["splits", "--strategy", "grouped", "--out", "/proc/x/m.csv"], "cannot write to"),
        (["run", "--trials", "-1"], "--trials"),
        (["run", "--set", "no_such_field=1"], "no_such_field"),
    ],
)
def test_bad_configuration_is_one_line_exit_2(real_sample, tmp_path, args, fragment, in_process):
    (tmp_path / "empty").mkdir()
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--data" not in args:
        args += ["--data", str(real_sample)]
    if args[0] == "run" and "--out" not in args:
        args += ["--out", str(tmp_path / "runs")]
    assert_one_line_error(in_process(*args), fragment)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "a failed run left a directory"


@pytest.mark.slow
def test_model_dir_from_another_class_set_is_refused(real_sample, tiny_demo, tmp_path):
    sub = tmp_path / "three"
    for label in sorted(p.name for p in real_sample.iterdir() if p.is_dir())[:3]:
        shutil.copytree(real_sample / label, sub / label)
    model = tmp_path / "model"
    assert cli("fit", "--data", str(sub), "--model", "CustomCNN", "--out", str(model), *FAST).returncode == 0
    done = cli("evaluate", "--model-dir", str(model), "--data", str(real_sample))
    assert_one_line_error(done, "was trained on another class set", "are not among its 3 classes")


@pytest.mark.slow
def test_killed_at_every_stage_resumes_without_losing_or_repeating_work(tiny_demo, tmp_path, finished_run):
    """One run killed in decoding, mid-trial, mid-final-training and mid-report, resumed each time (one
    model, one strategy, no audit: what is tested is the stops, not the arms)."""
    command = run_command(tiny_demo, tmp_path, "--models", "CustomCNN", "--strategies", "grouped",
                          "--set", f"cache_dir={tmp_path / 'cache'}", "--set", "audit_in_run=false")  # fmt: skip
    run_dir = tmp_path / "r"
    storage = f"sqlite:///{run_dir / 'optuna.db'}"
    kept_records: dict[Path, bytes] = {}
    kept_trials: dict[str, list[dict]] = {}
    states: list[str] = []
    for point, sig in (("decode", "SIGINT"), ("tune", "SIGTERM"), ("train", "SIGINT"), ("report", "SIGTERM")):
        env = {**os.environ, "WORKOUT_BENCH_SIGNAL_AT": f"{point}:{sig}"}
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 130, f"{point}: {done.returncode} {done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith("interrupted: results written so far are kept")
        for path, content in kept_records.items():
            assert path.read_bytes() == content, f"{point}: a finished fold was redone"
        trials = done_trials(storage) if (run_dir / "optuna.db").exists() else {}
        for study, params in kept_trials.items():
            assert trials[study][: len(params)] == params, f"{point}: a finished trial was lost"
        assert all(len(params) <= 2 for params in trials.values()), f"{point}: more trials than the budget"
        kept_records = {p: p.read_bytes() for p in (run_dir / "folds").rglob("fold*.json")}
        kept_trials = trials
        # Each interrupted invocation is in timings.json, with the stage it was stopped in.
        timings = json.loads((run_dir / "timings.json").read_text())
        states.append("finished" if point == "report" else "interrupted")  # report: after the pipeline's end
        assert [entry["state"] for entry in timings] == states, point
        assert timings[-1]["wall_s"] > 0 and "folds" in timings[-1]["stages_s"], point
        leftovers = [*run_dir.rglob("*.tmp"), *(tmp_path / "cache").rglob("*.tmp"), *tmp_path.glob(".*.partial")]
        assert not leftovers, f"{point}: a temporary file was left behind: {leftovers[:3]}"
        if point == "decode":
            assert (run_dir / "config.json").is_file() and not any(kept_trials.values())
        if point == "report":
            assert len(kept_records) == 2 and (run_dir / "summary.json").is_file()
            assert (run_dir / "report.html").is_file() and not (run_dir / "summary.md").exists()
    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert all(path.read_bytes() == content for path, content in kept_records.items())
    final = done_trials(storage)
    assert len(final) == 2 and all(len(params) == 2 for params in final.values())
    results = pd.read_csv(run_dir / "results.csv")
    assert len(results) == 2 and not results.duplicated(["model", "strategy", "fold"]).any()
    assert (run_dir / "summary.md").is_file() and (run_dir / "report.html").is_file()
    # The run's time is every invocation's: five of them, the report says so and adds them up.
    timings = json.loads((run_dir / "timings.json").read_text())
    assert [entry["state"] for entry in timings] == [*states, "finished"] and "report" in timings[-1]["stages_s"]
    said = re.search(r"5 invocations, ([\d.]+) s in all \(3 stopped before the end and resumed\)",
                     " ".join((run_dir / "report.html").read_text().split()))  # fmt: skip
    # The report is built before its own stage is timed: every invocation but the last one's report.
    total = sum(entry["wall_s"] for entry in timings) - timings[-1]["stages_s"]["report"]
    assert said and float(said[1]) == pytest.approx(total, abs=0.06), said
    # Killed four times and resumed, it gives what the uninterrupted run of the same seed gave, exactly.
    columns = ["strategy", "fold", "accuracy", "macro_f1", "video_accuracy", "best_inner_accuracy", "best_params"]
    uninterrupted = pd.read_csv(finished_run / "results.csv").query("model == 'CustomCNN' and strategy == 'grouped'")
    uninterrupted = uninterrupted[columns]
    pd.testing.assert_frame_equal(results[columns], uninterrupted.reset_index(drop=True), check_exact=True)
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert len(predictions) == results.n_test.sum() and not predictions.duplicated(["strategy", "fold", "path"]).any()


def done_trials(storage: str) -> dict[str, list[dict]]:
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return {
        s.study_name: [t.params for t in optuna.load_study(study_name=s.study_name, storage=storage).trials
                       if t.state in done]
        for s in optuna.get_all_study_summaries(storage)
        if not s.study_name.endswith("/tasks")  # the claims on fold tasks, not trials
    }  # fmt: skip


def test_cache_invalidates_exactly_what_changed_and_rebuilds_corrupted_entries(real_copy, tmp_path, monkeypatch):
    import benchmark.data.cache as cache_module

    decoded: list[str] = []
    real_load = cache_module.load_rgb
    monkeypatch.setattr(cache_module, "load_rgb", lambda path: decoded.append(path.name) or real_load(path))
    preprocess, cache_dir = Preprocess(size=32), tmp_path / "cache"

    def load_all() -> np.ndarray:
        paths = sorted(real_copy.rglob("*.jpg"))
        decoded.clear()
        return load_pixels(paths, [content_key(p) for p in paths], preprocess, cache_dir, workers=1)

    first = load_all()
    assert len(decoded) == 110
    assert np.array_equal(load_all(), first) and decoded == []  # all hits
    edited = sorted((real_copy / "squat").glob("*.jpg"))[0]
    Image.open(edited).convert("L").convert("RGB").save(edited, "JPEG")
    added = real_copy / "plank" / "plank_9900001.jpg"
    shutil.copy(sorted((real_copy / "squat").glob("*.jpg"))[1], added)
    new = real_copy / "plank" / "plank_9900101.jpg"  # a picture the cache has never seen
    Image.open(sorted((real_copy / "plank").glob("*.jpg"))[0]).rotate(90).save(new, "JPEG")
    sorted((real_copy / "deadlift").glob("*.jpg"))[0].unlink()
    load_all()
    # The edited and the new image are decoded, once each; the byte copy shares its twin's entry;
    # the 108 others are hits.
    assert sorted(decoded) == sorted([edited.name, new.name])

    cache = ArrayCache(cache_dir, f"pixels/{preprocess.key()}")
    key = content_key(added)
    entry = bytearray(cache.path(key).read_bytes())
    entry[200] ^= 0xFF  # one flipped byte inside the array data: np.load alone would not notice
    cache.path(key).write_bytes(bytes(entry))
    assert cache.load(key) is None and cache.rebuilt == 1 and not cache.path(key).exists()
    load_all()
    assert decoded == [added.name]  # rebuilt once; its byte-identical twin then hits the rebuilt entry


def test_cache_command_shows_and_frees_the_space_and_nothing_else(real_copy, tmp_path):
    paths = sorted(real_copy.rglob("*.jpg"))[:10]
    cache = tmp_path / "cache"
    load_pixels(paths, [content_key(p) for p in paths], Preprocess(size=32), cache, workers=2)
    assert cache_usage(cache).rows[0]["files"] == 10
    (cache / "notes.txt").write_text("mine\n")  # a file of the user's, next to the entries
    info = cli("cache", "--info", "--dir", str(cache))
    assert info.returncode == 0 and "10 files  pixels/" in info.stdout and "1 file(s)" in info.stdout
    cleared = cli("cache", "--clear", "--dir", str(cache))
    assert cleared.returncode == 0 and "MiB freed" in cleared.stdout
    assert [p.name for p in cache.rglob("*")] == ["notes.txt"]  # every entry and shard folder gone, the rest kept


# --- a run's time across invocations (timings.json kept current) ---------------------------------------------


def test_an_invocation_is_in_timings_while_it_runs_and_when_interrupted(tmp_path):
    clock = StageClock()
    clock.lap("scan")
    with pytest.raises(KeyboardInterrupt), timed_invocation(tmp_path, clock, every_s=0.05) as begin:
        begin("folds")
        time.sleep(0.3)
        beaten = json.loads((tmp_path / "timings.json").read_text())
        raise KeyboardInterrupt
    assert beaten[0]["state"] == "running" and beaten[0]["stages_s"]["folds"] >= 0.05
    entry = json.loads((tmp_path / "timings.json").read_text())
    assert len(entry) == 1 and entry[0]["state"] == "interrupted" and entry[0]["stages_s"]["folds"] >= 0.3
    again = StageClock()  # the resume: a second entry; the first is kept as it was
    with timed_invocation(tmp_path, again, every_s=60) as begin:
        begin("folds")
        again.lap("folds")
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert timings[0] == entry[0] and [e["state"] for e in timings] == ["interrupted", "finished"]
    totals = invocation_totals(timings)
    assert totals["invocations"] == 2 and totals["not_finished"] == 1
    assert totals["wall_s"] == pytest.approx(timings[0]["wall_s"] + timings[1]["wall_s"], abs=0.01)
    assert totals["stages_s"]["folds"] == pytest.approx(
        timings[0]["stages_s"]["folds"] + timings[1]["stages_s"]["folds"], abs=0.01
    )


def test_a_killed_invocation_keeps_its_time_to_the_last_beat(tmp_path):
    """kill -9 runs no handler: the beat every `every_s` is what keeps the time."""
    script = (
        "import sys, time\n"
        "from benchmark.core.rundir import timed_invocation\n"
        "from benchmark.core.timing import StageClock\n"
        "with timed_invocation(sys.argv[1], StageClock(), every_s=0.1) as begin:\n"
        "    begin('folds')\n"
        "    time.sleep(600)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT)
    path = tmp_path / "timings.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (path.is_file() and json.loads(path.read_text())[0]["wall_s"] >= 0.5):
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=30)
    entry = json.loads(path.read_text())
    assert len(entry) == 1 and entry[0]["state"] == "running" and entry[0]["stages_s"]["folds"] >= 0.5
