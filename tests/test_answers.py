"""The numbers a user reads first, each checked by the property it must have, on examples where a
plausible wrong implementation gives another answer (issue 40: each was broken on purpose and the fast
tier stayed green)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pytest

from benchmark.cv.evaluate import prediction_rows, video_scores
from benchmark.cv.storage import INNER_SIZES_ATTR
from benchmark.cv.train import ModelPlan, difference_se
from config import DEFAULT


def test_a_clips_vote_is_the_argmax_of_its_frames_mean_probability():
    """Clip a: the first frame says class 0, the mean says 1. Clip b: two of three frames say 0 (a
    majority vote), the mean says 1. Clip c: one frame, wrong."""
    proba = np.array([
        [0.9, 0.1], [0.2, 0.8], [0.3, 0.7],  # a: mean 0.47 / 0.53
        [0.6, 0.4], [0.6, 0.4], [0.0, 1.0],  # b: mean 0.40 / 0.60
        [0.7, 0.3],                          # c
    ])  # fmt: skip
    groups = np.array(["a", "a", "a", "b", "b", "b", "c"])
    labels = np.array([1, 1, 1, 1, 1, 1, 1])
    scores = video_scores(labels, proba, groups)
    assert scores == {"video_accuracy": pytest.approx(2 / 3), "n_videos": 3}
    by_formula = [proba[groups == g].mean(axis=0).argmax() == 1 for g in ("a", "b", "c")]
    assert by_formula == [True, True, False]
    # Order of the frames within the data does not matter (a vote by first or last frame would change).
    order = np.array([2, 6, 5, 0, 4, 1, 3])
    assert video_scores(labels[order], proba[order], groups[order])["video_accuracy"] == pytest.approx(2 / 3)


def test_each_prediction_row_names_the_image_its_label_and_prediction_belong_to():
    paths = ["plank/p_100001.jpg", "squat/s_100001.jpg", "squat/s_200001.jpg", "plank/p_300001.jpg"]
    labels = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    rows = prediction_rows({"model": "M", "strategy": "grouped", "repeat": 0, "fold": 1}, paths, labels,
                           ["p1", "s1", "s2", "p3"], proba, ["plank", "squat"])  # fmt: skip
    for row, path, label, p in zip(rows.itertuples(), paths, labels, proba):
        assert (row.path, row.label, row.group[0]) == (path, ["plank", "squat"][label], path[0])
        assert row.predicted == ["plank", "squat"][p.argmax()] and row.confidence == pytest.approx(p.max())
        assert row.p_true == pytest.approx(p[label]) and row.correct == (p.argmax() == label)


def _study(plan: ModelPlan, trials: list[tuple[dict, float]], n_validation: int) -> optuna.Study:
    """A finished study: (params, inner accuracy) per trial, each scored on `n_validation` images."""
    defaults = plan.default_params()
    study = optuna.create_study(direction="maximize")
    for params, value in trials:
        full = {**defaults, **params}
        distributions = {
            k: optuna.distributions.CategoricalDistribution(sorted({v, defaults[k]}, key=str)) for k, v in full.items()
        }
        study.add_trial(optuna.trial.create_trial(params=full, distributions=distributions, value=value,
                                                  user_attrs={INNER_SIZES_ATTR: [n_validation]}))  # fmt: skip
    return study


@pytest.fixture(scope="module")
def plan() -> ModelPlan:
    return ModelPlan.of(DEFAULT, "CustomCNN", 3)


def test_the_one_se_rule_takes_a_trial_that_beats_the_defaults_by_more_than_the_noise(plan):
    # defaults 0.50, best 0.80 on 200 images: SE of the difference sqrt((.8*.2 + .5*.5)/200) = 0.0453,
    # widened by sqrt(2 ln 2) for the 2 rivals: margin 0.053 < 0.30.
    study = _study(plan, [({}, 0.50), ({"dropout": 0.5}, 0.80), ({"dropout": 0.1}, 0.55)], 200)
    best, defaults = study.trials[1], study.trials[0]
    assert difference_se(best, defaults) == pytest.approx(math.sqrt((0.8 * 0.2 + 0.5 * 0.5) / 200))
    choice = plan.final_choice(study, "one_se")
    assert choice.trial == 1 and choice.hyperparameters["dropout"] == 0.5
    assert "best of 3" in choice.reason


def test_the_one_se_rule_keeps_the_defaults_when_the_best_is_within_the_noise(plan):
    # defaults 0.50, best 0.56 on 100 images: SE 0.0702, margin 0.0827 > 0.06: the defaults stay.
    study = _study(plan, [({}, 0.50), ({"dropout": 0.5}, 0.56), ({"dropout": 0.1}, 0.52)], 100)
    choice = plan.final_choice(study, "one_se")
    assert choice.trial == 0 and choice.hyperparameters["dropout"] == plan.default_params()["dropout"]
    assert choice.reason.startswith("the defaults (trial 0)") and "within the noise" in choice.reason
    # The plain arg-max takes the best whatever the noise.
    assert plan.final_choice(study, "best").trial == 1


def test_the_one_se_rule_without_a_defaults_trial_takes_the_best(plan):
    study = _study(plan, [({"dropout": 0.1}, 0.52), ({"dropout": 0.5}, 0.56)], 100)
    choice = plan.final_choice(study, "one_se")
    assert choice.trial == 1 and choice.hyperparameters["dropout"] == 0.5
    assert plan.final_choice(None, "one_se").trial is None  # no study: the defaults, said so


# --- a whole run in this process with a learner that costs nothing ---------------------------------------


class Scripted:
    """A learner whose answers are known in advance: the true class for an image whose row in the dataset
    is not a multiple of 3, the next class (confidently) for one that is. Every fit is counted by task."""

    fits: list[tuple[int, ...]] = []
    stop_after: int | None = None  # raise KeyboardInterrupt at this many final fits (a kill mid-run)
    # Instead: right on an image whose neighbour row (a frame of the same video, mostly) it trained on, as
    # a model that memorises videos is: the leaky arm then scores higher than the grouped one.
    memorises = False

    def __init__(self, n_classes: int):
        from models.preprocess import Preprocess

        self.n_classes, self.preprocess = n_classes, Preprocess(size=32)

    def fit(self, source, train_idx, val_idx=None, report=None):
        from models.learner import FitResult

        if Scripted.stop_after is not None and len(Scripted.fits) >= Scripted.stop_after:
            raise KeyboardInterrupt
        Scripted.fits.append(tuple(int(i) for i in train_idx))
        self.trained = set(Scripted.fits[-1])
        return FitResult()

    def export_model(self):
        return None

    def predict_proba(self, source, idx):
        idx = np.asarray(idx)
        labels = np.asarray(source.labels)[idx]
        if Scripted.memorises:
            seen = np.array([i - 1 in self.trained or i + 1 in self.trained for i in idx])
            return scripted_proba(np.where(seen, 1, 0), labels, self.n_classes)
        return scripted_proba(idx, labels, self.n_classes)


def scripted_proba(rows: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    answer = np.where(rows % 3 == 0, (labels + 1) % n_classes, labels)
    proba = np.full((len(rows), n_classes), 0.2 / (n_classes - 1))
    proba[np.arange(len(rows)), answer] = 0.8
    return proba


@pytest.fixture
def scripted_run(monkeypatch, session_cache, tmp_path, real_sample):
    """`run` on the real sample in this process, both strategies, 2 folds, no trials, the Scripted learner."""
    from benchmark.cv.pipeline import run

    Scripted.fits, Scripted.stop_after, Scripted.memorises = [], None, False
    monkeypatch.setattr(ModelPlan, "learner", lambda self, hp, trial=False: Scripted(self.n_classes))
    config = DEFAULT.replace(runs_dir=tmp_path / "runs", cache_dir=session_cache, folds=2, trials=0,
                             models=("CustomCNN",), audit_in_run=False)  # fmt: skip

    def go(**changes):
        return run(config.replace(**changes), real_sample, "r")

    go.run_dir = tmp_path / "runs" / "r"
    return go


def test_every_prediction_row_is_the_image_the_manifest_names_with_its_own_prediction(scripted_run):
    import pandas as pd

    run_dir, _ = scripted_run()
    predictions = pd.read_csv(run_dir / "predictions.csv", keep_default_na=False)
    classes = sorted(predictions["label"].unique())
    for strategy in ("grouped", "leaky"):
        manifest = pd.read_csv(run_dir / "manifests" / f"{strategy}.csv", keep_default_na=False)
        rows = pd.Series(np.arange(len(manifest)), index=manifest["path"])
        mine = predictions[predictions.strategy == strategy]
        assert sorted(mine["path"]) == sorted(manifest["path"])  # every image once
        truth = manifest.set_index("path").loc[mine["path"]]
        assert (mine["label"].to_numpy() == truth["label"].to_numpy()).all()
        assert (mine["group"].astype(str).to_numpy() == truth["group"].astype(str).to_numpy()).all()
        assert (mine["fold"].to_numpy() == truth["fold"].to_numpy()).all()
        index = rows[mine["path"]].to_numpy()
        expected = scripted_proba(index, np.array([classes.index(c) for c in mine["label"]]), len(classes))
        assert (mine["correct"].to_numpy() == (index % 3 != 0)).all()
        assert list(mine["predicted"]) == [classes[i] for i in expected.argmax(axis=1)]
        labels = np.array([classes.index(c) for c in mine["label"]])
        assert np.allclose(mine["p_true"], expected[np.arange(len(labels)), labels])


def test_a_run_with_a_fold_task_left_unrecorded_writes_no_summary_and_names_the_task(scripted_run, monkeypatch):
    from benchmark.core.errors import BenchmarkError
    from benchmark.cv.folds import PartWork

    plain = PartWork.pending
    monkeypatch.setattr(PartWork, "pending", lambda self, config: plain(self, config)[:-1])  # the last one lost
    with pytest.raises(BenchmarkError, match=r"1 of 4 fold tasks have no record \(CustomCNN/leaky/fold1\)"):
        scripted_run()
    assert len(list(scripted_run.run_dir.rglob("fold*.json"))) == 3
    assert not {"results.csv", "predictions.csv", "summary.json"} & {p.name for p in scripted_run.run_dir.iterdir()}


def test_a_run_killed_between_two_fold_records_resumes_without_refitting_the_finished_ones(scripted_run):
    import json

    Scripted.stop_after = 2  # two fold tasks recorded, the third killed in its final fit
    with pytest.raises(KeyboardInterrupt):
        scripted_run()
    first_fits = list(Scripted.fits)
    assert len(first_fits) == 2
    Scripted.stop_after = None
    run_dir, summary = scripted_run()
    assert len(Scripted.fits) == 4  # the two left, not all four again
    assert set(Scripted.fits[2:]).isdisjoint(first_fits)
    records = sorted(run_dir.rglob("fold*.json"))
    assert len(records) == 4 and all(json.loads(p.read_text())["n_train"] > 0 for p in records)
    assert summary["models"]["CustomCNN"]["grouped"]["accuracy"]["mean"] == pytest.approx(
        np.mean([json.loads(p.read_text())["accuracy"] for p in records if "/grouped/" in str(p)])
    )


# --- comparisons by their formulas ------------------------------------------------------------------------


def _results(accuracy: list[float], defaults: list[float] | None = None, n_train=80.0, n_test=20.0):
    import pandas as pd

    k = len(accuracy)
    frame = pd.DataFrame({"model": "CustomCNN", "strategy": "grouped", "repeat": 0, "fold": range(k)})
    frame = frame.assign(accuracy=accuracy, video_accuracy=accuracy, n_train=n_train, n_test=n_test)
    if defaults is not None:
        frame["defaults_accuracy"] = defaults
        frame["defaults_video_accuracy"] = defaults
    return frame


def _fake_run(folder: Path, fingerprint: str, results) -> Path:
    import json

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"rope": 0.01, "repeats": 1}))
    (folder / "data_summary.json").write_text(json.dumps({"content_fingerprint": fingerprint}))
    results.to_csv(folder / "results.csv", index=False)
    return folder


def test_compare_of_runs_on_other_folds_is_welchs_t_over_the_corrected_variances(tmp_path):
    """Welch 1947 over Nadeau & Bengio's corrected variances, recomputed here from the two results.csv."""
    from scipy import stats

    from benchmark.cv.compare import compare_runs

    a, b = [0.70, 0.74, 0.66, 0.72, 0.69], [0.60, 0.71, 0.58, 0.64]
    first = _fake_run(tmp_path / "first", "f1", _results(b, n_train=90.0, n_test=30.0))
    second = _fake_run(tmp_path / "second", "f2", _results(a))
    entry = next(c for c in compare_runs([first, second])["comparisons"] if c["metric"] == "accuracy")
    var_a = (1 / 5 + 20 / 80) * np.var(a, ddof=1)
    var_b = (1 / 4 + 30 / 90) * np.var(b, ddof=1)
    df = (var_a + var_b) ** 2 / (var_a**2 / 4 + var_b**2 / 3)
    diff, se = np.mean(a) - np.mean(b), math.sqrt(var_a + var_b)
    assert not entry["paired"] and entry["run_a"] == "second"
    assert entry["mean_difference"] == pytest.approx(diff)
    assert entry["df"] == pytest.approx(df)
    assert entry["p_value"] == pytest.approx(2 * stats.t.sf(abs(diff) / se, df))
    half = stats.t.ppf(0.975, df) * se
    assert entry["ci95"] == pytest.approx([diff - half, diff + half])
    assert entry["p_a_better"] is None  # no per-fold difference: no posterior


