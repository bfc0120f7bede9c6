"""Which evaluated examples keep their per-token detail, and which the costly analyses run on.

Question: a report over 100,000 texts cannot keep a row per token per model (tens of millions of
rows, gigabytes of memory, a site of hundreds of megabytes), nor optimise inputs for every text
(hours on a CPU). Which part of the data should carry that detail without biasing the numbers?

Method: one seeded sample of example ids for the whole run, the same for every analysis and model,
so a reader can follow one text from page to page. ``detail_sample(n, limit, seed)`` is the first
``limit`` ids of a seeded permutation of ``range(n)``, sorted; a smaller limit gives a subset of a
larger one (the permutation is the same). With ``n <= limit`` (the default limit is 2,000) it is
every example, so small runs are exactly what they were before sampling existed.

- Cheap per-example analyses (``saliency``, ``variance_salience``, ``hidden_saliency``) still run
  on every example and compute their metrics over all of them while streaming; they keep per-token
  rows (and the texts) only for the sample, plus the examples a page always shows (the user's ids
  and sentences, the heatmap examples).
- Costly analyses (``optimization``, hence ``matching_rate``, and ``faithfulness``) run on the
  sample only; their ``examples`` metric says how many.

Every page that samples says so (``sampling_note``), and ``report.json`` records the sample under
``data.detail_examples``. Cost: one permutation of ``n`` integers.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

DEFAULT_DETAIL_EXAMPLES = 2000
# A fixed sub-stream of the run's seed, so the sample does not move with other draws.
_STREAM = 0x5A4D


def detail_sample(n: int, limit: int, seed: int) -> np.ndarray:
    """Sorted example ids (int64): every id when ``limit <= 0`` or ``n <= limit``, else a seeded
    sample of ``limit`` of them."""
    if limit <= 0 or n <= limit:
        return np.arange(n, dtype=np.int64)
    order = np.random.default_rng([seed, _STREAM]).permutation(n)  # (n,)
    return np.sort(order[:limit]).astype(np.int64)


def kept_ids(sample: np.ndarray, always: Iterable[int] = ()) -> frozenset[int]:
    """The sample plus the ids a page always shows."""
    return frozenset(int(i) for i in sample) | frozenset(int(i) for i in always)


def sampling_note(kept: int, total: int, seed: int, *, what: str) -> str | None:
    """One sentence for the page when only part of the data carries ``what``; None for all of it."""
    if kept >= total:
        return None
    return (f"{what}: a seeded sample of {kept:,} of the {total:,} evaluated examples "
            f"(seed {seed}, "
            "the same sample on every page and for every model; set detail_examples in the [run] "
            "table of the config, or --detail-examples, to change it, 0 for every example).")
