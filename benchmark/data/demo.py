"""The embedded default data: a synthetic exercise-video dataset in the real layout and naming.

Each video films one figure (its own body proportions, clothes, gym, camera and lighting) going
through its class's movement cycle; each frame is one pose along that cycle, plus sensor noise.
Classes differ by pose and equipment; videos of a class differ by everything else. So frames of
one video are near-duplicates while two videos of one class are not, which is exactly why a
random (leaky) split overstates accuracy on the real dataset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from PIL import Image, ImageDraw

from benchmark.core.atomic import atomic_write_bytes, atomic_write_json, staged_folder
from benchmark.core.errors import BenchmarkError
from benchmark.core.outputs import check_output_folder, check_writable
from benchmark.core.progress import progress
from benchmark.data.demo_files import (
    DEMO_STAMP,
    MISLABELLED,
    demo_stamp,
    read_stamp,
    refuse_foreign_demo,
    write_manifest,
)
from benchmark.data.demo_scales import CLASS_NAMES, DEMO_SCALES, FILE_PREFIXES, DemoScale

# Segment lengths in body heights (a standing figure is about 1.0 tall).
BONES = {"torso": 0.30, "neck": 0.05, "uarm": 0.16, "farm": 0.15, "thigh": 0.24, "shin": 0.23}
LIMBS = ("uarm", "farm", "thigh", "shin")

STAND = {"torso": 90, "uarm": 268, "farm": 272, "thigh": 270, "shin": 270}
SEATED = {"torso": 95, "thigh": 0, "shin": 270}
LYING = {"torso": 180, "thigh": 330, "shin": 270}


@dataclass(frozen=True)
class Movement:
    """Two key poses (absolute segment angles in degrees, y up, facing right) and the equipment.

    `far_a`/`far_b` override the far-side limbs (alternating arms); otherwise they mirror the near.
    """

    a: dict[str, float]
    b: dict[str, float]
    props: tuple[str, ...] = ()
    far_a: dict[str, float] | None = None
    far_b: dict[str, float] | None = None


def _pose(*bases: dict[str, float], **angles: float) -> dict[str, float]:
    merged: dict[str, float] = {}
    for base in bases:
        merged.update(base)
    merged.update(angles)
    return merged


MOVEMENTS: dict[str, Movement] = {
    "barbell biceps curl": Movement(_pose(STAND, uarm=265, farm=275), _pose(STAND, uarm=262, farm=75), ("barbell",)),
    "bench press": Movement(_pose(LYING, uarm=92, farm=90), _pose(LYING, uarm=235, farm=95), ("bench", "barbell")),
    "chest fly machine": Movement(
        _pose(SEATED, uarm=175, farm=170), _pose(SEATED, uarm=5, farm=0), ("seat", "handles")
    ),
    "deadlift": Movement(
        _pose(STAND, torso=35, thigh=305, shin=255, uarm=272, farm=270), _pose(STAND), ("barbell_floor",)
    ),
    "decline bench press": Movement(
        _pose(torso=200, thigh=40, shin=300, uarm=95, farm=95),
        _pose(torso=200, thigh=40, shin=300, uarm=250, farm=100),
        ("decline_bench", "barbell"),
    ),
    "hammer curl": Movement(
        _pose(STAND, uarm=268, farm=272),
        _pose(STAND, uarm=262, farm=80),
        ("dumbbells",),
        far_a=_pose(STAND, uarm=268, farm=272),
        far_b=_pose(STAND, uarm=268, farm=272),
    ),
    "hip thrust": Movement(
        _pose(torso=205, thigh=340, shin=265, uarm=300, farm=310),
        _pose(torso=178, thigh=10, shin=268, uarm=300, farm=320),
        ("bench_short", "hip_bar"),
    ),
    "incline bench press": Movement(
        _pose(SEATED, torso=130, uarm=225, farm=100),
        _pose(SEATED, torso=130, uarm=100, farm=95),
        ("incline_bench", "barbell"),
    ),
    "lat pulldown": Movement(
        _pose(SEATED, uarm=82, farm=88), _pose(SEATED, torso=100, uarm=245, farm=75), ("seat", "cable_top")
    ),
    "lateral raises": Movement(
        _pose(STAND, uarm=275, farm=275),
        _pose(STAND, uarm=5, farm=5),
        ("dumbbells",),
        far_a=_pose(STAND, uarm=265, farm=265),
        far_b=_pose(STAND, uarm=175, farm=175),
    ),
    "leg extension": Movement(
        _pose(SEATED, uarm=275, farm=300, shin=268), _pose(SEATED, uarm=275, farm=300, shin=5), ("seat", "shin_pad")
    ),
    "leg raises": Movement(
        _pose(torso=180, thigh=0, shin=0, uarm=0, farm=0),
        _pose(torso=180, thigh=88, shin=92, uarm=0, farm=0),
        ("mat",),
    ),
    "plank": Movement(
        _pose(torso=168, thigh=350, shin=350, uarm=270, farm=182),
        _pose(torso=166, thigh=348, shin=352, uarm=272, farm=180),
        ("mat",),
    ),
    "pull up": Movement(
        _pose(STAND, uarm=86, farm=90, thigh=265, shin=250),
        _pose(STAND, uarm=235, farm=78, thigh=275, shin=245),
        ("bar_overhead",),
    ),
    "push up": Movement(
        _pose(torso=158, thigh=338, shin=338, uarm=270, farm=270),
        _pose(torso=174, thigh=354, shin=354, uarm=320, farm=235),
        ("mat",),
    ),
    "romanian deadlift": Movement(
        _pose(STAND, torso=20, thigh=282, shin=268, uarm=270, farm=270), _pose(STAND, torso=85), ("barbell",)
    ),
    "russian twist": Movement(
        _pose(torso=125, thigh=35, shin=340, uarm=330, farm=5),
        _pose(torso=125, thigh=35, shin=340, uarm=20, farm=60),
        ("ball", "mat"),
    ),
    "shoulder press": Movement(
        _pose(SEATED, uarm=190, farm=92), _pose(SEATED, uarm=92, farm=90), ("seat", "dumbbells")
    ),
    "squat": Movement(
        _pose(STAND, uarm=200, farm=70),
        _pose(STAND, torso=60, thigh=345, shin=245, uarm=170, farm=60),
        ("barbell_back",),
    ),
    "t bar row": Movement(
        _pose(STAND, torso=32, thigh=290, shin=258, uarm=270, farm=270),
        _pose(STAND, torso=35, thigh=290, shin=258, uarm=195, farm=280),
        ("landmine",),
    ),
    "tricep dips": Movement(
        _pose(STAND, thigh=300, shin=235, uarm=272, farm=272),
        _pose(STAND, thigh=300, shin=235, uarm=205, farm=300),
        ("parallel_bars",),
    ),
    "tricep pushdown": Movement(
        _pose(STAND, torso=82, uarm=262, farm=25), _pose(STAND, torso=82, uarm=265, farm=272), ("cable_top",)
    ),
}


@dataclass(frozen=True)
class VideoStyle:
    """Everything that stays fixed within one video and changes between videos."""

    bones: dict[str, float]
    thickness: float
    head: float
    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    skin: tuple[int, int, int]
    wall: tuple[int, int, int]
    wall_bottom: tuple[int, int, int]
    floor: tuple[int, int, int]
    panels: tuple[tuple[float, float, float, float, tuple[int, int, int]], ...]
    equipment: tuple[int, int, int]
    scale: float
    center: tuple[float, float]
    mirror: bool
    tilt: float
    gain: float
    tint: tuple[float, float, float]
    noise: float
    angle_offsets: dict[str, float]
    amplitude: float
    phase0: float
    phase_step: float
    studio: bool = False


def generate_demo_data(
    out: Path,
    scale: str = "small",
    seed: int = 42,
    total_images: int | None = None,
    n_jobs: int = 1,
    force: bool = False,
    option: str = "--out",
    mislabel: float = 0.0,
    mislabel_videos: bool = False,
) -> Path:
    """Write the dataset under `out` and return `out`. An existing `out` is replaced only when it is
    empty or holds only what a generation wrote (its manifest says what), or with `force`; `option`
    names `out` in errors.

    `mislabel`: plant label errors, a share of the frames (below 1) or a number of them, moved into
    another class's folder; with `mislabel_videos`, whole videos instead of single frames. The truth
    goes to mislabelled.csv (path, true_label, given_label) at the top of `out`."""
    if scale not in DEMO_SCALES:
        raise BenchmarkError(f"unknown --scale {scale!r}; choose one of: {', '.join(DEMO_SCALES)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BenchmarkError(f"{option} {out} is a file: give a folder to write the demo dataset into")
    if not force:
        refuse_foreign_demo(out, option)  # walks the folder once; after it, a stamp is enough
        check_output_folder(out, option, lambda folder: read_stamp(folder) is not None, "demo dataset",
                            "pass --force to replace it")  # fmt: skip
    check_writable(out.parent)
    sizes = DEMO_SCALES[scale]
    plan = plan_files(sizes, seed, total_images)
    # Swapped in whole, so an interrupted generation never looks like a complete one.
    with staged_folder(out) as tmp:
        for label in CLASS_NAMES:
            (tmp / label).mkdir(parents=True, exist_ok=True)
        jobs = progress(plan, total=len(plan), desc="demo videos")
        Parallel(n_jobs=n_jobs)(delayed(_render_video)(tmp, sizes, seed, *item) for item in jobs)
        if mislabel:
            plant_label_errors(tmp, mislabel, mislabel_videos, seed)
        stamp = demo_stamp(scale, seed, total_images) | ({"mislabel": mislabel, "videos": mislabel_videos}
                                                          if mislabel else {})  # fmt: skip
        atomic_write_json(tmp / DEMO_STAMP, stamp, indent=None)
        write_manifest(tmp)  # last: it lists every file above, so nothing the user adds later is lost
    return out  # what it replaced: a demo dataset (checked above) or, with --force, asked for


def plant_label_errors(root: Path, amount: float, whole_videos: bool, seed: int) -> list[dict[str, str]]:
    """Move a seeded choice of frames (or whole videos) into another class's folder, keeping their names
    (as a mis-sorted file would), and write what moved where to mislabelled.csv."""
    frames = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg"))
    units: dict[str, list[str]] = {}
    for path in frames:
        label, name = path.split("/", 1)
        key = f"{label}/{name.rsplit('_', 1)[0]}_{name.rsplit('_', 1)[1][:-9]}" if whole_videos else path
        units.setdefault(key, []).append(path)
    if whole_videos:  # web images (`_g<n>`) are single pictures, not videos
        units = {k: v for k, v in units.items() if "_g" not in v[0].rsplit("/", 1)[1]}
    keys = sorted(units)
    count = int(round(amount * len(keys))) if amount < 1 else int(amount)
    if not 0 < count <= len(keys):
        unit = "videos" if whole_videos else "frames"
        raise BenchmarkError(f"--mislabel {amount:g}: choose between 1 and {len(keys)} {unit}")
    rng = np.random.default_rng([seed, 0x4D4953])  # "MIS": its own stream
    moved = []
    for key in sorted(rng.choice(keys, count, replace=False)):
        true_label = key.split("/", 1)[0]
        given = str(rng.choice([c for c in CLASS_NAMES if c != true_label]))
        for path in units[key]:
            target = f"{given}/{path.split('/', 1)[1]}"
            (root / path).rename(root / target)
            moved.append({"path": target, "true_label": true_label, "given_label": given})
    frame = pd.DataFrame(moved, columns=["path", "true_label", "given_label"]).sort_values("path")
    atomic_write_bytes(root / MISLABELLED, frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return moved


def plan_files(sizes: DemoScale, seed: int, total_images: int | None = None) -> list[tuple[str, int, int, bool]]:
    """(class, video number, frame count, is web image) for every video and web image."""
    rng = np.random.default_rng([seed, 0])
    videos: list[list] = []
    for label in CLASS_NAMES:
        # Real video numbers are sparse and run past 9, which catches the seed's 2-digit bug.
        numbers = sorted(rng.choice(np.arange(1, 70), size=sizes.videos_per_class, replace=False).tolist())
        for number in numbers:
            videos.append([label, int(number), int(rng.integers(sizes.min_frames, sizes.max_frames + 1)), False])
    web = [[label, i + 1, 1, True] for label in CLASS_NAMES for i in range(sizes.web_images_per_class)]
    target = total_images if total_images is not None else sizes.total_images
    if target is not None:
        if target - len(web) < len(videos):
            raise BenchmarkError(f"--images must be at least {len(videos) + len(web)} for this scale")
        _fit_total(videos, target - len(web), rng, sizes)
    return [tuple(v) for v in videos + web]


def _fit_total(videos: list[list], target: int, rng: np.random.Generator, sizes: DemoScale) -> None:
    """Nudge frames per video until they sum to `target`, within [1, 4 * max_frames]."""
    counts = np.array([v[2] for v in videos], dtype=np.int64)
    counts = np.maximum(1, np.round(counts * target / counts.sum()).astype(np.int64))
    ceiling = 4 * sizes.max_frames
    while counts.sum() != target:
        i = int(rng.integers(len(counts)))
        if counts.sum() < target and counts[i] < ceiling:
            counts[i] += 1
        elif counts.sum() > target and counts[i] > 1:
            counts[i] -= 1
    for video, count in zip(videos, counts):
        video[2] = int(count)


def file_name(label: str, number: int, frame: int, web: bool) -> str:
    prefix = FILE_PREFIXES.get(label, label)
    return f"{prefix}_g{number}.jpg" if web else f"{prefix}_{number}{frame:05d}.jpg"


def _render_video(root: Path, sizes: DemoScale, seed: int, label: str, number: int, frames: int, web: bool) -> None:
    rng = np.random.default_rng([seed, CLASS_NAMES.index(label), number, int(web)])
    style = _video_style(rng, web)
    width, height = (sizes.width, sizes.height)
    if web:
        width, height = int(rng.integers(300, 640)), int(rng.integers(300, 640))
    frame_numbers = np.sort(rng.choice(np.arange(1, 990), size=frames, replace=False))
    for i, frame_number in enumerate(frame_numbers):
        phase = style.phase0 + i * style.phase_step
        image = render_frame(MOVEMENTS[label], style, phase, width, height, rng)
        image.save(root / label / file_name(label, number, int(frame_number), web), quality=88)


def _video_style(rng: np.random.Generator, web: bool) -> VideoStyle:
    def colour(low: int = 0, high: int = 256) -> tuple[int, int, int]:
        return tuple(int(c) for c in rng.integers(low, high, size=3))

    skin_tones = [(255, 219, 172), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (95, 60, 30)]
    panels = tuple(
        (
            float(rng.uniform(0, 1)),
            float(rng.uniform(0, 0.6)),
            float(rng.uniform(0.05, 0.35)),
            float(rng.uniform(0.05, 0.5)),
            colour(),
        )
        for _ in range(int(rng.integers(0, 4)))
    )
    wall = colour(40, 230)
    return VideoStyle(
        bones={name: length * float(rng.uniform(0.85, 1.15)) for name, length in BONES.items()},
        thickness=float(rng.uniform(0.06, 0.09)),
        head=float(rng.uniform(0.05, 0.075)),
        shirt=colour(),
        pants=colour(0, 160),
        skin=skin_tones[int(rng.integers(len(skin_tones)))],
        wall=(245, 245, 245) if web else wall,
        wall_bottom=(235, 235, 235) if web else tuple(int(c * rng.uniform(0.6, 1.1)) for c in wall),
        floor=(225, 225, 225) if web else colour(30, 200),
        panels=() if web else panels,
        equipment=colour(10, 90),
        scale=float(rng.uniform(0.75, 0.9) if web else rng.uniform(0.65, 0.9)),
        center=(float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.42, 0.6))),
        mirror=bool(rng.integers(2)),
        tilt=float(rng.uniform(-7, 7)),
        gain=float(rng.uniform(0.75, 1.25)),
        tint=tuple(float(t) for t in rng.uniform(0.85, 1.15, size=3)),
        noise=0.0 if web else float(rng.uniform(2, 8)),
        angle_offsets={name: float(rng.normal(0, 6)) for name in ("torso", *LIMBS)},
        amplitude=float(rng.uniform(0.75, 1.0)),
        phase0=float(rng.uniform(0, 1)),
        phase_step=float(rng.uniform(0.02, 0.09)),
        studio=web,
    )


def pose_at(movement: Movement, style: VideoStyle, phase: float) -> tuple[dict[str, float], dict[str, float]]:
    """Near and far segment angles at `phase` of the cycle (0..1, smooth there and back)."""
    s = style.amplitude * (1 - math.cos(2 * math.pi * phase)) / 2

    def blend(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        out = {}
        for name in ("torso", *LIMBS):
            start, end = a.get(name, STAND[name]), b.get(name, STAND[name])
            delta = (end - start + 180) % 360 - 180  # the short way round
            out[name] = start + s * delta + style.angle_offsets[name]
        return out

    near = blend(movement.a, movement.b)
    far = blend(movement.far_a or movement.a, movement.far_b or movement.b)
    far["torso"] = near["torso"]
    return near, far


def skeleton(angles: dict[str, float], bones: dict[str, float]) -> dict[str, np.ndarray]:
    """Joint positions (body units, y up) with the pelvis at the origin."""

    def step(start: np.ndarray, angle: float, length: float) -> np.ndarray:
        rad = math.radians(angle)
        return start + length * np.array([math.cos(rad), math.sin(rad)])

    pelvis = np.zeros(2)
    neck = step(pelvis, angles["torso"], bones["torso"])
    head = step(neck, angles["torso"], bones["neck"] + 0.06)
    shoulder = step(pelvis, angles["torso"], bones["torso"] * 0.92)
    elbow = step(shoulder, angles["uarm"], bones["uarm"])
    wrist = step(elbow, angles["farm"], bones["farm"])
    knee = step(pelvis, angles["thigh"], bones["thigh"])
    ankle = step(knee, angles["shin"], bones["shin"])
    toe = step(ankle, angles["shin"] + 90, 0.07)
    return {
        "pelvis": pelvis,
        "neck": neck,
        "head": head,
        "shoulder": shoulder,
        "elbow": elbow,
        "wrist": wrist,
        "knee": knee,
        "ankle": ankle,
        "toe": toe,
    }


def render_frame(
    movement: Movement, style: VideoStyle, phase: float, width: int, height: int, rng: np.random.Generator
) -> Image.Image:
    near_angles, far_angles = pose_at(movement, style, phase)
    near, far = skeleton(near_angles, style.bones), skeleton(far_angles, style.bones)
    unit = style.scale * height
    jitter = rng.normal(0, 0.004, size=2)  # hand-held camera shake, small next to a video change
    centre = np.array([style.center[0] * width, style.center[1] * height]) + jitter * height
    tilt = math.radians(style.tilt)
    rotation = np.array([[math.cos(tilt), -math.sin(tilt)], [math.sin(tilt), math.cos(tilt)]])

    def to_px(point: np.ndarray) -> tuple[float, float]:
        x, y = rotation @ point
        x = -x if style.mirror else x
        return (float(centre[0] + x * unit), float(centre[1] - y * unit))

    image = Image.new("RGB", (width, height), style.wall)
    draw = ImageDraw.Draw(image)
    feet = max(to_px(near[j])[1] for j in ("ankle", "toe", "pelvis"))
    _draw_room(draw, style, width, height, feet)
    stroke = max(2, int(style.thickness * unit))
    shade = _darker
    _draw_props(draw, movement.props, near, far, style, to_px, stroke, width, height)
    # Far limbs first and darker, so the near side reads as in front.
    _draw_limbs(draw, far, to_px, stroke, shade(style.shirt), shade(style.pants), shade(style.skin))
    _draw_segment(draw, to_px(near["pelvis"]), to_px(near["neck"]), int(stroke * 1.7), style.shirt)
    head_xy = to_px(near["head"])
    radius = style.head * unit
    draw.ellipse([head_xy[0] - radius, head_xy[1] - radius, head_xy[0] + radius, head_xy[1] + radius], fill=style.skin)
    _draw_limbs(draw, near, to_px, stroke, style.shirt, style.pants, style.skin)
    if any(p in movement.props for p in ("barbell", "dumbbells", "ball")):
        _draw_hand_props(draw, movement.props, near, far, to_px, unit, style)
    return _expose(image, style, rng)


def _draw_room(draw: ImageDraw.ImageDraw, style: VideoStyle, width: int, height: int, floor_hint: float) -> None:
    for i in range(0, height, 4):
        t = i / height
        colour = tuple(int(a + (b - a) * t) for a, b in zip(style.wall, style.wall_bottom))
        draw.rectangle([0, i, width, i + 4], fill=colour)
    for x, y, w, h, colour in style.panels:
        draw.rectangle([x * width, y * height, (x + w) * width, (y + h) * height], fill=colour)
    floor_y = min(height - 2, max(height * 0.55, floor_hint + height * 0.02))
    draw.rectangle([0, floor_y, width, height], fill=style.floor)


def _draw_segment(draw: ImageDraw.ImageDraw, a, b, stroke: int, colour) -> None:
    draw.line([a, b], fill=colour, width=stroke)
    r = stroke / 2
    for x, y in (a, b):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)


def _draw_limbs(draw, joints, to_px, stroke, shirt, pants, skin) -> None:
    _draw_segment(draw, to_px(joints["pelvis"]), to_px(joints["knee"]), int(stroke * 1.3), pants)
    _draw_segment(draw, to_px(joints["knee"]), to_px(joints["ankle"]), int(stroke * 1.1), pants)
    _draw_segment(draw, to_px(joints["ankle"]), to_px(joints["toe"]), stroke, (30, 30, 30))
    _draw_segment(draw, to_px(joints["shoulder"]), to_px(joints["elbow"]), stroke, shirt)
    _draw_segment(draw, to_px(joints["elbow"]), to_px(joints["wrist"]), int(stroke * 0.9), skin)


def _draw_props(draw, props, near, far, style, to_px, stroke, width, height) -> None:
    """Equipment drawn behind the figure: benches, seats, bars, cables, mats."""
    colour = style.equipment
    pelvis, neck, wrist, ankle = (to_px(near[k]) for k in ("pelvis", "neck", "wrist", "ankle"))
    lowest = max(to_px(near["ankle"])[1], to_px(near["toe"])[1], pelvis[1])
    pad = stroke * 1.6
    if "bench" in props or "decline_bench" in props or "bench_short" in props:
        end = neck if "bench_short" not in props else to_px(near["shoulder"])
        start = pelvis if "bench_short" not in props else to_px(near["shoulder"] - np.array([0.0, 0.12]))
        top = [(start[0], start[1] + pad), (end[0], end[1] + pad)]
        draw.line(top, fill=colour, width=int(stroke * 1.4))
        for x, y in top:
            draw.line([(x, y), (x, max(lowest, y) + stroke)], fill=colour, width=max(2, stroke // 2))
    if "incline_bench" in props or "seat" in props:
        draw.rectangle(
            [pelvis[0] - 3 * stroke, pelvis[1] + stroke, pelvis[0] + 3 * stroke, pelvis[1] + 2.2 * stroke], fill=colour
        )
        draw.line(
            [(pelvis[0], pelvis[1] + 2 * stroke), (pelvis[0], lowest + stroke)], fill=colour, width=max(2, stroke // 2)
        )
        back = to_px(near["pelvis"] + (near["neck"] - near["pelvis"]) * 1.05)
        offset = -1.2 * stroke if not style.mirror else 1.2 * stroke
        draw.line([(pelvis[0] + offset, pelvis[1]), (back[0] + offset, back[1])], fill=colour, width=stroke)
    if "mat" in props:
        draw.rectangle([0.1 * width, lowest + stroke * 0.5, 0.9 * width, lowest + stroke * 1.2], fill=colour)
    if "bar_overhead" in props or "parallel_bars" in props:
        y = wrist[1]
        draw.line([(wrist[0] - 0.3 * width, y), (wrist[0] + 0.3 * width, y)], fill=colour, width=stroke)
        if "parallel_bars" in props:
            for x in (wrist[0] - 0.25 * width, wrist[0] + 0.25 * width):
                draw.line([(x, y), (x, height)], fill=colour, width=stroke)
    if "cable_top" in props:
        draw.line([wrist, (wrist[0] + (neck[0] - pelvis[0]) * 0.3, 0)], fill=(20, 20, 20), width=max(1, stroke // 3))
        draw.line([(wrist[0] - 2 * stroke, wrist[1]), (wrist[0] + 2 * stroke, wrist[1])], fill=colour, width=stroke)
    if "handles" in props:
        draw.line([wrist, (to_px(near["shoulder"])[0], 0.05 * height)], fill=(20, 20, 20), width=max(1, stroke // 3))
    if "shin_pad" in props:
        r = stroke * 1.3
        draw.ellipse([ankle[0] - r, ankle[1] - r, ankle[0] + r, ankle[1] + r], fill=colour)
    if "landmine" in props:
        floor_point = (wrist[0] - (ankle[0] - pelvis[0]) * 3, lowest)
        draw.line([floor_point, wrist], fill=(60, 60, 60), width=max(2, stroke // 2))
        r = stroke * 3
        draw.ellipse([wrist[0] - r, wrist[1] - r, wrist[0] + r, wrist[1] + r], fill=colour)
    if "barbell_floor" in props or "barbell_back" in props or "hip_bar" in props:
        anchor = {"barbell_floor": wrist, "barbell_back": to_px(near["shoulder"]), "hip_bar": pelvis}
        x, y = next(anchor[p] for p in ("barbell_floor", "barbell_back", "hip_bar") if p in props)
        r = stroke * 3.5
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour, outline=(15, 15, 15), width=max(1, stroke // 3))


def _draw_hand_props(draw, props, near, far, to_px, unit, style) -> None:
    """Weights held in the hands, drawn in front of the figure."""
    wrist = to_px(near["wrist"])
    if "barbell" in props:
        r = 0.08 * unit
        draw.ellipse(
            [wrist[0] - r, wrist[1] - r, wrist[0] + r, wrist[1] + r],
            fill=style.equipment,
            outline=(10, 10, 10),
            width=2,
        )
    if "ball" in props:
        r = 0.06 * unit
        draw.ellipse([wrist[0] - r, wrist[1] - r, wrist[0] + r, wrist[1] + r], fill=(160, 40, 30))
    if "dumbbells" in props:
        for joints in (far, near):
            x, y = to_px(joints["wrist"])
            half, r = 0.045 * unit, 0.03 * unit
            draw.line([(x, y - half), (x, y + half)], fill=(40, 40, 40), width=max(2, int(r / 2)))
            for end in (y - half, y + half):
                draw.ellipse([x - r, end - r * 0.6, x + r, end + r * 0.6], fill=style.equipment)


def _darker(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(int(c * 0.7) for c in colour)


def _expose(image: Image.Image, style: VideoStyle, rng: np.random.Generator) -> Image.Image:
    """Lighting and sensor noise: the per-video exposure plus per-frame noise."""
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels * style.gain * np.asarray(style.tint, dtype=np.float32)
    if style.noise:
        pixels += rng.normal(0, style.noise, size=pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
