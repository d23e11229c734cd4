"""Learning curves by videos: nested, class-stratified video subsets, a fitted power law, a report section."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from harness import QUICK, cli

from benchmark.cv.curve import power_law, videos_for_gain
from splits.strategies import keep_groups


def test_video_subsets_keep_each_class_share_and_are_nested():
    labels = np.repeat(["a", "b"], [40, 20])
    groups = np.array([f"a/{i // 4}" for i in range(40)] + [f"b/{i // 4}" for i in range(20)])  # 10 and 5 videos
    indices = np.arange(60)
    half = keep_groups(indices, labels, groups, 0.5, seed=3, least=2)
    more = keep_groups(indices, labels, groups, 0.8, seed=3, least=2)
    assert len(set(groups[half])) == 5 + 2  # round(10 / 2) videos of a, max(2, round(2.5)) of b
    assert set(half) <= set(more)  # a smaller share is a subset of a larger one
    assert all((groups[half] == g).sum() == 4 for g in set(groups[half]))  # whole videos, never split
    assert np.array_equal(half, keep_groups(indices, labels, groups, 0.5, seed=3, least=2))
    assert np.array_equal(keep_groups(indices, labels, groups, 1.0, seed=3), indices)


def test_videos_for_five_more_points_reads_the_fitted_power_law():
    a, b, c = 0.9, 0.8, 0.5
    now = 16.0
    needed = videos_for_gain((a, b, c), now)
    assert power_law(np.array([needed]), a, b, c)[0] == pytest.approx(power_law(np.array([now]), a, b, c)[0] + 0.05)
    assert videos_for_gain((0.62, 0.1, 0.5), now) is None  # at 59.5% now, it levels off 2.5 points higher


@pytest.mark.slow
def test_curve_on_the_demo_data_gives_a_point_per_fraction_model_and_strategy(tiny_demo, tmp_path):
    out = tmp_path / "curve.json"
    done = cli(
        "curve", "--data", str(tiny_demo), "--folds", "2", "--trials", "1", "--fractions", "0.5", "1.0",
        "--out", str(tmp_path / "runs"), "--run-id", "c", "--json", str(out), *QUICK,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    points = result["points"]
    assert sorted((p["strategy"], p["fraction"]) for p in points) == [
        ("grouped", 0.5), ("grouped", 1.0), ("leaky", 0.5), ("leaky", 1.0),
    ]  # fmt: skip
    assert {p["model"] for p in points} == {"EfficientNetLite0"}  # the cheapest strong model by default
    for p in points:
        assert set(p) >= {"model", "strategy", "videos_per_class", "fraction", "accuracy", "ci95"}
        assert p["ci95"][0] <= p["accuracy"] <= p["ci95"][1]
    by = {(p["strategy"], p["fraction"]): p["videos_per_class"] for p in points}
    assert by[("grouped", 0.5)] < by[("grouped", 1.0)]
    assert "sentence" in result["extrapolation"]["EfficientNetLite0"]["grouped"]
    html = (tmp_path / "runs" / "c" / "report.html").read_text(encoding="utf-8")
    assert '<section id="curve">' in html and len(re.findall(r'src="data:image/png;base64,', html)) == 1
    assert done.stdout.strip().splitlines()[-1].startswith(f"results: {tmp_path / 'runs' / 'c'}")
