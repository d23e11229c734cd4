"""Every random stream of a run (a study, a fold, an epoch, a trial) is seeded from the config seed.

One derivation for all of them: NumPy's SeedSequence over the seed and the stream's path, so two
streams never share a seed by accident (adding 1 to a seed would) and the same path gives the same
numbers whatever ran before in the process.
"""

from __future__ import annotations

import numpy as np


def derived_seed(*path: int, bits: int = 32) -> int:
    """A `bits`-bit seed (31 for TensorFlow's int32 stateless seeds) for the stream at `path`."""
    return int(np.random.SeedSequence([int(p) for p in path]).generate_state(1)[0]) >> (32 - bits)
