"""Confident learning (Northcutt, Jiang & Chuang 2021) on constructed probabilities whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.cv.label_issues import confident_joint, find_label_issues, normalised_margin, video_issues


def constructed() -> tuple[np.ndarray, np.ndarray]:
    """Three classes of four images: image 2 (labelled 0) is confidently class 1, image 9 (labelled 2)
    confidently class 0, and image 6 is unsure, under every class's threshold."""
    proba = np.array(
        [
            [0.90, 0.05, 0.05],
            [0.80, 0.10, 0.10],
            [0.05, 0.90, 0.05],  # labelled 0: a flipped label
            [0.70, 0.20, 0.10],
            [0.10, 0.80, 0.10],
            [0.05, 0.85, 0.10],
            [0.30, 0.40, 0.30],  # labelled 1, unsure: below class 1's threshold, above no other's
            [0.10, 0.90, 0.00],
            [0.05, 0.05, 0.90],
            [0.85, 0.05, 0.10],  # labelled 2: a flipped label
            [0.10, 0.10, 0.80],
            [0.00, 0.10, 0.90],
        ]
    )
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    return labels, proba


def test_thresholds_are_the_mean_self_confidence_of_each_class():
    labels, proba = constructed()
    cj = confident_joint(labels, proba)
    assert cj.thresholds == pytest.approx([(0.9 + 0.8 + 0.05 + 0.7) / 4, (0.8 + 0.85 + 0.4 + 0.9) / 4,
                                           (0.9 + 0.1 + 0.8 + 0.9) / 4])  # fmt: skip


def test_the_confident_joint_counts_each_confident_image_once_under_its_best_class():
    labels, proba = constructed()
    cj = confident_joint(labels, proba)
    # thresholds 0.6125, 0.7375, 0.675: image 6 (0.3, 0.4, 0.3) reaches none; image 3 (0.7) reaches class 0's
    assert cj.counted_as.tolist() == [0, 0, 1, 0, 1, 1, -1, 1, 2, 0, 2, 2]
    assert cj.joint.tolist() == [[3, 1, 0], [0, 3, 0], [1, 0, 3]]
    assert cj.joint.sum() == 11  # every image but the unsure one


def test_issues_are_the_off_diagonal_images_ranked_by_normalised_margin():
    labels, proba = constructed()
    issues = find_label_issues(labels, proba)
    assert issues["index"].tolist() == [2, 9]  # margins 0.05 - 0.90 = -0.85 and 0.10 - 0.85 = -0.75
    assert issues.suggested.tolist() == [1, 0] and issues.given.tolist() == [0, 2]
    assert issues.score.tolist() == pytest.approx([-0.85, -0.75])
    assert normalised_margin(labels, proba)[0] == pytest.approx(0.85)


def test_a_class_without_images_gets_no_threshold_and_takes_no_image():
    labels = np.array([0, 0, 1, 1])
    proba = np.array([[0.6, 0.1, 0.3], [0.7, 0.1, 0.2], [0.2, 0.5, 0.3], [0.1, 0.6, 0.3]])
    cj = confident_joint(labels, proba)
    assert np.isnan(cj.thresholds[2]) and (cj.counted_as != 2).all() and find_label_issues(labels, proba).empty


def test_a_whole_video_whose_frames_agree_against_its_folder_is_flagged():
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    groups = np.array(["a", "a", "a", "b", "b", "c", "c"])
    issues = find_label_issues(
        labels,
        np.array([[0.1, 0.9], [0.2, 0.8], [0.15, 0.85], [0.1, 0.9], [0.2, 0.8], [0.7, 0.3], [0.95, 0.05]]),
    )
    videos = video_issues(issues, groups, labels)
    assert videos.group.tolist() == ["a", "c"] and videos.suggested.tolist() == [1, 0]
    assert videos.share.tolist() == [1.0, 1.0]
