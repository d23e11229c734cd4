"""Leakage audit: near-duplicates across splits from the pixels, and groups inferred from them."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from harness import cli


def audit_json(*args: str) -> dict:
    done = cli("audit", *args, "--json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_leaky_split_has_many_cross_split_near_duplicates_grouped_almost_none(tiny_demo):
    result = audit_json("--data", str(tiny_demo), "--folds", "2")
    assert result["leaky"]["near_duplicate_share"] >= 0.6
    assert result["grouped"]["near_duplicate_share"] <= 0.02
    worst = result["leaky"]["worst_pairs"][0]
    assert worst["same_group"] and worst["cosine"] >= 0.93
    assert len({frozenset((p["test"], p["train"])) for p in result["leaky"]["worst_pairs"]}) == len(
        result["leaky"]["worst_pairs"]
    )


@pytest.mark.slow
def test_real_sample_one_image_per_video_has_no_false_duplicates(real_sample):
    result = audit_json("--data", str(real_sample))
    for strategy in ("grouped", "leaky"):
        assert result[strategy]["near_duplicate_share"] == 0.0, result[strategy]["worst_pairs"][:2]


@pytest.mark.slow
def test_groups_inferred_from_pixels_agree_with_the_true_videos(tiny_demo, tmp_path):
    result = audit_json("--data", str(tiny_demo), "--folds", "2", "--groups", "infer")
    assert result["inferred_groups"]["adjusted_rand_index"] >= 0.9
    assert result["grouped"]["near_duplicate_share"] <= 0.02

    manifest = tmp_path / "m.csv"
    done = cli(
        "splits", "--data", str(tiny_demo), "--folds", "2", "--strategy", "grouped", "--groups", "infer",
        "--out", str(manifest),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "adjusted Rand index" in done.stderr
    frame = pd.read_csv(manifest, keep_default_na=False)
    assert frame.group.str.contains("/cluster-").all()
    assert (frame.groupby("group").fold.nunique() == 1).all()
    # The true videos (from the names) nearly all land in one fold too, though the splitter never saw them.
    true_video = frame.path.str.extract(r"_(\d+?)\d{5}\.")[0].fillna(frame.path)
    assert (frame.groupby([frame.label, true_video]).fold.nunique() == 1).mean() >= 0.9

    audited = audit_json("--data", str(tiny_demo), "--manifest", str(manifest))
    assert list(audited) == ["grouped", "cross_class_duplicates"] and audited["cross_class_duplicates"] == []
    assert audited["grouped"]["near_duplicate_share"] <= 0.02


def test_manifest_of_another_folder_is_a_one_line_error(tiny_demo, real_sample, tmp_path):
    manifest = tmp_path / "m.csv"
    made = cli("splits", "--data", str(real_sample), "--strategy", "leaky", "--out", str(manifest))
    assert made.returncode == 0, made.stderr[-2000:]
    done = cli("audit", "--data", str(tiny_demo), "--manifest", str(manifest))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "not in the data folder" in done.stderr.strip().splitlines()[-1]
