"""faithfulness and variance_salience against hand computations.

The planted model: logits = (0, 5 * number of 'b' tokens). Every text holds exactly one 'b', so the
model says pos with p0 = sigmoid(5), and deleting the 'b' drops it to 1/2: a perfect attribution's
comprehensiveness is the whole drop p0 - 1/2 at every fraction; a random order's is its
expectation, (k/n) (p0 - 1/2) for k of n tokens deleted.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from reportgen.analyses import faithfulness, saliency, variance_salience
from reportgen.analyses.base import RunContext
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.data.vocab import Vocab
from reportgen.models.adapter import HookedAdapter, UserModel
from tests.tiny_models import ATANH_HALF, tanh_sum_model


class Planted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5, 1, padding_idx=0)
        with torch.no_grad():
            self.emb.weight.copy_(torch.tensor([[0.0], [0.0], [0.0], [1.0], [0.0]]))  # only 'b' counts

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        s = self.emb(ids).sum((1, 2))  # (B,)
        return torch.stack([torch.zeros_like(s), 5 * s], -1)


def planted_adapter() -> HookedAdapter:
    enc = TextEncoder("word", Vocab(["<pad>", "<unk>", "a", "b", "c"]))
    return HookedAdapter(UserModel(Planted(), enc, ["neg", "pos"], name="planted"), source="t", device="cpu")


def texts(n: int, seed: int = 0) -> list[Example]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = list(rng.choice(["a", "c"], size=int(rng.integers(2, 8))))
        words.insert(int(rng.integers(0, len(words) + 1)), "b")
        out.append(Example(" ".join(words), "pos"))
    return out


def test_aopc_of_a_perfect_attribution_and_of_random() -> None:
    model = planted_adapter()
    examples = texts(300)
    ctx = RunContext(model, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0, batch_size=64)
    ctx.upstream = {"saliency": saliency.combine({"planted": saliency.compute(ctx, saliency.Params())},
                                                 saliency.Params())}
    result = faithfulness.compute(ctx, faithfulness.Params())
    drop = 1 / (1 + math.exp(-5)) - 0.5
    m = result.metrics
    # gradient x input and integrated gradients put all of the attribution on 'b'
    assert m["integrated_gradients_comprehensiveness"] == pytest.approx(drop, abs=1e-6)
    assert m["gradient_x_input_comprehensiveness"] == pytest.approx(drop, abs=1e-6)
    # keeping 'b' alone keeps the prediction: sufficiency 0
    assert m["integrated_gradients_sufficiency"] == pytest.approx(0.0, abs=1e-6)
    expected = np.mean([np.mean([max(1, math.ceil(f * n)) / n for f in faithfulness.FRACTIONS])
                        for n in (len(ex.text.split()) for ex in examples)]) * drop
    assert m["random_comprehensiveness"] == pytest.approx(expected, abs=0.02)
    assert m["random_comprehensiveness"] < m["integrated_gradients_comprehensiveness"]
    curves = result.tables["curves"]
    deletion = curves[(curves["method"] == "integrated_gradients") & (curves["curve"] == "deletion")]
    assert deletion["probability"].tolist() == pytest.approx([0.5] * 5, abs=1e-6)


def test_variance_salience_by_hand() -> None:
    model = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    examples = [Example("a b b", "pos")]
    ctx = RunContext(model, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0)
    result = variance_salience.compute(ctx, variance_salience.Params())
    c = ATANH_HALF  # e_a = (0, 0), e_b = (c, 0): mean (2c/3, 0)
    tokens = result.tables["tokens"]
    assert tokens["salience"].tolist() == pytest.approx([4 * c * c / 9, c * c / 9, c * c / 9])
    assert tokens["share"].tolist() == pytest.approx([4 / 6, 1 / 6, 1 / 6])
    dims = result.tables["dimensions"]
    assert dims[dims["dimension"] == 1]["salience"].tolist() == pytest.approx([0, 0, 0])
    assert result.metrics["top_token_share"] == pytest.approx(4 / 6)
    assert result.metrics["uniform_top_token_share"] == pytest.approx(1 / 3)
