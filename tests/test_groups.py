from pathlib import Path

import pandas as pd
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.data.groups import SINGLE, UNMATCHED, VIDEO, assign_groups, compile_rules, group_of
from config import DEFAULT

RULES = compile_rules(DEFAULT.video_pattern, DEFAULT.single_image_pattern)


def parse(name: str, label: str = "squat") -> tuple[str, str]:
    return group_of(f"{label}/{name}", label, *RULES)


@pytest.mark.parametrize(
    "name, video",
    [
        ("squat_2200351.jpg", 22),
        ("squat_600451.jpg", 6),
        ("plank_705761.jpg", 7),
        ("pull up_1000151.jpg", 10),
        ("lateral raise_100051.jpg", 1),
        ("cfm_2000081.jpg", 20),
        ("a_b_1200001.png", 12),
    ],
)
def test_video_number_is_the_number_before_the_five_digit_frame_part(name, video):
    label = "squat"
    assert parse(name, label) == (f"{label}/video-{video}", VIDEO)


def test_video_1_and_video_10_stay_apart():
    # The seed project took the first two digits of any long number: 100111 and 1000151 both gave "10".
    first, _ = parse("pull up_100111.jpg", "pull up")
    tenth, _ = parse("pull up_1000151.jpg", "pull up")
    assert first != tenth
    assert first.endswith("video-1") and tenth.endswith("video-10")


def test_frames_of_one_video_share_a_group_and_classes_never_share_one():
    assert parse("squat_2200351.jpg")[0] == parse("squat_2200001.jpg")[0]
    assert parse("squat_2200351.jpg", "squat")[0] != parse("squat_2200351.jpg", "deadlift")[0]


def test_web_images_are_single_groups_and_odd_names_unmatched():
    g3, kind = parse("plank_g3.jpg", "plank")
    g4, _ = parse("plank_g4.jpg", "plank")
    assert kind == SINGLE and g3 != g4
    for name in ("IMG 0001.jpg", "squat_12345.jpg", "squat.jpg", "squat_22003a1.jpg"):
        group, kind = parse(name)
        assert kind == UNMATCHED, name
        assert group == f"squat/{name}"


def test_every_real_sample_name_gets_its_source_video(real_sample):
    paths = sorted(p for p in real_sample.rglob("*.jpg"))
    assert len(paths) == 110
    frame = pd.DataFrame(
        {"path": [p.relative_to(real_sample).as_posix() for p in paths], "label": [p.parent.name for p in paths]}
    )
    grouped = assign_groups(frame, DEFAULT.video_pattern, DEFAULT.single_image_pattern)
    for path, label, group, kind in grouped[["path", "label", "group", "group_kind"]].itertuples(index=False):
        number = Path(path).stem.rsplit("_", 1)[1]
        if number.startswith("g"):
            assert kind == SINGLE and group == f"{label}/{Path(path).name}"
        else:
            assert kind == VIDEO and group == f"{label}/video-{int(number[:-5])}", path
    assert (grouped["group_kind"] == UNMATCHED).sum() == 0
    # The sample holds one frame per source video: every image is its own group.
    assert grouped["group"].nunique() == 110


def test_a_pattern_without_a_video_group_is_refused():
    with pytest.raises(BenchmarkError, match="named group 'video'"):
        compile_rules(r"_(\d+)\d{5}$", DEFAULT.single_image_pattern)
