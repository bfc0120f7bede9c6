"""filter_top_words on a character CNN with hand-set weights: a 'k' detector, a dead filter and a
capitalised-word detector, found exactly; and on a word CNN, top n-grams and dead filters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from reportgen.analyses import filter_chars
from reportgen.analyses import filter_top_words as ftw
from reportgen.analyses.base import RunContext
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import BOW, TextEncoder
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES

K_WORDS = ["kite", "bake", "milk", "ask"]
CAPITALISED = ["Paris", "London", "Rome", "Anna"]
OTHER = ["apple", "tree", "blue", "sun", "moon", "red", "one", "two"]


def hand_set_char_cnn() -> ModelAdapter:
    texts = [" ".join(K_WORDS + CAPITALISED + OTHER)]
    enc = TextEncoder.fit("word_chars", texts, lowercase=False)
    chars = enc.char_vocab
    cls = ARCHITECTURES["char-cnn"]
    config = {**cls.default_config(len(chars), 2), "char_dim": len(chars), "widths": [1, 2],
              "filters": [2, 1], "highway_layers": 0, "dropout": 0.0}
    model = cls(config)
    with torch.no_grad():
        model.emb.weight.copy_(torch.eye(len(chars)))  # one-hot characters: weights = effective
        model.emb.weight[0].zero_()
        w1, w2 = model.convs[0].weight, model.convs[1].weight  # (F, E, k)
        w1.zero_(), w2.zero_()
        w1[0, chars.stoi["k"], 0] = 1.0  # filter 0: fires on a 'k'
        model.convs[0].bias.copy_(torch.tensor([-0.5, -1.0]))
        w1[1, :, 0] = 0.1  # filter 1: no weight beats |bias| = 1: dead
        w2[0, chars.stoi[BOW], 0] = 1.0  # width 2: begin-of-word then a capital
        for c in "PLRA":
            w2[0, chars.stoi[c], 1] = 1.0
        model.convs[1].bias.fill_(-1.5)
    return ModelAdapter(model, enc, ["neg", "pos"], name="chars", arch="char-cnn", source="t")


def run(model: ModelAdapter, texts: list[str], labels=None) -> pd.DataFrame:
    examples = [Example(t, (labels or [None] * len(texts))[i]) for i, t in enumerate(texts)]
    ctx = RunContext(model, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0)
    return ftw.compute(ctx, ftw.Params(top_words=4, shown_filters=3))


def test_hand_set_char_cnn_filters_are_found_exactly() -> None:
    result = run(hand_set_char_cnn(), ["a kite over Paris"])
    filters = result.tables["filters"].set_index(["layer", "filter"])
    k, dead, caps = (filters.loc[("convs.0", 0)], filters.loc[("convs.0", 1)],
                     filters.loc[("convs.1", 0)])
    words = 16 + 3  # the vocabulary, then "a", "over" from the text (and "kite", "Paris" known)
    assert result.metrics["words"] == words - 1  # "kite" and "Paris" are in the vocabulary already
    assert k["firing_share"] == pytest.approx(4 / 18) and not k["dead"]
    assert k["best_pattern"] == "contains 'k'" and k["pattern_strength"] == pytest.approx(1.0)
    assert dead["dead"] and dead["never_fired"] and dead["firing_share"] == 0
    assert caps["best_pattern"] == "capitalised first letter"
    assert (caps["pattern_strength"] == pytest.approx(1.0)
            and caps["firing_share"] == pytest.approx(4 / 18))
    top = result.tables["top_words"]
    assert set(top[(top["layer"] == "convs.0") & (top["filter"] == 0)]["word"]) == set(K_WORDS)
    assert set(top[(top["layer"] == "convs.1") & (top["filter"] == 0)]["word"]) == set(CAPITALISED)
    assert result.metrics["dead_filters"] == 1 and result.metrics["filters"] == 3
    assert dead["interpretability_rank"] == 3  # dead filters last
    weights = result.tables["weights"]
    kw = weights[(weights["layer"] == "convs.0") & (weights["filter"] == 0)].set_index("token")
    assert kw.loc["k", "weight"] == pytest.approx(1.0) and kw.loc["a", "weight"] == 0
    assert "⟨eow⟩" not in kw.index and "⟨bow⟩" in kw.index  # an end marker cannot open a window
    cw = weights[(weights["layer"] == "convs.1") & (weights["filter"] == 0)]
    # nor a begin marker close it
    assert not ((cw["token"] == "⟨bow⟩") & (cw["position"] == 1)).any()
    assert result.metrics["median_activation_frequency"] == pytest.approx(4 / 18)


def test_word_cnn_top_ngrams_and_dead_filters() -> None:
    cls = ARCHITECTURES["kim-cnn"]
    texts = ["a good film", "a bad film", "good good fun", "bad plot"]
    enc = TextEncoder.fit("word", texts)
    torch.manual_seed(0)
    model = cls({**cls.default_config(enc.n_tokens, 2), "emb_dim": 8, "filters": 4, "widths": [2]})
    with torch.no_grad():
        model.convs[0].bias[3] = -100.0  # cannot fire on anything
    adapter = ModelAdapter(model, enc, ["neg", "pos"], name="kim", arch="kim-cnn", source="t")
    result = run(adapter, texts, ["pos", "neg", "pos", "neg"])
    filters = result.tables["filters"].set_index("filter")
    assert filters.loc[3, "dead"] and filters.loc[3, "firing_share"] == 0
    # filter 0's best n-gram, by hand: every width-2 window of every text, padding = zero vector
    emb = model.emb.weight.detach()
    w, b = model.convs[0].weight.detach()[0], float(model.convs[0].bias.detach()[0])
    best = {}
    for t in texts:
        vecs = [torch.zeros(8), *(emb[enc.vocab.stoi[x]] for x in t.split()), torch.zeros(8)]
        words = ["", *t.split(), ""]
        for j in range(len(vecs) - 1):
            value = float(vecs[j] @ w[:, 0] + vecs[j + 1] @ w[:, 1]) + b
            best[" ".join(x for x in words[j : j + 2] if x)] = max(value, 0.0)
    top = result.tables["top_words"]
    first = top[(top["filter"] == 0) & (top["rank"] == 1)].iloc[0]
    assert first["activation"] == pytest.approx(max(best.values()), rel=1e-5)
    assert best[first["word"]] == pytest.approx(max(best.values()), rel=1e-5)
    assert result.metrics["locations"] == sum(len(t.split()) + 1 for t in texts)


def test_narrow_slots_equal_full_width_slots() -> None:
    cls = ARCHITECTURES["char-cnn"]
    words = ["a", "an", "film", "wonderfully", "extraordinarily", "x" * 30]
    enc = TextEncoder.fit("word_chars", [" ".join(words)])
    torch.manual_seed(0)
    model = cls({**cls.default_config(enc.n_tokens, 2), "filters": [4] * 7})
    with torch.no_grad():
        for conv in model.convs:
            conv.bias.uniform_(0.5, 1.0)  # all-padding windows fire: their f(bias) matters
    adapter = ModelAdapter(model, enc, ["a", "b"], name="c", arch="char-cnn", source="t")
    layers = ftw.conv_layers(adapter)
    assert filter_chars._trimming_is_exact(adapter, layers, words, widest=7)
    fast = filter_chars.char_activations(adapter, layers, words, chunk=2)
    slow = {layer.name: filter_chars._pooled(adapter, layers, words, enc.max_word_len + 2,
                                             False)[layer.name]
            for layer in layers}
    for name, expected in slow.items():
        np.testing.assert_allclose(fast[name], expected, rtol=1e-5, atol=1e-6)


def test_top_windows_do_not_depend_on_the_batch_size() -> None:
    """Windows of unknown words compute the same activation; with any batch size the same
    windows win (ties to the earlier text and location) and the pattern strengths agree."""
    rng = np.random.default_rng(0)
    vocab = OTHER + K_WORDS
    enc = TextEncoder.fit("word", [" ".join(vocab)])
    texts = [" ".join(rng.choice(vocab + ["zzunknown"] * 6, size=int(rng.integers(3, 12))))
             for _ in range(120)]
    cls = ARCHITECTURES["kim-cnn"]
    torch.manual_seed(0)
    model = ModelAdapter(cls(cls.default_config(enc.n_tokens, 2)), enc, ["neg", "pos"], name="kim",
                         arch="kim-cnn", source="t")
    examples = [Example(t, "pos" if i % 2 else "neg") for i, t in enumerate(texts)]
    runs = []
    for batch_size in (1, 7, 64):
        ctx = RunContext(model, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0,
                         batch_size=batch_size)
        runs.append(ftw.compute(ctx, ftw.Params(top_words=5)))
    for other in runs[1:]:
        pd.testing.assert_frame_equal(other.tables["top_words"], runs[0].tables["top_words"],
                                      check_exact=False, rtol=1e-5, atol=1e-5)
        # rank correlations: ties snapped together, but for the rare pair that straddles a snap
        # boundary (a few 1e-4 on one filter in 300 here; unsnapped, the batch size moved 14 of
        # kim-cnn's 300 filters on MR by up to 0.07)
        stable = [c for c in runs[0].tables["filters"].columns
                  if c not in ("pattern_strength", "best_pattern", "interpretability_rank")]
        pd.testing.assert_frame_equal(other.tables["filters"][stable],
                                      runs[0].tables["filters"][stable],
                                      check_exact=False, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(other.tables["filters"]["pattern_strength"],
                                   runs[0].tables["filters"]["pattern_strength"], atol=1e-3)


def test_snap_ties_joins_values_closer_than_the_tolerance() -> None:
    from reportgen.analyses.patterns import snap_ties

    x = np.array([[0.5, 2.0], [0.1000003, 1.0], [0.50002, 1.0000004], [0.1, 3.0]])
    np.testing.assert_array_equal(snap_ties(x),
                                  [[0.5, 2.0], [0.1, 1.0], [0.50002, 1.0], [0.1, 3.0]])


def test_snap_ties_keeps_the_ranks_of_many_small_values() -> None:
    """100,000 activations of a filter that fires weakly: snapping must not merge distinct values
    into long runs (a tolerance fixed in absolute terms would, and the correlation
    would collapse)."""
    from scipy.stats import spearmanr

    from reportgen.analyses.patterns import snap_ties

    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(0, 0.01, size=(100_000, 1)))
    target = x[:, 0] + rng.normal(0, 0.01, size=100_000)
    snapped = snap_ties(x)
    assert np.abs(snapped - x).max() <= 1e-3 * x.max()  # no run wider than its grid cell
    assert spearmanr(snapped[:, 0], target)[0] == pytest.approx(spearmanr(x[:, 0], target)[0],
                                                                abs=1e-3)


def test_strongest_rows_are_the_first_rows_of_a_stable_descending_sort() -> None:
    """The top-k shortcut picks exactly the rows a whole stable sort would, in its order: ties
    (many, from rounding) go to the earlier row, -inf rows included, for any shape and k."""
    from reportgen.analyses.filter_windows import strongest_rows

    g = torch.Generator().manual_seed(0)
    tie_heavy = 0  # trials where the top-k path ran on keys with many ties
    for trial in range(150):
        rows = int(torch.randint(1, 1500, (1,), generator=g))
        cols = int(torch.randint(1, 30, (1,), generator=g))
        k = int(torch.randint(1, 60, (1,), generator=g))
        keys = torch.randn(rows, cols, generator=g)
        if trial % 3 == 0:
            keys = torch.round(keys * 2) / 2  # few distinct values: ties at the k-th value
        if trial % 5 == 0:
            keys[torch.rand(rows, cols, generator=g) > 0.5] = float("-inf")
        expected = keys.sort(dim=0, descending=True, stable=True).indices[:k]
        assert torch.equal(strongest_rows(keys, k), expected), (trial, rows, cols, k)
        tie_heavy += int(rows > 4 * k and trial % 3 == 0)
    assert tie_heavy > 10
