"""The models a run can compare, found by name: the built-in ones below, and plug-ins.

Adding a model here: one module that defines a `ModelSpec` (models/spec.py), and one entry in
`_BUILT_IN`. From another package, without touching this repository: declare an entry point in the
group `workout_bench.models` whose object is a `ModelSpec` (docs/plugins.md has a complete example);
its name is offered at once (`--models`, `--help`), its module is imported only when the model is
used, so `--help` stays free of whatever the plug-in imports.

A spec says everything the harness needs and nothing about folds: the model's own options (what a
user may change, checked by the options class), its default hyper-parameters, its Optuna search
space (define-by-run: a function of the trial), which hyper-parameters early stopping sets, its
demo-budget options, and how its learner is built. Spec modules import no TensorFlow; `build`
does, when a model is trained.
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points

from benchmark.core.fields import ConfigError
from models.custom_cnn import CUSTOM_CNN
from models.efficientnet import EFFICIENTNET_B0, EFFICIENTNET_LITE0, EFFICIENTNET_LITE1, EFFICIENTNET_LITE2
from models.errors import ModelError
from models.spec import ModelSpec

PLUGIN_GROUP = "workout_bench.models"
_BUILT_IN: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (CUSTOM_CNN, EFFICIENTNET_LITE0, EFFICIENTNET_LITE1, EFFICIENTNET_LITE2, EFFICIENTNET_B0)
}


@functools.cache
def _plugins() -> dict[str, EntryPoint]:
    """Entry points of installed plug-ins, by name (nothing imported yet), less any that clashes with a
    built-in model (`check_plugins` says which)."""
    return {point.name: point for point in entry_points(group=PLUGIN_GROUP) if point.name not in _BUILT_IN}


def check_plugins() -> None:
    """A plug-in whose name is a built-in model's is refused in one line rather than shadowing it."""
    for point in entry_points(group=PLUGIN_GROUP):
        if point.name in _BUILT_IN:
            raise ModelError(
                f"plug-in model {point.name!r} ({point.value}, from {_where(point)}) has the name of a built-in "
                "model: rename its entry point"
            )


def _where(point: EntryPoint) -> str:
    return point.dist.name if point.dist is not None else "an unknown distribution"


def model_names() -> tuple[str, ...]:
    """Every model a run can use: the built-in ones, then the installed plug-ins' (names only)."""
    return (*_BUILT_IN, *sorted(_plugins()))


@functools.cache
def _load(name: str) -> ModelSpec:
    point = _plugins()[name]
    try:
        spec = point.load()
    except Exception as error:  # noqa: BLE001 - a plug-in's import can fail in any way; one line for the user
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ModelError(
            f"plug-in model {name!r} ({point.value}, from {_where(point)}) failed to load: {reason}"
        ) from None
    if not isinstance(spec, ModelSpec) or spec.name != name:
        raise ModelError(
            f"plug-in model {name!r} ({point.value}) must be a models.spec.ModelSpec named {name!r}, got {spec!r:.80}"
        )
    return spec


def embedding_models() -> tuple[str, ...]:
    """The built-in models that can embed images (`ModelSpec.embed`): the leakage audit's choices."""
    return tuple(name for name, spec in _BUILT_IN.items() if spec.embed is not None)


def model_spec(name: str) -> ModelSpec:
    if name in _BUILT_IN:
        return _BUILT_IN[name]
    if name in _plugins():
        return _load(name)
    raise ConfigError("model", f"must be one of {', '.join(model_names())}, got {name!r}")
