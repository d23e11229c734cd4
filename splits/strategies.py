"""The two ways of cutting a video-frame dataset into k folds.

`grouped` keeps every source video on one side (sklearn's StratifiedGroupKFold);
`leaky` is what a user who ignores videos does (StratifiedKFold), frames of one video on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from benchmark.core.seeds import derived_seed
from splits.names import GROUPED, STRATEGIES, SplitError

INNER_FOLDS_OPTION = "inner_folds"  # the config field of the inner fold count, named in error messages


def assign_folds(
    labels: Sequence[str], groups: Sequence[str], strategy: str, n_folds: int, seed: int, option: str = "--folds"
) -> np.ndarray:
    """The test fold (0..n_folds-1) of every sample, verified for grouped splits. `option` is how the
    user sets `n_folds`, for the error message."""
    labels_array = np.asarray(labels)
    groups_array = np.asarray(groups)
    check_feasible(labels_array, groups_array, strategy, n_folds, option)
    folds = np.full(len(labels_array), -1, dtype=np.int64)
    splitter = _splitter(strategy, n_folds, seed)
    split_groups = groups_array if strategy == GROUPED else None  # leaky ignores videos by design
    for fold, (_, test_idx) in enumerate(splitter.split(np.zeros(len(labels_array)), labels_array, split_groups)):
        folds[test_idx] = fold
    for fold in range(n_folds):
        if not np.any(folds == fold):
            raise SplitError(f"fold {fold} of the {strategy} split is empty: too few groups for {n_folds} folds")
    if strategy == GROUPED:
        for train_idx, test_idx in fold_pairs(folds):
            verify_no_group_overlap(groups_array, train_idx, test_idx)
    return folds


def fold_pairs(folds: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train indices, test indices) for each fold of a fold-assignment array."""
    folds = np.asarray(folds)
    return [(np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)) for fold in range(int(folds.max()) + 1)]


def inner_fold_pairs(
    labels: Sequence[str],
    groups: Sequence[str],
    outer_train_idx: np.ndarray,
    strategy: str,
    n_folds: int,
    seed: int,
    outer_fold: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds for tuning inside one outer training part, as indices into the full dataset.

    The outer test fold never appears: only `outer_train_idx` is split. The seed is derived from
    (seed, outer_fold) so each outer fold gets its own, reproducible inner cut.
    """
    outer_train_idx = np.asarray(outer_train_idx)
    inner_labels = np.asarray(labels)[outer_train_idx]
    inner_groups = np.asarray(groups)[outer_train_idx]
    inner_seed = derived_seed(seed, outer_fold)
    try:
        folds = assign_folds(inner_labels, inner_groups, strategy, n_folds, inner_seed, INNER_FOLDS_OPTION)
    except SplitError as error:
        raise SplitError(f"inner split of the {strategy} outer fold {outer_fold}'s training part: {error}") from None
    return [(outer_train_idx[train], outer_train_idx[val]) for train, val in fold_pairs(folds)]


def verify_no_group_overlap(groups: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray) -> None:
    shared = np.intersect1d(np.asarray(groups)[train_idx], np.asarray(groups)[test_idx])
    if shared.size:
        raise SplitError(f"grouped split is leaking: {shared.size} group(s) on both sides, e.g. {shared[0]!r}")


def check_feasible(
    labels: np.ndarray, groups: np.ndarray, strategy: str, n_folds: int, option: str = "--folds"
) -> None:
    """Fail before sklearn does, with a message that names the class, its count and the limit that binds."""
    if strategy not in STRATEGIES:
        raise SplitError(f"unknown split strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise SplitError(f"{option} must be at least 2, got {n_folds}")
    if len(labels) != len(groups):
        raise SplitError(f"labels and groups differ in length: {len(labels)} != {len(groups)}")
    for label in sorted(set(labels.tolist())):
        members = groups[labels == label]
        count = len(np.unique(members)) if strategy == GROUPED else len(members)
        if count < n_folds:
            unit = {(GROUPED, True): "group (source video)", (GROUPED, False): "groups (source videos)"}.get(
                (strategy, count == 1), "image" if count == 1 else "images"
            )
            # Fewer than 2 cannot be split at all: lowering the fold count below 2 is not a fix.
            how = "" if option.startswith("--") else f" (--set {option}={count})"
            fix = (
                f"lower {option} to {count}{how} or add data to that class" if count >= 2 else "add data to that class"
            )
            raise SplitError(f"class {label!r} has {count} {unit}, fewer than {option} {n_folds}: {fix}")


def _splitter(strategy: str, n_folds: int, seed: int) -> StratifiedGroupKFold | StratifiedKFold:
    if strategy == GROUPED:
        return StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)


def keep_groups(
    indices: np.ndarray, labels: Sequence[str], groups: Sequence[str], fraction: float, seed: int, least: int = 1
) -> np.ndarray:
    """The members of `fraction` of each class's groups among `indices` (at least `least` groups a class),
    sorted. Nested across fractions: each class's groups are shuffled once by `seed`, a prefix is kept."""
    indices = np.asarray(indices)
    if fraction >= 1.0:
        return indices
    labels_array, groups_array = np.asarray(labels), np.asarray(groups)
    keep = []
    for label in sorted(set(labels_array[indices].tolist())):
        members = indices[labels_array[indices] == label]
        names = sorted(set(groups_array[members].tolist()))
        order = np.random.default_rng([seed, len(names)]).permutation(len(names))
        chosen = {names[i] for i in order[: min(len(names), max(least, round(len(names) * fraction)))]}
        keep.extend(members[[g in chosen for g in groups_array[members]]])
    return np.sort(np.asarray(keep, dtype=np.int64))
