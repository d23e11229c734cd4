"""No outer test image reaches a learner during tuning, checked where the data is used: every row a learner
reads from the image source (pixels, cached features, labels) is recorded, with the fold task and the
phase it was read in, and compared with the run's own manifests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import benchmark.cv.claims as claims_module
from benchmark.core.rundir import manifest_path
from benchmark.cv.pipeline import run
from benchmark.cv.splitting import fold_assignment
from benchmark.cv.train import ModelPlan
from benchmark.data.dataset import load_dataset
from benchmark.data.source import DatasetSource
from config import DEFAULT

pytestmark = pytest.mark.slow

_now: dict[str, object] = {"task": None, "phase": None}
_reads: list[tuple[object, str, np.ndarray]] = []


def _rows(key: object, length: int) -> np.ndarray:
    first = key[0] if isinstance(key, tuple) else key
    if isinstance(first, slice):
        return np.arange(length)[first]
    chosen = np.asarray(first)
    return np.flatnonzero(chosen) if chosen.dtype == bool else np.atleast_1d(chosen).astype(int)


class TrackedArray(np.ndarray):
    """An array whose row reads are recorded while a learner is working (plain arrays come out)."""

    def __getitem__(self, key):
        if _now["phase"] is not None:
            _reads.append((_now["task"], str(_now["phase"]), _rows(key, len(self))))
        return np.asarray(self)[key]


class TrackingSource(DatasetSource):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.labels = self.labels.view(TrackedArray)

    def pixels(self, preprocess):
        return super().pixels(preprocess).view(TrackedArray)

    def features(self, *args, **kwargs):
        return [array.view(TrackedArray) for array in super().features(*args, **kwargs)]


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    _now["phase"] = name
    try:
        yield
    finally:
        _now["phase"] = None


class Recording:
    """The model's own learner, its fit and predict calls labelled by phase (a trial's or the final one)."""

    peek: int | None = None  # the negative control: an outer test image a dishonest learner reads in tuning

    def __init__(self, inner, kind: str):
        self.inner, self.kind, self.preprocess = inner, kind, inner.preprocess

    def fit(self, source, train_idx, val_idx=None, report=None):
        with phase(f"{self.kind} fit"):
            if self.kind == "trial" and Recording.peek is not None:
                source.pixels(self.preprocess)[[Recording.peek]]
            return self.inner.fit(source, train_idx, val_idx, report)

    def predict_proba(self, source, idx):
        with phase(f"{self.kind} predict"):
            return self.inner.predict_proba(source, idx)

    def export_model(self):
        return self.inner.export_model()


@pytest.fixture
def recorded(monkeypatch, session_cache):
    """Run a small benchmark in this process with every learner's reads recorded; returns a runner."""
    _reads.clear()
    plain_learner, plain_run_fold = ModelPlan.learner, claims_module.run_fold

    def learner(self, hp, trial=False):
        return Recording(plain_learner(self, hp, trial), "trial" if trial else "final")

    def run_fold(config, data, records_dir, storage, task, timeout=None, source=None, still_held=lambda: None):
        _now["task"] = (task.model, task.strategy, task.fold)
        return plain_run_fold(config, data, records_dir, storage, task, timeout, source, still_held)

    monkeypatch.setattr(ModelPlan, "learner", learner)
    monkeypatch.setattr(claims_module, "run_fold", run_fold)
    monkeypatch.setattr(claims_module, "DatasetSource", TrackingSource)  # the one source of the process

    def go(data: Path, out: Path, models: tuple[str, ...], strategies: tuple[str, ...]) -> Path:
        config = DEFAULT.replace(
            runs_dir=out, cache_dir=session_cache, folds=2, trials=1, inner_folds=2, models=models,
            strategies=strategies, audit_in_run=False,
            model_options={"CustomCNN": {"input_sizes": [32], "max_epochs": 3},
                           "EfficientNetLite0": {"train_positions": ["center"], "max_unfrozen_blocks": 0}},
        )  # fmt: skip
        run_dir, _ = run(config, data, "r")
        return run_dir

    return go


def violations(run_dir: Path) -> list[str]:
    """What the learners read that they should not have, per fold task and phase (empty: no leakage)."""
    problems = []
    tasks = {task for task, _, _ in _reads}
    for model, strategy, fold in sorted(tasks):
        manifest = pd.read_csv(manifest_path(run_dir, strategy), keep_default_na=False)
        test = set(np.flatnonzero(manifest.fold.to_numpy() == fold))
        train = set(range(len(manifest))) - test
        read = {}
        for task, name, rows in _reads:
            if task == (model, strategy, fold):
                read.setdefault(name, set()).update(rows.tolist())
        where = f"{model} {strategy} fold {fold}"
        for name in ("trial fit", "trial predict"):
            if not read.get(name):
                problems.append(f"{where}: no {name} recorded (the check would prove nothing)")
            elif read[name] & test:
                problems.append(f"{where}: {name} read {len(read[name] & test)} outer test image(s)")
        if read.get("final fit") != train:
            problems.append(f"{where}: the final fit did not read exactly the outer training part")
        if read.get("final predict") != test:
            problems.append(f"{where}: the final prediction did not read exactly the outer test fold")
    return problems


def test_no_learner_reads_an_outer_test_image_while_tuning_in_either_arm(recorded, tiny_demo, tmp_path):
    run_dir = recorded(tiny_demo, tmp_path, ("CustomCNN", "EfficientNetLite0"), ("grouped", "leaky"))
    assert {task for task, _, _ in _reads} == {
        (m, s, f) for m in ("CustomCNN", "EfficientNetLite0") for s in ("grouped", "leaky") for f in (0, 1)
    }
    assert violations(run_dir) == []


def test_a_learner_that_peeks_at_one_outer_test_image_while_tuning_is_caught(recorded, tiny_demo, tmp_path):
    """The negative control: the check above must fail for a learner that looks where it should not."""
    config = DEFAULT.replace(folds=2)
    first_test_image = np.flatnonzero(fold_assignment(load_dataset(tiny_demo, config), "grouped", config) == 0)[0]
    Recording.peek = int(first_test_image)
    try:
        run_dir = recorded(tiny_demo, tmp_path, ("CustomCNN",), ("grouped",))
    finally:
        Recording.peek = None
    assert violations(run_dir) == ["CustomCNN grouped fold 0: trial fit read 1 outer test image(s)"]
