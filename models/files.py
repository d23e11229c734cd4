"""What a model directory holds, recognised and checked without Keras: the CLI refuses a bad
`--model-dir` (or an `--out` over somebody's folder) before TensorFlow is imported."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from models.errors import ModelError

MODEL_FILE = "model.keras"
META_FILE = "meta.json"
TRAINING_KEYS_FILE = "training_images.txt"  # content keys of the images the model was trained on
MODEL_DIR_FILES = (MODEL_FILE, META_FILE, TRAINING_KEYS_FILE)
PREPROCESS_KEYS = {"size", "crop", "resize_ratio", "position"}


def is_model_dir(folder: Path) -> bool:
    """A folder `save_model_dir` wrote: our meta.json, a model file, and nothing else that could be lost."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    ours = isinstance(meta, dict) and {"model_name", "class_names", "preprocess"} <= set(meta)
    return ours and {p.name for p in folder.iterdir()} <= set(MODEL_DIR_FILES)


def read_meta(model_dir: Path) -> dict[str, Any]:
    """meta.json of a model directory, its structure checked; a model.keras that is not a whole Keras
    archive is refused here too. Every problem is one `ModelError` naming the file and what is wrong."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"--model-dir {model_dir} not found: give a folder that `fit` wrote")
    for name in (MODEL_FILE, META_FILE):
        if not (model_dir / name).is_file():
            raise ModelError(f"{model_dir} is not a model directory: it has no {name} (`fit` writes both)")
    path = model_dir / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"{path} is not valid JSON ({str(error).splitlines()[0]})") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{path} must hold a JSON object, got {type(meta).__name__}")
    names = meta.get("class_names")
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) and n for n in names):
        raise ModelError(f"{path}: class_names must be a list of two or more class names, got {names!r}")
    preprocess = meta.get("preprocess")
    if not isinstance(preprocess, dict) or set(preprocess) != PREPROCESS_KEYS:
        raise ModelError(f"{path}: preprocess must be an object with {', '.join(sorted(PREPROCESS_KEYS))}, "
                         f"got {preprocess!r}")  # fmt: skip
    archive = model_dir / MODEL_FILE
    try:
        with zipfile.ZipFile(archive) as opened:
            broken = opened.testzip()
            names_inside = set(opened.namelist())
    except (OSError, zipfile.BadZipFile) as error:
        raise ModelError(f"{archive} is not a whole Keras model file ({error}): fit the model again") from None
    if broken is not None or not {"config.json", "model.weights.h5"} <= names_inside:
        raise ModelError(f"{archive} is damaged ({broken or 'no config or weights inside'}): fit the model again")
    return meta