def test_the_tuning_gain_is_the_corrected_paired_t_over_tuned_minus_defaults(tmp_path):
    """Nadeau & Bengio's corrected paired t and Corani & Benavoli's posterior, with a real spread."""
    from scipy import stats

    from benchmark.cv.compare import tuning_gains

    tuned, defaults = [0.72, 0.70, 0.77, 0.69, 0.75], [0.70, 0.71, 0.70, 0.66, 0.70]
    gain = tuning_gains(_results(tuned, defaults), rope=0.01)["CustomCNN"]["grouped"]["accuracy"]
    d = np.subtract(tuned, defaults)
    scale = math.sqrt((1 / 5 + 20 / 80) * np.var(d, ddof=1))
    assert gain["mean_difference"] == pytest.approx(d.mean()) and gain["df"] == 4
    assert gain["p_value"] == pytest.approx(2 * stats.t.sf(abs(d.mean()) / scale, 4))
    half = stats.t.ppf(0.975, 4) * scale
    assert gain["ci95"] == pytest.approx([d.mean() - half, d.mean() + half])
    posterior = stats.t(4, loc=d.mean(), scale=scale)
    assert gain["p_a_better"] == pytest.approx(posterior.sf(0.01))
    assert gain["p_b_better"] == pytest.approx(posterior.cdf(-0.01))
    assert gain["p_equivalent"] == pytest.approx(1 - posterior.sf(0.01) - posterior.cdf(-0.01))


