"""One batch of first-derivative saliency (Li et al. 2016, Sec. 5): the target class's score
differentiated with respect to the input embeddings, in one forward and one backward pass.

``saliency_batch(model, texts, targets)`` -> ``SaliencyBatch`` (tokens, per-dimension and per-token
|dS/de| (token = L2 norm over dimensions), the predicted class and the class probabilities);
``token_saliency`` is the same as a tuple, for scripts and benchmarks. Used by ``saliency``,
``matching_rate`` and the benchmarks. Cost: one forward and one backward pass per batch
(``analyses.gradient_pass``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reportgen.analyses.gradient_pass import gradient_batch
from reportgen.models.view import ModelView


@dataclass
class SaliencyBatch:
    tokens: list[list[str]]  # per example
    mats: list[np.ndarray]  # per example: (T, E) |gradient|
    vecs: list[np.ndarray]  # per example: (T,) token saliency
    predicted: np.ndarray  # (B,) class indices
    probs: np.ndarray  # (B, K) class probabilities, from the same forward pass


@dataclass
class SaliencyParts:
    """What one batch of ``compute`` hands back, gathered in batch order across ranks."""

    tokens: pd.DataFrame  # the ``tokens`` rows of the kept examples
    pieces: pd.DataFrame  # the ``pieces`` rows of the kept examples
    predictions: pd.DataFrame  # every example's prediction
    texts: pd.DataFrame  # per data example: top share, words, entropy (``words.text_shares``)
    merged: bool  # some word was joined from pieces, or a special token was set apart
    dimensions: list[pd.DataFrame]  # the heatmap examples' token x dimension rows


def token_saliency(
    model: ModelView, texts: list[str], targets: list[int] | None = None
) -> tuple[list[list[str]], list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Saliency of one batch: per example, tokens, the (T, E) |gradient| matrix, the (T,) token
    saliency, and the (B,) predicted class indices (``saliency_batch`` without the
    probabilities)."""
    out = saliency_batch(model, texts, targets)
    return out.tokens, out.mats, out.vecs, out.predicted


def saliency_batch(model: ModelView, texts: list[str],
                   targets: list[int] | None = None) -> SaliencyBatch:
    """Saliency of one batch, and the probabilities of the forward pass it differentiates (so the
    analysis needs no second pass for the confidence). ``targets`` None means differentiate the
    predicted class; a negative target (an unlabelled text) differentiates its predicted class.
    (``gradient_pass.gradient_batch``, which also gives gradient x input and location scores.)"""
    out = gradient_batch(model, texts, targets)
    return SaliencyBatch(out.tokens, out.mats, out.vecs, out.predicted, out.probs)
