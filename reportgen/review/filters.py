"""Convolutional filters matched across the two runs by what they detect.

Question: after retraining, which filters still detect the same thing, which patterns are new,
and which vanished?

Method: ``filter_top_words`` lists each filter's top n-grams (word CNNs) or top words (character
CNNs). A filter is described by the set of words in them; two filters' similarity is the Jaccard
index of their sets, |A & B| / |A | B|. Old and new filters (dead or never-firing ones aside) are
paired one to one to maximise the total similarity (the Hungarian algorithm, scipy's
``linear_sum_assignment``), over every layer, so a filter may move to another index or layer; a
pair with Jaccard at least ``MATCH`` is a match. An old filter with no match *vanished*; a new one
with no match is *new*. The pattern finder's best feature per filter (``filters.best_pattern``,
kept where its Spearman strength is at least ``PATTERN`` in absolute value: "contains a negation",
"class 'positive'") gives the same question at the level of patterns: which features does some
filter carry in one run and none in the other.

Outputs: ``FilterMatch`` per model pair.

Cost: a sparse product of two filters x words matrices and one assignment of at most
filters x filters (a few seconds for 4,096 filters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linear_sum_assignment

from reportgen.review.metrics import ModelPair
from reportgen.review.reports import Report

MATCH = 0.2  # Jaccard of a matched pair, at least
PATTERN = 0.3  # |Spearman| of a filter's best pattern, at least
SHOWN = 10  # filters listed per table
TOP_SHOWN = 5  # top n-grams shown per filter


@dataclass
class FilterMatch:
    pair: ModelPair
    old_filters: int  # live filters compared
    new_filters: int
    matched: pd.DataFrame  # old_layer, old_filter, new_layer, new_filter, jaccard, old_top, new_top
    appeared: pd.DataFrame  # layer, filter, top: new filters with no match
    vanished: pd.DataFrame  # layer, filter, top: old filters with no match
    patterns: pd.DataFrame  # pattern, old_filters, new_filters

    @property
    def mean_jaccard(self) -> float | None:
        return float(self.matched["jaccard"].mean()) if len(self.matched) else None

    def new_patterns(self) -> list[str]:
        p = self.patterns
        return list(p[(p["old_filters"] == 0) & (p["new_filters"] > 0)]["pattern"])

    def vanished_patterns(self) -> list[str]:
        p = self.patterns
        return list(p[(p["old_filters"] > 0) & (p["new_filters"] == 0)]["pattern"])


def _filters(report: Report, model: str) -> pd.DataFrame | None:
    """One row per live filter: layer, filter, words (set), top (its first n-grams), activation."""
    top = report.table("filter_top_words", "top_words")
    if top is None or not {"model", "layer", "filter", "word"} <= set(top.columns):
        return None
    top = top[top["model"] == model]
    if top.empty:
        return None
    info = report.table("filter_top_words", "filters")
    dead: set[tuple[str, int]] = set()
    if info is not None and {"model", "layer", "filter"} <= set(info.columns):
        part = info[info["model"] == model]
        flags = [part[c].astype(str) == "True" for c in ("dead", "never_fired") if c in part]
        if flags:
            mask = np.logical_or.reduce(flags)
            dead = set(zip(part["layer"][mask].astype(str), part["filter"][mask].astype(int),
                           strict=True))
    rows = []
    order = ["layer", "filter", "rank"] if "rank" in top.columns else ["layer", "filter"]
    for (layer, filt), part in top.sort_values(order, kind="stable").groupby(
            ["layer", "filter"], sort=False):
        if (str(layer), int(filt)) in dead:
            continue
        grams = [str(w) for w in part["word"] if w is not None]
        words = {w for g in grams for w in g.split()}
        if words:
            rows.append((str(layer), int(filt), frozenset(words), " | ".join(grams[:TOP_SHOWN])))
    return pd.DataFrame(rows, columns=["layer", "filter", "words", "top"]) if rows else None


def jaccard_matrix(a: list[frozenset], b: list[frozenset]) -> np.ndarray:
    """``(len(a), len(b))`` Jaccard indices of two lists of sets."""
    vocab = {w: i for i, w in enumerate(sorted(set().union(*a, *b)))}

    def matrix(sets: list[frozenset]) -> sparse.csr_matrix:
        rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
        cols = np.array([vocab[w] for s in sets for w in sorted(s)], dtype=np.int64)
        return sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(sets), len(vocab)))

    inter = (matrix(a) @ matrix(b).T).toarray()
    sizes_a = np.array([len(s) for s in a], dtype=np.float64)[:, None]
    sizes_b = np.array([len(s) for s in b], dtype=np.float64)[None, :]
    union = sizes_a + sizes_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _patterns(report: Report, model: str) -> dict[str, int]:
    info = report.table("filter_top_words", "filters")
    if info is None or not {"model", "best_pattern", "pattern_strength"} <= set(info.columns):
        return {}
    part = info[(info["model"] == model) & info["best_pattern"].notna()]
    strong = part[pd.to_numeric(part["pattern_strength"], errors="coerce").abs() >= PATTERN]
    return {str(k): int(v) for k, v in strong["best_pattern"].astype(str).value_counts().items()}


def match_filters(old: Report, new: Report, pair: ModelPair) -> FilterMatch | None:
    o, n = _filters(old, pair.old), _filters(new, pair.new)
    if o is None or n is None:
        return None
    sim = jaccard_matrix(list(o["words"]), list(n["words"]))
    rows, cols = linear_sum_assignment(-sim)
    good = sim[rows, cols] >= MATCH
    rows, cols = rows[good], cols[good]
    matched = pd.DataFrame({
        "old_layer": o["layer"].to_numpy()[rows], "old_filter": o["filter"].to_numpy()[rows],
        "new_layer": n["layer"].to_numpy()[cols], "new_filter": n["filter"].to_numpy()[cols],
        "jaccard": sim[rows, cols], "old_top": o["top"].to_numpy()[rows],
        "new_top": n["top"].to_numpy()[cols],
    }).sort_values(["jaccard", "old_layer", "old_filter"], ascending=[False, True, True],
                   kind="stable").reset_index(drop=True)
    keep = ["layer", "filter", "top"]
    appeared = n.drop(index=n.index[cols])[keep].reset_index(drop=True)
    vanished = o.drop(index=o.index[rows])[keep].reset_index(drop=True)
    po, pn = _patterns(old, pair.old), _patterns(new, pair.new)
    names = sorted(set(po) | set(pn), key=lambda k: (-(po.get(k, 0) + pn.get(k, 0)), k))
    patterns = pd.DataFrame({"pattern": names, "old_filters": [po.get(k, 0) for k in names],
                             "new_filters": [pn.get(k, 0) for k in names]})
    return FilterMatch(pair, len(o), len(n), matched, appeared, vanished, patterns)
