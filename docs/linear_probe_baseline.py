"""The plain linear probe the harness's models must beat, on the same outer folds as `run`.

Frozen EfficientNet-Lite pooled features of each image and of its mirror image (extra rows),
then scikit-learn's StandardScaler + LogisticRegression with C picked by grouped cross-validation
on the training part only; scored on each grouped outer fold's test part (no test-time mirror).

    .venv/bin/python docs/linear_probe_baseline.py --data ../shared/real-sample [--backbone EfficientNetLite0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.cv.splitting import fold_assignment
from benchmark.data.load import load
from benchmark.data.source import DatasetSource
from config import DEFAULT
from models.backbones import backbone
from models.learner import Runtime
from models.transfer import EfficientNetLearner
from splits.names import GROUPED
from splits.strategies import fold_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--backbone", default="EfficientNetLite0")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    config = DEFAULT.replace(folds=args.folds)
    dataset = load(config, args.data)
    source = DatasetSource.of(dataset, dataset.class_names, config)
    learner = EfficientNetLearner(backbone(args.backbone), {"head": "probe"}, 0, 0, Runtime(config.cache_dir),
                                  max_unfrozen_blocks=0)  # fmt: skip
    started = time.perf_counter()
    features = learner.features(source)
    plain, mirrored = (features[f"pooled-center-{flip}"].astype(np.float32) for flip in ("plain", "mirrored"))
    groups = dataset.images["group"].to_numpy()
    scores = []
    for train, test in fold_pairs(fold_assignment(dataset, GROUPED, config)):
        x = np.concatenate([plain[train], mirrored[train]])
        y = np.concatenate([source.labels[train]] * 2)
        g = np.concatenate([groups[train]] * 2)  # an image and its mirror stay in one inner fold
        search = GridSearchCV(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
            {"logisticregression__C": np.logspace(-4, 1, 11)},
            cv=GroupKFold(n_splits=min(5, len(set(g)) // len(set(y)) or 2)),
        )
        search.fit(x, y, groups=g)
        scores.append(float((search.predict(plain[test]) == source.labels[test]).mean()))
    print(f"{args.backbone} plain linear probe, grouped {args.folds}-fold CV on {len(groups)} images: "
          f"accuracy {np.mean(scores):.3f} (folds {' '.join(f'{s:.3f}' for s in scores)}), "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
