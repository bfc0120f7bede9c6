"""The model adapter: receptive fields, the load-time check, label checks, hooks removed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reportgen.errors import BadInput
from reportgen.models.adapter import HookedAdapter, UserCodeError, UserModel, receptive_fields
from reportgen.models.common import gradients
from reportgen.models.facts import batch_size, class_index, fingerprint, sequence_accuracy
from reportgen.models.verify import verify
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
            # depends on ids beyond the mask
            return self.inner(ids) + ids.sum(1, keepdim=True).float()

    user.module = Sneaky(user.module)
    user.embedding = "inner.emb"
    adapter = HookedAdapter(user, source="sneaky", device="cpu")
    with pytest.raises(BadInput, match="deviates"):
        verify(adapter, ["a b a", "b"])


def test_unknown_labels_are_named() -> None:
    adapter = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    assert class_index(adapter, ["pos", "neg", None]).tolist() == [1, 0, -1]
    with pytest.raises(BadInput, match="'maybe'.*valid choices: neg, pos"):
        class_index(adapter, ["pos", "maybe"])


def test_hook_is_removed_even_after_an_error() -> None:
    adapter = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    with pytest.raises(UserCodeError,
                       match=r"model 'tanh-sum' \(t\): the model's forward raised RuntimeError"):
        adapter.forward_from_embeddings(torch.zeros(1, 2, 3), torch.ones(1, 2, dtype=torch.bool))
    assert not adapter._embedding._forward_hooks


def test_sequence_accuracy_by_hand() -> None:
    from tests.tiny_models import tied_copy_model

    adapter = HookedAdapter(tied_copy_model(), source="t", device="cpu")
    adapter.task = "autoencode"  # the tied model copies every token: all reconstructed
    assert sequence_accuracy(adapter, ["a a b", "b"]) == 1.0
    adapter.task = "lm"  # read as a language model it predicts "the same token again":
    # "a a b" -> right on (a, a), wrong on (a, b); "b a" -> wrong; "b" has no next token
    assert sequence_accuracy(adapter, ["a a b", "b a", "b"], batch_size=2) == pytest.approx(1 / 3)


class MeanPoolAll(nn.Module):
    """Mean over every position, padding included:
    the output depends on how much padding there is."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(4, 2, padding_idx=0)
        with torch.no_grad():
            self.emb.weight.copy_(torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.emb(ids).mean(1)  # (B, 2): divides by the padded length


def mean_pool_model(**kw) -> UserModel:
    from reportgen.data.encoding import TextEncoder
    from reportgen.data.vocab import Vocab

    return UserModel(MeanPoolAll(), TextEncoder("word", Vocab(["<pad>", "<unk>", "a", "b"])),
                     ["x", "y"], **kw)


def test_a_model_that_reads_padding_is_refused_at_load() -> None:
    adapter = HookedAdapter(mean_pool_model(), source="mean.py:build", device="cpu")
    # "b" alone: (0, 1); padded to 3 positions beside "a b a": (0, 1/3)
    with pytest.raises(BadInput, match="alone and inside a padded batch.*pad_batches=False"):
        verify(adapter, ["a b a", "b"])
    with pytest.raises(BadInput, match="padded batch"):  # equal lengths: the check pads on its own
        verify(adapter, ["a b", "b a"])


def test_a_model_never_padded_runs_one_text_per_batch() -> None:
    from reportgen.analyses import saliency_batch

    adapter = HookedAdapter(mean_pool_model(pad_batches=False), source="mean.py:build",
                            device="cpu")
    verify(adapter, ["a b a", "b"])  # no padding check: reportgen will not pad it
    assert batch_size(adapter, 64) == 1
    _, _, alone, _ = saliency_batch.token_saliency(adapter, ["b"])
    # d mean(e) / d e_b = 1/1 for a one-token text: |(0, 1)| -> saliency 1, not 1/3
    assert alone[0].tolist() == pytest.approx([1.0])
    assert fingerprint(adapter) != fingerprint(
        HookedAdapter(mean_pool_model(), source="m", device="cpu"))


def test_cudnn_is_off_only_inside_recurrent_modules() -> None:
    seen: dict[str, bool] = {}

    class ConvThenLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(4, 3, padding_idx=0)
            self.conv = nn.Conv1d(3, 3, 1)
            self.rnn = nn.LSTM(3, 2, batch_first=True)
            self.out = nn.Linear(2, 2)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            x = self.conv(self.emb(ids).transpose(1, 2)).transpose(1, 2)
            return self.out(self.rnn(x)[0][:, -1])

    from reportgen.data.encoding import TextEncoder
    from reportgen.data.vocab import Vocab

    module = ConvThenLSTM()
    module.conv.register_forward_pre_hook(
        lambda *_: seen.__setitem__("conv", torch.backends.cudnn.enabled))
    module.rnn.register_forward_hook(
        lambda *_: seen.__setitem__("rnn", torch.backends.cudnn.enabled))
    enc = TextEncoder("word", Vocab(["<pad>", "<unk>", "a", "b"]))
    adapter = HookedAdapter(UserModel(module, enc, ["x", "y"]), source="t", device="cpu")
    assert torch.backends.cudnn.enabled
    with gradients(adapter.module):
        batch = adapter.encode(["a b"])
        emb = adapter.embed(batch.ids).requires_grad_(True)
        adapter.forward_from_embeddings(emb, batch.mask).sum().backward()
    assert seen == {"conv": True, "rnn": False}
    assert torch.backends.cudnn.enabled
    # ours only
    assert len(module.rnn._forward_pre_hooks) == 0 and len(module.rnn._forward_hooks) == 1
