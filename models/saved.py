"""A model directory: the Keras model, class names, preprocessing and the config used.

It predicts with nothing else, from any working directory: pixel scaling lives in the model,
resizing is described by `preprocess` in meta.json.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from models.errors import ModelError
from models.preprocess import Preprocess

MODEL_FILE = "model.keras"
META_FILE = "meta.json"
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
    model_dir: Path, model: keras.Model, class_names: list[str], preprocess: Preprocess, meta: dict[str, Any]
) -> Path:
    """Write into a sibling temp folder, then swap it in: a reader never sees half a model dir."""
    model_dir = Path(model_dir)
    staging = model_dir.with_name(f".{model_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save(staging / MODEL_FILE)
    full_meta = {**meta, "class_names": list(class_names), "preprocess": preprocess.to_dict()}
    (staging / META_FILE).write_text(json.dumps(full_meta, indent=2, sort_keys=True, default=str) + "\n")
    if model_dir.exists():
        shutil.rmtree(model_dir)
    staging.rename(model_dir)
    return model_dir


def load_model_dir(model_dir: Path) -> SavedModel:
    model_dir = Path(model_dir)
    if not (model_dir / MODEL_FILE).is_file() or not (model_dir / META_FILE).is_file():
        raise ModelError(f"not a model directory (needs {MODEL_FILE} and {META_FILE}): {model_dir}")
    try:
        meta = json.loads((model_dir / META_FILE).read_text())
        model = keras.models.load_model(model_dir / MODEL_FILE, compile=False)
    except (OSError, ValueError, KeyError) as error:
        raise ModelError(f"cannot load model from {model_dir}: {str(error).splitlines()[0]}") from None
    return SavedModel(model, list(meta["class_names"]), Preprocess.from_dict(meta["preprocess"]), meta)
