"""A byte-level LSTM language model: a small stand-in for Radford et al.'s sentiment-neuron model.

Source: Radford, Jozefowicz and Sutskever (2017), "Learning to generate reviews and discovering
sentiment": a single-layer 4,096-unit multiplicative LSTM over UTF-8 bytes, trained on 82 million
Amazon reviews, in which one unit tracks sentiment. Scaled down here to a plain LSTM of 256 units
with 64-d byte embeddings, trained on the dataset's own texts, so the ``neuron_sweep`` analysis can
look for sentiment units over ``hidden_states``.

Input: byte ids (B, T) (``encoder_kind = "byte"``: byte b is id b+1, 0 is padding). Output:
next-byte logits (B, T, 257), position t predicting byte t+1 (the last position predicts past the
end and is not scored). Being unidirectional, an example's logits never depend on padding after it.

Accuracy = next-byte accuracy; the checkpoint also records bits per byte (cross-entropy / ln 2).
Cost (MR, 2 CPU cores): ~15 s per epoch (~1.1M bytes through a 256-unit LSTM).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from reportgen.models.architectures._common import init_embedding, zero_masked
from reportgen.models.base import TextModel
from reportgen.models.hooks import HookPoint
from reportgen.models.recurrence import step as recurrent_step

N_BYTE_IDS = 257  # padding + 256 byte values


class ByteLSTMLM(TextModel):
    """Byte embedding (64) -> LSTM (256) -> linear -> next-byte logits (257)."""

    arch: ClassVar[str] = "byte-lstm-lm"
    task: ClassVar[str] = "lm"
    encoder_kind: ClassVar[str] = "byte"
    citation: ClassVar[str] = (
        "Radford, A., Jozefowicz, R., Sutskever, I. (2017). Learning to Generate Reviews and "
        "Discovering Sentiment. arXiv:1704.01444."
    )
    summary: ClassVar[str] = "byte-level LSTM language model, 256 units (after Radford et al. 2017)"
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 5, "lr": 3e-3, "batch_size": 64}

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        c = self.config
        self.emb = nn.Embedding(c["n_tokens"], c["emb_dim"], padding_idx=0)
        init_embedding(self.emb, c.get("emb_init"))
        self.rnn = nn.LSTM(c["emb_dim"], c["hidden"], num_layers=c["layers"], batch_first=True)
        self.rnn_out = HookPoint("B T C")  # hook point: LSTM outputs at every byte, zero at padding
        self.drop = nn.Dropout(c["dropout"])
        self.out = nn.Linear(c["hidden"], c["n_tokens"])

    @classmethod
    def default_config(cls, n_tokens: int, n_classes: int) -> dict[str, Any]:
        return {
            "n_tokens": n_tokens,
            "n_classes": n_classes,  # unused: the targets are the next bytes
            "emb_dim": 64,
            "hidden": 256,
            "layers": 1,
            "dropout": 0.0,
        }

    def hidden_states(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """LSTM outputs (B, T, H): the units whose values a sentiment neuron would show."""
        out, _ = self.rnn(zero_masked(emb, mask))  # (B, T, H)
        return self.rnn_out(zero_masked(out, mask))

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.hidden_states(emb, mask)))  # (B, T, 257)

    def step(
        self,
        ids: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
        clamp: dict[int, float] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One generation step: byte ids (B,) and the LSTM state ->
        next-byte logits (B, 257), state.

        ``clamp`` holds units of the LSTM's hidden state at fixed values after the step (and so for
        every later step the caller runs), as Radford et al. fix their sentiment unit while
        sampling.
        """
        if state is None:
            zeros = torch.zeros(self.rnn.num_layers, ids.size(0), self.rnn.hidden_size,
                                device=ids.device)  # (L, B, H)
            state = (zeros, zeros.clone())
        h, state = recurrent_step(self.rnn, self.embed(ids), state, clamp=clamp)  # h (B, H)
        return self.out(h), state  # (B, 257)
