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


REPEAT_STREAM = 0x52455045  # "REPE": a path tag, so a repeat's seed never equals another stream's


def repeat_seed(seed: int, repeat: int) -> int:
    """The seed of repeat `repeat` of a repeated cross-validation: the config seed itself for the first
    (a run of one repeat is the plain run), a derived one for each further repeat."""
    return seed if repeat == 0 else derived_seed(seed, REPEAT_STREAM, repeat)
