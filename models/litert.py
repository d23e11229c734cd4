"""Frozen-backbone inference through LiteRT (TFLite) with XNNPACK: the CPU path EfficientNet-Lite was made for.

The Keras extractor is exported once to a `.tflite` file in the cache and run by the LiteRT
interpreter, whose XNNPACK kernels are about 2x Keras' own CPU predict on the same arrays (the
`perf` command measures it). Float32 throughout: the outputs match Keras to ~1e-5, so cached
activations do not depend on which runtime made them.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from benchmark.core.environment import native_stderr_filtered

# Batches of a few images keep XNNPACK's working set in cache; measured flat between 1 and 16 here.
LITERT_BATCH = 4


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the runtime is a separate wheel; TF 2.21 still bundles the old one
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def export_litert(model: keras.Model, target: Path) -> Path:
    """Write `model` as a float32 `.tflite` file at `target` (once; an existing file is reused)."""
    target = Path(target)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.{os.getpid()}.tflite")
    model.export(str(partial), format="litert", verbose=False)
    partial.replace(target)  # atomic: a reader sees the whole file or none
    return target


class LiteRTRunner:
    """Calls a `.tflite` model like a Keras model with several outputs: pixels in, list of arrays out."""

    def __init__(self, path: Path, threads: int | None = None):
        if threads is None:
            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        with native_stderr_filtered():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            interpreter = _interpreter_class()(model_path=str(path), num_threads=threads)
            detail = interpreter.get_input_details()[0]
            # One fixed batch shape, allocated once (the last batch is padded): resizing later is refused
            # while any output array still refers to the interpreter's memory.
            interpreter.resize_tensor_input(detail["index"], [LITERT_BATCH, *detail["shape"][1:]])
            interpreter.allocate_tensors()
        self._runner = interpreter.get_signature_runner()
        (self._input_name,) = self._runner.get_input_details()
        self._interpreter = interpreter

    def __call__(self, pixels: np.ndarray) -> list[np.ndarray]:
        pixels = np.asarray(pixels, dtype=np.float32)
        chunks: list[dict[str, np.ndarray]] = []
        for start in range(0, len(pixels), LITERT_BATCH):
            part = pixels[start : start + LITERT_BATCH]
            if len(part) < LITERT_BATCH:
                part = np.concatenate([part, np.zeros((LITERT_BATCH - len(part), *part.shape[1:]), np.float32)])
            outputs = self._runner(**{self._input_name: np.ascontiguousarray(part)})
            rows = min(LITERT_BATCH, len(pixels) - start)
            chunks.append({key: value[:rows].copy() for key, value in outputs.items()})
        # Signature outputs are named output_0, output_1, ... in the Keras model's output order.
        names = sorted(chunks[0], key=lambda key: int(key.rsplit("_", 1)[-1]))
        return [np.concatenate([chunk[name] for chunk in chunks]) for name in names]
