"""A model directory: the Keras model, class names, preprocessing and the config used.

It predicts with nothing else, from any working directory: pixel scaling lives in the model,
resizing is described by `preprocess` in meta.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from benchmark.core.atomic import staged_folder
from models.errors import ModelError
from models.files import META_FILE, MODEL_FILE, TRAINING_KEYS_FILE, is_model_dir, read_meta
from models.preprocess import Preprocess

PREDICT_BATCH = 32


@dataclass
class SavedModel:
    model: keras.Model
    class_names: list[str]
    preprocess: Preprocess
    meta: dict[str, Any]

    def predict(self, pixels: np.ndarray, mirror: bool = True) -> np.ndarray:
        """Class probabilities; with `mirror`, the mean of each image's and its mirror image's (test-time
        augmentation, as every evaluation of the harness does it)."""
        probabilities = self._predict(pixels)
        if mirror:
            probabilities = (probabilities + self._predict(np.asarray(pixels)[:, :, ::-1])) / 2
        return probabilities

    def _predict(self, pixels: np.ndarray) -> np.ndarray:
        # Every batch padded to one shape: the model is traced once, whatever the number of images.
        count = len(pixels)
        padded = np.zeros((-(-count // PREDICT_BATCH) * PREDICT_BATCH, *np.shape(pixels)[1:]), np.float32)
        padded[:count] = pixels
        return self.model.predict(padded, batch_size=PREDICT_BATCH, verbose=0)[:count]


def save_model_dir(
    model_dir: Path,
    model: keras.Model,
    class_names: list[str],
    preprocess: Preprocess,
    meta: dict[str, Any],
    training_keys: list[str] | None = None,
) -> Path:
    """Write into a fresh sibling folder, then swap it in: a reader never sees half a model dir, and a
    failure leaves nothing behind. Only an empty folder or a model dir of ours is ever replaced.

    `training_keys`: the content keys of the training images, so `evaluate` can tell when it is
    scoring a model on what it was trained on."""
    model_dir = Path(model_dir)
    if model_dir.exists() and not (model_dir.is_dir() and (is_model_dir(model_dir) or not any(model_dir.iterdir()))):
        raise ModelError(f"{model_dir} exists and is not a model directory: nothing was replaced")
    with staged_folder(model_dir) as staging:  # checked above: new, empty, or our own model dir
        model.save(staging / MODEL_FILE)
        full_meta = {**meta, "class_names": list(class_names), "preprocess": preprocess.to_dict()}
        (staging / META_FILE).write_text(json.dumps(full_meta, indent=2, sort_keys=True, default=str) + "\n")
        if training_keys is not None:
            (staging / TRAINING_KEYS_FILE).write_text("".join(f"{key}\n" for key in sorted(set(training_keys))))
    return model_dir


def training_keys(model_dir: Path) -> set[str] | None:
    """Content keys of the images the saved model was trained on; None for a model saved without them."""
    path = Path(model_dir) / TRAINING_KEYS_FILE
    return set(path.read_text().split()) if path.is_file() else None


def load_model_dir(model_dir: Path) -> SavedModel:
    """The model, its classes and preprocessing; anything wrong with the directory is one `ModelError`."""
    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    try:
        model = keras.models.load_model(model_dir / MODEL_FILE, compile=False)
    except Exception as error:  # noqa: BLE001 - Keras raises TypeError, ValueError, KeyError... for a bad file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelError(f"cannot load {model_dir / MODEL_FILE}: {reason[:200]}") from None
    return SavedModel(model, list(meta["class_names"]), Preprocess.from_dict(meta["preprocess"]), meta)
