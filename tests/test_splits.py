import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splits.manifest import manifest_csv, manifest_frame
from splits.names import GROUPED, LEAKY, SplitError
from splits.strategies import assign_folds, fold_pairs, inner_fold_pairs, verify_no_group_overlap


@st.composite
def grouped_data(draw):
    """Labels and groups where every class has at least `k` groups of 1-8 frames."""
    k = draw(st.integers(2, 5))
    n_classes = draw(st.integers(2, 5))
    labels, groups = [], []
    for c in range(n_classes):
        for g in range(draw(st.integers(k, k + 6))):
            size = draw(st.integers(1, 8))
            labels += [f"class{c}"] * size
            groups += [f"class{c}/video-{g}"] * size
    return np.array(labels), np.array(groups), k, draw(st.integers(0, 2**31 - 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grouped_data())
def test_grouped_folds_cover_every_image_once_and_never_share_a_group(data):
    labels, groups, k, seed = data
    folds = assign_folds(labels, groups, GROUPED, k, seed)
    assert set(folds.tolist()) == set(range(k))  # every image in exactly one test fold
    for train_idx, test_idx in fold_pairs(folds):
        assert len(np.intersect1d(train_idx, test_idx)) == 0
        assert len(train_idx) + len(test_idx) == len(labels)
        assert not set(groups[train_idx]) & set(groups[test_idx])
    # Stratified as far as groups allow: every class with >= k groups appears in every test fold.
    for label in set(labels.tolist()):
        assert set(folds[labels == label].tolist()) == set(range(k))


@settings(max_examples=60, deadline=None)
@given(grouped_data())
def test_leaky_folds_stratify_exactly_and_do_mix_videos(data):
    labels, groups, k, seed = data
    folds = assign_folds(labels, groups, LEAKY, k, seed)
    for label in set(labels.tolist()):
        counts = np.bincount(folds[labels == label], minlength=k)
        assert counts.max() - counts.min() <= 1


def test_leaky_split_puts_frames_of_one_video_on_both_sides():
    labels = np.repeat(["a", "b"], 50)
    groups = np.repeat([f"v{i}" for i in range(10)], 10)
    folds = assign_folds(labels, groups, LEAKY, 5, 0)
    train_idx, test_idx = fold_pairs(folds)[0]
    assert set(groups[train_idx]) & set(groups[test_idx])
    with pytest.raises(SplitError, match="leaking"):
        verify_no_group_overlap(groups, train_idx, test_idx)


def test_same_seed_same_bytes_other_seed_other_split():
    labels = np.repeat([f"c{i}" for i in range(4)], 60)
    groups = np.array([f"{label}/v{j // 6}" for label in np.unique(labels) for j in range(60)])
    images = pd.DataFrame(
        {"path": [f"{label}/{i}.jpg" for i, label in enumerate(labels)], "label": labels, "group": groups}
    ).sample(frac=1, random_state=1)

    def csv(seed, frame):
        folds = assign_folds(frame["label"].to_numpy(), frame["group"].to_numpy(), GROUPED, 5, seed)
        return manifest_csv(manifest_frame(frame, folds, GROUPED))

    assert csv(3, images.sort_values("path")) == csv(3, images.sort_values("path"))
    assert csv(3, images.sort_values("path")) != csv(4, images.sort_values("path"))
    assert csv(3, images.sort_values("path")).splitlines()[0] == "path,label,group,fold,strategy"


def test_class_with_too_few_groups_is_named_with_its_count():
    labels = np.array(["squat"] * 30 + ["plank"] * 30)
    groups = np.array([f"squat/v{i % 6}" for i in range(30)] + [f"plank/v{i % 3}" for i in range(30)])
    with pytest.raises(SplitError, match=r"class 'plank' has 3 groups .*fewer than --folds 5"):
        assign_folds(labels, groups, GROUPED, 5, 0)
    # The leaky split counts images, so the same data splits fine there.
    assert len(set(assign_folds(labels, groups, LEAKY, 5, 0))) == 5


@pytest.mark.parametrize("folds", [1, 0, -3])
def test_fewer_than_two_folds_is_refused(folds):
    with pytest.raises(SplitError, match="--folds must be at least 2"):
        assign_folds(np.array(["a"] * 10), np.arange(10).astype(str), GROUPED, folds, 0)


def test_unknown_strategy_is_refused():
    with pytest.raises(SplitError, match="unknown split strategy 'random'"):
        assign_folds(np.array(["a"] * 10), np.arange(10).astype(str), "random", 2, 0)


@pytest.mark.parametrize("strategy", [GROUPED, LEAKY])
def test_inner_folds_stay_inside_the_outer_training_part(strategy):
    labels = np.repeat([f"c{i}" for i in range(3)], 48)
    groups = np.array([f"{label}/v{j // 4}" for label in np.unique(labels) for j in range(48)])
    outer = assign_folds(labels, groups, strategy, 4, 11)
    for fold, (outer_train, outer_test) in enumerate(fold_pairs(outer)):
        inner = inner_fold_pairs(labels, groups, outer_train, strategy, 3, 11, fold)
        assert len(inner) == 3
        covered = np.concatenate([val for _, val in inner])
        assert sorted(covered.tolist()) == sorted(outer_train.tolist())
        for train, val in inner:
            assert not np.intersect1d(train, outer_test).size and not np.intersect1d(val, outer_test).size
            if strategy == GROUPED:
                assert not set(groups[train]) & set(groups[val])
    # Each outer fold gets its own reproducible inner cut.
    train0 = fold_pairs(outer)[0][0]
    again = inner_fold_pairs(labels, groups, train0, strategy, 3, 11, 0)
    first = inner_fold_pairs(labels, groups, train0, strategy, 3, 11, 0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again))
