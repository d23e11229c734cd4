import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from harness import cli
from PIL import Image

from benchmark.core.errors import BenchmarkError
from benchmark.data.images import load_rgb, to_rgb
from benchmark.data.scan import scan_dataset
from config import DEFAULT

EXT = DEFAULT.image_extensions


def jpeg_bytes(size=(64, 48), colour=(200, 30, 30), **save) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", **save)
    return buffer.getvalue()


@pytest.fixture
def dataset(tmp_path) -> Path:
    """Two classes of good images plus each bad kind, named so sorting puts them in a known order."""
    root = tmp_path / "data"
    for label in ("squat", "plank"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            (root / label / f"{label}_{i + 1}00001.jpg").write_bytes(jpeg_bytes())
    (root / "squat" / "squat_900001.JPEG").write_bytes(jpeg_bytes())  # extension in any case
    (root / "squat" / "a_empty_100001.jpg").write_bytes(b"")
    (root / "squat" / "b_truncated_100001.jpg").write_bytes(jpeg_bytes((320, 240))[:600])
    (root / "plank" / "c_text_100001.jpg").write_text("this is not an image\n")
    (root / "plank" / ".hidden_100001.jpg").write_text("hidden files are ignored")
    (root / "plank" / "notes.txt").write_text("not an image extension")
    (root / "empty class").mkdir()
    (root / "stray.jpg").write_bytes(jpeg_bytes())  # top-level file: not in any class
    return root


def test_bad_files_are_reported_once_each_skipped_and_counted(dataset):
    lines: list[str] = []
    result = scan_dataset(dataset, EXT, report=lines.append)
    assert sorted(result.images["label"].unique()) == ["plank", "squat"]
    assert len(result.images) == 7
    assert "squat/squat_900001.JPEG" in set(result.images["path"])
    bad = {b.path: b.reason for b in result.bad_files}
    assert set(bad) == {"squat/a_empty_100001.jpg", "squat/b_truncated_100001.jpg", "plank/c_text_100001.jpg"}
    assert "0 bytes" in bad["squat/a_empty_100001.jpg"]
    assert "truncated" in bad["squat/b_truncated_100001.jpg"]
    assert bad["plank/c_text_100001.jpg"] == "not an image"
    for path in bad:
        assert sum(path in line for line in lines) == 1
    assert "empty class folder: empty class" in lines
    assert result.empty_classes == ["empty class"]
    assert set(result.ignored_files) == {"stray.jpg", "plank/notes.txt"}
    assert not any(".hidden" in p for p in result.images["path"])


def test_unreadable_file_is_reported(dataset, monkeypatch):
    import benchmark.data.images as images

    real_open = images.Image.open

    def refuse(path, *args, **kwargs):
        if "squat_100001" in str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(images.Image, "open", refuse)
    result = scan_dataset(dataset, EXT, report=lambda line: None)
    reasons = {b.path: b.reason for b in result.bad_files}
    assert "Permission denied" in reasons["squat/squat_100001.jpg"]


def test_strict_stops_at_the_first_bad_file(dataset):
    with pytest.raises(BenchmarkError, match=r"bad image \(--strict\): plank/c_text_100001.jpg: not an image"):
        scan_dataset(dataset, EXT, strict=True, report=lambda line: None)


def test_strict_on_the_command_line_exits_2_with_one_line(dataset, tmp_path):
    args = ["--data", str(dataset), "--folds", "2", "--strategy", "leaky", "--out", str(tmp_path / "m.csv")]
    done = cli("splits", *args, "--strict", timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "error: bad image (--strict): plank/c_text_100001.jpg: not an image"
    assert not (tmp_path / "m.csv").exists()


def test_missing_and_empty_data_folders_are_clear_errors(tmp_path):
    with pytest.raises(BenchmarkError, match="data folder not found"):
        scan_dataset(tmp_path / "nope", EXT)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchmarkError, match="no images found"):
        scan_dataset(tmp_path / "empty", EXT, report=lambda line: None)


def test_exif_orientation_is_applied(tmp_path):
    # A 40x20 image stored sideways: EXIF orientation 6 means "rotate 90 degrees clockwise to view".
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif, quality=95)
    shown = load_rgb(path)
    assert shown.size == (20, 40)
    top = np.asarray(shown)[5, 10]
    assert top[0] > 200 and top[2] < 60  # the red half is on top after rotation


@pytest.mark.parametrize(
    "make",
    [
        lambda: Image.new("L", (8, 8), 128),
        lambda: Image.new("P", (8, 8), 3),
        lambda: Image.new("CMYK", (8, 8), (0, 255, 255, 0)),
        lambda: Image.new("RGBA", (8, 8), (255, 0, 0, 0)),
        lambda: Image.new("LA", (8, 8), (10, 255)),
        lambda: Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)),
    ],
    ids=["grayscale", "palette", "cmyk", "alpha", "gray-alpha", "16-bit"],
)
def test_every_mode_becomes_8_bit_rgb(make):
    image = to_rgb(make())
    assert image.mode == "RGB" and image.size == (8, 8)
    pixels = np.asarray(image)
    assert pixels.dtype == np.uint8


def test_conversions_keep_the_picture():
    assert np.asarray(to_rgb(Image.new("CMYK", (4, 4), (0, 255, 255, 0))))[0, 0].tolist() == [255, 0, 0]
    # Transparent pixels become white, not the colour hidden under them.
    assert np.asarray(to_rgb(Image.new("RGBA", (4, 4), (255, 0, 0, 0))))[0, 0].tolist() == [255, 255, 255]
    # 16-bit values are rescaled, not clipped to white.
    gray = np.asarray(to_rgb(Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16))))[0, 0]
    assert 120 <= gray[0] <= 135


def test_odd_formats_in_a_dataset_are_used_not_dropped(tmp_path):
    root = tmp_path / "data" / "squat"
    root.mkdir(parents=True)
    Image.new("L", (30, 20), 100).save(root / "squat_100001.png")
    Image.new("P", (30, 20), 5).save(root / "squat_200001.bmp")
    Image.new("CMYK", (30, 20)).save(root / "squat_300001.jpg")
    Image.new("RGBA", (30, 20)).save(root / "squat_400001.webp")
    result = scan_dataset(root.parent, EXT, report=lambda line: pytest.fail(line))
    assert len(result.images) == 4 and not result.bad_files
    for path in result.images["path"]:
        assert load_rgb(root.parent / path).mode == "RGB"


def test_real_sample_scans_clean(real_copy):
    shutil.rmtree(real_copy / "squat")
    result = scan_dataset(real_copy, EXT, report=lambda line: pytest.fail(line))
    assert len(result.images) == 105 and result.images["label"].nunique() == 21
    assert (result.images["width"] > 0).all()
