"""Which data a command works on, scanned and grouped: `--data`, else the real dataset, else the demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmark.core.atomic import atomic_write_json
from benchmark.core.errors import BenchmarkError
from benchmark.data.dataset import Dataset, load_dataset
from benchmark.data.demo import GENERATOR_VERSION, generate_demo_data
from config import Config

DEMO_STAMP = ".workout-bench-demo.json"


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
    stamp = {"scale": config.demo_scale, "seed": config.demo_seed, "version": GENERATOR_VERSION}
    stamp_file = config.demo_dir / DEMO_STAMP
    if stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        return config.demo_dir
    generate_demo_data(config.demo_dir, config.demo_scale, config.demo_seed)
    atomic_write_json(stamp_file, stamp, indent=None)
    return config.demo_dir


def load(config: Config, data: Path | None) -> Dataset:
    return load_grouped(config, data)[0]


def load_grouped(config: Config, data: Path | None) -> tuple[Dataset, dict[str, Any] | None]:
    """The scanned dataset with its groups: from file names, or (`groups = "infer"`) from the pixels."""
    dataset = load_dataset(resolve_data_dir(config, data), config)
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
