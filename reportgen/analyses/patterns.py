"""The pattern finder: which simple, explainable feature does a unit's activation follow?

Question: a filter (or neuron) fires on some words and not others; is there a plain reason?
Method: for every unit, the Spearman rank correlation between its activation over a set of items
(words, or texts) and each candidate feature of the items (binary: capitalised, all caps, digits, a
year, hyphenated, a prefix, a suffix, a character; or continuous: how often the word occurs in each
class). Ranks are averaged over ties (ReLU units give many zeros), so a binary feature's correlation
is the rank-biserial association. A unit's best feature is the one with the highest positive
correlation (the unit fires *more* on items that have it); units are ranked by that correlation,
most interpretable first.

Cost: ranking W x U activations (chunked over units) and one (U, W) x (W, P) product.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

YEAR = re.compile(r"(1[5-9]|20)\d\d")


def word_features(words: Sequence[str], cased: bool, top_affixes: int = 20,
                  min_share: float = 0.01) -> pd.DataFrame:
    """Binary features of each word (rows) that vary over ``words``; constant ones are dropped.

    ``cased``: whether the model sees letter case (a lower-casing encoder makes case features
    meaningless, so they are left out)."""
    feats: dict[str, np.ndarray] = {}
    w = list(words)
    if cased:
        feats["capitalised first letter"] = np.array([x[:1].isupper() for x in w])
        feats["all capitals"] = np.array([len(x) > 1 and x.isupper() for x in w])
    feats["contains a digit"] = np.array([any(c.isdigit() for c in x) for x in w])
    feats["a year"] = np.array([bool(YEAR.fullmatch(x)) for x in w])
    feats["hyphenated"] = np.array(["-" in x.strip("-") for x in w])
    feats["punctuation only"] = np.array([bool(x) and not any(c.isalnum() for c in x) for x in w])
    long_words = [x.lower() for x in w if len(x) >= 5]
    for n in (2, 3):
        for prefix, _ in Counter(x[:n] for x in long_words).most_common(top_affixes // 2):
            feats[f"prefix '{prefix}-'"] = np.array([x.lower().startswith(prefix) for x in w])
    for n in (1, 2, 3, 4):
        for suffix, _ in Counter(x[-n:] for x in long_words).most_common(top_affixes // 4):
            feats[f"suffix '-{suffix}'"] = np.array(
                [len(x) > n and x.lower().endswith(suffix) for x in w])
    counts = Counter(c for x in w for c in set(x.lower()))
    for char, count in counts.most_common():
        if count / max(len(w), 1) < min_share:
            break
        if char.isalnum() or char in "'-.,!?":
            feats[f"contains '{char}'"] = np.array([char in x.lower() for x in w])
    frame = pd.DataFrame(feats, index=range(len(w))).astype(float)
    return frame.loc[:, frame.std() > 0]


def class_features(items: Sequence[str], texts: Sequence[Sequence[str]],
                   labels: Sequence[str | None], classes: Sequence[str]) -> pd.DataFrame:
    """For each item (word): the smoothed share of its occurrences that fall in texts of each class
    (``class 'positive'``), from labelled texts; items never seen get the class prior."""
    index = {item: i for i, item in enumerate(items)}
    counts = np.ones((len(items), len(classes)))  # add-one smoothing
    col = {c: j for j, c in enumerate(classes)}
    for toks, label in zip(texts, labels, strict=True):
        if label is None or label not in col:
            continue
        for t in set(toks):
            if t in index:
                counts[index[t], col[label]] += 1
    share = counts / counts.sum(1, keepdims=True)
    frame = pd.DataFrame(share, columns=[f"class '{c}'" for c in classes])
    return frame.loc[:, frame.std() > 0] if len(classes) > 1 else frame.iloc[:, :0]


def best_patterns(activations: np.ndarray, features: pd.DataFrame, chunk: int = 32,
                  top: int = 3) -> tuple[np.ndarray, np.ndarray, list[list[tuple[str, float]]]]:
    """activations (W, U), features (W, P) -> best feature index (U,), its correlation (U,), and
    each unit's ``top`` features with correlations. Units or features that are constant get 0.
    Units go ``chunk`` at a time: about a dozen (W, chunk) float64 arrays live at once (32 units of
    100,000 texts: 0.3 GB; 256 units: 2.4 GB); any chunk gives the same best features, and
    correlations equal up to float rounding (1e-16)."""
    from scipy.stats import rankdata  # here: scipy.stats takes a second to import

    n_units = activations.shape[1]
    if features.shape[1] == 0 or activations.shape[0] < 3:
        return np.full(n_units, -1), np.zeros(n_units), [[] for _ in range(n_units)]
    f = _standardise(rankdata(features.to_numpy(), axis=0))  # (W, P)
    rho = np.zeros((n_units, f.shape[1]))
    for lo in range(0, n_units, chunk):
        # near-equal values snapped together first: equal windows tie whatever batch computed them
        a = _standardise(rankdata(snap_ties(activations[:, lo : lo + chunk]), axis=0))  # (W, u)
        rho[lo : lo + chunk] = a.T @ f / activations.shape[0]
    best = rho.argmax(1)
    names = list(features.columns)
    order = np.argsort(-rho, axis=1, kind="stable")[:, :top]
    tops = [[(names[j], float(rho[u, j])) for j in order[u]] for u in range(n_units)]
    return best, rho[np.arange(n_units), best], tops


def snap_ties(x: np.ndarray, tolerance: float = 1e-5, cell: float = 1e-3) -> np.ndarray:
    """(W, U) -> the same, with each run of sorted values whose neighbours lie within ``tolerance``
    x the column's largest magnitude replaced by the run's smallest value. The same window computed
    in batches of different shapes differs in the last float bits (about 1e-7 of its size);
    snapped, such values tie exactly, so ranks, and the correlations built on them, do not depend on
    the batch size. A run never crosses a grid line of ``cell`` x that magnitude, so 100,000 close
    values cannot chain into one long run (no value moves by more than that). Relative to each
    column's scale, so filters with small activations keep their order."""
    order = np.argsort(x, axis=0, kind="stable")  # (W, U)
    ordered = np.take_along_axis(x, order, 0)
    scale = np.abs(ordered).max(0, initial=0.0)  # (U,)
    scale = np.where(scale > 0, scale, 1.0)
    grid = np.floor(ordered / (cell * scale))  # (W, U) coarse cell of each value
    # (W, U): True where a run of near-equal values starts
    starts = np.ones_like(ordered, dtype=bool)
    starts[1:] = (np.diff(ordered, axis=0) > tolerance * scale) | (np.diff(grid, axis=0) != 0)
    # run's first row
    run = np.maximum.accumulate(np.where(starts, np.arange(len(x))[:, None], 0), axis=0)
    snapped = np.take_along_axis(ordered, run, 0)
    out = np.empty_like(x)
    np.put_along_axis(out, order, snapped, 0)
    return out


def _standardise(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0, keepdims=True)
    sd = x.std(0, keepdims=True)
    return np.where(sd > 0, x / np.where(sd > 0, sd, 1), 0.0)
