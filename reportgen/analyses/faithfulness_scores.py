"""faithfulness's statistics: per method, the mean comprehensiveness and sufficiency over texts,
their spread and 95% bootstrap intervals, and each model's headline (its best method).

Pure pandas/NumPy over the per-text table (no torch): the resamples are drawn once per model, by
position in example order, so every method is resampled over the same texts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reportgen.analyses.faithfulness_views import METHOD_LABELS

SCORE_COLUMNS = ["model", "method", "comprehensiveness", "comprehensiveness_sd",
               "comprehensiveness_ci_low", "comprehensiveness_ci_high", "sufficiency",
               "sufficiency_sd", "sufficiency_ci_low", "sufficiency_ci_high", "texts"]


def score_table(texts: pd.DataFrame, resamples: int, seed: int) -> pd.DataFrame:
    """``texts`` (one model's rows, in (method, example) order) -> the ``scores`` table: per method,
    the mean comprehensiveness and sufficiency over texts, their spread (sd) and 95% bootstrap
    intervals. The resamples are drawn once, by position in example order, so every method is
    resampled over the same texts and the intervals do not depend on how the texts were batched."""
    rows = []
    rng_state = np.random.default_rng([seed, 21])
    draws: np.ndarray | None = None
    for (model, method), part in texts.groupby(["model", "method"], sort=False):
        part = part.sort_values("example_id", kind="stable")
        if draws is None or draws.shape[1] != len(part):
            draws = rng_state.integers(0, len(part), size=(resamples, len(part)))  # (R, N)
        row = {"model": model, "method": method, "texts": len(part)}
        for column in ("comprehensiveness", "sufficiency"):
            values = part[column].to_numpy(np.float64)  # (N,)
            low, high = np.quantile(values[draws].mean(1), [0.025, 0.975])
            row |= {column: float(values.mean()),
                    f"{column}_sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                    f"{column}_ci_low": float(low), f"{column}_ci_high": float(high)}
        rows.append(row)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def headline_metrics(scores: pd.DataFrame) -> tuple[dict[str, float], dict[str, str]]:
    """One model's metrics from its ``scores`` table: every method's comprehensiveness and
    sufficiency with their intervals, and the headline: the best method by comprehensiveness
    (random aside; ties go to the first in ``METHODS``), with labels naming it."""
    metrics: dict[str, float] = {}
    stats = ("", "_ci_low", "_ci_high")
    for r in scores.to_dict("records"):
        for column in ("comprehensiveness", "sufficiency"):
            for stat in stats:
                metrics[f"{r['method']}_{column}{stat}"] = float(r[f"{column}{stat}"])
    candidates = scores[scores["method"] != "random"]
    if candidates.empty:
        return metrics, {}
    best = candidates.loc[candidates["comprehensiveness"].idxmax()]  # first of equals
    labels = {}
    for column in ("comprehensiveness", "sufficiency"):
        for stat in stats:
            metrics[f"{column}{stat}"] = float(best[f"{column}{stat}"])
        labels[column] = f"{column} of {METHOD_LABELS.get(best['method'], best['method'])}"
    return metrics, labels
