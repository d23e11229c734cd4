"""Which data a command works on, scanned and grouped: `--data`, else the real dataset, else the demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmark.core.errors import BenchmarkError
from benchmark.data.dataset import Dataset, load_dataset, require_classes
from benchmark.data.demo import generate_demo_data
from benchmark.data.demo_files import demo_stamp, read_stamp
from config import Config


def uses_demo_data(config: Config, data: Path | None) -> bool:
    return data is None and not config.data_dir.is_dir()


def resolve_data_dir(config: Config, data: Path | None) -> Path:
    """`--data` if given; else the real dataset if downloaded; else the embedded demo data."""
    if data is not None:
        if not Path(data).is_dir():
            raise BenchmarkError(f"--data folder not found: {data}")
        return Path(data)
    if config.data_dir.is_dir():
        return config.data_dir
    print(
        f"no dataset at {config.data_dir} (python -m benchmark download fetches it): using the embedded demo data",
        file=sys.stderr,
    )
    return ensure_demo_data(config)


def ensure_demo_data(config: Config) -> Path:
    """Generate the demo dataset once; regenerate only when its seed or scale changed."""
    if read_stamp(config.demo_dir) == demo_stamp(config.demo_scale, config.demo_seed):
        return config.demo_dir
    return generate_demo_data(config.demo_dir, config.demo_scale, config.demo_seed, option="demo_dir")


def load(config: Config, data: Path | None, min_classes: int = 2) -> Dataset:
    return load_grouped(config, data, min_classes)[0]


def load_grouped(config: Config, data: Path | None, min_classes: int = 2) -> tuple[Dataset, dict[str, Any] | None]:
    """The scanned dataset with its groups: from file names, or (`groups = "infer"`) from the pixels.

    At least `min_classes` class folders (two for anything that splits or trains), checked before
    the pixels are read."""
    dataset = load_dataset(resolve_data_dir(config, data), config)
    require_classes(dataset, min_classes)
    if config.groups == "names":
        return dataset, None
    from benchmark.data.fingerprints import with_inferred_groups

    dataset, agreement = with_inferred_groups(dataset, config)
    ari = agreement["adjusted_rand_index"]
    print(
        f"groups inferred from pixels: {agreement['groups']} groups; agreement with file-name videos: "
        + (
            f"adjusted Rand index {ari:.3f} over {agreement['images_compared']} frames"
            if ari is not None
            else "no video ids"
        ),
        file=sys.stderr,
    )
    return dataset, agreement
