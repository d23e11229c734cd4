"""workout-bench: grouped vs leaky k-fold benchmarks for workout-exercise image classifiers."""

import os

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) is noise in a CLI's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
