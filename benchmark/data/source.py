"""The images of one dataset as models see them: cached pixels and cached backbone activations."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmark.data.cache import ArrayCache, content_keys, load_features, load_pixels
from models.preprocess import Preprocess


class DatasetSource:
    """Implements models.learner.ImageSource over files on disk and the content-addressed caches.

    Build one with `DatasetSource.of`: it takes the labels, content keys and cache settings from a
    scanned dataset and the config, the same way everywhere."""

    def __init__(
        self,
        root: Path,
        paths: Sequence[str],
        labels: np.ndarray,
        cache_dir: Path,
        workers: int = 4,
        keys: Sequence[str] | None = None,
        feature_memory_mb: int = 1500,
    ):
        self.root, self.paths = Path(root), list(paths)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.cache_dir, self.workers = Path(cache_dir), workers
        self._keys: list[str] | None = None if keys is None else list(keys)  # content hashes, if known
        self._pixels: dict[Preprocess, np.ndarray] = {}
        # Activations kept in memory, least recently used first, within feature_memory_mb.
        self._features: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self.feature_memory_bytes = feature_memory_mb * 2**20

    @classmethod
    def of(cls, dataset, class_names: Sequence[str], config) -> DatasetSource:
        """The images of a scanned `Dataset`, labelled by their index in `class_names` (0 for a label not
        among them: a source for features only)."""
        images = dataset.images
        index = {name: i for i, name in enumerate(class_names)}
        labels = np.array([index.get(label, 0) for label in images["label"]], dtype=np.int64)
        keys = images["key"].tolist() if "key" in images else None
        return cls(
            dataset.root, images["path"].tolist(), labels, config.cache_dir, config.scan_workers, keys,
            config.feature_memory_mb,
        )  # fmt: skip

    @property
    def keys(self) -> list[str]:
        if self._keys is None:
            self._keys = content_keys([self.root / p for p in self.paths], self.workers)
        return self._keys

    def pixels(self, preprocess: Preprocess) -> np.ndarray:
        if preprocess not in self._pixels:
            self._pixels[preprocess] = self.pixels_of(np.arange(len(self.paths)), preprocess)
        return self._pixels[preprocess]

    def pixels_of(self, indices: np.ndarray, preprocess: Preprocess) -> np.ndarray:
        """Pixels of some images, decoded or read from the cache, without holding the whole dataset."""
        if preprocess in self._pixels:
            return self._pixels[preprocess][indices]
        paths = [self.root / self.paths[i] for i in indices]
        return load_pixels(paths, [self.keys[i] for i in indices], preprocess, self.cache_dir, self.workers)

    def features(
        self,
        namespace: str,
        outputs: Sequence[str],
        preprocess: Preprocess,
        compute: Callable[[np.ndarray], list[np.ndarray]],
        keep: Sequence[bool] | None = None,
    ) -> list[np.ndarray]:
        """The kept outputs (all by default) of `compute` for every image, from memory, disk or `compute`."""
        keep = [True] * len(outputs) if keep is None else list(keep)
        wanted = [(namespace, name) for name, kept in zip(outputs, keep) if kept]
        absent = [kept and (namespace, name) not in self._features for name, kept in zip(outputs, keep)]
        if any(absent):  # read (or compute) only what memory lacks
            caches = [ArrayCache(self.cache_dir, f"{namespace}/{name}") for name in outputs]
            arrays = load_features(
                self.keys, caches, compute, lambda idx: self.pixels_of(idx, preprocess), keep=absent, batch_size=32
            )
            self._features.update(zip([(namespace, n) for n, a in zip(outputs, absent) if a], arrays))
        for memo in wanted:
            self._features.move_to_end(memo)
        result = [self._features[memo] for memo in wanted]
        self._forget_old_features()
        return result

    def _forget_old_features(self) -> None:
        """Drop least recently used activations beyond the memory budget; they reload from disk."""
        while len(self._features) > 1 and sum(a.nbytes for a in self._features.values()) > self.feature_memory_bytes:
            self._features.popitem(last=False)
