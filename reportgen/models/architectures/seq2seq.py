"""A sequence-to-sequence LSTM autoencoder:
the model of Li et al. (2016)'s seq2seq saliency figures.

Source: Li, Chen, Hovy and Jurafsky (2016), section on sequence-to-sequence models (after Sutskever,
Vinyals and Le 2014 and Li, Luong and Jurafsky 2015's hierarchical autoencoder): an LSTM encoder
reads the sentence *reversed* (Sutskever et al.'s trick: the first tokens to decode are the last
read; on MR it lifts reconstruction accuracy by ~5 points at equal cost), its final (h, c) starts an
LSTM decoder that reconstructs the tokens in their original order.
Li et al. train 4-layer, 1000-unit LSTMs on Wikipedia; scaled down here to one layer of 256 units
with 128-d embeddings, trained on the dataset's own texts.

The whole forward pass is a function of the input embeddings, so saliency of input tokens for each
decoding step is well defined: the decoder reads a learned begin-of-sentence vector, then the
(teacher-forced) embeddings of the input tokens shifted right by one. ``forward_from_embeddings``
returns reconstruction logits (B, T, V), position t predicting input token t. Both LSTMs run on
packed sequences, so padding never changes an example's logits at its real positions.

Accuracy = token reconstruction accuracy over non-padding positions (teacher forced).
Cost (MR, 2 CPU cores): ~50 s per epoch (the output softmax covers the whole ~9k-word vocabulary).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from reportgen.models.architectures._common import (
    init_embedding,
    reverse_real,
    run_packed,
    zero_masked,
)
from reportgen.models.base import TextModel
from reportgen.models.hooks import HookPoint


class Seq2SeqAutoencoder(TextModel):
    """Embedding -> LSTM encoder -> (h, c) -> LSTM decoder (BOS + shifted inputs)
    -> vocab logits."""

    arch: ClassVar[str] = "seq2seq-ae"
    task: ClassVar[str] = "autoencode"
    citation: ClassVar[str] = (
        "Li, J., Chen, X., Hovy, E., Jurafsky, D. (2016). "
        "Visualizing and Understanding Neural Models "
        "in NLP. NAACL; Sutskever, I., Vinyals, O., Le, Q. (2014). Sequence to Sequence Learning "
        "with Neural Networks. NeurIPS."
    )
    summary: ClassVar[str] = "LSTM encoder-decoder that reconstructs its input (Li et al. 2016)"
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 10, "lr": 2e-3, "batch_size": 64}

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        c = self.config
        self.emb = nn.Embedding(c["n_tokens"], c["emb_dim"], padding_idx=0)
        init_embedding(self.emb, c.get("emb_init"))
        self.bos = nn.Parameter(torch.randn(c["emb_dim"]) * 0.1)  # (E,)
        self.encoder = nn.LSTM(c["emb_dim"], c["hidden"], batch_first=True)
        self.decoder = nn.LSTM(c["emb_dim"], c["hidden"], batch_first=True)
        # hook points: encoder outputs in input order (B, T, H); the code (B, H); decoder outputs
        self.enc_out = HookPoint("B T C")
        self.code = HookPoint("B C")
        self.dec_out = HookPoint("B T C")
        self.drop = nn.Dropout(c["dropout"])
        self.out = nn.Linear(c["hidden"], c["n_tokens"])

    @classmethod
    def default_config(cls, n_tokens: int, n_classes: int) -> dict[str, Any]:
        return {
            "n_tokens": n_tokens,
            "n_classes": n_classes,  # unused: the targets are the input tokens
            "emb_dim": 128,
            "emb_init": 0.25,  # U(-0.25, 0.25) rows, as Kim (2014)
            "hidden": 256,
            "dropout": 0.1,
        }

    def _encode(
        self, emb: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """-> masked inputs (B, T, E), encoder outputs in input order (B, T, H), final (h, c)."""
        x = zero_masked(emb, mask)  # (B, T, E)
        out, state = run_packed(self.encoder, self.drop(reverse_real(x, mask)), mask)  # (B, T, H)
        h, c = state  # type: ignore[misc]
        state = (torch.cat([h[:-1], self.code(h[-1])[None]]), c)  # the top layer's h is hooked
        return x, self.enc_out(reverse_real(out, mask)), state

    def hidden_states(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encoder outputs (B, T, H) in input order (position t: the encoder just read token t,
        having read the tokens after it), zero after each example's end."""
        return self._encode(emb, mask)[1]

    def sentence_representation(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The encoder's final hidden state (B, H): the code the decoder starts from."""
        return self._encode(emb, mask)[2][0][-1]

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x, _, state = self._encode(emb, mask)
        B, _, E = x.shape
        bos = self.bos.expand(B, 1, E)  # (B, 1, E)
        dec_in = torch.cat([bos, x[:, :-1]], dim=1)  # (B, T, E): BOS, e_0 .. e_{T-2}
        dec_out, _ = run_packed(self.decoder, self.drop(dec_in), mask, state)  # (B, T, H)
        return self.out(self.drop(self.dec_out(dec_out)))  # (B, T, V)
