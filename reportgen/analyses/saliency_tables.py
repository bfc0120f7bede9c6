"""saliency's tables from per-batch gradients: decoding heatmaps, heatmap rows and the word ranking.

- ``decoding_saliency`` / ``decoding_table``: for sequence-to-sequence autoencoders (Li et al.
  2016's output x input heatmaps), the saliency of each input token for the log-probability of the
  token reconstructed at each decoding step, one backward pass per step, batched over examples;
  ``diagonal_share``: the share of step t's saliency on input token t;
- ``dimension_frame``: one example's token x dimension rows;
- ``add_word_sums`` / ``word_table``: the word ranking's running sums in fixed point (Python
  integers of 2^-32), so they do not depend on how batches are grouped or split across ranks.

Cost: one backward pass per decoding step; the word sums hold one entry per word type.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from reportgen.analyses.words import (
    counted_words,
)
from reportgen.models.common import gradients
from reportgen.models.view import ModelView


def decoding_saliency(
    model: ModelView, texts: list[str]
) -> tuple[list[list[str]], list[np.ndarray], list[list[int]]]:
    """Per example: input tokens, the (T_out, T_in) saliency matrix, the reconstructed token ids.

    Row t is the L2 norm over embedding dimensions of d log p(y_t) / d e, where y_t is the token the
    model reconstructs (its argmax) at step t. One backward pass per step, batched over examples.
    """
    batch = model.encode(texts)
    assert batch.mask is not None
    with gradients(model.module):
        emb = model.embed(batch.ids).detach().requires_grad_(True)  # (B, T, E)
        logp = torch.log_softmax(
            model.forward_from_embeddings(emb, batch.mask).float(), -1
        )  # (B, T, V)
        best = logp.argmax(-1)  # (B, T)
        picked = logp.gather(2, best[..., None]).squeeze(-1) * batch.mask  # (B, T)
        rows = []
        for t in range(picked.shape[1]):
            (grad,) = torch.autograd.grad(picked[:, t].sum(), emb, retain_graph=True)  # (B, T, E)
            rows.append(grad.float().pow(2).sum(-1).sqrt())  # (B, T_in)
    matrix = torch.stack(rows, 1).cpu().numpy()  # (B, T_out, T_in)
    lengths = [len(t) for t in batch.tokens]
    ids = best.cpu().tolist()
    return (
        batch.tokens,
        [matrix[i, :n, :n] for i, n in enumerate(lengths)],
        [ids[i][:n] for i, n in enumerate(lengths)],
    )


def decoding_table(
    model: ModelView, texts: list[str], batch_size: int, columns: list[str]
) -> pd.DataFrame:
    encoder = model.text_encoder()
    frames = []
    for start in range(0, len(texts), batch_size):
        tokens, mats, outs = decoding_saliency(model, texts[start : start + batch_size])
        for offset, (toks, mat, out) in enumerate(zip(tokens, mats, outs, strict=True)):
            n = len(toks)
            frames.append(
                pd.DataFrame(
                    {
                        "model": model.name,
                        "example_id": start + offset,
                        "output_position": np.repeat(np.arange(n), n),
                        "output_token": np.repeat(
                            np.array([encoder.token_text(i) for i in out], dtype=object), n
                        ),
                        "input_position": np.tile(np.arange(n), n),
                        "input_token": np.tile(np.array(toks, dtype=object), n),
                        "saliency": mat.reshape(-1).astype(float),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def diagonal_share(frame: pd.DataFrame) -> float:
    """Mean over (example, output step) of the share of saliency on the same input position."""
    if frame.empty:
        return 0.0
    totals = frame.groupby(["example_id", "output_position"])["saliency"].transform("sum")
    share = frame["saliency"] / totals.where(totals > 0, 1.0)
    diagonal = frame["output_position"] == frame["input_position"]
    return float(share[diagonal].mean())


def dimension_frame(
    model: str, example_id: int, tokens: list[str], mat: np.ndarray
) -> pd.DataFrame:
    t, e = mat.shape
    return pd.DataFrame(
        {
            "model": model,
            "example_id": example_id,
            "position": np.repeat(np.arange(t), e),
            "token": np.repeat(np.array(tokens, dtype=object), e),
            "dimension": np.tile(np.arange(e), t),
            "saliency": mat.reshape(-1).astype(float),
        }
    )


FIXED_POINT = 2**32  # word ranking sums are kept as integers of 2^-32: exact in any order


def add_word_sums(totals: dict[tuple[str, str], list[int]], tokens: pd.DataFrame) -> None:
    """Add one batch to the word ranking's running sums: per (model, word), saliency and share in
    fixed point (Python integers, so the sums do not depend on how batches are grouped or split
    across ranks) and the count, over texts of two or more words (a one-word text gives its word a
    share of 1 by definition), known words only (special tokens are not words). Memory: one entry
    per word type, however many texts stream by."""
    tokens = counted_words(tokens)
    sizes = tokens.groupby(["model", "example_id"])["position"].transform("size")
    kept = tokens[(sizes > 1) & (tokens["flag"] == "")]
    saliency = np.round(kept["saliency"].to_numpy(np.float64) * FIXED_POINT).astype(np.int64)
    share = np.round(kept["share"].to_numpy(np.float64) * FIXED_POINT).astype(np.int64)
    for model, word, s_, h in zip(
        kept["model"], kept["token"], saliency.tolist(), share.tolist(), strict=True
    ):
        entry = totals.setdefault((model, word), [0, 0, 0])
        entry[0] += s_
        entry[1] += h
        entry[2] += 1


def word_table(
    totals: list[dict[tuple[str, str], list[int]]], min_count: int, columns: list[str]
) -> pd.DataFrame:
    """Words ranked by their mean share of the sentence's saliency: every rank's sums added up,
    words seen at least ``min_count`` times."""
    merged: dict[tuple[str, str], list[int]] = {}
    for part in totals:
        for key, (s_, h, c) in part.items():
            entry = merged.setdefault(key, [0, 0, 0])
            entry[0] += s_
            entry[1] += h
            entry[2] += c
    rows = [
        (m, w, s_ / FIXED_POINT / c, h / FIXED_POINT / c, c)
        for (m, w), (s_, h, c) in merged.items()
        if c >= min_count
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    grouped = pd.DataFrame(rows, columns=columns)
    return grouped.sort_values(
        ["model", "mean_share", "word"], ascending=[True, False, True], kind="stable"
    ).reset_index(drop=True)[columns]
