"""Per-token scores -> per-word scores, the same way for every model.

Question: a subword tokenizer reads "invigorating" as ``in ##vi ##gor ##ating`` and adds ``[CLS]``
and ``[SEP]``; how do scores per token become scores for the words a reader sees, shares and
rankings?

Method: the model's display tokens (``internals.display_tokens``) mark which token continues the
word before it and which tokens are special; ``internals.word_spans`` groups them into words. A
word's score is the **sum** of its pieces' scores (for additive, non-negative scores such as
saliency norms or variance salience: the word's total). A word's share is its score over the
total of the text's non-special words; special tokens stay as rows of their own (flag
``"special"``, share 0) so that token views can show them, marked, but they count in no share,
top-token share or ranking. For a model whose tokens are its words (every reference model), each
word is one token and nothing changes.

Outputs: ``word_frame`` (one row per model, example and word) and ``share_metrics`` (top-word
share, its uniform baseline, entropy). Cost: a Python loop over the tokens; no model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from reportgen.models.internals import TokenText, word_spans

SPECIAL = "special"


def word_frame(
    model: str,
    example_ids: Sequence[int],
    shown: Sequence[Sequence[TokenText]],
    scores: Sequence[np.ndarray],
    flags: Sequence[Sequence[str]],
    column: str,
) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """One row per word of each text: model, example_id, position (the word's index in the text,
    special tokens counted), token (the word), ``column`` (the sum of its pieces' scores), share,
    flag and pieces (its number of tokens); also, per text, the word index of every token.

    ``shown``, ``scores`` (T,) and ``flags`` are per text and token; a word's flag is "special"
    for a special token, else "unk" when any of its pieces is unknown, else ""."""
    rows: list[tuple] = []
    owners: list[np.ndarray] = []
    for example_id, row, values, row_flags in zip(example_ids, shown, scores, flags, strict=True):
        spans = word_spans(row)
        owner = np.zeros(len(row), dtype=np.int64)  # (T,) word index of each token
        sums = np.array([float(np.sum(values[s.start : s.stop])) for s in spans])  # (W,)
        special = [s.special or "special" in row_flags[s.start : s.stop] for s in spans]
        counted = ~np.array(special, dtype=bool)  # (W,)
        total = float(sums[counted].sum()) if counted.any() else 0.0
        for w, span in enumerate(spans):
            owner[span.start : span.stop] = w
            pieces = row_flags[span.start : span.stop]
            flag = SPECIAL if special[w] else ("unk" if "unk" in pieces else "")
            share = sums[w] / total if counted[w] and total > 0 else 0.0
            rows.append((model, int(example_id), w, span.text, float(sums[w]), float(share), flag,
                         span.stop - span.start))
        owners.append(owner)
    frame = pd.DataFrame(rows, columns=["model", "example_id", "position", "token", column, "share",
                                        "flag", "pieces"])
    return frame, owners


def counted_words(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows that count in shares and rankings: every word but special tokens."""
    return frame[frame["flag"] != SPECIAL]


def merged_anything(frame: pd.DataFrame) -> bool:
    """True when some word has several tokens or some token is special (the words differ from the
    tokens the model reads)."""
    return bool(len(frame)) and (bool((frame["pieces"] > 1).any()) or bool((frame["flag"] == SPECIAL).any()))


def share_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """Over texts with at least one counted word: the mean top-word share (and spread), its uniform
    baseline (the mean of 1 / number of words), one-word texts, and the normalised entropy of the
    shares (1 = spread evenly, 0 = all on one word; texts of two or more words)."""
    words = counted_words(frame)
    if words.empty:
        return {"top_token_share": 0.0, "uniform_top_token_share": 0.0, "single_token_texts": 0.0}
    share = words["share"].clip(lower=1e-12)
    per_text = words.assign(plogp=-share * np.log(share)).groupby(
        ["model", "example_id"], sort=False).agg(top=("share", "max"), n=("share", "size"), h=("plogp", "sum"))
    long = per_text[per_text["n"] > 1]
    entropy = (long["h"] / np.log(long["n"])).to_numpy()
    return {
        "top_token_share": float(np.mean(per_text["top"].to_numpy())),
        "top_token_share_sd": float(np.std(per_text["top"].to_numpy())),
        "uniform_top_token_share": float(np.mean(1.0 / per_text["n"].to_numpy())),
        "single_token_texts": float((per_text["n"] == 1).sum()),
        "normalised_entropy": float(np.mean(entropy)) if entropy.size else 0.0,
        "normalised_entropy_sd": float(np.std(entropy)) if entropy.size else 0.0,
    }
