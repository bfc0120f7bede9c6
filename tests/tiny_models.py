"""Tiny models with hand-set weights whose analysis results can be worked out by hand."""

from __future__ import annotations

import math

import torch
from torch import nn

from reportgen.data.encoding import TextEncoder
from reportgen.data.vocab import Vocab
from reportgen.models.adapter import UserModel

ATANH_HALF = math.atanh(0.5)


class TanhSum(nn.Module):
    """logits = v * sum_t tanh(w . e_t): 2-d embeddings, vocabulary <pad> <unk> a b.

    w = (1, 2); e_a = (0, 0) so w.e_a = 0; e_b = (atanh(0.5), 0) so w.e_b = atanh(0.5);
    v = (-1, 2): class 1 ("pos") wins for any text made of a and b.
    dS_1/de_t = 2 * (1 - tanh(w.e_t)^2) * w  ->  a: (2, 4), b: (1.5, 3).
    """

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(4, 2, padding_idx=0)
        with torch.no_grad():
            self.emb.weight.copy_(
                torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [ATANH_HALF, 0.0]]))
        self.w = nn.Parameter(torch.tensor([1.0, 2.0]))
        self.v = nn.Parameter(torch.tensor([-1.0, 2.0]))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.emb(ids)  # (B, T, 2)
        h = torch.tanh(e @ self.w) * ids.ne(0)  # (B, T)
        return h.sum(1, keepdim=True) * self.v  # (B, 2)


def tanh_sum_model() -> UserModel:
    encoder = TextEncoder("word", Vocab(["<pad>", "<unk>", "a", "b"]), max_len=32)
    return UserModel(TanhSum(), encoder, ["neg", "pos"], name="tanh-sum")


class TiedCopy(nn.Module):
    """A context-free "autoencoder": logits_t = E e_t with the embedding table E tied to the output.

    E: <pad> (0, 0), <unk> (0, 0), a (1, 0), b (0, 1). Output t depends on input t alone, so all of
    step t's saliency falls on input t. For input a: log p(a) = 1 - log(e + 3) and
    d log p(a) / d e_a = (1, 0) - (e (1, 0) + (0, 1)) / (e + 3) = (3, -1) / (e + 3).
    """

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(4, 2, padding_idx=0)
        with torch.no_grad():
            self.emb.weight.copy_(torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.emb(ids) @ self.emb.weight.T  # (B, T, V)


def tied_copy_model() -> UserModel:
    encoder = TextEncoder("word", Vocab(["<pad>", "<unk>", "a", "b"]), max_len=32)
    return UserModel(TiedCopy(), encoder, [], name="tied-copy")


def random_yuan_checkpoint(path):
    """A yuan-cnn with random weights (seed 0) over the demo corpus's training vocabulary, saved as
    a checkpoint at ``path`` (for tests of the whole run that need a conv model but no training)."""
    from reportgen.data.loaders import load_data
    from reportgen.models.architectures import ARCHITECTURES
    from reportgen.models.checkpoint import Checkpoint, save_checkpoint

    demo = load_data("demo")
    encoder = TextEncoder.fit("word", [e.text for e in demo.split("train")], max_len=32)
    cls = ARCHITECTURES["yuan-cnn"]
    torch.manual_seed(0)
    module = cls(cls.default_config(encoder.n_tokens, 2))
    save_checkpoint(Checkpoint("yuan-cnn", module.config, encoder, ["negative", "positive"],
                               module.state_dict()), path)
    return path
