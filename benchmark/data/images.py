"""Open any image the dataset may hold as 8-bit RGB, the way every later stage sees it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from benchmark.core.errors import BenchmarkError
from config import MAX_IMAGE_PIXELS

# The size limit is ours (config.max_image_pixels, checked from the header before any decode): Pillow's
# own would print its raw DecompressionBombWarning, then decode a 400-megapixel file anyway.
Image.MAX_IMAGE_PIXELS = None

_HIGH_BIT_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


class BadImageError(BenchmarkError):
    """The file cannot be decoded into an image; the message says why in a few words."""


def _refuse_huge(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise BadImageError(
            f"{width} x {height} pixels, above max_image_pixels ({max_pixels:,}; "
            "raise it with --set max_image_pixels=N)"
        )


def load_rgb(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode fully (so truncation shows up here, not mid-training), apply EXIF rotation, make RGB."""
    if path.stat().st_size == 0:
        raise BadImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings(), Image.open(path) as image:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            _refuse_huge(image, max_pixels)
            image.load()
            image = ImageOps.exif_transpose(image)
            return to_rgb(image)
    except BadImageError:
        raise
    except Image.DecompressionBombError as error:
        raise BadImageError(f"too large to decode safely ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImageError(_reason(error)) from None


def check_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """Decode at reduced scale to prove the file is a whole image; returns its (width, height).

    JPEG draft mode decodes at 1/8 scale but still reads every entropy-coded byte, so truncated
    files fail here at a fraction of the cost of a full decode.
    """
    if path.stat().st_size == 0:
        raise BadImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings(), Image.open(path) as image:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            _refuse_huge(image, max_pixels)
            width, height = image.size
            image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
            return width, height
    except Image.DecompressionBombError as error:
        raise BadImageError(f"too large to decode safely ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImageError(_reason(error)) from None


def _reason(error: Exception) -> str:
    reason = str(error).strip() or type(error).__name__
    if "cannot identify image file" in reason:
        return "not an image"
    if "truncat" in reason.lower():
        return "truncated image file"
    return reason


def to_rgb(image: Image.Image) -> Image.Image:
    """Grayscale, palette, CMYK, 16-bit and alpha images become plain 8-bit RGB."""
    if image.mode in _HIGH_BIT_DEPTH_MODES:
        # PIL's own convert clips 16-bit values at 255 (a white image); rescale the range instead.
        values = np.asarray(image, dtype=np.float64)
        top = values.max() if values.size else 0.0
        scale = 255.0 / 65535.0 if top > 255 else 1.0
        gray = np.clip(values * scale, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        # Composite on white: dropping alpha would expose whatever colour hides under transparency.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image
