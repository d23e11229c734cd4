"""A picture of a dataset's videos: per class, two frames of one video next to two of another."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from benchmark.core.outputs import write_output  # noqa: E402
from benchmark.data.dataset import Dataset  # noqa: E402
from benchmark.data.groups import VIDEO  # noqa: E402


def save_preview(dataset: Dataset, out: Path, title: str) -> Path:
    frames = dataset.images[dataset.images["group_kind"] == VIDEO]
    classes = dataset.class_names
    rows = (len(classes) + 1) // 2
    figure, axes = plt.subplots(
        rows,
        8,
        figsize=(13, 12 * rows / 11),
        squeeze=False,
        gridspec_kw={"wspace": 0.04, "hspace": 0.22, "left": 0.005, "right": 0.995, "top": 0.95, "bottom": 0.005},
    )
    for ax in axes.flat:
        ax.axis("off")
    for i, label in enumerate(classes):
        videos = [g["path"].tolist() for _, g in frames[frames["label"] == label].groupby("group")][:2]
        paths = [path for video in videos for path in video[:2]]
        for j, path in enumerate(paths):
            ax = axes[i % rows, (i // rows) * 4 + j]
            ax.imshow(Image.open(dataset.root / path).convert("RGB"))
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_title(label, fontsize=10, loc="left", pad=2)
    figure.suptitle(title, fontsize=13)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=64)
    plt.close(figure)
    write_output(out, buffer.getvalue(), "--preview")
    return out