# --- ten more wrong answers (issue 40, item 4), each broken on purpose first -----------------------------


def test_inferred_groups_link_pictures_near_by_either_detector():
    """`--groups infer`: a pair close in pHash only, or in embedding only, is one group (either detector)."""
    import pandas as pd

    from benchmark.data.fingerprints import Fingerprints, Thresholds, infer_groups

    hashes = np.array([0b0, 0b111, 0xFFFF_0000_0000_0000, 0x0F0F_0F0F_0F0F_0F0F], dtype=np.uint64)  # 0~1 by hash
    embeddings = np.array([[1, 0, 0], [0, 1, 0], [0, 0.6, 0.8], [0, 0.62, 0.78]], dtype=np.float32)  # 2~3 by cosine
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    images = pd.DataFrame({"label": ["squat"] * 4, "path": [f"squat/{i}.jpg" for i in range(4)]})
    groups = infer_groups(images, Fingerprints(hashes, embeddings), Thresholds(6, 0.99))
    assert groups[0] == groups[1] and groups[2] == groups[3] and groups[0] != groups[2]


def test_the_audits_near_duplicate_share_counts_a_test_image_caught_by_either_detector():
    import pandas as pd

    from benchmark.cv.audit import summarize_audit
    from benchmark.data.fingerprints import Thresholds

    by_hash = np.array([True, False, False, True, False, False])
    by_embedding = np.array([False, True, False, True, False, False])
    rows = pd.DataFrame({"strategy": "leaky", "fold": [0, 0, 0, 1, 1, 1], "image": range(6), "cosine_match": 0,
                         "cosine": 0.5, "pair_hash_distance": 10, "same_group": False, "by_hash": by_hash,
                         "by_embedding": by_embedding, "near_duplicate": by_hash | by_embedding})  # fmt: skip
    images = pd.DataFrame({"path": [f"p{i}" for i in range(6)]})
    leaky = summarize_audit(rows, images, Thresholds(6, 0.93))["leaky"]
    assert leaky["near_duplicate_share"] == pytest.approx(3 / 6, abs=1e-4)  # rounded to 4 places
    assert leaky["phash_share"] == pytest.approx(2 / 6, abs=1e-4) == leaky["embedding_share"]
    assert leaky["per_fold"] == [pytest.approx(2 / 3, abs=1e-4), pytest.approx(1 / 3, abs=1e-4)]


