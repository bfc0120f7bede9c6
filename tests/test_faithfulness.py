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

from reportgen.analyses import faithfulness, hidden_saliency, saliency, variance_salience
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
            # only 'b' counts
            self.emb.weight.copy_(torch.tensor([[0.0], [0.0], [0.0], [1.0], [0.0]]))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        s = self.emb(ids).sum((1, 2))  # (B,)
        return torch.stack([torch.zeros_like(s), 5 * s], -1)


def planted_adapter() -> HookedAdapter:
    enc = TextEncoder("word", Vocab(["<pad>", "<unk>", "a", "b", "c"]))
    return HookedAdapter(UserModel(Planted(), enc, ["neg", "pos"], name="planted"), source="t",
                         device="cpu")


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
    ctx = RunContext(model, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0,
                     batch_size=64)
    ctx.upstream = {"saliency": saliency.combine(
        {"planted": saliency.compute(ctx, saliency.Params())}, saliency.Params())}
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
    deletion = curves[(curves["method"] == "integrated_gradients")
                      & (curves["curve"] == "deletion")]
    assert deletion["probability"].tolist() == pytest.approx([0.5] * 5, abs=1e-6)


class PlantedConv(nn.Module):
    """The planted model through a kernel-1 convolution: z = max over t of relu(e_t), logits
    (0, 5 z). Only 'b' has e = 1, so the one location with a nonzero score, 5 * 1, is b's, and its
    receptive field is b alone."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5, 1, padding_idx=0)
        self.body = nn.Sequential(nn.Conv1d(1, 1, 1), nn.ReLU())
        with torch.no_grad():
            self.emb.weight.copy_(torch.tensor([[0.0], [0.0], [0.0], [1.0], [0.0]]))
            self.body[0].weight.fill_(1.0)
            self.body[0].bias.zero_()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        z = self.body(self.emb(ids).transpose(1, 2)).amax((1, 2))  # (B,)
        return torch.stack([torch.zeros_like(z), 5 * z], -1)


def test_field_scores_by_hand() -> None:
    import pandas as pd

    locations = pd.DataFrame({"model": ["m", "m", "m", "other"], "example_id": [0, 0, 0, 0],
                              "location": [0, 1, 2, 0], "score": [0.5, 2.0, -1.0, 9.0],
                              "start": [0, 1, 3, 0], "end": [1, 2, 4, 4]})
    # token 0: field of location 0 (0.5); 1: max(0.5, 2.0); 2: 2.0; 3 and 4: location 2 (-1.0)
    fields = faithfulness.field_scores(locations, "m")
    np.testing.assert_allclose(fields[0], [0.5, 2.0, 2.0, -1.0, -1.0])
    # longer texts than the fields reach rank their unseen tokens last
    assert faithfulness._fit(fields[0], 6).tolist()[-1] == -math.inf


def test_hidden_fields_attribution_when_hidden_saliency_ran() -> None:
    enc = TextEncoder("word", Vocab(["<pad>", "<unk>", "a", "b", "c"]))
    model = HookedAdapter(UserModel(PlantedConv(), enc, ["neg", "pos"], name="conv"), source="t",
                          device="cpu")
    examples = texts(120, seed=1)
    ctx = RunContext(model, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0,
                     batch_size=32)
    ctx.upstream = {"saliency": saliency.compute(ctx, saliency.Params())}
    without = faithfulness.compute(ctx, faithfulness.Params())
    assert "hidden_fields" not in set(without.tables["scores"]["method"])
    ctx.upstream["hidden_saliency"] = hidden_saliency.compute(ctx, hidden_saliency.Params())
    m = faithfulness.compute(ctx, faithfulness.Params()).metrics
    # b's field is b alone and holds the only nonzero score: a perfect attribution
    drop = 1 / (1 + math.exp(-5)) - 0.5
    assert m["hidden_fields_comprehensiveness"] == pytest.approx(drop, abs=1e-6)
    assert m["hidden_fields_sufficiency"] == pytest.approx(0.0, abs=1e-6)
    assert m["random_comprehensiveness"] < 0.8 * drop


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


def test_the_page_opens_with_which_explanation_to_trust(tmp_path) -> None:
    from reportgen.records import ChartSpec
    from reportgen.site.builder import build_site
    from tests.site_fixtures import make_display_record

    record = make_display_record()
    page = record.analyses[0]
    page.name, page.title = "faithfulness", "Faithfulness of token attributions"
    spec = page.charts[0].spec
    page.charts = [ChartSpec("trust", "Which explanation should I trust for this model?", spec),
                   ChartSpec("curves", "Deletion and insertion curves", spec)]
    build_site(record, tmp_path / "site")
    html = (tmp_path / "site" / "analyses" / "faithfulness.html").read_text(encoding="utf-8")
    trust, metrics = html.index("Which explanation should I trust"), html.index("<h2>Metrics</h2>")
    curves = html.index("Deletion and insertion curves")
    assert trust < metrics < curves and html.count("Which explanation should I trust") == 1


def test_the_tables_do_not_depend_on_the_batches() -> None:
    """Texts are batched by length; the tables come back in (method, example) order, and every
    number equals what batches of one text give, and batches of 7."""
    model = planted_adapter()
    examples = texts(40, seed=3)

    def run(batch_size: int):
        ctx = RunContext(model, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0,
                         batch_size=batch_size)
        ctx.upstream = {"saliency": saliency.combine(
            {"planted": saliency.compute(ctx, saliency.Params())}, saliency.Params())}
        return faithfulness.compute(ctx, faithfulness.Params(ig_steps=5))

    one, seven, all_ = run(1), run(7), run(64)
    rows = one.tables["texts"]
    rank = {m: r for r, m in enumerate(faithfulness.METHODS)}
    keys = list(zip(rows["method"].map(rank), rows["example_id"], strict=True))
    assert keys == sorted(keys) and len(rows) == 40 * rows["method"].nunique()
    for other in (seven, all_):
        for name in ("texts", "curves", "scores"):
            a, b = one.tables[name], other.tables[name]
            assert a.select_dtypes(exclude="number").equals(b.select_dtypes(exclude="number")), name
            np.testing.assert_allclose(a.select_dtypes("number"), b.select_dtypes("number"),
                                       atol=1e-6)
        assert other.metrics == pytest.approx(one.metrics, abs=1e-6)
