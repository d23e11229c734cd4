"""Stage 5: a model as this run trains it: its spec, the options the config gave it, the classes, the seed.

The same `ModelPlan` builds every trial's learner (at the model's trial fidelity) and every
fold's final one, so tuning and final training cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from benchmark.cv.storage import best_epochs_attr
from config import Config
from models.learner import Learner, Runtime
from models.registry import model_spec
from models.spec import ModelSpec


@dataclass(frozen=True)
class ModelPlan:
    spec: ModelSpec
    options: Any
    runtime: Runtime
    n_classes: int
    seed: int

    @classmethod
    def of(cls, config: Config, model: str, n_classes: int) -> ModelPlan:
        runtime = Runtime(config.cache_dir, config.feature_runtime, config.test_time_mirror)
        return cls(model_spec(model), config.options_for(model), runtime, n_classes, config.seed)

    @property
    def name(self) -> str:
        return self.spec.name

    def learner(self, hp: Mapping[str, Any], trial: bool = False) -> Learner:
        return self.spec.learner(hp, self.n_classes, self.seed, self.options, self.runtime, trial)

    def default_params(self) -> dict[str, Any]:
        """The search space answered with the model's defaults: the first trial of every study."""
        trial = _DefaultsTrial(self.spec.defaults)
        self.spec.suggest(trial, self.options)
        return trial.params

    def trial_hyperparameters(self, trial: optuna.Trial) -> dict[str, Any]:
        return {**self.spec.defaults, **self.spec.suggest(trial, self.options)}

    def final_hyperparameters(self, study: optuna.Study | None) -> dict[str, Any]:
        """The best trial's parameters, with epochs set to what early stopping found on the inner folds;
        the model's defaults when nothing was tuned."""
        completed = [] if study is None else [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not completed:
            return dict(self.spec.defaults)
        best = study.best_trial
        hp = self.trial_hyperparameters(optuna.trial.FixedTrial(best.params))
        for phase, key in self.spec.epoch_keys.items():
            found = best.user_attrs.get(best_epochs_attr(phase))
            if found is not None:
                hp[key] = max(1, int(round(found)))
        return hp


class _DefaultsTrial:
    """Stands in for an Optuna trial: answers each suggestion with the default value, or the nearest value
    the space allows (an option may narrow it), and records the answers as trial parameters."""

    def __init__(self, defaults: Mapping[str, Any]):
        self.defaults, self.params = defaults, {}

    def _answer(self, name: str, value: Any) -> Any:
        self.params[name] = value
        return value

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        value = self.defaults.get(name)
        return self._answer(name, value if value in choices else choices[0])

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        return self._answer(name, min(max(float(self.defaults.get(name, low)), low), high))

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        return self._answer(name, min(max(int(self.defaults.get(name, low)), low), high))