def test_a_whole_video_is_flagged_only_when_all_its_frames_suggest_one_class():
    import pandas as pd

    from benchmark.cv.label_issues import video_issues

    groups = np.array(["v1", "v1", "v2", "v2", "v3", "v3"])
    labels = np.zeros(6, dtype=int)
    issues = pd.DataFrame({"index": [0, 1, 2, 3, 4], "given": 0, "suggested": [2, 2, 1, 2, 3], "score": -0.5})
    flagged = video_issues(issues, groups, labels)
    assert list(flagged.group) == ["v1"]  # v2's frames disagree (1 and 2), v3 has one frame of two flagged
    assert flagged.iloc[0].to_dict() == {"group": "v1", "given": 0, "suggested": 2, "share": 1.0, "frames": 2}


def test_issues_precision_and_recall_against_planted_errors_are_by_their_definitions():
    import pandas as pd

    from benchmark.cv.label_issues import against_truth

    issues = pd.DataFrame({"path": ["a", "b", "c", "d"], "model": "M", "arms": ["grouped", "leaky", "leaky", "leaky"],
                           "video_flagged": [True, False, False, False]})  # fmt: skip
    truth = pd.DataFrame({"path": ["a", "b", "x", "y", "z"]})
    scores = against_truth(issues, truth)["M"]
    assert scores["all"] == {"flagged": 4, "precision": 2 / 4, "recall": 2 / 5}
    assert scores["leaky"] == {"flagged": 3, "precision": 1 / 3, "recall": 1 / 5}
    assert scores["grouped"] == {"flagged": 1, "precision": 1.0, "recall": 1 / 5}


