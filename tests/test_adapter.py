"""The model adapter: receptive fields, the load-time check, label checks, hooks removed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reportgen.errors import BadInput
from reportgen.models.adapter import HookedAdapter, receptive_fields
from tests.tiny_models import tanh_sum_model


def test_receptive_fields_by_hand() -> None:
    stack = [nn.Conv1d(1, 1, 5) for _ in range(3)]
    assert [f.size for f in receptive_fields(stack)] == [5, 9, 13]
    dilated = [nn.Conv1d(1, 1, 3, dilation=d, padding=d) for d in (1, 2, 4, 8)]
    fields = receptive_fields(dilated)
    assert [f.size for f in fields] == [3, 7, 15, 31]
    assert fields[-1].offset == -(1 + 2 + 4 + 8)
    pooled = receptive_fields([nn.MaxPool1d(2), nn.Conv1d(1, 1, 3, stride=2)])
    assert [(f.size, f.jump) for f in pooled] == [(2, 2), (6, 4)]


def test_layers_report_embedding_and_units() -> None:
    adapter = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    layers = adapter.layers()
    assert [(layer.name, layer.kind, layer.units) for layer in layers] == [("emb", "embedding", 2)]


def test_verify_catches_a_model_that_ignores_the_hooked_embedding() -> None:
    user = tanh_sum_model()

    class Sneaky(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.inner(ids) + ids.sum(1, keepdim=True).float()  # depends on ids beyond the mask

    user.module = Sneaky(user.module)
    user.embedding = "inner.emb"
    adapter = HookedAdapter(user, source="sneaky", device="cpu")
    with pytest.raises(BadInput, match="deviates"):
        adapter.verify(["a b a", "b"])


def test_unknown_labels_are_named() -> None:
    adapter = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    assert adapter.class_index(["pos", "neg", None]).tolist() == [1, 0, -1]
    with pytest.raises(BadInput, match="'maybe'.*valid choices: neg, pos"):
        adapter.class_index(["pos", "maybe"])


def test_hook_is_removed_even_after_an_error() -> None:
    adapter = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    with pytest.raises(RuntimeError):
        adapter.forward_from_embeddings(torch.zeros(1, 2, 3), torch.ones(1, 2, dtype=torch.bool))
    assert not adapter._embedding._forward_hooks


def test_sequence_accuracy_by_hand() -> None:
    from tests.tiny_models import tied_copy_model

    adapter = HookedAdapter(tied_copy_model(), source="t", device="cpu")
    adapter.task = "autoencode"  # the tied model copies every token: all reconstructed
    assert adapter.sequence_accuracy(["a a b", "b"]) == 1.0
    adapter.task = "lm"  # read as a language model it predicts "the same token again":
    # "a a b" -> right on (a, a), wrong on (a, b); "b a" -> wrong; "b" has no next token
    assert adapter.sequence_accuracy(["a a b", "b a", "b"], batch_size=2) == pytest.approx(1 / 3)
