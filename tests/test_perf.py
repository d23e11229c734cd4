"""Speed work must not change results: LiteRT features equal Keras', the fast head learns and is
seeded, the trial subsample is stratified, the feature memory budget reloads from disk; and a smoke
run of `python -m benchmark perf` (figures, not timings, are asserted)."""

import json
import shlex
import subprocess
import sys

import numpy as np
import pytest
from harness import ROOT, cli

from benchmark.core.timing import invocation_totals, invocations_phrase
from benchmark.cv.tune import subsample
from benchmark.data.dataset import load_dataset
from benchmark.data.source import DatasetSource
from models.backbones import backbone
from models.efficientnet import DEFAULTS as LITE0_DEFAULTS
from models.learner import FitResult, Runtime
from models.litert import LiteRTRunner
from models.transfer import EfficientNetLearner, train_linear_head

LITE0 = backbone("EfficientNetLite0")


@pytest.fixture(scope="module")
def tiny_dataset(tiny_demo, test_config):
    return load_dataset(tiny_demo, test_config)


@pytest.fixture(scope="module")
def tiny_source(tiny_dataset, test_config):
    return DatasetSource.of(tiny_dataset, tiny_dataset.class_names, test_config)


@pytest.mark.slow
def test_litert_extractor_matches_keras(tiny_source, test_config):
    learner = EfficientNetLearner(LITE0, {}, 0, 0, Runtime(test_config.cache_dir), max_unfrozen_blocks=2)
    model = learner.extractor_model()
    fast = learner.fast_extractor(model)
    assert isinstance(fast, LiteRTRunner)
    pixels = tiny_source.pixels(learner.preprocess)[:9].astype(np.float32)  # 9: the last LiteRT batch is padded
    expected = model.predict(pixels, verbose=0)
    got = fast(pixels)
    assert [a.shape for a in got] == [a.shape for a in expected] == [(9, 1280), (9, 7, 7, 192), (9, 7, 7, 192)]
    for a, b in zip(got, expected):
        assert np.abs(a - b).max() < 1e-3 * max(1.0, np.abs(b).max())


def test_linear_head_learns_and_is_seeded():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 64)) * 3
    labels = rng.integers(0, 5, 600)
    x = (centres[labels] + rng.normal(size=(600, 64))).astype(np.float16)
    hp = {**LITE0_DEFAULTS, "head_epochs": 40}
    val = (x[500:], labels[500:])
    first, result = train_linear_head(x[:500], labels[:500], val, 5, hp, 7, FitResult()), FitResult()
    again = train_linear_head(x[:500], labels[:500], val, 5, hp, 7, result)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    accuracy = ((val[0].astype(np.float32) @ again[0] + again[1]).argmax(1) == val[1]).mean()
    assert accuracy > 0.95 and max(result.val_accuracy) == pytest.approx(accuracy)
    other = train_linear_head(x[:500], labels[:500], val, 5, hp, 8, FitResult())
    assert not np.array_equal(other[0], first[0])


def test_trial_subsample_keeps_every_class_and_the_seed():
    labels = np.repeat(np.arange(4), [40, 20, 8, 2])
    indices = np.arange(len(labels))[::-1]
    chosen = subsample(indices, labels, 0.25, 3)
    assert np.array_equal(chosen, subsample(indices, labels, 0.25, 3))
    assert np.bincount(labels[chosen]).tolist() == [10, 5, 2, 1]  # a quarter per class, at least one
    assert set(chosen) <= set(indices) and list(chosen) == sorted(chosen)
    assert np.array_equal(subsample(indices, labels, 1.0, 3), indices)
    floored = subsample(indices, labels, 0.25, 3, min_per_class=6)
    assert np.bincount(labels[floored]).tolist() == [10, 6, 6, 2]  # never below the floor; all of a smaller class