def test_the_curves_intervals_are_a_bootstrap_over_outer_folds_with_replacement():
    """Efron's percentile bootstrap, recomputed here with the same seeded draws: resampling the folds
    without replacement would give every replicate the same points and a zero-width interval."""
    import pandas as pd

    from benchmark.cv.curve import BOOTSTRAP, _fit, extrapolate, power_law

    rng = np.random.default_rng(3)
    rows = [{"fraction": f, "fold": k, "repeat": 0, "videos_per_class": 4 * f * 10,
             "accuracy": float(power_law(np.array([40 * f]), 0.9, 0.8, 0.6)[0] + rng.normal(0, 0.03))}
            for f in (0.25, 0.5, 0.75, 1.0) for k in range(5)]  # fmt: skip
    part = pd.DataFrame(rows)
    result = extrapolate(part, seed=11)
    draws, gains = np.random.default_rng(11), []
    units = part.repeat * 10_000 + part.fold
    folds = sorted(set(units))
    for _ in range(BOOTSTRAP):
        chosen = draws.choice(folds, len(folds), replace=True)
        sample = pd.concat([part[units == f] for f in chosen])
        fitted = _fit(sample.videos_per_class.to_numpy(float), sample.accuracy.to_numpy(float))
        if fitted is not None:
            ends = power_law(np.array([10.0, 40.0]), *fitted)
            gains.append(float(ends[1] - ends[0]))
    assert result["gain_over_range_ci95"] == pytest.approx(np.percentile(gains, [2.5, 97.5]).tolist())
    low, high = result["gain_over_range_ci95"]
    assert high - low > 0.01


def test_inflation_is_leaky_minus_grouped():
    import pandas as pd

    from benchmark.cv.summary import summarize

    grouped, leaky = [0.60, 0.64, 0.58], [0.90, 0.93, 0.95]
    results = pd.DataFrame({"model": "M", "strategy": ["grouped"] * 3 + ["leaky"] * 3, "fold": [0, 1, 2] * 2,
                            "accuracy": grouped + leaky, "macro_f1": 0.5, "balanced_accuracy": 0.5,
                            "video_accuracy": 0.5, "n_train": 60.0, "n_test": 30.0})  # fmt: skip
    inflation = summarize(results)["models"]["M"]["inflation"]
    assert inflation["mean"] == pytest.approx(np.mean(leaky) - np.mean(grouped)) and inflation["mean"] > 0
    assert inflation["ci95"][0] > 0


