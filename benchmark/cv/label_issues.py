"""Which labels look wrong: confident learning on the out-of-fold probabilities of a run.

Implemented from the paper (Northcutt, Jiang & Chuang 2021, "Confident Learning: Estimating
Uncertainty in Dataset Labels", JAIR 70): its reference implementation, cleanlab, is AGPL-3.0 and
this project is MIT, so none of its code is used.

- Per-class thresholds t_j: the mean self-confidence P(y = j | x) over the images labelled j.
- The confident joint C[i][j]: each image whose probability reaches the threshold of at least one
  class is counted once, under its given label i and the most probable of those classes j.
- An image in an off-diagonal cell (j != i) is a label issue: confidently another class. Issues
  are ranked by the normalised margin P(given) - max over other classes P(other) (most negative
  first, the paper's best-performing ranking), and each suggests the class j it was counted under.

A frame whose video's other frames are in training (the leaky arm) is judged by a model that knows
that video under its given label, so one flipped frame stands out; a whole mislabelled video is
only seen as wrong where the model has never seen that video (the grouped arm). So a run lists the
leaky arm's issues and the grouped arm's whole videos (measured on planted errors: README, "Which
labels are wrong").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.rundir import fold_probabilities_path
from splits.names import GROUPED, STRATEGIES


@dataclass(frozen=True)
class ConfidentJoint:
    thresholds: np.ndarray  # (K,) mean self-confidence per class (NaN for a class with no image)
    joint: np.ndarray  # (K, K) counts: given label (row) x confidently predicted class (column)
    counted_as: np.ndarray  # (n,) the column each image was counted under, -1 if under no threshold


def confident_joint(labels: np.ndarray, probabilities: np.ndarray) -> ConfidentJoint:
    labels = np.asarray(labels, dtype=int)
    proba = np.asarray(probabilities, dtype=float)
    n_classes = proba.shape[1]
    thresholds = np.full(n_classes, np.nan)
    for j in range(n_classes):
        members = labels == j
        if members.any():
            thresholds[j] = proba[members, j].mean()
    reached = proba >= np.where(np.isnan(thresholds), np.inf, thresholds)[None, :]
    candidates = np.where(reached, proba, -np.inf)
    counted_as = np.where(reached.any(axis=1), candidates.argmax(axis=1), -1)
    joint = np.zeros((n_classes, n_classes), dtype=int)
    for given, counted in zip(labels, counted_as):
        if counted >= 0:
            joint[given, counted] += 1
    return ConfidentJoint(thresholds, joint, counted_as)


def normalised_margin(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """P(given label) minus the largest probability of any other class: negative when another class wins."""
    proba = np.asarray(probabilities, dtype=float)
    rows = np.arange(len(proba))
    given = proba[rows, labels]
    others = proba.copy()
    others[rows, labels] = -np.inf
    return given - others.max(axis=1)


def find_label_issues(labels: np.ndarray, probabilities: np.ndarray) -> pd.DataFrame:
    """One row per label issue, strongest first: index, given, suggested (class indices) and score
    (the normalised margin; more negative is more likely wrong)."""
    labels = np.asarray(labels, dtype=int)
    cj = confident_joint(labels, probabilities)
    off = (cj.counted_as >= 0) & (cj.counted_as != labels)
    margin = normalised_margin(labels, probabilities)
    found = pd.DataFrame({"index": np.flatnonzero(off), "given": labels[off], "suggested": cj.counted_as[off],
                          "score": margin[off]})  # fmt: skip
    return found.sort_values(["score", "index"], kind="mergesort", ignore_index=True)


def video_issues(issues: pd.DataFrame, groups: np.ndarray, labels: np.ndarray, least: float = 1.0) -> pd.DataFrame:
    """Whole videos whose frames agree against their folder: at least `least` of a group's frames (all, by
    default) are issues, and they all suggest one class. One row per group: group, given, suggested,
    share, frames."""
    rows = []
    groups, labels = np.asarray(groups), np.asarray(labels, dtype=int)
    by_group = pd.Series(np.arange(len(groups))).groupby(groups)
    flagged = issues.set_index("index")
    for group, members in by_group:
        frames = members.to_numpy()
        hits = flagged.reindex(frames).dropna(subset=["suggested"])
        if len(frames) < 2 or len(hits) / len(frames) < least or hits.suggested.nunique() != 1:
            continue
        suggested = int(hits.suggested.iloc[0])
        rows.append({"group": group, "given": int(labels[frames[0]]), "suggested": int(suggested),
                     "share": len(hits) / len(frames), "frames": len(frames)})  # fmt: skip
    return pd.DataFrame(rows, columns=["group", "given", "suggested", "share", "frames"])


ISSUE_COLUMNS = ["path", "group", "given_label", "suggested_label", "score", "model", "arms", "video_flagged",
                 "models_agree"]  # fmt: skip


def out_of_fold_probabilities(records: list[dict], folders: dict[int, Path], model: str, strategy: str,
                              n_images: int) -> np.ndarray | None:  # fmt: skip
    """(images, classes): each image's probabilities from the first repeat's outer fold that tested it;
    None when a fold's probabilities are missing (a run from before they were written)."""
    proba = None
    for record in records:
        if record["model"] != model or record["strategy"] != strategy or record.get("repeat", 0) != 0:
            continue
        path = fold_probabilities_path(folders[0], model, strategy, record["fold"])
        if not path.is_file():
            return None
        fold = np.load(path)
        proba = np.full((n_images, fold.shape[1]), np.nan) if proba is None else proba
        proba[record["test_images"]] = fold
    return proba


