"""The models a run can compare, found by name. Adding a model: one module that defines a `ModelSpec`
(models/spec.py), and one entry in `_SPECS` below.

A spec says everything the harness needs and nothing about folds: the model's own options (what a
user may change, checked by the options class), its default hyper-parameters, its Optuna search
space (define-by-run: a function of the trial), which hyper-parameters early stopping sets, and how
its learner is built. Spec modules import no TensorFlow; `build` does, when a model is trained.
"""

from __future__ import annotations

from config import ConfigError
from models.custom_cnn import CUSTOM_CNN
from models.efficientnet import EFFICIENTNET_B0, EFFICIENTNET_LITE0, EFFICIENTNET_LITE1, EFFICIENTNET_LITE2
from models.spec import ModelSpec

_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (CUSTOM_CNN, EFFICIENTNET_LITE0, EFFICIENTNET_LITE1, EFFICIENTNET_LITE2, EFFICIENTNET_B0)
}
MODEL_NAMES: tuple[str, ...] = tuple(_SPECS)


def model_spec(name: str) -> ModelSpec:
    try:
        return _SPECS[name]
    except KeyError:
        raise ConfigError("model", f"must be one of {', '.join(MODEL_NAMES)}, got {name!r}") from None
