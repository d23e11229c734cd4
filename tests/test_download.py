import tarfile
import zipfile
from pathlib import Path

import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.data.download import download_dataset, install_dataset
from config import DEFAULT


def build_archive_tree(root):
    """Kaggle-like nesting: <archive>/workout/workout/<class>/<images> plus junk."""
    base = root / "workout" / "workout"
    for label, names in {"squat": ["squat_100001.jpg", "squat_1000151.jpg"], "plank": ["plank_g3.jpg"]}.items():
        (base / label).mkdir(parents=True)
        for name in names:
            (base / label / name).write_bytes(b"\xff\xd8 not decoded here")
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "._junk").write_bytes(b"")
    return root


def test_install_from_zip_normalises_the_layout(tmp_path):
    tree = build_archive_tree(tmp_path / "tree")
    archive = tmp_path / "dataset.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in tree.rglob("*"):
            bundle.write(path, path.relative_to(tree).as_posix())
    dest = install_dataset(archive, tmp_path / "data" / "workout-images", DEFAULT.image_extensions)
    assert sorted(p.name for p in dest.iterdir()) == ["plank", "squat"]
    assert sorted(p.name for p in (dest / "squat").iterdir()) == ["squat_100001.jpg", "squat_1000151.jpg"]
    assert not (dest.parent / "workout-images.partial").exists()


def test_install_from_tar_and_from_a_folder(tmp_path):
    tree = build_archive_tree(tmp_path / "tree")
    archive = tmp_path / "dataset.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        bundle.add(tree, arcname=".")
    from_tar = install_dataset(archive, tmp_path / "a", DEFAULT.image_extensions)
    from_dir = install_dataset(tree, tmp_path / "b", DEFAULT.image_extensions)
    assert sorted(p.name for p in from_tar.rglob("*.jpg")) == sorted(p.name for p in from_dir.rglob("*.jpg"))


def test_archive_without_class_folders_is_refused(tmp_path):
    archive = tmp_path / "flat.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("one.jpg", b"x")
    with pytest.raises(BenchmarkError, match="no folder-per-class image layout"):
        install_dataset(archive, tmp_path / "out", DEFAULT.image_extensions)
    (tmp_path / "junk.bin").write_bytes(b"\x00" * 10)
    with pytest.raises(BenchmarkError, match="not a zip or tar archive"):
        install_dataset(tmp_path / "junk.bin", tmp_path / "out", DEFAULT.image_extensions)


def test_offline_download_is_one_clear_line(monkeypatch, tmp_path):
    import kagglehub
    import requests

    def offline(handle, *args, **kwargs):
        raise requests.exceptions.ConnectionError(f"Failed to resolve 'api.kaggle.com' for {handle}\nmore detail")

    monkeypatch.setattr(kagglehub, "dataset_download", offline)
    with pytest.raises(BenchmarkError) as caught:
        download_dataset(DEFAULT.kaggle_dataset, tmp_path / "data", DEFAULT.image_extensions)
    message = str(caught.value)
    assert "\n" not in message
    assert "ConnectionError" in message and "--from ARCHIVE" in message and DEFAULT.kaggle_dataset in message
    assert "offline" in message and "credentials" not in message
    assert not (tmp_path / "data").exists()


def test_an_existing_dataset_is_never_replaced_without_force(tmp_path):
    tree = build_archive_tree(tmp_path / "tree")
    dest = tmp_path / "data" / "workout-images"
    install_dataset(tree, dest, DEFAULT.image_extensions)
    (dest / "squat" / "mine_100001.jpg").write_bytes(b"a frame the user added")
    with pytest.raises(BenchmarkError, match="already holds a dataset: pass --force"):
        install_dataset(tree, dest, DEFAULT.image_extensions)
    with pytest.raises(BenchmarkError, match="--force"):
        download_dataset(DEFAULT.kaggle_dataset, dest, DEFAULT.image_extensions)
    assert (dest / "squat" / "mine_100001.jpg").is_file()  # nothing was touched
    install_dataset(tree, dest, DEFAULT.image_extensions, force=True)
    assert not (dest / "squat" / "mine_100001.jpg").exists() and (dest / "squat" / "squat_100001.jpg").is_file()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["workout-images"]  # no staging or old copy left


def test_a_download_is_moved_into_place_not_copied(monkeypatch, tmp_path):
    import kagglehub

    seen = {}

    def fake(handle, *args, output_dir=None, **kwargs):
        seen["output_dir"] = output_dir
        tree = build_archive_tree(Path(output_dir))
        for image in tree.rglob("*.jpg"):
            seen.setdefault("inodes", set()).add(image.stat().st_ino)
        return output_dir

    monkeypatch.setattr(kagglehub, "dataset_download", fake)
    dest = tmp_path / "data" / "workout-images"
    download_dataset(DEFAULT.kaggle_dataset, dest, DEFAULT.image_extensions)
    # kagglehub wrote beside the destination, not into its own cache: the same files, moved.
    assert Path(seen["output_dir"]).parent == dest.parent
    assert {p.stat().st_ino for p in dest.rglob("*.jpg")} == seen["inodes"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["workout-images"]


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_told_apart_from_being_offline(monkeypatch, tmp_path, status):
    import kagglehub
    import requests
    from kagglehub.exceptions import KaggleApiHTTPError

    def refused(handle, *args, **kwargs):
        response = requests.Response()
        response.status_code = status
        raise KaggleApiHTTPError(f"{status} Client Error.\n\nYou don't have permission", response=response)

    monkeypatch.setattr(kagglehub, "dataset_download", refused)
    with pytest.raises(BenchmarkError) as caught:
        download_dataset(DEFAULT.kaggle_dataset, tmp_path / "data", DEFAULT.image_extensions)
    message = str(caught.value)
    assert "\n" not in message and f"HTTP {status}" in message
    assert "refused the credentials" in message and "kaggle.json" in message and "offline" not in message
    assert not (tmp_path / "data").exists() and not list(tmp_path.iterdir())
