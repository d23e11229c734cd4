"""What makes a folder a demo dataset of ours, read without numpy or Pillow (the CLI's output guard
asks before any heavy import): the stamp says how it was generated, the manifest which files it wrote.
`demo-data` replaces a folder only while every file in it is one the manifest lists, unchanged in size:
a photo or a note the user added, or a file they edited, keeps the folder theirs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmark.core.atomic import atomic_write_json
from benchmark.core.errors import BenchmarkError
from benchmark.data.demo_scales import CLASS_NAMES

GENERATOR_VERSION = 4
# A dot file, so a scan of the folder does not take it for an image; its contents name the generator's
# scale, seed and version: the same stamp means the same bytes.
DEMO_STAMP = ".workout-bench-demo.json"
DEMO_MANIFEST = ".workout-bench-demo-files.json"  # {relative path: size in bytes} of every file written
MISLABELLED = "mislabelled.csv"  # the planted label errors: path, true_label, given_label
# Folders generated before the manifest existed: a frame or web image of the generator's naming in a
# class folder, the stamp and the planted errors' truth are its own; anything else is the user's.
_GENERATED_NAME = re.compile(r"^.+_(g[0-9]+|[0-9]{6,})\.jpg$")


def demo_stamp(scale: str, seed: int, total_images: int | None = None) -> dict[str, Any]:
    """What a demo folder was generated with: the same stamp means the same bytes."""
    return {"scale": scale, "seed": seed, "version": GENERATOR_VERSION, "images": total_images}


def read_stamp(folder: Path) -> dict[str, Any] | None:
    try:
        stamp = json.loads((Path(folder) / DEMO_STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def write_manifest(folder: Path) -> None:
    """List every file now in `folder` (the generation just finished) with its size."""
    folder = Path(folder)
    files = {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}
    files.pop(DEMO_MANIFEST, None)
    atomic_write_json(folder / DEMO_MANIFEST, files, indent=None)


def foreign_files(folder: Path) -> list[str]:
    """Files in a demo folder that `demo-data` did not write, or that changed since (all of them when the
    folder has no manifest): what replacing the folder would lose."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / DEMO_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    if not isinstance(manifest, dict) or not manifest:
        return _foreign_by_name(folder)
    foreign = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if relative == DEMO_MANIFEST:
            continue
        if path.is_symlink() or (path.is_file() and manifest.get(relative) != path.stat().st_size):
            foreign.append(relative)
        elif path.is_dir() and not any(key.startswith(relative + "/") for key in manifest):
            foreign.append(relative + "/")  # a folder the user made, empty or not
    return foreign


def _foreign_by_name(folder: Path) -> list[str]:
    foreign = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if path.is_symlink():
            foreign.append("/".join(parts))
        elif path.is_dir():
            if len(parts) > 1 or parts[0] not in CLASS_NAMES:
                foreign.append("/".join(parts) + "/")
        elif len(parts) == 1:
            if parts[0] not in (DEMO_STAMP, MISLABELLED):
                foreign.append(parts[0])
        elif len(parts) > 2 or not _GENERATED_NAME.match(parts[1]):
            foreign.append("/".join(parts))
    return foreign


def is_demo_dir(folder: Path) -> bool:
    """A folder `generate_demo_data` wrote and nobody added to or edited: safe to replace."""
    return read_stamp(folder) is not None and not foreign_files(folder)


def refuse_foreign_demo(folder: Path, option: str) -> None:
    """A demo folder the user added files to (or edited) is theirs now: refused, naming what would be lost."""
    if read_stamp(folder) is None:
        return
    foreign = foreign_files(folder)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise BenchmarkError(
            f"{option} {folder} is a demo dataset with files demo-data did not write ({shown}): nothing was "
            "replaced; move them out, give another folder, or pass --force to replace it all"
        )
