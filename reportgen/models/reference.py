"""The model view of a reference architecture (``reportgen.models.base.TextModel``).

A reference model splits its own forward at the embedding layer, names its conv chains, puts a
hook point after every nonlinearity and, for language models, has a ``step`` interface; this
adapter hands those to the analyses through ``ModelView`` and never mutates the model (beyond
``eval()``).

Cost: nothing beyond the model's own forward passes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reportgen.data.encoding import EncodedBatch, TextEncoder
from reportgen.models.common import encoder_vocabulary, layer_cards, plain_tokens, recurrent_layers
from reportgen.models.fields import CONV_TYPES
from reportgen.models.view import ConvChains, NotApplicable, Step, TokenText, VocabVectors
from reportgen.records import LayerCard


class ReferenceAdapter:
    """``ModelView`` of a ``TextModel`` with reportgen's own encoder."""

    def __init__(
        self,
        module: nn.Module,
        encoder: TextEncoder,
        classes: Sequence[str],
        *,
        name: str,
        arch: str,
        source: str,
        task: str = "classify",
        checkpoint_accuracy: float | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.module = module.to(device).eval()
        self.encoder = encoder
        self.classes = list(classes)
        self.name = name
        self.arch = arch
        self.source = source
        self.task = task
        self.checkpoint_accuracy = checkpoint_accuracy
        self.device = torch.device(device)
        config = getattr(module, "config", None)  # a TextModel's plain dict
        self.min_len = int(config.get("min_len", 1)) if isinstance(config, dict) else 1
        self.pad_batches = True
        self.code_files: list[str] = []
        self.training: dict = {}
        self.output_note = ""
        self.embedding_name = next(
            (n for n, m in module.named_modules() if isinstance(m, nn.Embedding)), ""
        )

    # -- the core ------------------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def is_classifier(self) -> bool:
        return self.task == "classify"

    def encode(self, texts: Sequence[str]) -> EncodedBatch:
        return self.encoder.encode(texts, min_len=self.min_len).to(self.device)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.module.embed(ids)

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.module.forward_from_embeddings(emb, mask)

    def forward(self, batch: EncodedBatch) -> torch.Tensor:
        return self.module(batch.ids)

    def layers(self) -> list[LayerCard]:
        try:
            found = self.conv_chains()
        except NotApplicable:
            found = ConvChains([], {})
        return layer_cards(self.module, found.chains, found.axis)

    # -- facts ---------------------------------------------------------------------------------
    @property
    def pad_id(self) -> int:
        return int(getattr(self.encoder, "pad_id", 0))

    @property
    def input_kind(self) -> str:
        return self.encoder.kind

    @property
    def vocab_size(self) -> int:
        vocab = self.encoder.vocab
        return len(vocab) if vocab is not None else self.encoder.n_tokens

    def settings(self) -> dict:
        return {"encoder": self.encoder.to_dict()}

    def full_lengths(self, texts: Sequence[str]) -> list[int]:
        return [self.encoder.full_length(t) for t in texts]

    # -- capabilities --------------------------------------------------------------------------
    def text_encoder(self) -> TextEncoder:
        return self.encoder

    def conv_chains(self) -> ConvChains:
        own = getattr(self.module, "conv_chains", None)  # a TextModel names them
        chains = own() if own is not None else []
        if not chains:
            names = [n for n, m in self.module.named_modules() if isinstance(m, CONV_TYPES)]
            chains = [names] if names else []
        if not chains:
            raise NotApplicable(f"{self.name} has no convolutional layers")
        read_at = getattr(self.module, "conv_outputs", None)  # hook points after nonlinearities
        outputs = dict(read_at()) if read_at is not None else {}
        axis = "chars" if self.encoder.kind == "word_chars" else "tokens"
        return ConvChains(chains, outputs, axis)

    def recurrent_layers(self) -> list[tuple[str, nn.RNNBase]]:
        return recurrent_layers(self.module, self.name)

    def mlp_units(self) -> list[str]:
        return []  # its neurons are its per-position hidden states

    def layer_states(self, batch: EncodedBatch) -> dict[str, torch.Tensor]:
        raise NotApplicable(f"{self.name} keeps no list of per-layer states (read its hook points)")

    def hidden_states(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        own = getattr(self.module, "hidden_states", None)
        try:
            if own is None:
                raise NotImplementedError
            return own(emb, mask)
        except NotImplementedError:
            raise NotApplicable(f"{self.name} ({self.arch}) defines no hidden_states") from None

    def output_layer(self) -> str:
        raise NotApplicable(f"{self.name}: the output layer reads its 'features' hook point")

    def vocabulary(self) -> VocabVectors:
        word_vectors = getattr(self.module, "word_vectors", None)  # the character CNN's
        return encoder_vocabulary(
            self.name, self.encoder, self.embed, self.device, word_vectors=word_vectors
        )

    def generation_step(self) -> Step:
        step = getattr(self.module, "step", None)  # a reference language model's
        if self.task != "lm" or step is None:
            raise NotApplicable(f"{self.name} is not a language model with a step interface")
        return step

    def display_tokens(self, batch: EncodedBatch) -> list[list[TokenText]]:
        return plain_tokens(batch)
