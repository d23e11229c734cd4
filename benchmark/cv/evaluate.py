"""Stage 6: evaluate. The numbers every report and command prints, from labels and probabilities."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix.

    Macro averages run over the classes present in y_true or predicted, so a test fold without some
    class is not punished for it.
    """
    y_pred = np.asarray(proba).argmax(axis=1)
    labels = list(range(len(class_names)))
    present = sorted(set(np.asarray(y_true).tolist()) | set(y_pred.tolist()))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true": expected whenever a fold or a folder lacks some
        # class; balanced accuracy averages the recall of the classes present, as documented.
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        balanced = float(balanced_accuracy_score(y_true, y_pred))
    return {
        "n_images": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": balanced,
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "class_names": list(class_names),
        # scikit-learn's per-class table for terminals (the classes present in the data or predicted)
        "report": classification_report(
            y_true, y_pred, labels=present, target_names=[class_names[i] for i in present], digits=3, zero_division=0
        ),
    }


def video_scores(y_true: np.ndarray, proba: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    """Accuracy per clip: the frames of each group (source video; a single image is its own) vote with
    their mean probability for one label, as a user who classifies whole clips deploys the model."""
    frame = pd.DataFrame(np.asarray(proba, dtype=np.float64))
    frame["group"], frame["label"] = np.asarray(groups), np.asarray(y_true)
    per_video = frame.groupby("group", sort=True)
    mean = per_video[list(range(np.shape(proba)[1]))].mean().to_numpy()
    labels = per_video["label"].first().to_numpy()
    correct = mean.argmax(axis=1) == labels
    return {"video_accuracy": float(correct.mean()) if len(correct) else float("nan"), "n_videos": int(len(correct))}


PREDICTION_COLUMNS = ["model", "strategy", "repeat", "fold", "path", "label", "group", "predicted", "confidence",
                      "correct", "p_true"]  # fmt: skip


def prediction_rows(
    keys: dict[str, Any], paths, labels, groups, proba: np.ndarray, class_names: list[str]
) -> pd.DataFrame:
    """One row per image (`keys`: model, strategy, repeat, fold): its true and predicted class, the model's
    confidence and the true class's probability, in PREDICTION_COLUMNS order."""
    proba = np.asarray(proba)
    predicted = proba.argmax(axis=1)
    truth = np.asarray(labels)
    frame = pd.DataFrame(
        {
            "path": list(paths),
            "label": [class_names[i] for i in truth],
            "group": list(groups),
            "predicted": [class_names[i] for i in predicted],
            "confidence": proba.max(axis=1).astype(float),
            "correct": predicted == truth,
            "p_true": proba[np.arange(len(truth)), truth].astype(float),
        }
    )
    return frame.assign(**keys)[PREDICTION_COLUMNS]
