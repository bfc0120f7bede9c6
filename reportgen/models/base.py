"""The contract every reference architecture follows.

A reference model is an ``nn.Module`` that splits its forward pass at the embedding layer, which is
what gradient-based analyses need:

    forward(ids) == forward_from_embeddings(embed(ids), token_mask(ids))

- ``ids``: (B, T) long, or (B, T, C) for character-spelled words (``encoder_kind = "word_chars"``);
  id 0 is padding.
- ``embed(ids)``: (B, T, E), or (B, T, C, E).
- ``forward_from_embeddings(emb, mask)``: ``mask`` is (B, T) bool. Returns
  - ``task == "classify"``: logits (B, K);
  - ``task == "autoencode"`` / ``"lm"``: logits (B, T, V) over the encoder's token ids
    (the reconstruction of each input position / the prediction of the *next* position).
- ``hidden_states(emb, mask)``: per-position hidden representation (B, T, H) of the top encoder
  layer (the representation that ``representations`` and ``neuron_sweep`` study).
- ``conv_chains()``: the dotted module names of each sequential chain of convolution / pooling
  layers, input side first; the adapter derives receptive fields from them.

Every architecture is built from a plain ``config`` dict (ints, floats, strings, lists), which is
stored in the checkpoint with the weights.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from reportgen.data.encoding import token_mask


class TextModel(nn.Module):
    arch: ClassVar[str] = ""
    task: ClassVar[str] = "classify"  # "classify" | "autoencode" | "lm"
    encoder_kind: ClassVar[str] = "word"  # see reportgen.data.encoding.ENCODER_KINDS
    citation: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = dict(config)

    @classmethod
    def default_config(cls, n_tokens: int, n_classes: int) -> dict[str, Any]:
        raise NotImplementedError

    # the split forward -------------------------------------------------------------------
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(ids)

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.forward_from_embeddings(self.embed(ids), token_mask(ids))

    def hidden_states(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def conv_chains(self) -> list[list[str]]:
        return []

    @property
    def embedding(self) -> nn.Embedding:
        return self._modules["emb"]  # type: ignore[return-value]
