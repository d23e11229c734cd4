"""The EfficientNet transfer models (ImageNet backbone + new head + optional fine-tuning): their specs.

Variants differ only in their backbone (models/backbones.py); the learner is models/transfer.py.
The head is a hyper-parameter, so the inner folds choose per outer fold between a linear probe
(logistic regression on the frozen features), a dense head trained by Adam, and fine-tuning the
last blocks. This module imports no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.core.fields import check_fields, setting
from models.learner import ImageSource, Learner, Runtime
from models.preprocess import POSITIONS
from models.spec import ModelSpec

HEADS = ("probe", "dense", "finetune")  # "finetune" needs cached cut points (max_unfrozen_blocks > 0)
HEAD_VIEWS = ("all", "center")  # what the head trains on: every cached view, or the centre crop and its mirror


@dataclass(frozen=True)
class EfficientNetOptions:
    # Largest N of "fine-tune the last N blocks": activations are cached at each of these cut points.
    # 0 takes fine-tuning out of the search space (the probe and dense heads remain).
    max_unfrozen_blocks: int = setting(3, low=0, high=16)
    # Crop windows along the long side cached as extra training views (each also mirrored).
    train_positions: tuple[str, ...] = setting(("center", "left", "right"), choices=POSITIONS)
    # Fidelity of a trial: its head trains on the centre crop and its mirror ("center") rather than
    # every cached view ("all", what the final model of a fold uses).
    trial_head_views: str = setting("center", choices=HEAD_VIEWS)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class EfficientNetB0Options(EfficientNetOptions):
    # Keras' B0 ImageNet weights: this local copy of efficientnetb0_notop.h5, else the Keras cache,
    # else a download.
    weights_file: Path | None = None


DEFAULTS: dict[str, Any] = {
    "head": "probe",
    "probe_c": 0.05,  # inverse L2 strength of the logistic regression on standardised features
    "head_dropout": 0.3,
    "head_learning_rate": 3e-3,
    "head_epochs": 30,
    "unfrozen_blocks": 1,
    "finetune_learning_rate": 1e-4,
    "finetune_epochs": 5,
    "batch_size": 32,
    "label_smoothing": 0.1,
}


def suggest(trial: Any, options: EfficientNetOptions) -> dict[str, Any]:
    heads = [h for h in HEADS if h != "finetune" or options.max_unfrozen_blocks > 0]
    head = trial.suggest_categorical("head", heads)
    if head == "probe":
        return {"head": head, "probe_c": trial.suggest_float("probe_c", 1e-4, 10.0, log=True)}
    hp = {
        "head": head,
        "head_dropout": trial.suggest_float("head_dropout", 0.0, 0.5),
        "head_learning_rate": trial.suggest_float("head_learning_rate", 3e-4, 1e-2, log=True),
    }
    if head == "finetune":
        hp["unfrozen_blocks"] = trial.suggest_int("unfrozen_blocks", 1, min(3, options.max_unfrozen_blocks))
        hp["finetune_learning_rate"] = trial.suggest_float("finetune_learning_rate", 1e-5, 1e-3, log=True)
    return hp


def _builder(name: str):
    def build(hp: Mapping[str, Any], *, n_classes: int, seed: int, options: EfficientNetOptions,
              runtime: Runtime, trial: bool) -> Learner:  # fmt: skip
        from models.backbones import backbone
        from models.transfer import EfficientNetLearner

        hp = dict(hp)
        if hp.get("head") == "finetune" and options.max_unfrozen_blocks == 0:
            hp["head"] = "dense"  # fine-tuning needs cached cut points; these options cache none
        hp["unfrozen_blocks"] = min(int(hp.get("unfrozen_blocks", 0)), options.max_unfrozen_blocks)
        return EfficientNetLearner(
            backbone(name), hp, n_classes, seed, runtime, max_unfrozen_blocks=options.max_unfrozen_blocks,
            train_positions=options.train_positions, head_views=options.trial_head_views if trial else "all",
            b0_weights=getattr(options, "weights_file", None),
        )  # fmt: skip

    return build


def _embedder(name: str):
    def embed(source: ImageSource, runtime: Runtime) -> np.ndarray:
        from models.backbones import backbone
        from models.transfer import backbone_embeddings

        return backbone_embeddings(source, runtime, backbone(name))

    return embed


def efficientnet_spec(name: str, options: type = EfficientNetOptions) -> ModelSpec:
    return ModelSpec(
        name=name,
        options=options,
        defaults=DEFAULTS,
        suggest=suggest,
        build=_builder(name),
        epoch_keys={"head": "head_epochs", "finetune": "finetune_epochs"},
        # The demo's budget: no fine-tuning, the centre crop only (the frozen features are extracted once).
        demo_options={"max_unfrozen_blocks": 0, "train_positions": ["center"]},
        embed=_embedder(name),
    )


EFFICIENTNET_LITE0 = efficientnet_spec("EfficientNetLite0")
EFFICIENTNET_LITE1 = efficientnet_spec("EfficientNetLite1")
EFFICIENTNET_LITE2 = efficientnet_spec("EfficientNetLite2")
EFFICIENTNET_B0 = efficientnet_spec("EfficientNetB0", EfficientNetB0Options)
