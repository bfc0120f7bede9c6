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

Outputs: ``word_frame`` (one row per model, example and word), ``text_shares`` (one row per text,
so that a stream of batches needs no per-word rows to be kept) and ``share_metrics`` /
``shares_summary`` (top-word share, its uniform baseline, entropy). Cost: a Python loop over the
tokens; no model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from reportgen.models.tokens import TokenText, word_spans

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
    columns: dict[str, list] = {c: [] for c in ("example_id", "position", "token", column, "share",
                                                "flag", "pieces")}
    owners: list[np.ndarray] = []
    for example_id, row, values, row_flags in zip(example_ids, shown, scores, flags, strict=True):
        if not any(t.joins_previous or t.special for t in row) and SPECIAL not in row_flags:
            # every token is a word of its own (every reference model): no per-token Python loop
            sums = np.asarray(values, dtype=np.float64)  # (T,)
            total = float(sums.sum()) if len(sums) else 0.0
            n = len(row)
            columns["example_id"].append(np.full(n, int(example_id), dtype=np.int64))
            columns["position"].append(np.arange(n, dtype=np.int64))
            columns["token"].append([t.text for t in row])
            columns[column].append(sums)
            columns["share"].append(sums / total if total > 0 else np.zeros(n))
            columns["flag"].append(["unk" if f == "unk" else "" for f in row_flags])
            columns["pieces"].append(np.ones(n, dtype=np.int64))
            owners.append(np.arange(n, dtype=np.int64))
            continue
        spans = word_spans(row)
        owner = np.zeros(len(row), dtype=np.int64)  # (T,) word index of each token
        sums = np.array([float(np.sum(values[s.start : s.stop])) for s in spans])  # (W,)
        special = [s.special or SPECIAL in row_flags[s.start : s.stop] for s in spans]
        counted = ~np.array(special, dtype=bool)  # (W,)
        total = float(sums[counted].sum()) if counted.any() else 0.0
        rows = []
        for w, span in enumerate(spans):
            owner[span.start : span.stop] = w
            pieces = row_flags[span.start : span.stop]
            flag = SPECIAL if special[w] else ("unk" if "unk" in pieces else "")
            share = sums[w] / total if counted[w] and total > 0 else 0.0
            rows.append((int(example_id), w, span.text, float(sums[w]), float(share), flag,
                         span.stop - span.start))
        by_column = zip(*rows, strict=True) if rows else [()] * 7
        for name, values_ in zip(columns, by_column, strict=True):
            columns[name].append(list(values_))
        owners.append(owner)
    frame = pd.DataFrame({
        "model": model,
        "example_id": _joined(columns["example_id"], np.int64),
        "position": _joined(columns["position"], np.int64),
        "token": [t for part in columns["token"] for t in part],
        column: _joined(columns[column], np.float64),
        "share": _joined(columns["share"], np.float64),
        "flag": [f for part in columns["flag"] for f in part],
        "pieces": _joined(columns["pieces"], np.int64),
    })
    return frame, owners


def _joined(parts: list, dtype: type) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype)
    return np.concatenate([np.asarray(p, dtype=dtype) for p in parts])


def counted_words(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows that count in shares and rankings: every word but special tokens."""
    return frame[frame["flag"] != SPECIAL]


def merged_anything(frame: pd.DataFrame) -> bool:
    """True when some word has several tokens or some token is special (the words differ from the
    tokens the model reads)."""
    return bool(len(frame)) and (bool((frame["pieces"] > 1).any())
                                 or bool((frame["flag"] == SPECIAL).any()))


def text_shares(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, example_id) with at least one counted word: ``top`` (its largest word
    share), ``n`` (counted words) and ``h`` (the entropy of its shares, in nats). Texts keep the
    order of their first row, so summaries of consecutive batches concatenate into the summary of
    the whole frame (how the per-example analyses stream)."""
    words = counted_words(frame)
    if words.empty:
        return pd.DataFrame({"model": pd.Series(dtype=object),
                             "example_id": pd.Series(dtype=np.int64),
                             "top": pd.Series(dtype=float), "n": pd.Series(dtype=np.int64),
                             "h": pd.Series(dtype=float)})
    share = words["share"].to_numpy(np.float64)
    clipped = np.clip(share, 1e-12, None)
    plogp = -clipped * np.log(clipped)
    # texts numbered in order of their first row (as a groupby without sorting numbers them)
    models, model_code = np.unique(words["model"].to_numpy(object), return_inverse=True)
    example = words["example_id"].to_numpy(np.int64)
    key = model_code.astype(np.int64) * (int(example.max()) + 1) + example
    code, firsts = pd.factorize(key, sort=False)
    n = np.bincount(code)
    h = np.zeros(len(firsts))
    np.add.at(h, code, plogp)  # row order within each text, as pandas adds them
    top = np.full(len(firsts), -np.inf)
    np.maximum.at(top, code, share)
    return pd.DataFrame({"model": models[firsts // (int(example.max()) + 1)],
                         "example_id": firsts % (int(example.max()) + 1),
                         "top": top, "n": n.astype(np.int64), "h": h})


def share_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """``shares_summary`` of every text in ``frame``."""
    return shares_summary(text_shares(frame))


def shares_summary(per_text: pd.DataFrame) -> dict[str, float]:
    """Over texts with at least one counted word and a positive total score (rows of
    ``text_shares``): the mean top-word share (and spread), its uniform baseline (the mean of
    1 / number of words, over the same texts), one-word texts, and the normalised entropy of the
    shares (1 = spread evenly, 0 = all on one word; texts of two or more words).

    A text whose words all score 0 (a one-word text under variance salience: the word is its own
    mean) has no shares: it counts in neither the top share nor its baseline, so the top share
    is never below the baseline (the largest of n shares summing to 1 is at least 1/n). How many
    there were is ``unscored_texts`` (present when there were some)."""
    empty = {"top_token_share": 0.0, "uniform_top_token_share": 0.0, "single_token_texts": 0.0}
    if per_text.empty:
        return empty
    scored = per_text[per_text["top"] > 0]
    unscored = {"unscored_texts": float(len(per_text) - len(scored))} if len(scored) < len(
        per_text) else {}
    if scored.empty:
        return {**empty, **unscored}
    long = scored[scored["n"] > 1]
    entropy = (long["h"] / np.log(long["n"])).to_numpy()
    return {
        "top_token_share": float(np.mean(scored["top"].to_numpy())),
        "top_token_share_sd": float(np.std(scored["top"].to_numpy())),
        "uniform_top_token_share": float(np.mean(1.0 / scored["n"].to_numpy())),
        "single_token_texts": float((scored["n"] == 1).sum()),
        "normalised_entropy": float(np.mean(entropy)) if entropy.size else 0.0,
        "normalised_entropy_sd": float(np.std(entropy)) if entropy.size else 0.0,
        **unscored,
    }
