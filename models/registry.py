"""The models a run can compare, found by name. Adding a model: one module that defines a `ModelSpec`
(models/spec.py), and one entry in `_SPECS` below.

A spec says everything the harness needs and nothing about folds: the model's own options (what a
user may change, checked by the options class), its default hyper-parameters, its Optuna search
space (define-by-run: a function of the trial), which hyper-parameters early stopping sets, its
demo-budget options, and how its learner is built. Spec modules import no TensorFlow; `build`
does, when a model is trained.
"""

from __future__ import annotations

from benchmark.core.fields import ConfigError
from models.custom_cnn import CUSTOM_CNN
from models.efficientnet import EFFICIENTNET_B0, EFFICIENTNET_LITE0, EFFICIENTNET_LITE1, EFFICIENTNET_LITE2
from models.spec import ModelSpec

_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (CUSTOM_CNN, EFFICIENTNET_LITE0, EFFICIENTNET_LITE1, EFFICIENTNET_LITE2, EFFICIENTNET_B0)
}
MODEL_NAMES: tuple[str, ...] = tuple(_SPECS)


def model_names() -> tuple[str, ...]:
    return MODEL_NAMES


def embedding_models() -> tuple[str, ...]:
    """The models that can embed images (`ModelSpec.embed`): the leakage audit's choices."""
    return tuple(name for name, spec in _SPECS.items() if spec.embed is not None)


def model_spec(name: str) -> ModelSpec:
    try:
        return _SPECS[name]
    except KeyError:
        raise ConfigError("model", f"must be one of {', '.join(MODEL_NAMES)}, got {name!r}") from None
