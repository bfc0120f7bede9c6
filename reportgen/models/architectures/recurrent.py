"""Recurrent sentence classifiers: a tanh RNN, an LSTM and a bidirectional LSTM (Li et al. 2016).

Li, Chen, Hovy and Jurafsky compare exactly these three on sentiment with 60-dimensional embeddings
and hidden states; their saliency figures put them side by side. Each reads word ids (B, T), runs
one recurrent layer over the packed sequence (so padding never reaches the state), and classifies
from the final state: the forward state at the last real token, concatenated for the BiLSTM with
the backward state at the first token. Dropout (0.1) sits on the embeddings and the final state.

Cost (MR, 2 CPU cores): a few seconds per epoch at 60 dimensions.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from reportgen.models.architectures._common import (
    init_embedding,
    last_layer_state,
    run_packed,
    zero_masked,
)
from reportgen.models.base import TextModel
from reportgen.models.hooks import HookPoint

LI_2016 = (
    "Li, J., Chen, X., Hovy, E., Jurafsky, D. (2016). Visualizing and Understanding Neural Models "
    "in NLP. NAACL."
)
_CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM}


class RecurrentClassifier(TextModel):
    """Embedding -> (bi)RNN/LSTM over packed sequences -> final state -> dropout -> linear.

    Config: ``cell`` ("rnn" = Elman tanh, "lstm"), ``bidirectional``, ``emb_dim``, ``hidden``,
    ``layers``, ``dropout``. Li et al. use 60 / 60 and one layer; those are the defaults, unscaled.
    """

    citation: ClassVar[str] = LI_2016
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 15, "lr": 2e-3, "batch_size": 32}
    cell: ClassVar[str] = "lstm"
    bidirectional: ClassVar[bool] = False

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        c = self.config
        self.emb = nn.Embedding(c["n_tokens"], c["emb_dim"], padding_idx=0)
        init_embedding(self.emb, c.get("emb_init"))
        kwargs: dict[str, Any] = {"nonlinearity": "tanh"} if c["cell"] == "rnn" else {}
        self.rnn = _CELLS[c["cell"]](
            c["emb_dim"],
            c["hidden"],
            num_layers=c["layers"],
            batch_first=True,
            bidirectional=c["bidirectional"],
            **kwargs,
        )
        # hook points: the top layer's output at every step (B, T, D*H), zero after each example's
        # end; the final state the classifier reads (B, D*H). Cell states and clamping at every
        # step go through ``reportgen.models.recurrence`` on the ``rnn`` module itself.
        self.rnn_out = HookPoint("B T C")
        self.features = HookPoint("B C")
        self.drop = nn.Dropout(c["dropout"])
        directions = 2 if c["bidirectional"] else 1
        self.out = nn.Linear(c["hidden"] * directions, c["n_classes"])

    @classmethod
    def default_config(cls, n_tokens: int, n_classes: int) -> dict[str, Any]:
        return {
            "n_tokens": n_tokens,
            "n_classes": n_classes,
            "cell": cls.cell,
            "bidirectional": cls.bidirectional,
            "emb_dim": 60,
            "emb_init": 0.25,  # U(-0.25, 0.25) rows, as Kim (2014)
            "hidden": 60,
            "layers": 1,
            "dropout": 0.1,
        }

    def _run(self, emb: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = zero_masked(self.drop(emb), mask)  # (B, T, E)
        out, final = run_packed(self.rnn, x, mask)  # out (B, T, D*H)
        h_n = final[0] if isinstance(final, tuple) else final  # (layers*D, B, H)
        last = last_layer_state(h_n, self.config["bidirectional"])  # (B, D*H)
        return self.rnn_out(out), self.features(last)

    def sentence_representation(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The final state the classifier reads: (B, D*H)."""
        return self._run(emb, mask)[1]

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        final = self.sentence_representation(emb, mask)  # (B, D*H)
        return self.out(self.drop(final))  # (B, K)

    def hidden_states(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Top-layer outputs (B, T, D*H), zero after each example's last token."""
        return self._run(emb, mask)[0]


class TanhRNN(RecurrentClassifier):
    """Li et al. (2016)'s standard recurrent model: an Elman RNN with tanh, 60-d, one layer."""

    arch: ClassVar[str] = "rnn"
    summary: ClassVar[str] = "tanh RNN, 60-d, final state (Li et al. 2016)"
    cell: ClassVar[str] = "rnn"


class LSTMClassifier(RecurrentClassifier):
    """Li et al. (2016)'s LSTM: 60-d embeddings and hidden state, one layer, final state."""

    arch: ClassVar[str] = "lstm"
    summary: ClassVar[str] = "LSTM, 60-d, final state (Li et al. 2016)"
    cell: ClassVar[str] = "lstm"


class BiLSTMClassifier(RecurrentClassifier):
    """Li et al. (2016)'s bidirectional LSTM:
    both directions' final states, concatenated (120-d)."""

    arch: ClassVar[str] = "bilstm"
    summary: ClassVar[str] = "bidirectional LSTM, 60-d per direction (Li et al. 2016)"
    cell: ClassVar[str] = "lstm"
    bidirectional: ClassVar[bool] = True
