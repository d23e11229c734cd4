"""Read a PyTorch legacy-format (non-zip) `.pth` state dict with pickle and numpy only.

The EfficientNet-Lite0 ImageNet weights ship in this format; reading them must not pull in torch.
Layout: five pickles in a row (magic number, protocol version, system info, the state dict whose
tensors refer to storages by persistent id, the list of storage keys), then for each key in that
order an int64 element count followed by the raw little-endian elements.
"""

from __future__ import annotations

import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from models.errors import ModelError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class TorchFormatError(ModelError):
    """The file is not a PyTorch legacy state dict this reader understands."""


@dataclass
class _StorageRef:
    key: str
    dtype: type


@dataclass
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class _StorageType:
    def __init__(self, name: str):
        if name not in _STORAGE_DTYPES:
            raise TorchFormatError(f"unsupported storage type torch.{name}")
        self.dtype = _STORAGE_DTYPES[name]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *rest):
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class _StateDictUnpickler(pickle.Unpickler):
    """Stands in for torch: tensors become references, resolved once the raw storages are read."""

    def find_class(self, module: str, name: str):
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        raise TorchFormatError(f"unexpected object in weights file: {module}.{name}")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, _numel, *_ = pid
        if kind != "storage":
            raise TorchFormatError(f"unexpected persistent id {kind!r}")
        return _StorageRef(str(key), storage_type.dtype)


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as handle:
        return _read(handle)


def _read(handle: BinaryIO) -> dict[str, np.ndarray]:
    try:
        magic = pickle.load(handle)
    except (pickle.UnpicklingError, EOFError, ValueError):
        magic = None
    if magic != MAGIC_NUMBER:
        raise TorchFormatError("not a PyTorch legacy file (bad magic number); zip-format files are not supported")
    if pickle.load(handle) != PROTOCOL_VERSION:
        raise TorchFormatError("unsupported PyTorch protocol version")
    system = pickle.load(handle)
    if not system.get("little_endian", True):
        raise TorchFormatError("big-endian weights are not supported")
    state = _StateDictUnpickler(handle).load()
    keys = pickle.load(handle)
    dtypes = {ref.storage.key: ref.storage.dtype for ref in state.values() if isinstance(ref, _TensorRef)}
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        (count,) = struct.unpack("<q", handle.read(8))
        dtype = np.dtype(dtypes.get(str(key), np.float32)).newbyteorder("<")
        raw = handle.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise TorchFormatError(f"weights file is truncated in storage {key}")
        storages[str(key)] = np.frombuffer(raw, dtype=dtype)
    return OrderedDict((name, _materialise(ref, storages)) for name, ref in state.items())


def _materialise(ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    flat = storages[ref.storage.key]
    itemsize = flat.dtype.itemsize
    if not ref.size:
        return np.array(flat[ref.offset])
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset :], shape=ref.size, strides=tuple(s * itemsize for s in ref.stride), writeable=False
    )
    return np.ascontiguousarray(view).astype(flat.dtype.newbyteorder("="))
