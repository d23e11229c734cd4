"""The split strategies by name, and the error a split raises; importing this costs nothing
(the splitters themselves need scikit-learn)."""

from benchmark.core.errors import BenchmarkError

GROUPED = "grouped"  # every source video on one side (StratifiedGroupKFold)
LEAKY = "leaky"  # images split at random, frames of one video on both sides (StratifiedKFold)
STRATEGIES = (GROUPED, LEAKY)


class SplitError(BenchmarkError, ValueError):
    """The data cannot be split as asked; the message names the class or option at fault."""
