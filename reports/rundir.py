"""Read a finished run directory into plain frames and dicts: the report's only input."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.core.errors import BenchmarkError
from benchmark.core.rundir import (
    AUDIT,
    CONFIG,
    DATA_SUMMARY,
    ENVIRONMENT,
    GROUPS,
    INDEX,
    ISSUE_THUMBNAILS,
    LABEL_ISSUES,
    MANIFESTS,
    MISTAKES,
    OPTUNA_DB,
    PREDICTIONS,
    RESULTS,
    SPLITS,
    SUMMARY,
    THUMBNAILS,
    TIMINGS,
    is_run_dir,
    load_run_records,
    sqlite_url,
)
from benchmark.core.secrets import redact


class ReportError(BenchmarkError):
    """The run directory cannot be reported on (missing or unfinished); one line for the user."""


@dataclass(frozen=True)
class RunDirectory:
    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    data: dict[str, Any]
    splits: list[dict[str, Any]]
    records: list[dict[str, Any]]
    results: pd.DataFrame = field(repr=False)  # results.csv: one row per model x strategy x fold
    environment: dict[str, Any]
    timings: list[dict[str, Any]]
    thumbnails: dict[str, list[Path]]
    audit: dict[str, Any]
    groups: dict[str, Any]
    trials: pd.DataFrame = field(repr=False)
    importances: pd.DataFrame = field(repr=False)
    predictions: pd.DataFrame = field(repr=False)  # predictions.csv: one row per test image and fold
    mistakes: list[dict[str, Any]] = field(default_factory=list)  # mistakes/index.json, thumbnails beside it
    issues: pd.DataFrame | None = field(default=None, repr=False)  # label_issues.csv (None: a run before them)
    issue_thumbnails: list[dict[str, Any]] = field(default_factory=list)  # label_issues/index.json
    trials_note: str = ""

    @property
    def run_id(self) -> str:
        return self.summary.get("run_id", self.path.name)

    @property
    def models(self) -> list[str]:
        return list(self.summary["models"])

    @property
    def class_names(self) -> list[str]:
        return sorted(self.data["images_per_class"])

    def manifests(self) -> list[Path]:
        return sorted((self.path / MANIFESTS).glob("*.csv"))


def read_run_directory(run_dir: Path, storage: str | None = None) -> RunDirectory:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"run directory not found: {run_dir}")
    if not is_run_dir(run_dir):
        raise ReportError(f"{run_dir} is not a run directory (no {CONFIG}): give a folder that `run` made")
    summary_file = run_dir / SUMMARY
    if not summary_file.is_file():
        raise ReportError(f"{run_dir} has no summary.json: the run has not finished (run the same command to go on)")
    records = load_run_records(run_dir)
    environment = _read_json(run_dir / ENVIRONMENT, {})
    config = _read_json(run_dir / CONFIG, {})
    trials, importances, note = read_trials(
        run_dir, records, storage or environment.get("storage"), config.get("seed", 0)
    )
    return RunDirectory(
        path=run_dir,
        config=config,
        summary=_read_json(summary_file),
        data=_read_json(run_dir / DATA_SUMMARY),
        splits=_read_json(run_dir / SPLITS, []),
        records=records,
        results=_read_results(run_dir / RESULTS),
        environment=environment,
        timings=_read_json(run_dir / TIMINGS, []),
        thumbnails=_thumbnails(run_dir / THUMBNAILS),
        audit=_read_json(run_dir / AUDIT, {}),
        groups=_read_json(run_dir / GROUPS, {}),
        trials=trials,
        importances=importances,
        predictions=_read_predictions(run_dir / PREDICTIONS),
        mistakes=_read_json(run_dir / MISTAKES / INDEX, []),
        issues=pd.read_csv(run_dir / LABEL_ISSUES, keep_default_na=False)
        if (run_dir / LABEL_ISSUES).is_file()
        else None,
        issue_thumbnails=_read_json(run_dir / ISSUE_THUMBNAILS / INDEX, []),
        trials_note=note,
    )


TRIAL_COLUMNS = ["model", "strategy", "fold", "number", "state", "value", "params", "duration_s"]
IMPORTANCE_COLUMNS = ["model", "strategy", "fold", "parameter", "importance"]


def read_trials(
    run_dir: Path, records: list[dict[str, Any]], storage: str | None, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Every trial of every fold's study, and its fANOVA parameter importances (seeded).

    The run's own SQLite file wins over a recorded URL, so a moved run directory still reports.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    local = run_dir / OPTUNA_DB
    url = sqlite_url(local) if local.is_file() else storage
    empty = pd.DataFrame(columns=TRIAL_COLUMNS), pd.DataFrame(columns=IMPORTANCE_COLUMNS)
    if not url:
        return *empty, "no Optuna storage recorded for this run"
    rows, importance_rows = [], []
    try:
        for record in records:
            study = optuna.load_study(study_name=record["study"], storage=url)
            for parameter, value in _importances(study, seed).items():
                importance_rows.append(
                    {
                        **{k: record[k] for k in ("model", "strategy", "fold")},
                        "parameter": parameter,
                        "importance": value,
                    }
                )
            for trial in study.trials:
                duration = trial.duration.total_seconds() if trial.duration else None
                rows.append(
                    {
                        "model": record["model"],
                        "strategy": record["strategy"],
                        "fold": record["fold"],
                        "number": trial.number,
                        "state": trial.state.name,
                        "value": trial.value,
                        "params": trial.params,
                        "duration_s": duration,
                    }
                )
    except Exception as error:  # noqa: BLE001 - an unreachable server must not cost the rest of the report
        return *empty, redact(f"Optuna storage not readable ({type(error).__name__}): {error}")
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS), pd.DataFrame(importance_rows, columns=IMPORTANCE_COLUMNS), ""


def _importances(study: Any, seed: int) -> dict[str, float]:
    """fANOVA needs at least two finished trials that differ; fewer gives no importances, not an error."""
    import optuna

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return {}
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        return optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError):
        return {}


def _read_predictions(path: Path) -> pd.DataFrame:
    """Empty for a run made before predictions were recorded: the report then leaves that section out."""
    if not path.is_file():
        return pd.DataFrame(columns=["model", "strategy", "fold", "path", "label", "group", "predicted", "correct"])
    return pd.read_csv(path, keep_default_na=False)


def _read_results(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ReportError(f"missing {path}: not a complete run directory")
    return pd.read_csv(path, keep_default_na=False)


def _thumbnails(folder: Path) -> dict[str, list[Path]]:
    index = _read_json(folder / INDEX, {})
    return {label: [folder / name for name in names if (folder / name).is_file()] for label, names in index.items()}


def _read_json(path: Path, default: Any = None) -> Any:
    if not path.is_file():
        if default is None:
            raise ReportError(f"missing {path}: not a complete run directory")
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ReportError(f"{path} is not valid JSON ({error})") from None