def run_label_issues(records: list[dict], folders: dict[int, Path], images: pd.DataFrame, class_names: list[str],
                     models: list[str]) -> pd.DataFrame:  # fmt: skip
    """Label issues of every model, from both arms' out-of-fold probabilities (ISSUE_COLUMNS)."""
    index = {name: i for i, name in enumerate(class_names)}
    labels = images["label"].map(index).to_numpy()
    groups = images["group"].to_numpy()
    rows = []
    for model in models:
        found: dict[int, dict] = {}
        flagged_videos: set[str] = set()
        for strategy in STRATEGIES:
            proba = out_of_fold_probabilities(records, folders, model, strategy, len(images))
            if proba is None or np.isnan(proba).any():
                continue
            issues = find_label_issues(labels, proba)
            if strategy == GROUPED:
                # A whole video is judged where it was never seen in training; a single frame is judged
                # best by the leaky arm, whose model knows the rest of its video (measured on planted
                # errors: the grouped arm's isolated frame issues are mostly its own mistakes).
                videos = set(video_issues(issues, groups, labels).group)
                flagged_videos |= videos
                issues = issues[np.isin(groups[issues["index"].to_numpy()], list(videos))]
            for issue in issues.itertuples():
                entry = found.setdefault(issue.index, {"score": issue.score, "suggested": issue.suggested, "arms": []})
                entry["arms"].append(strategy)
                if issue.score < entry["score"]:
                    entry.update(score=issue.score, suggested=issue.suggested)
        for i, entry in found.items():
            rows.append({"path": images["path"].iloc[i], "group": groups[i], "given_label": class_names[labels[i]],
                         "suggested_label": class_names[entry["suggested"]], "score": round(float(entry["score"]), 6),
                         "model": model, "arms": "+".join(entry["arms"]), "video_flagged": groups[i] in flagged_videos,
                         "models_agree": False})  # fmt: skip
    table = pd.DataFrame(rows, columns=ISSUE_COLUMNS)
    if len(models) > 1 and not table.empty:
        votes = table.groupby(["path", "suggested_label"]).model.nunique()
        agreed = set(votes[votes == len(models)].index)
        table["models_agree"] = [(p, s) in agreed for p, s in zip(table.path, table.suggested_label)]
    return table.sort_values(["model", "score", "path"], kind="mergesort", ignore_index=True)


def against_truth(issues: pd.DataFrame, truth: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Precision and recall of the issues of each model and arm against planted errors (mislabelled.csv):
    an issue is right when its path was moved; `all` counts an image flagged by either arm."""
    planted = set(truth["path"])
    out: dict[str, dict[str, float]] = {}
    for model, rows in issues.groupby("model", sort=False):
        arms = {arm: rows[rows.arms.str.contains(arm)] for arm in STRATEGIES}
        arms["all"] = rows
        arms["grouped videos"] = rows[rows.video_flagged.astype(str) == "True"]
        for arm, flagged in arms.items():
            hits = len(set(flagged.path) & planted)
            out.setdefault(model, {})[arm] = {
                "flagged": int(len(flagged)),
                "precision": hits / len(flagged) if len(flagged) else float("nan"),
                "recall": hits / len(planted) if planted else float("nan"),
            }
    return out
