"""What a model declares so the harness can tune, train and save it without naming it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from benchmark.core.fields import ConfigError
from models.learner import ImageSource, Learner, Runtime


class BuildLearner(Protocol):
    """A model's learner for these hyper-parameters; a `trial` learner may train at a cheaper fidelity
    (the final model of a fold never does)."""

    def __call__(
        self, hp: Mapping[str, Any], *, n_classes: int, seed: int, options: Any, runtime: Runtime, trial: bool
    ) -> Learner: ...


class Embed(Protocol):
    """(n_images, width) float32 embeddings of every image of `source`, for near-duplicate detection."""

    def __call__(self, source: ImageSource, runtime: Runtime) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelSpec:
    name: str
    options: type  # a frozen dataclass whose __post_init__ checks its fields (benchmark.core.fields)
    defaults: Mapping[str, Any]  # hyper-parameters without tuning, and the base of every trial
    # (optuna trial, options) -> hyper-parameters: the search space, asked for as the objective runs
    suggest: Callable[[Any, Any], dict[str, Any]]
    build: BuildLearner
    # training phase -> the hyper-parameter that early stopping on the inner folds sets for the final fit
    epoch_keys: Mapping[str, str] = field(default_factory=dict)
    # options of the small budget `run` uses on the embedded demo data (config.demo_budget)
    demo_options: Mapping[str, Any] = field(default_factory=dict)
    # a model whose learner can embed images offers it here (the leakage audit's second detector)
    embed: Embed | None = None

    def make_options(self, changes: Mapping[str, Any] | None = None) -> Any:
        known = {f.name for f in dataclasses.fields(self.options)}
        for key in changes or {}:
            if key not in known:
                raise ConfigError(f"{self.name}.{key}", f"is not an option of {self.name} ({', '.join(sorted(known))})")
        try:
            return self.options(**(changes or {}))
        except ConfigError as error:
            raise ConfigError(f"{self.name}.{error.field}", error.reason) from None

    def learner(self, hp: Mapping[str, Any], n_classes: int, seed: int, options: Any, runtime: Runtime,
                trial: bool = False) -> Learner:  # fmt: skip
        return self.build(
            {**self.defaults, **hp}, n_classes=n_classes, seed=seed, options=options, runtime=runtime, trial=trial
        )
