"""One seed for every random number generator a computation may draw from (Python, NumPy, torch).

Called once at the start of a run and once before each analysis computes, so that an analysis's
numbers never depend on which analyses ran (or were read from the cache) before it.
"""

from __future__ import annotations

import random


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
