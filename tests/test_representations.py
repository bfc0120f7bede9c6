"""representations of a 2-unit tanh RNN with hand-set weights, worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reportgen.analyses import representations
from reportgen.analyses.base import RunContext
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES

WORDS = ["good", "bad", "not", "very", "extremely", "i", "hate", "the", "movie", "though", "plot",
         "is", "interesting", "boring", "nothing"]


def hand_rnn() -> ModelAdapter:
    """h_t = tanh(x_t + U h_{t-1}), U = [[0, -2], [0, 0]]: 'good' = (1, 0), 'bad' = (-1, 0),
    'not' = (0, 1), every other word (0, 0)."""
    enc = TextEncoder.fit("word", [" ".join(WORDS)])
    cls = ARCHITECTURES["rnn"]
    model = cls({**cls.default_config(enc.n_tokens, 2), "emb_dim": 2, "hidden": 2, "dropout": 0.0})
    with torch.no_grad():
        emb = torch.zeros(enc.n_tokens, 2)
        emb[enc.vocab.stoi["good"]] = torch.tensor([1.0, 0.0])
        emb[enc.vocab.stoi["bad"]] = torch.tensor([-1.0, 0.0])
        emb[enc.vocab.stoi["not"]] = torch.tensor([0.0, 1.0])
        model.emb.weight.copy_(emb)
        model.rnn.weight_ih_l0.copy_(torch.eye(2))
        model.rnn.weight_hh_l0.copy_(torch.tensor([[0.0, -2.0], [0.0, 0.0]]))
        model.rnn.bias_ih_l0.zero_(), model.rnn.bias_hh_l0.zero_()
    return ModelAdapter(model, enc, ["neg", "pos"], name="hand", arch="rnn", source="t")


def test_final_states_of_probe_phrases_by_hand() -> None:
    model = hand_rnn()
    examples = [Example("good", "pos")]
    ctx = RunContext(model, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0)
    result = representations.compute(ctx, representations.Params(random_words=5))
    phrases = result.tables["phrases"]

    def vector(phrase: str) -> list[float]:
        rows = (phrases[phrases["phrase"] == phrase].drop_duplicates("dimension")
                .sort_values("dimension"))
        return rows["value"].tolist()

    t1 = math.tanh(1.0)
    assert vector("good") == pytest.approx([t1, 0.0], abs=1e-6)
    assert vector("bad") == pytest.approx([-t1, 0.0], abs=1e-6)
    # "not good": after "not" h = (0, tanh 1); after "good" h = (tanh(1 - 2 tanh 1), 0)
    assert vector("not good") == pytest.approx([math.tanh(1 - 2 * t1), 0.0], abs=1e-6)
    # "not good" points like "bad" (cos 1) and away from "good" (cos -1): flip +2. "not bad" ends in
    # (tanh(-1 - 2 tanh 1), 0), also like "bad": flip -2. This "not" only subtracts: mean 0.
    assert result.metrics["negation_flip"] == pytest.approx(0.0, abs=1e-6)
    # "extremely good": "extremely" is (0, 0), so the final state is "good"'s: growth 1
    assert result.metrics["intensity_growth"] == pytest.approx(1.0, abs=1e-6)
    over = result.tables["over_time"]
    assert set(over["row"]) == {"reading the concessive sentence",
                                "|difference of the final states|"}
    # "i hate the movie" and the longer sentence both end in state (0, 0): no change
    assert result.metrics["concessive_change"] == pytest.approx(0.0, abs=1e-6)
    assert len(result.tables["tsne"]) == result.metrics["phrases"] + 5
    assert np.isfinite(result.tables["tsne"][["x", "y"]].to_numpy()).all()
