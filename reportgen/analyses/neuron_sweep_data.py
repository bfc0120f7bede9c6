"""neuron_sweep's texts: which labelled texts fit, tune and test the probes, the notes that say
so, and the kinds and lengths of texts (no torch).

Fitted on the dataset's train split (a seeded sample of up to ``max_train`` texts; dev from the
data's dev split, else carved from the sample), tested on the evaluated examples. Data without a
train split: a seeded half of the evaluated examples is tested, and up to ``max_train`` texts (plus
a fifth for dev) of the other half fit. Without labels to fit on (two classes) or to test on
(``txt:`` data), ``label_classes`` raises ``NotApplicable``: the runner skips the model with the
reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reportgen.analyses.base import RunContext
from reportgen.models.view import NotApplicable


def splits(ctx: RunContext, max_train: int):
    """(train, dev, test) labelled examples: the dataset's train (dev carved if missing) and the
    evaluated examples; without a train split, the evaluated examples halved (seeded), the fitting
    half cut to ``max_train`` texts plus a fifth for dev."""
    test = [ex for ex in ctx.examples if ex.label is not None]
    data = ctx.dataset.splits
    rng = np.random.default_rng(ctx.seed)
    if "train" in data:
        pool = [ex for ex in data["train"] if ex.label is not None]
        keep = np.sort(rng.permutation(len(pool))[: max_train + max_train // 5])
        pool = [pool[i] for i in keep]
        dev = [ex for ex in data.get("dev", []) if ex.label is not None][: max_train // 5]
        if not dev:
            cut = max(1, len(pool) // 6)
            dev, pool = pool[:cut], pool[cut:]
        return pool[:max_train], dev, test
    order = rng.permutation(len(test))
    half = len(test) // 2
    fit = [test[i] for i in order[:half]]
    cut = max(1, len(fit) // 5)
    if len(fit) - cut > max_train:  # a large fitting half: max_train texts, a fifth of that for dev
        cut = max(1, max_train // 5)
        fit = fit[: max_train + cut]
    return fit[cut:], fit[:cut], [test[i] for i in order[half:]]


def label_classes(train, test) -> list[str]:
    """The classes of the labelled texts; NotApplicable (skipped with the reason) without two
    classes to fit on or labelled texts to test on (unlabelled data such as ``txt:``)."""
    fit = sorted({ex.label for ex in train})
    if not test or len(fit) < 2:
        have = (f"{len(test):,} labelled evaluated texts and {len(train):,} labelled fitting "
                f"texts of {len(fit)} class{'' if len(fit) == 1 else 'es'}")
        raise NotApplicable("neuron_sweep needs labelled texts of at least two classes to fit its "
                            f"probe and labelled evaluated texts to test it on; it has {have}")
    return sorted({*fit, *(ex.label for ex in test)})


def sweep_notes(name, source, f_train, dev_scores, sizes, c, why, two) -> list[str]:
    """The page's notes for one model: the view of the units used (and how many of the units the
    output layer reads it holds), the texts, and which zero-shot rule applies and why."""
    n_train, n_dev, n_test = sizes
    n_units = f_train[source].shape[1]
    read = f_train.get("features")
    whole = "the representation the output layer reads" if source == "features" else (
        "one layer's units pooled over the text"
        + (f"; the output layer reads {read.shape[1]} units" if read is not None else ""))
    notes = [(f"{name}: units from {source!r} ({n_units} units; {whole}), the best view by dev "
              "accuracy (" + ", ".join(f"{k} {v:.1%}" for k, v in dev_scores.items())
              + f"); fitted on {n_train:,} training texts (L1 strength C = {c:g} chosen on "
              f"{n_dev:,} dev texts), tested on {n_test:,} evaluated texts. The top unit is chosen "
              "with all training labels, as in the post; its zero-shot rules use none, and each "
              "unit's orientation comes from its L1 weight (a unit the probe dropped: its "
              "correlation with the training labels), never from the test labels.")]
    if two:
        notes.append(f"{name}: {why}.")
    return notes


def _lengths(name: str, texts: list[str], pred, y) -> pd.DataFrame:
    from reportgen.data.tokenize import word_tokens

    rows = [(name, "right" if pred[i] == y[i] else "wrong", len(word_tokens(texts[i])))
            for i in range(len(texts))]
    rows += [(name, "all", len(word_tokens(t))) for t in texts]
    return pd.DataFrame(rows, columns=["model", "outcome", "length"])


def _kind(token: str) -> str:
    if token in (".", "!", "?"):
        return "sentence end"
    if token.isspace() or token in ("\\x20", " "):
        return "space"
    if not any(c.isalnum() for c in token):
        return "punctuation"
    return "word or character"


def check_memory(ctx, views: dict[str, np.ndarray], texts: int) -> None:
    """Stop (exit 2, ``MemoryBudgetExceeded``) before the feature passes when the unit values of
    every view for ``texts`` texts would not fit in what the run's memory budget leaves: float32
    values of every view (``views``: one text's), plus the float64 standardised copies of the
    widest (train and dev, and the fits' own). Nothing without a budget."""
    if ctx.memory_budget is None:
        return
    from reportgen.memory import MemoryBudgetExceeded, describe, resident_bytes

    units = sum(v.shape[1] for v in views.values())
    per_text = 4 * units + 8 * 3 * max((v.shape[1] for v in views.values()), default=0)
    need, left = texts * per_text, ctx.memory_budget - resident_bytes()
    if need > left:
        fits = max(0, int(left / per_text / 1.2))
        raise MemoryBudgetExceeded(
            f"neuron_sweep on {ctx.model.name}: the unit values of {texts:,} texts x {units:,} "
            f"units need about {describe(need)}, more than the memory budget leaves "
            f"({describe(max(left, 0))}); lower neuron_sweep.max_train (below about {fits:,}) "
            "or raise --memory-budget")
