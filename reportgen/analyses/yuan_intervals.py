"""95% intervals for the Yuan et al. (2019) analyses' headlines (hidden_saliency, optimization,
matching_rate), given as metrics ``<metric>_ci_low`` / ``<metric>_ci_high`` that the site reads to
say whether a headline stands above its baseline.

- ``mean_interval``: a percentile bootstrap of a mean over texts; values may be clustered (a
  text's several problems are resampled together: ``clusters``);
- ``share_interval``: the Wilson score interval of a share of texts (a matching rate).

Seeded (``seed``), NumPy only; ``samples`` resamples (1,000 by default) cost one
(samples, texts) index matrix.
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054


def mean_interval(values: np.ndarray, clusters: np.ndarray | None = None, *, seed: int = 0,
                  samples: int = 1000) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean of ``values`` (n,); with ``clusters`` (n,),
    whole clusters are resampled and the statistic is sum(values) / count over the drawn clusters.
    (nan, nan) with no values; a single value gives (value, value)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return math.nan, math.nan
    if clusters is None:
        num, den = values, np.ones_like(values)
    else:
        _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
        num = np.bincount(inverse, weights=values)
        den = np.bincount(inverse).astype(np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num.size, size=(samples, num.size))  # (samples, clusters)
    stats = num[idx].sum(1) / den[idx].sum(1)
    low, high = np.quantile(stats, [0.025, 0.975])
    return float(low), float(high)


def share_interval(successes: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval of ``successes`` out of ``n`` ((nan, nan) for n = 0)."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def with_interval(metrics: dict[str, float], key: str, interval: tuple[float, float]) -> None:
    """Add ``key``'s interval to ``metrics`` (left out when it is undefined)."""
    low, high = interval
    if math.isfinite(low) and math.isfinite(high):
        metrics[f"{key}_ci_low"], metrics[f"{key}_ci_high"] = low, high
