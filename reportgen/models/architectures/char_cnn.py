"""A character-CNN word encoder in the style of lm_1b, with a sentence classifier on top.

Source: the word encoder of Jozefowicz, Vinyals, Schuster, Shazeer and Wu (2016), "Exploring the
limits of language modeling" (the released lm_1b model), itself after Kim, Jernite, Sontag and Rush
(2016), "Character-aware neural language models". Each word is spelled as characters between
begin/end-of-word markers (``encoder_kind = "word_chars"``, ids (B, T, C)); 16-d character
embeddings feed 1-D convolutions of widths 1..7 (no padding: a width-k filter sees k consecutive
character slots), max-pooled over the characters of the word, then highway layers.

lm_1b has 4,096 filters: 16, 32, 64, 128, 256, 512, 2048 for widths 1..7, two highway layers and a
projection into a 8192-unit LSTM. Scaled down here to 32, 32, 64, 64, 64, 64, 64 (384 filters), so a
CPU trains it in minutes; then the word vectors are max-pooled over the sentence and a linear layer
classifies (an LSTM over the word vectors trained markedly worse on MR in our runs, so the sentence
encoder is the max-pool).

Filters use ReLU, so a filter "fires" on a word when its max-pooled activation is above zero: the
quantity the ``filter_top_words`` analysis counts. The padding character (id 0) embeds to a fixed
zero vector; since every word has the same C character slots, a word's vector never depends on its
neighbours or on padding.

Cost (MR, 2 CPU cores): ~11 s per epoch (every word is convolved at 22 character slots); it needs
~15-20 epochs.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from reportgen.models.architectures._common import init_embedding, masked_max, zero_masked
from reportgen.models.base import TextModel
from reportgen.models.hooks import HookPoint


class Highway(nn.Module):
    """y = t * ReLU(W_h x) + (1 - t) * x with gate t = sigmoid(W_t x + b_t); b_t starts at -2."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.transform = nn.Linear(dim, dim)
        self.gate = nn.Linear(dim, dim)
        nn.init.constant_(self.gate.bias, -2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.gate(x))  # (..., D)
        return t * F.relu(self.transform(x)) + (1 - t) * x


class CharCNN(TextModel):
    """lm_1b-style character-CNN word encoder (widths 1..7, highway)
    + sentence max-pool + linear."""

    arch: ClassVar[str] = "char-cnn"
    encoder_kind: ClassVar[str] = "word_chars"
    citation: ClassVar[str] = (
        "Jozefowicz, R., Vinyals, O., Schuster, M., Shazeer, N., Wu, Y. (2016). "
        "Exploring the Limits "
        "of Language Modeling (lm_1b); Kim, Y., Jernite, Y., Sontag, D., Rush, A. (2016). "
        "Character-Aware Neural Language Models. AAAI."
    )
    summary: ClassVar[str] = "character CNN word encoder, widths 1-7, highway (lm_1b-style)"
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 20, "lr": 1e-3, "batch_size": 50}

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        c = self.config
        self.emb = nn.Embedding(c["n_tokens"], c["char_dim"], padding_idx=0)
        init_embedding(self.emb, c.get("emb_init"))
        self.convs = nn.ModuleList(
            nn.Conv1d(c["char_dim"], n, k) for k, n in zip(c["widths"], c["filters"], strict=True)
        )
        # hook points: each width's ReLU output over the character slots of every word slot
        # (B*T, n_k, C - k + 1), zero for padded word slots; the word vectors (B, T, D) after the
        # highways, zero at padding; the sentence's pooled features (B, D)
        self.conv_acts = nn.ModuleList(HookPoint("W C T") for _ in self.convs)  # W: word slots
        dim = sum(c["filters"])
        self.word_vecs = HookPoint("B T C")
        self.features = HookPoint("B C")
        self.highways = nn.ModuleList(Highway(dim) for _ in range(c["highway_layers"]))
        self.drop = nn.Dropout(c["dropout"])
        self.out = nn.Linear(dim, c["n_classes"])

    @classmethod
    def default_config(cls, n_tokens: int, n_classes: int) -> dict[str, Any]:
        return {
            "n_tokens": n_tokens,  # size of the character vocabulary
            "n_classes": n_classes,
            "char_dim": 16,
            "widths": [1, 2, 3, 4, 5, 6, 7],
            "filters": [32, 32, 64, 64, 64, 64, 64],
            "highway_layers": 2,
            "dropout": 0.5,
        }

    def word_vectors(self, emb: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Character embeddings (B, T, C, E) -> word vectors (B, T, sum(filters)) after highways.

        ``mask`` (B, T) marks real word slots (default: all real); the filter activations of padded
        word slots are zeroed, which changes nothing downstream (those words are masked later) but
        keeps what a hook reads honest. Padding characters *inside* a real word slot are part of
        the model's computation (as in lm_1b) and stay as they are.
        """
        B, T, C, E = emb.shape
        x = emb.reshape(B * T, C, E).transpose(1, 2)  # (B*T, E, C)
        real = (torch.ones(B * T, 1, 1, device=emb.device) if mask is None
                else mask.reshape(B * T, 1, 1).to(emb.dtype))  # (B*T, 1, 1)
        pooled = [
            act(F.relu(conv(x)) * real).max(dim=-1).values  # each (B*T, n_k)
            for conv, act in zip(self.convs, self.conv_acts, strict=True)
        ]
        w = torch.cat(pooled, dim=-1)  # (B*T, D)
        for hw in self.highways:
            w = hw(w)
        return w.reshape(B, T, -1)  # (B, T, D)

    def hidden_states(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, D): the word vectors, zero at padding."""
        return self.word_vecs(zero_masked(self.word_vectors(emb, mask), mask))

    def sentence_representation(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, D): the word vectors max-pooled over the sentence."""
        return self.features(masked_max(self.hidden_states(emb, mask), mask))

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.sentence_representation(emb, mask)))  # (B, K)

    def conv_chains(self) -> list[list[str]]:
        """One chain per width; receptive fields count character slots (1..7)."""
        return [[f"convs.{i}"] for i in range(len(self.convs))]

    def conv_outputs(self) -> dict[str, str]:
        return {f"convs.{i}": f"conv_acts.{i}" for i in range(len(self.convs))}
