"""The model view: the one narrow protocol every analysis programs against.

Whatever the model (a reference architecture, a user's own ``nn.Module``, a Transformers
classifier), analyses, the model card and the batch planner see it only through ``ModelView``.
Three sibling adapters implement it: ``reference.ReferenceAdapter``, ``user.UserAdapter`` and
``hf.HFAdapter``; none is a base class of another, and what they share is free functions
(``reportgen.models.common``).

The core, which every model has:

- ``name``, ``classes`` / ``n_classes``, ``task`` ("classify" | "autoencode" | "lm"),
  ``is_classifier``, ``module`` (the wrapped ``nn.Module``), ``device``;
- ``encode(texts)``: texts -> ``EncodedBatch`` (ids, tokens, mask, per-token flags);
- ``embed(ids)``: ids -> input embeddings, (B, T, E) or (B, T, C, E) for character-spelled words;
- ``forward_from_embeddings(emb, mask)``: -> logits, (B, K) for classifiers, (B, T, V) else;
- ``forward(batch)``: the model's own forward (``verify`` compares the two);
- ``layers()``: ordered ``LayerCard``s (kind, units, receptive field) for the model card;
- batching facts (``min_len``, ``pad_batches``, ``pad_id``) and card facts (``arch``, ``source``,
  ``checkpoint_accuracy``, ``training``, ``code_files``, ``embedding_name``, ``output_note``,
  ``input_kind``, ``vocab_size``, ``settings()``, ``full_lengths(texts)``).

Each optional capability is a method that returns it, or raises ``NotApplicable`` with the reason a
report page shows (never ``None``, never found by probing attributes):

- ``text_encoder()``: reportgen's encoder (kinds, spelling, vocabulary), not for Transformers;
- ``conv_chains()``: sequential conv/pool chains by module name, with where each is read;
- ``recurrent_layers()``: the recurrent modules, for step-by-step states and clamping;
- ``mlp_units()``: the modules whose outputs are a Transformer's neurons ([] when the model names
  none: its neurons are then its per-position hidden states);
- ``layer_states(batch)``: the model's own per-layer hidden states (Transformers);
- ``hidden_states(emb, mask)``: the top encoder layer's per-position states (reference models);
- ``output_layer()``: the ``nn.Linear`` whose output is the logits;
- ``vocabulary()``: every vocabulary entry's vector, special tokens marked;
- ``generation_step()``: one step of a language model, for generating text;
- ``display_tokens(batch)``: the text of each token, word pieces marked as continuations.

What analyses read inside a model through these (conv activations with receptive fields,
recurrent states, unit features, clamping) are free functions in ``conv``, ``states``,
``generation`` and ``tokens``; fingerprint, verification, prediction and the card text are free
functions in ``facts`` and ``verify``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from reportgen.data.encoding import EncodedBatch, TextEncoder
from reportgen.records import LayerCard


class NotApplicable(Exception):
    """The model has no such part; the message is the reason shown on the report page."""


@dataclass(frozen=True)
class ConvChains:
    """The conv/pool layers of a model over its text."""

    chains: list[list[str]]  # dotted module names per sequential chain, input side first
    read_at: dict[str, str]  # layer -> the module whose output is its activation (a hook point)
    axis: str = "tokens"  # "tokens", or "chars" for character-spelled words
    notes: list[str] = field(default_factory=list)  # layers left out, and why


@dataclass(frozen=True)
class TokenText:
    text: str  # what to show
    joins_previous: bool  # a word-piece continuation: shown attached to the token before
    special: bool  # [CLS], [SEP], <s>, ...


@dataclass
class VocabVectors:
    tokens: list[str]  # the text of each entry
    vectors: torch.Tensor  # (V, E) in the space the model's first layer reads (chars: word vectors)
    special: np.ndarray  # (V,) bool: padding, unknown and other special tokens
    space: str  # "embedding" or "char-cnn word vectors"


# one step of a language model: (token (1,), state, clamp) -> (logits (1, V), state)
Step = Callable[[torch.Tensor, Any, "dict[int, float] | None"], tuple[torch.Tensor, Any]]


class ModelView(Protocol):
    """What an analysis may know of a model (see the module docstring)."""

    # -- the core ------------------------------------------------------------------------------
    name: str
    classes: list[str]
    task: str
    module: nn.Module
    device: torch.device

    @property
    def n_classes(self) -> int: ...

    @property
    def is_classifier(self) -> bool: ...

    def encode(self, texts: Sequence[str]) -> EncodedBatch: ...

    def embed(self, ids: torch.Tensor) -> torch.Tensor: ...

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...

    def forward(self, batch: EncodedBatch) -> torch.Tensor: ...

    def layers(self) -> list[LayerCard]: ...

    # -- batching facts ------------------------------------------------------------------------
    min_len: int  # the fewest tokens the model reads: shorter texts are padded up to it
    pad_batches: bool  # False: one text per batch (the model reads padding)

    @property
    def pad_id(self) -> int: ...

    # -- card facts ----------------------------------------------------------------------------
    arch: str
    source: str
    checkpoint_accuracy: float | None
    training: dict  # what the checkpoint says of its training (data, splits, vectors, hashes)
    code_files: list[str]  # source files beside the model's classes (user SPEC files)
    embedding_name: str  # the nn.Embedding whose output the analyses differentiate
    output_note: str  # how the logits were read, "" when plainly

    @property
    def input_kind(self) -> str: ...  # "word" | "char" | "byte" | "word_chars" | "subword"

    @property
    def vocab_size(self) -> int: ...

    def settings(self) -> dict: ...  # what decides the computation besides weights and code

    def full_lengths(self, texts: Sequence[str]) -> list[int]: ...  # tokens before truncation

    # -- capabilities: each returns it or raises NotApplicable(reason) ----------------------------
    def text_encoder(self) -> TextEncoder: ...

    def conv_chains(self) -> ConvChains: ...

    def recurrent_layers(self) -> list[tuple[str, nn.RNNBase]]: ...

    def mlp_units(self) -> list[str]: ...

    def layer_states(self, batch: EncodedBatch) -> dict[str, torch.Tensor]: ...

    def hidden_states(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...

    def output_layer(self) -> str: ...

    def vocabulary(self) -> VocabVectors: ...

    def generation_step(self) -> Step: ...

    def display_tokens(self, batch: EncodedBatch) -> list[list[TokenText]]: ...
