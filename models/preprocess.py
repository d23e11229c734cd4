"""From a decoded RGB image to the fixed-size uint8 array a model sees; stored with every model.

Scaling to the network's own input range happens inside each Keras model, so what is cached and
what `predict` feeds is plain uint8 pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

CROPS = ("center", "squash")
POSITIONS = ("center", "left", "right")


@dataclass(frozen=True)
class Preprocess:
    """`center`: bicubic resize of the short side to size * resize_ratio, centre crop size x size
    (the ImageNet evaluation recipe is 256 -> 224). `squash`: resize the whole image to size x size.
    `position` slides the crop window along the long side: extra training views of wide frames."""

    size: int = 224
    crop: str = "center"
    resize_ratio: float = 1.0
    position: str = "center"

    def key(self) -> str:
        return f"{self.crop}-{self.size}-{self.resize_ratio:.4f}-{self.position}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Preprocess:
        return cls(**values)


def prepare(image: Image.Image, preprocess: Preprocess) -> np.ndarray:
    """(size, size, 3) uint8 from an RGB PIL image."""
    if preprocess.crop == "squash":
        return np.asarray(image.resize((preprocess.size, preprocess.size), Image.BICUBIC), dtype=np.uint8)
    if preprocess.crop != "center":
        raise ValueError(f"unknown crop {preprocess.crop!r}; choose one of {CROPS}")
    width, height = image.size
    scale = preprocess.size * preprocess.resize_ratio / min(width, height)
    resized = (max(preprocess.size, round(width * scale)), max(preprocess.size, round(height * scale)))
    # reducing_gap lets PIL shrink huge photos in JPEG-friendly steps before the bicubic pass.
    image = image.resize(resized, Image.BICUBIC, reducing_gap=3.0)
    spare_x, spare_y = resized[0] - preprocess.size, resized[1] - preprocess.size
    fraction = {"left": 0.0, "center": 0.5, "right": 1.0}[preprocess.position]  # "left" = top for tall images
    left, top = (round(spare_x * fraction), spare_y // 2) if spare_x else (0, round(spare_y * fraction))
    return np.asarray(image.crop((left, top, left + preprocess.size, top + preprocess.size)), dtype=np.uint8)
