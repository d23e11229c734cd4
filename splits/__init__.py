"""Grouped and leaky k-fold splits over arrays of labels and groups; no I/O, no models.

`splits.names` (the strategy names and the split error) imports nothing; `splits.strategies` (the
splitters, scikit-learn) and `splits.manifest` (pandas) are imported by the stages that split.
"""