def test_feature_memory_budget_drops_old_arrays_and_reloads_them(tmp_path, tiny_dataset, test_config):
    config = test_config.replace(cache_dir=tmp_path, feature_memory_mb=0)
    source = DatasetSource.of(tiny_dataset, tiny_dataset.class_names, config)
    calls = []

    def compute(pixels):
        calls.append(len(pixels))
        return [pixels.mean(axis=(1, 2)), pixels.max(axis=(1, 2))]

    preprocess = EfficientNetLearner(LITE0, {}, 0, 0, Runtime(tmp_path)).preprocess
    mean_only = source.features("test/a", ["mean", "max"], preprocess, compute, keep=[True, False])[0]
    assert sum(calls) == len(source.paths)  # both outputs cached at once...
    assert len(source._features) == 1  # ...but only the kept one is held
    maximum = source.features("test/a", ["mean", "max"], preprocess, compute, keep=[False, True])[0]
    assert sum(calls) == len(source.paths) and len(source._features) == 1  # over budget: the older one left
    again = source.features("test/a", ["mean", "max"], preprocess, compute, keep=[True, False])[0]
    assert sum(calls) == len(source.paths)  # read back from disk, not recomputed
    assert np.array_equal(again, mean_only) and maximum.shape == mean_only.shape


@pytest.mark.slow
def test_perf_command_prints_and_writes_every_figure(tmp_path):
    out = tmp_path / "perf.json"
    done = cli(
        "perf", "--images", "506", "--fractions", "1.0", "--no-run", "--repeats", "2", "--work", str(tmp_path / "work"),
        "--json", str(out), "--set", 'EfficientNetLite0.train_positions=["center"]',
        "--set", "EfficientNetLite0.max_unfrozen_blocks=1", "--set", "CustomCNN.input_sizes=[32]",
        "--set", "CustomCNN.max_epochs=3", "--set", "inner_folds=2", timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    figures = results["by_images"]["506"]
    assert set(figures["models"]) == {"CustomCNN", "EfficientNetLite0"}  # every model of config.models, no branch
    for name, timing in [*figures["decode"].items(), *((m, e["trial_s"]) for m, e in figures["models"].items())]:
        assert len(timing["values"]) == 2, name  # each figure is the median of --repeats runs, with its spread
        assert timing["min"] <= timing["median"] <= timing["max"] and timing["median"] > 0, name
    lite = figures["models"]["EfficientNetLite0"]
    assert lite["trial_cold_s"] > 0 and lite["tuning_images"] < 506
    for runtime in ("LiteRTRunner", "Keras predict"):  # the learner's own speed figures, both runtimes
        assert lite[f"feature extraction, {runtime} (img/s)"]["median"] > 0
    assert results["full_run"]["hours"] > 0 and "estimated" in results["full_run"]["how"]
    assert set(results["targets"]) == {"full_run_hours", "peak_rss_gb"} and results["machine"]["usable_cpus"] >= 1
    assert "median of 2, min-max" in done.stdout and "target full_run_hours <= 8:" in done.stdout
    assert f"figures: {out}" in done.stdout


def test_the_full_run_is_projected_from_the_timed_runs_and_tabled_per_model():
    from benchmark.cv.perf import machines_projection, project_full_run, table, targets_met

    per_model = {"CustomCNN": {"tune_s": 600.0, "train_s": 300.0, "evaluate_s": 6.0}}
    by_images = {
        "1385": {"run_wall_s": 1800.0, "run_stages_s": {"folds": 1700.0}, "run_per_model_s": per_model},
        "3463": {"run_wall_s": 3600.0, "run_stages_s": {"folds": 3400.0}, "run_per_model_s": per_model},
    }
    full = project_full_run(by_images, 13_853)
    slope = 1800.0 / (3463 - 1385)
    assert full["hours"] == pytest.approx((3600.0 + slope * (13_853 - 3463)) / 3600)
    assert full["how"] == "projected linearly from runs on 1385, 3463 images"
    assert 0.5 < full["growth_exponent"] < 1.0  # a fixed cost makes growth sub-linear
    assert project_full_run({"1385": by_images["1385"]}, 13_853)["hours"] is None  # one size cannot project
    results = {"by_images": by_images, "full_run": full, "repeats": 1, "images": 13_853, "folds": 5, "trials": 10,
               "machine": {"processor": "cpu", "usable_cpus": 2, "memory_gb": 23.5, "gpus": []}}  # fmt: skip
    results["targets"] = targets_met(results)
    lines = table(results)
    assert "| run CustomCNN tune, all folds (s) | 600 | 600 |" in lines
    assert any(f"full run at 13853 images, --folds 5 --trials 10: {full['hours']:.2f} h" in line for line in lines)
    assert results["targets"]["full_run_hours"]["met"] is (full["hours"] <= 8)
    assert f"target full_run_hours <= 8: {full['hours']:.3g} (projected) -> met" in lines
    # N machines: ten equal CustomCNN tasks of 90.6 s (per-model sums only), the rest of the wall serial.
    scale, serial = full["hours"] * 3600 / 3600.0, 3600.0 - 906.0
    on_5 = (serial + 2 * 90.6) * scale / 3600
    assert any(f"5 machines {on_5:.2f} h" in line and "floor: the longest fold task" in line for line in lines)
    # The full size timed outright, resumed across sittings: its own line and its own N-machine projection.
    tasks = {f"CustomCNN/grouped/fold{k}": 1500.0 + k for k in range(5)}
    results["full_run_measured"] = {"images": 13_853, "folds": 5, "trials": 10, "invocations": 3, "not_finished": 2,
                                    "last_running": False, "wall_s": 19_800.0, "cpus": ["AMD EPYC", "Intel Xeon"],
                                    "machines": {**machines_projection(tasks, 19_800.0 - sum(tasks.values())),
                                                 "from_images": 13_853, "how": "this run's fold tasks"}}  # fmt: skip
    lines = table(results)
    assert ("full run measured at 13853 images, --folds 5 --trials 10: 5.50 h in 3 invocations (2 stopped before "
            "the end and resumed), on AMD EPYC; Intel Xeon") in lines  # fmt: skip
    on_2 = (19_800.0 - sum(tasks.values()) + 1504.0 + 1501.0 + 1500.0) / 3600  # LPT: 1504+1501+1500 | 1503+1502
    # The target is then judged on the measured run, not on the projection.
    assert targets_met(results)["full_run_hours"] == {"value": 5.5, "target": "<= 8", "met": True, "how": "measured"}
    assert "target full_run_hours <= 8: 5.5 (measured) -> met" in lines
    assert any(f"2 machines {on_2:.2f} h" in line and "13853-image run: this run's" in line for line in lines)


def test_longest_first_schedules_fold_tasks_as_graham_and_never_below_the_longest():
    from benchmark.cv.perf import longest_first, machines_projection, model_seconds, task_seconds

    durations = [7.0, 6.0, 5.0, 4.0, 3.0]
    assert longest_first(durations, 1) == sum(durations)
    assert longest_first(durations, 2) == 14.0  # 7+4+3 | 6+5: LPT, within 4/3 of the optimum 13
    assert longest_first(durations, 5) == longest_first(durations, 20) == 7.0
    records = [{"model": "m", "strategy": "grouped", "fold": k, "tune_s": 10.0 * k, "train_s": 1.0,
                "evaluate_s": 0.5, "defaults_s": 2.0} for k in range(3)]  # fmt: skip
    tasks = task_seconds(records)
    assert tasks == {"m/grouped/fold0": 3.5, "m/grouped/fold1": 13.5, "m/grouped/fold2": 23.5}
    assert model_seconds(records) == {"m": {"tune_s": 30.0, "train_s": 3.0, "evaluate_s": 1.5, "defaults_s": 6.0}}
    projected = machines_projection(tasks, serial_s=36.0, scale=2.0, machines=(1, 3))
    assert projected["hours"] == {"1": (72.0 + 2 * 40.5) / 3600, "3": (72.0 + 47.0) / 3600}
    assert projected["longest_task_hours"] == 47.0 / 3600


def test_from_run_sums_every_invocation_and_projects_from_the_recorded_tasks(tmp_path):
    """`perf --from-run` on a run resumed once and not finished: 3 of 4 tasks recorded."""
    run_dir = tmp_path / "r"
    (run_dir / "folds" / "m" / "grouped").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"models": ["m"], "strategies": ["grouped", "random"],
                                                     "folds": 2, "trials": 3}))  # fmt: skip
    (run_dir / "data_summary.json").write_text(json.dumps({"n_images": 600}))
    interrupted = {"state": "interrupted", "stages_s": {"scan": 5.0, "folds": 95.0}, "wall_s": 100.0}
    finished = {"state": "finished", "stages_s": {"scan": 1.5, "folds": 48.0, "report": 0.5}, "wall_s": 50.0}
    (run_dir / "timings.json").write_text(json.dumps([interrupted, finished]))
    for fold, (strategy, tune) in enumerate([("grouped", 40.0), ("grouped", 30.0), ("random", 20.0)]):
        (run_dir / "folds" / "m" / strategy).mkdir(parents=True, exist_ok=True)
        record = {"model": "m", "strategy": strategy, "fold": fold % 2, "tune_s": tune, "train_s": 10.0,
                  "evaluate_s": 1.0}  # fmt: skip
        (run_dir / "folds" / "m" / strategy / f"fold{fold % 2}.json").write_text(json.dumps(record))
    out = tmp_path / "t.json"
    done = cli("perf", "--from-run", str(run_dir), "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert (figures["invocations"], figures["not_finished"], figures["wall_s"]) == (2, 1, 150.0)
    assert figures["stages_s"] == {"scan": 6.5, "folds": 143.0, "report": 0.5}
    assert (figures["tasks_recorded"], figures["tasks_expected"]) == (3, 4)
    # Tasks of 51, 41 and 31 s; the rest of the 150 s (27 s) is serial: scan, report, the lost work.
    assert figures["machines"]["hours"]["1"] == pytest.approx(150.0 / 3600)
    assert figures["machines"]["hours"]["2"] == pytest.approx((27.0 + 72.0) / 3600)  # LPT: 51 | 41+31
    assert figures["machines"]["hours"]["5"] == pytest.approx((27.0 + 51.0) / 3600)  # the longest task
    lines = done.stdout.splitlines()
    assert lines[0].endswith("600 images, --folds 2 --trials 3: 150 s = 0.04 h in 2 invocations (1 stopped before "
                             "the end and resumed)")  # fmt: skip
    assert "fold tasks recorded: 3 of 4 (the run is not finished)" in lines
    # Piped into a reader that has gone (`| head`): no traceback, the shell's SIGPIPE status.
    piped = subprocess.run(f"{shlex.quote(sys.executable)} -m benchmark perf --from-run {shlex.quote(str(run_dir))} "
                           "| head -c 0; exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", cwd=ROOT,
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert piped.returncode == 141 and "Traceback" not in piped.stderr, piped.stderr[-2000:]
    missing = cli("perf", "--from-run", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "timings.json not found" in missing.stderr.strip().splitlines()[-1]


def test_a_run_still_going_is_not_called_resumed():
    """perf --from-run while a run goes: its newest entry is `running` (going now, or killed at its last beat)."""
    interrupted = {"state": "interrupted", "stages_s": {"folds": 95.0}, "wall_s": 95.0}
    running = {"state": "running", "stages_s": {"folds": 40.0}, "wall_s": 40.0}
    finished = {"state": "finished", "stages_s": {"folds": 10.0}, "wall_s": 10.0}
    going = invocation_totals([interrupted, running])
    assert (going["not_finished"], going["last_running"], going["wall_s"]) == (2, True, 135.0)
    assert invocations_phrase(going) == (" (1 stopped before the end and resumed; the last one running now, "
                                         "or killed: counted to its last beat)")  # fmt: skip
    # A killed invocation that a later one resumed is counted with the resumed ones.
    assert invocations_phrase(invocation_totals([running, interrupted, finished])) == (
        " (2 stopped before the end and resumed)"
    )
    assert invocations_phrase(invocation_totals([running])) == (
        " (the last one running now, or killed: counted to its last beat)"
    )
    assert invocations_phrase(invocation_totals([finished])) == ""
