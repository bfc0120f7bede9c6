"""The data side of training (for ``reportgen.models.train``): splits, vocabulary, padded batches.

- ``make_splits``: train / dev / test, a seeded ``HELD_OUT`` share carved out of train for each
  split the dataset lacks (all three from the whole data without a train split), with where each
  came from; ``check_labels``: a train split under ``MIN_TRAIN`` examples or of one class is
  ``BadInput``;
- ``word_vocab``: words seen ``min_freq`` times, or once with a pretrained vector;
- ``encoded_rows`` / ``collate`` / ``length_batches``: texts as id rows, padded batches of at
  least ``min_len`` positions, batches bucketed by length (shuffled chunks of 20 sorted batches).

Cost: one pass over the training texts to count words and encode them.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch

from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.data.tokenize import word_tokens
from reportgen.data.vocab import PAD, UNK, Vocab
from reportgen.errors import BadInput

HELD_OUT = 0.1  # share of train carved out for a missing dev or test split


MIN_TRAIN = 10  # fewer training examples than this (after carving dev/test) is refused


COLUMN_FORMATS = ("csv", "tsv", "jsonl", "hf")  # data whose labels come from --label-col


# -- data ------------------------------------------------------------------------------------------
def _carve(pool: list[Example], rng: random.Random) -> tuple[list[Example], list[Example]]:
    """Split off a seeded HELD_OUT share: (rest, held out), each in the pool's order."""
    order = list(range(len(pool)))
    rng.shuffle(order)
    held = set(order[: max(1, round(HELD_OUT * len(pool)))])
    return [e for i, e in enumerate(pool) if i not in held], [
        e for i, e in enumerate(pool) if i in held
    ]


def make_splits(dataset: Dataset, seed: int) -> tuple[dict[str, list[Example]], dict[str, str]]:
    """(train/dev/test examples, where each comes from). Without a train split, all three are carved
    from the whole data, so a dev or test split is never trained on as well."""
    rng = random.Random(seed)
    given = {name: exs for name, exs in dataset.splits.items() if exs}
    if given.get("train"):
        pool, sources = list(given["train"]), {"train": "train"}
    else:
        pool, sources, given = list(dataset.split("all")), {"train": "all"}, {}
    total = len(pool)
    out: dict[str, list[Example]] = {}
    for name in ("test", "dev"):
        if given.get(name):
            out[name], sources[name] = list(given[name]), name
        else:
            pool, out[name] = _carve(pool, rng)
            sources[name] = f"seeded {HELD_OUT:.0%} of {sources['train']} (seed {seed})"
    out["train"] = pool
    if len(pool) < MIN_TRAIN:
        carved = [f"{len(out[n])} for {n}" for n in ("dev", "test") if n not in given]
        after = f" after holding out {' and '.join(carved)}" if carved else ""
        raise BadInput(
            f"dataset {dataset.spec!r} has too few training examples to train on: {len(pool)} of "
            f"{total} left in the train split{after}; at least {MIN_TRAIN} are needed"
        )
    for name in ("dev", "test"):
        if not out[name]:
            raise BadInput(
                f"dataset {dataset.spec!r} leaves no {name} examples after splitting; "
                "give the data a larger train split or its own dev and test splits"
            )
    return out, sources


def check_labels(
    dataset: Dataset, splits: dict[str, list[Example]], label_col: str | None = None
) -> list[str]:
    """The classes (the dataset's); ``BadInput`` unless the train split has at least two of them."""
    classes = list(dataset.classes)
    if any(ex.label is None for exs in splits.values() for ex in exs):
        raise BadInput(
            f"dataset {dataset.spec!r} has examples without a label; training a classifier needs "
            "labelled texts (for csv/tsv/jsonl, name the column with --label-col)"
        )
    counts = Counter(ex.label for ex in splits["train"])  # what the model actually learns from
    if len(counts) < 2:
        found = ", ".join(f"{c!r} in all {n:,} examples" for c, n in counts.items()) or "none"
        outside = {ex.label for name, exs in splits.items() if name != "train" for ex in exs}
        elsewhere = [c for c in classes if c in outside and c not in counts]
        where = (
            f"; {', '.join(map(repr, elsewhere))} only outside the train split" if elsewhere else ""
        )
        column = ""
        if dataset.spec.partition(":")[0] in COLUMN_FORMATS:
            column = (
                f"; the labels come from column {label_col or 'label'!r} (choose the label "
                "column with --label-col)"
            )
        raise BadInput(
            f"the train split of {dataset.spec!r} has only one class ({found}{where}); "
            f"a classifier needs at least two{column}"
        )
    return classes


def word_vocab(texts: Sequence[str], min_freq: int, with_vectors: set[str] | None) -> Vocab:
    """Words seen >= min_freq times, plus words seen once that have a pretrained vector."""
    counts = Counter(w for t in texts for w in word_tokens(t))
    keep = [
        w
        for w, c in counts.items()
        if c >= min_freq or (with_vectors is not None and w in with_vectors)
    ]
    keep.sort(key=lambda w: (-counts[w], w))
    return Vocab([PAD, UNK, *(w for w in keep if w not in (PAD, UNK))])


def encoded_rows(encoder: TextEncoder, texts: Sequence[str]) -> list[np.ndarray]:
    """Each text's ids: (L,) or, for word_chars, (L, C)."""
    if encoder.kind != "word_chars":
        return [np.asarray(encoder.token_ids(t), dtype=np.int64) for t in texts]
    width = encoder.max_word_len + 2
    rows = []
    for t in texts:
        spelled = encoder.token_ids(t)
        row = np.zeros((len(spelled), width), dtype=np.int64)
        for j, chars in enumerate(spelled):
            row[j, : len(chars)] = chars
        rows.append(row)
    return rows


def collate(rows: Sequence[np.ndarray], min_len: int) -> torch.Tensor:
    """Pad rows -> ids (B, T) or (B, T, C)."""
    width = max([min_len, 1, *(len(r) for r in rows)])
    ids = np.zeros((len(rows), width, *rows[0].shape[1:]), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
    return torch.from_numpy(ids)


def length_batches(lengths: Sequence[int], size: int, rng: random.Random | None) -> list[list[int]]:
    """Index batches of similar lengths; shuffled when ``rng`` is given, else sorted by length."""
    order = list(range(len(lengths)))
    if rng is None:
        order.sort(key=lambda i: lengths[i])
        return [order[s : s + size] for s in range(0, len(order), size)]
    rng.shuffle(order)
    out = []
    chunk = size * 20
    for s in range(0, len(order), chunk):
        part = sorted(order[s : s + chunk], key=lambda i: lengths[i])
        out += [part[j : j + size] for j in range(0, len(part), size)]
    rng.shuffle(out)
    return out
