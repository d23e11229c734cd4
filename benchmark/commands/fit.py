"""`fit`: tune a model on grouped folds of all the data (with --trials), train it on everything, save it."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from benchmark.core.environment import configure_devices, package_versions
from benchmark.core.outputs import check_output_folder, refuse_data_overlap
from benchmark.cv.storage import config_digest, open_study
from benchmark.cv.train import ModelPlan
from benchmark.cv.tune import tune
from benchmark.data.dataset import content_fingerprint, print_summary
from benchmark.data.load import load, resolve_data_dir
from benchmark.data.source import DatasetSource
from config import Config
from models.saved import is_model_dir, save_model_dir
from splits.names import GROUPED
from splits.strategies import INNER_FOLDS_OPTION, assign_folds, fold_pairs


def fit(config: Config, args: argparse.Namespace) -> dict[str, Any]:
    started = time.time()
    data_dir = resolve_data_dir(config, args.data)
    # The output is checked before any training: a bad --out must not cost the fit, nor a folder its files.
    refuse_data_overlap(args.out, data_dir, "--out")
    check_output_folder(args.out, "--out", is_model_dir, "model directory")
    dataset = load(config, data_dir).with_keys(config.scan_workers)
    print_summary(dataset.summary())
    classes = dataset.class_names
    source = DatasetSource.of(dataset, classes, config)
    plan = ModelPlan.of(config, args.model or config.model_name, len(classes))
    folds = None
    if args.trials > 0:
        images = dataset.images
        folds = assign_folds(images["label"].to_numpy(), images["group"].to_numpy(), GROUPED, config.inner_folds,
                             config.seed, INNER_FOLDS_OPTION)  # fmt: skip
    print(configure_devices(config.mixed_precision), file=sys.stderr)
    study = None
    if folds is not None:
        owner = config_digest(config.to_json() + str(dataset.root))
        study = open_study(args.storage, f"fit/{plan.name}/{owner}", owner, plan.default_params())
        tune(plan, source, fold_pairs(folds), study, args.trials, config.tuning_subsample, seed=config.seed,
             min_per_class=config.tuning_min_per_class)  # fmt: skip
    # The one decision `run` makes for every outer fold (config.final_selection): the saved model is
    # the model the benchmark measured.
    choice = plan.final_choice(study, config.final_selection)
    hp = choice.hyperparameters
    learner = plan.learner(hp)
    learner.fit(source, np.arange(len(source.labels)))
    meta = {
        "model_name": plan.name,
        "hyperparameters": hp,
        "trials": args.trials,
        "best_inner_accuracy": None if study is None or not study.best_trials else study.best_value,
        "final_selection": config.final_selection,
        "selected_trial": choice.trial,
        "selection": choice.reason,
        "trained_on": {
            "data_dir": str(dataset.root),
            "n_images": int(len(source.labels)),
            "content_fingerprint": content_fingerprint(dataset.images),
        },
        "config": config.replace(data_dir=dataset.root).to_dict(),  # the data used, --data or not
        "seed": config.seed,
        "duration_s": round(time.time() - started, 1),
        "versions": package_versions(),
    }
    keys = dataset.images["key"].tolist()
    save_model_dir(args.out, learner.export_model(), classes, learner.preprocess, meta, training_keys=keys)
    return meta


def what_fit_did(meta: dict[str, Any], inner_folds: int) -> str:
    """One line: tuned or not, and the hyper-parameters the saved model was trained with."""
    hp = meta["hyperparameters"]
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in hp.items())
    if meta["trials"] == 0:
        how = "its default hyper-parameters, no tuning (--trials N tunes them on grouped inner folds first)"
    else:
        how = (f"{meta['selection']} ({meta['trials']} Optuna trials on {inner_folds} grouped inner folds, "
               f"final_selection={meta['final_selection']})")  # fmt: skip
    return f"fit: {meta['model_name']} trained on all {meta['trained_on']['n_images']} images with {how}: {params}"


def main(args: argparse.Namespace, config: Config) -> int:
    meta = fit(config, args)
    print(what_fit_did(meta, config.inner_folds))
    print(f"model: {args.out} ({meta['model_name']}, {meta['trained_on']['n_images']} images, {meta['duration_s']} s)")
    return 0
