"""The run directory's layout: the contract between the stages that write it and the report that reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from splits.names import STRATEGIES

OPTUNA_DB = "optuna.db"  # a run's own Optuna storage when no --storage URL is given


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of an SQLite file, absolute so any working directory opens the same file."""
    return f"sqlite:///{Path(path).resolve()}"


def fold_record_path(run_dir: Path, model: str, strategy: str, fold: int) -> Path:
    return Path(run_dir) / "folds" / model / strategy / f"fold{fold}.json"


def fold_predictions_path(run_dir: Path, model: str, strategy: str, fold: int) -> Path:
    """Per test image of one outer fold: true and predicted class, confidence (written before the record)."""
    return fold_record_path(run_dir, model, strategy, fold).with_suffix(".predictions.csv")


def load_fold_records(run_dir: Path) -> list[dict[str, Any]]:
    """Every finished outer fold's record, by model, then strategy (grouped first), then fold."""
    records = [json.loads(path.read_text(encoding="utf-8")) for path in (Path(run_dir) / "folds").rglob("fold*.json")]
    order = {name: index for index, name in enumerate(STRATEGIES)}
    return sorted(records, key=lambda r: (r["model"], order.get(r["strategy"], len(order)), r["fold"]))
