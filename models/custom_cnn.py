"""The CustomCNN from scratch: 4 blocks of (3x3 conv, batch norm, ReLU, 2x2 max-pool), dense, softmax."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
from keras import layers

NAME = "CustomCNN"


def build_custom_cnn(hp: Mapping[str, Any], n_classes: int, seed: int) -> keras.Model:
    """Takes uint8-range pixels; scaling and augmentation live inside, so a saved model needs nothing else.

    hp: input_size, base_width (widths base, 2x, 4x, 8x: 32-64-128-256 by default), dense_units,
    dropout, pooling (flatten|avg), augment (0 = off; the strength of random shifts, zoom, rotation and contrast).
    """
    size = int(hp["input_size"])
    inputs = keras.Input((size, size, 3), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    strength = float(hp["augment"])
    x = layers.RandomFlip("horizontal", seed=seed, name="aug_flip")(x)
    if strength > 0:
        x = layers.RandomTranslation(strength, strength, fill_mode="reflect", seed=seed + 1, name="aug_shift")(x)
        x = layers.RandomZoom(strength, fill_mode="reflect", seed=seed + 2, name="aug_zoom")(x)
        x = layers.RandomRotation(strength / 4, fill_mode="reflect", seed=seed + 3, name="aug_rotate")(x)
        x = layers.RandomContrast(strength, seed=seed + 4, name="aug_contrast")(x)
    width = int(hp["base_width"])
    for block in range(4):
        x = layers.Conv2D(width * 2**block, 3, padding="same", use_bias=False, name=f"block{block + 1}_conv")(x)
        # Momentum 0.9, not 0.99: small datasets give few steps, and stale moving averages wreck inference.
        x = layers.BatchNormalization(momentum=0.9, name=f"block{block + 1}_bn")(x)
        x = layers.ReLU(name=f"block{block + 1}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{block + 1}_pool")(x)
    # Flatten (the seed's shape) keeps where the limbs are; global average pooling trades that for size.
    x = (
        layers.Flatten(name="flatten")(x)
        if hp.get("pooling", "flatten") == "flatten"
        else (layers.GlobalAveragePooling2D(name="pool")(x))
    )
    x = layers.Dense(int(hp["dense_units"]), activation="relu", name="dense")(x)
    x = layers.Dropout(float(hp["dropout"]), seed=seed + 5, name="dropout")(x)
    # float32 output: under mixed precision a float16 softmax loses small probabilities.
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="custom_cnn")
