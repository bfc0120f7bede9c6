"""Integrated gradients with the first convolutions taken once per batch
(``reportgen.analyses.integrated_gradients``) against Captum's ``IntegratedGradients`` itself."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reportgen.analyses import integrated_gradients as ig
from reportgen.data.encoding import TextEncoder
from reportgen.models.adapter import HookedAdapter, UserModel
from reportgen.models.conv_lookup import first_convs
from tests.test_conv_lookup import TEXTS, adapter_for


def inputs(model):
    batch = model.encode(TEXTS)
    emb = model.embed(batch.ids).detach()
    with torch.no_grad():
        target = model.forward_from_embeddings(emb, batch.mask).argmax(-1)
    return emb, batch.mask, target


@pytest.mark.parametrize("arch", ["kim-cnn", "yuan-cnn", "dilated-cnn"])
@pytest.mark.parametrize("chunk", [1, 10**6])  # one step per pass; every step at once
def test_the_convolution_path_equals_captums_integrated_gradients(arch: str, chunk: int) -> None:
    model = adapter_for(arch, seed=2)
    emb, mask, target = inputs(model)
    convs = first_convs(model)
    assert convs
    expected = ig.captum_ig(model, emb, mask, target, 20, 10**6)
    got = ig.conv_path_ig(model, convs, emb, mask, target, 20, chunk)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
    assert float(expected.abs().max()) > 1e-3  # attributions that are not all zero
    # completeness (Sundararajan et al.): the attributions sum to F(x) - F(0), up to the
    # quadrature's error on this smooth path
    with torch.no_grad():
        f = model.forward_from_embeddings(emb, mask).gather(1, target[:, None])[:, 0]
        f0 = model.forward_from_embeddings(torch.zeros_like(emb), mask).gather(
            1, target[:, None])[:, 0]
    torch.testing.assert_close(got.flatten(1).sum(1), f - f0, rtol=0.05, atol=0.05)


def test_the_shortcut_is_proven_once_and_then_used() -> None:
    model = adapter_for("kim-cnn", seed=4)
    ig._PROVEN.pop(model.module, None)
    emb, mask, target = inputs(model)
    first = ig.integrated_gradients(model, emb, mask, target, 20, 10**6)
    assert ig._PROVEN[model.module] is True
    again = ig.integrated_gradients(model, emb, mask, target, 20, 10**6)
    torch.testing.assert_close(first, again, rtol=0, atol=0)  # the same numbers on every batch


class TanhFirst(nn.Module):
    """tanh of the embeddings before the convolution: not linear along the path."""

    def __init__(self, n_tokens: int) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.emb = nn.Embedding(n_tokens, 8, padding_idx=0)
        nn.init.normal_(self.emb.weight, std=2.0)
        self.conv = nn.Conv1d(8, 6, 3, padding=1)
        self.out = nn.Linear(6, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.emb(ids)).transpose(1, 2)
        return self.out(torch.relu(self.conv(x)).max(-1).values)


def test_a_first_convolution_of_a_nonlinear_input_gets_captums() -> None:
    enc = TextEncoder.fit("word", TEXTS * 2, max_len=24)
    model = HookedAdapter(UserModel(TanhFirst(enc.n_tokens), enc, ["neg", "pos"], name="tanh"),
                          source="t", device="cpu")
    model.module.eval()
    assert first_convs(model)  # the view finds it
    emb, mask, target = inputs(model)
    expected = ig.captum_ig(model, emb, mask, target, 20, 10**6)
    got = ig.integrated_gradients(model, emb, mask, target, 20, 10**6)
    assert ig._PROVEN[model.module] is False
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