def test_repeats_split_each_on_its_own_seed(scripted_run):
    """Repeated CV (Bouckaert & Frank 2004) needs outer splits that differ: one seed for all would repeat
    the same folds and shrink the corrected interval on nothing."""
    import pandas as pd

    run_dir, _ = scripted_run(repeats=2, strategies=("leaky",))
    first = pd.read_csv(run_dir / "manifests" / "leaky.csv", keep_default_na=False)
    second = pd.read_csv(run_dir / "manifests" / "repeat1" / "leaky.csv", keep_default_na=False)
    assert list(first.path) == list(second.path) and (first.fold != second.fold).any()


def test_the_reports_headline_cells_and_mistakes_gallery_show_the_runs_numbers_and_wrong_answers(scripted_run):
    import json
    import re

    import pandas as pd

    from reports import build_report

    Scripted.memorises = True
    run_dir, summary = scripted_run()
    build_report(run_dir)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    table = html[html.index('id="headline-table"') :]
    cells = re.findall(r'<td class="n">([^<]*)</td>', table[: table.index("</table>")])
    entry = summary["models"]["CustomCNN"]
    grouped, leaky = entry["grouped"]["accuracy"], entry["leaky"]["accuracy"]
    assert grouped["mean"] != leaky["mean"]  # else the check below could not tell the columns apart

    def pct(v):
        return f"{100 * v:.1f}%"

    assert cells[0] == f"{pct(grouped['mean'])} [{pct(grouped['ci95'][0])}, {pct(grouped['ci95'][1])}]"
    assert cells[1] == f"{pct(leaky['mean'])} [{pct(leaky['ci95'][0])}, {pct(leaky['ci95'][1])}]"
    predictions = pd.read_csv(run_dir / "predictions.csv", keep_default_na=False).set_index(["strategy", "path"])
    shown = json.loads((run_dir / "mistakes" / "index.json").read_text())
    assert shown and all(not predictions.loc[("grouped", item["path"]), "correct"] for item in shown)
    assert all(item["predicted"] == predictions.loc[("grouped", item["path"]), "predicted"] for item in shown)


def test_fit_chooses_its_final_hyperparameters_by_the_rule_run_uses(monkeypatch, tmp_path, real_sample, session_cache):
    """`fit` once took the plain best trial whatever `final_selection` said: the saved model was not the
    model the benchmark measured. Both now go through ModelPlan.final_choice with the config's rule."""
    import argparse

    from benchmark.commands import fit as fit_command

    rules = []
    plain = ModelPlan.final_choice
    monkeypatch.setattr(
        ModelPlan, "final_choice", lambda self, study, rule: rules.append(rule) or plain(self, study, rule)
    )
    monkeypatch.setattr(ModelPlan, "learner", lambda self, hp, trial=False: Scripted(self.n_classes))
    monkeypatch.setattr(fit_command, "save_model_dir", lambda *args, **kwargs: None)
    args = argparse.Namespace(data=real_sample, out=tmp_path / "model", model="CustomCNN", trials=2, storage=None)
    for rule in ("best", "one_se"):
        config = DEFAULT.replace(final_selection=rule, cache_dir=session_cache, inner_folds=2)
        meta = fit_command.fit(config, args)
        assert rules[-1] == rule and meta["final_selection"] == rule
        assert meta["selection"] in fit_command.what_fit_did(meta, 2)


def test_the_no_leakage_check_stops_a_fold_even_under_python_dash_o(tmp_path):
    import subprocess
    import sys

    from harness import ROOT

    code = """
import numpy as np
from benchmark.cv.folds import FoldTask, LeakageError, refuse_leakage
task = FoldTask("r", "CustomCNN", "grouped", 1)
refuse_leakage(np.array([1, 2]), np.array([3, 4]), task)
try:
    refuse_leakage(np.array([1, 2, 3]), np.array([3, 4]), task)
except LeakageError as error:
    print(error)
"""
    done = subprocess.run([sys.executable, "-O", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CustomCNN grouped fold 1: 1 outer test image(s) in the inner folds (rows [3])" in done.stdout
