"""workout-bench: grouped vs leaky k-fold benchmarks for workout-exercise image classifiers.

`python -m benchmark <command>` (benchmark/cli.py) runs one command of benchmark/commands/, which
calls the stages: data/ (scan, groups, caches) -> cv/ (splits, tune, train, evaluate, summary) ->
the report (reports/). Plumbing shared by all of them is in core/.
"""

import os

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) is noise in a CLI's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
