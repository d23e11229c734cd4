"""`demo-data`: generate the synthetic exercise-video dataset (and optionally a picture of it)."""

from __future__ import annotations

import argparse

from benchmark.data.dataset import load_dataset
from benchmark.data.demo import generate_demo_data
from config import Config


def main(args: argparse.Namespace, config: Config) -> int:
    out = generate_demo_data(args.out, args.scale, args.seed, args.images, args.jobs, force=args.force,
                             mislabel=args.mislabel, mislabel_videos=args.mislabel_videos)  # fmt: skip
    print(f"demo data: {out}")
    if args.preview:
        from benchmark.data.preview import save_preview

        title = "Demo data: per class, two frames of one video | two frames of another video"
        print(f"preview: {save_preview(load_dataset(out, config), args.preview, title)}")
    return 0
