"""Stages 3-6, the cross-validation: splits of a dataset -> tune -> train -> evaluate -> summary.

`pipeline.run` wires a whole benchmark into a run directory; `folds` runs one outer fold (tune on
inner folds, train on the outer training part, evaluate on its test part); `tune` holds Optuna's
budget loop, `storage` its RDB storage; `audit` looks for near-duplicates across a split.
"""
