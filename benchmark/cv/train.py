"""Stage 5: a model as this run trains it: its spec, the options the config gave it, the classes, the seed.

The same `ModelPlan` builds every trial's learner (at the model's trial fidelity) and every
fold's final one, so tuning and final training cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from scipy import stats

from benchmark.cv.storage import DONE_STATES, INNER_SIZES_ATTR, WATCH_SIZES_ATTR, best_epochs_attr, peak_accuracy_attr
from config import SELECTION_RULES, Config
from models.learner import Learner, Runtime
from models.registry import model_spec
from models.spec import ModelSpec

ONE_SE = SELECTION_RULES[0]  # config.final_selection: see ModelPlan.final_choice


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

    def default_hyperparameters(self) -> dict[str, Any]:
        """The defaults as the model's options allow them: what an untuned fit trains."""
        return self.trial_hyperparameters(optuna.trial.FixedTrial(self.default_params()))

    def final_choice(self, study: optuna.Study | None, rule: str = ONE_SE) -> FinalChoice:
        """The study's answer: which trial's parameters the final fit trains, and for how many epochs.

        `one_se` (the default) keeps the model's defaults unless the best trial beats them on the inner
        folds by more than one standard error of that difference (the one-standard-error rule, Breiman
        et al. 1984, "Classification and Regression Trees"; Hastie, Tibshirani & Friedman 2009, 7.10),
        widened for the m trials that competed with the defaults: the best of m equally good trials beats
        them by about sqrt(2 ln m) standard errors by chance alone (the selection bias of Cawley & Talbot
        2010, JMLR 11). It trusts an early-stopped epoch count only where that trial's validation curve
        rose above chance by more than its noise; otherwise the final fit trains the configured epochs.
        `best` is the plain arg-max with the early-stopped epochs: on small data the arg-max of noise,
        stopped at noise.
        """
        completed = [] if study is None else [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not completed:
            return FinalChoice(self.default_hyperparameters(), None, "no trials: the model's defaults")
        # A trial's place in the budget (finished trials in order): Optuna's number unless a kill failed a
        # trial, whose rerun then gets the next number; the place is the same wherever the fold ran.
        done = [t for t in study.trials if t.state in DONE_STATES]
        place = {t.number: index for index, t in enumerate(sorted(done, key=lambda t: t.number))}
        best = max(completed, key=lambda t: (t.value, -t.number))  # Optuna's best_trial: the first of the best
        chosen, why = best, f"trial {place[best.number]}, the best of {len(completed)} on the inner folds"
        defaults = next((t for t in completed if t.params == self.default_params()), None)
        if rule == ONE_SE and defaults is not None and best is not defaults:
            rivals = len(completed) - 1
            margin = difference_se(best, defaults) * max(1.0, math.sqrt(2 * math.log(rivals)))
            if best.value - defaults.value <= margin:
                chosen = defaults
                why = (
                    f"the defaults (trial {place[defaults.number]}): the best trial {place[best.number]} beat them by "
                    f"{100 * (best.value - defaults.value):.1f} points, within the noise of the best of {rivals} "
                    f"({100 * margin:.1f})"
                )
        hp = self.trial_hyperparameters(optuna.trial.FixedTrial(chosen.params))
        for phase, key in self.spec.epoch_keys.items():
            found = chosen.user_attrs.get(best_epochs_attr(phase))
            if found is None:
                continue
            if rule == ONE_SE and not curve_above_chance(chosen, phase, self.n_classes, int(hp[key])):
                why += f"; {key} as configured ({hp[key]}): the {phase} validation curve stayed at chance"
                continue
            hp[key] = max(1, int(round(found)))
        return FinalChoice(hp, place[chosen.number], why)


@dataclass(frozen=True)
class FinalChoice:
    hyperparameters: dict[str, Any]
    trial: int | None  # the trial whose parameters were kept: its place among the study's finished trials
    reason: str


def difference_se(a: optuna.trial.FrozenTrial, b: optuna.trial.FrozenTrial) -> float:
    """Standard error of the difference of two inner-fold accuracies, each a share of the same validation
    images: sqrt((p_a (1 - p_a) + p_b (1 - p_b)) / n), the binomial variances added (the covariance of the
    two on the same images would shrink it: leaving it out makes the rule keep the defaults more often)."""
    n = sum(a.user_attrs.get(INNER_SIZES_ATTR) or [0])
    if n == 0:
        return 0.0
    return math.sqrt((a.value * (1 - a.value) + b.value * (1 - b.value)) / n)


def curve_above_chance(
    trial: optuna.trial.FrozenTrial, phase: str, n_classes: int, epochs: int, level: float = 0.05
) -> bool:
    """Whether a phase's best per-epoch check is above chance (1 / classes) by more than a one-sided binomial
    margin at `level`, Bonferroni-corrected for the (up to) `epochs` checks the peak was taken over: a
    curve that never left chance says nothing about when to stop."""
    peak = trial.user_attrs.get(peak_accuracy_attr(phase))
    watched = trial.user_attrs.get(WATCH_SIZES_ATTR) or []
    if peak is None or not watched or math.isnan(peak):
        return True  # nothing recorded to doubt it by (a trial from before these attributes)
    chance = 1 / max(2, n_classes)
    n = float(np.mean(watched))
    z = float(stats.norm.isf(level / max(1, epochs)))
    return peak > chance + z * math.sqrt(chance * (1 - chance) / n)


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
