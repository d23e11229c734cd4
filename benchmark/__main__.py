import os
import sys
from pathlib import Path

# `python -m benchmark` puts the current folder first on sys.path, and a user's own project folder often
# has a config.py, models/ or reports/ of its own: those would shadow ours. The installed package does
# not need the current folder (the install maps benchmark, config, models, reports and splits to this
# repository), so it is dropped unless it is this repository itself.
_ROOT = Path(__file__).resolve().parents[1]
if sys.path and sys.path[0] in ("", os.getcwd()) and Path(os.getcwd()).resolve() != _ROOT:
    del sys.path[0]

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) is noise in a CLI's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmark.cli import main  # noqa: E402

try:
    sys.exit(main())
except BrokenPipeError:
    # The reader went away (`... | head`): nothing more to say, and no traceback. As Python's docs advise,
    # stdout goes to devnull so the flush at exit does not raise again.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(141)  # what a shell reports for SIGPIPE
