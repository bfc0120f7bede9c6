"""Transformers sequence classifiers behind the model adapter (optional extra ``reportgen[hf]``).

Question: how does a BERT-, RoBERTa- or DistilBERT-style classifier look through the same narrow
model view as every other model (``reportgen.models.view``)?

Method: ``hf:DIR_OR_NAME`` loads ``AutoTokenizer`` + ``AutoModelForSequenceClassification`` (never
remote code; Transformers' progress bars, log messages and Python warnings are silenced while
loading). A name that can only be a local path (it exists, starts with ``/``, ``.`` or ``~``, has
more than one ``/``, or its first part is a local folder) and is not a folder is refused with "no
such folder" before Transformers reads it as a malformed hub id. What the analyses see:

- the split forward: ``embed`` is the word-piece embedding lookup and ``forward_from_embeddings``
  passes those vectors as ``inputs_embeds`` (position and type embeddings are added inside the
  model, as in its own forward), so gradients reach every word piece;
- layers: the hidden states after the embeddings and after each Transformer layer
  (``layer_states``), named by the module that outputs them;
- neurons: the units of each layer's feed-forward block, read (and clamped) at the output of its
  activation module (``mlp_units``);
- the sentence vector: the input of the last linear layer of the classification head
  (``output_layer``);
- display tokens: WordPiece continuations (``##ble``) and unmarked byte-BPE / SentencePiece pieces
  join the piece before; special tokens are marked (and flagged in each encoded batch, the
  unknown token as "unk"). There are no convolutions or recurrences (``conv_chains`` and
  ``recurrent_layers`` are ``NotApplicable``), so analyses of those layers skip these models with
  that reason.

Cost: loading reads the weights once; every analysis call is one Transformers forward pass.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reportgen.data.encoding import EncodedBatch, TextEncoder
from reportgen.errors import BadInput
from reportgen.models.tokens import marks_word_starts, piece_row
from reportgen.models.view import ConvChains, NotApplicable, Step, TokenText, VocabVectors
from reportgen.records import LayerCard

_TORCH_ACTIVATIONS = (
    nn.ReLU,
    nn.GELU,
    nn.Tanh,
    nn.Sigmoid,
    nn.LeakyReLU,
    nn.ELU,
    nn.SiLU,
    nn.ReLU6,
    nn.Mish,
)


def looks_local(name: str) -> bool:
    """True when ``name`` can only mean a folder on this machine, never a hub id ("org/name")."""
    if Path(name).expanduser().exists():
        return True
    if (
        name.startswith((".", "/", "~"))
        or "\\" in name
        or name.count("/") > 1
        or name.endswith("/")
    ):
        return True
    return "/" in name and Path(name.split("/")[0]).is_dir()


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Transformers' progress bars, log messages below errors and Python warnings off inside the
    block; the previous settings come back after it, even on error."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


class HFAdapter:
    """``ModelView`` of a Transformers sequence classifier and its own tokenizer."""

    def __init__(
        self, name_or_dir: str, *, source: str, device: torch.device | str, max_len: int = 128
    ):
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError:
            raise BadInput(
                f"model {source!r} needs the Transformers library: pip install 'reportgen[hf]'"
            ) from None
        local = looks_local(name_or_dir)
        folder = Path(name_or_dir).expanduser()
        if local and not folder.is_dir():
            if folder.exists():
                raise BadInput(
                    f"model {source!r}: {name_or_dir!r} is a file, not the folder that "
                    "save_pretrained writes"
                )
            raise BadInput(f"model {source!r}: no such folder {name_or_dir!r}")
        if local and not (folder / "config.json").is_file():
            raise BadInput(
                f"model {source!r}: folder {name_or_dir!r} has no config.json (hf: needs "
                "a folder written by save_pretrained, or a hub name)"
            )
        where = str(folder) if local else name_or_dir
        try:
            with quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(where, trust_remote_code=False)
                model = AutoModelForSequenceClassification.from_pretrained(
                    where, trust_remote_code=False
                )
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BadInput(f"cannot load Transformers model {name_or_dir!r}: {first}") from None
        id2label = model.config.id2label or {}
        self.tokenizer = tokenizer
        positions = getattr(model.config, "max_position_embeddings", None)
        # RoBERTa-style models start positions after the padding index: keep 2 positions spare
        self.max_len = min(
            max_len, int(tokenizer.model_max_length), positions - 2 if positions else max_len
        )
        self.module = model.to(device).eval()
        self.classes = [str(id2label.get(i, i)) for i in range(model.config.num_labels)]
        self.name = name_or_dir.rstrip("/").split("/")[-1]
        self.arch = f"hf:{model.config.model_type}"
        self.source = source
        self.task = "classify"
        self.checkpoint_accuracy: float | None = None
        self.device = torch.device(device)
        self.min_len = 1
        self.pad_batches = True
        self.code_files: list[str] = []
        self.training: dict = {}
        self.output_note = ""
        self._names = {m: n for n, m in self.module.named_modules()}
        self.embedding_name = self._names[self.module.get_input_embeddings()]
        # the unknown token stands for a word of the text: a word (flagged "unk"), not special
        self._special = set(tokenizer.all_special_tokens) - {tokenizer.unk_token}
        self._bpe_marks = marks_word_starts(tokenizer.get_vocab())
        self._units: list[str] | NotApplicable | None = None

    # -- the core ------------------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def is_classifier(self) -> bool:
        return True

    def encode(self, texts: Sequence[str]) -> EncodedBatch:
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_len, return_tensors="pt"
        )
        ids = enc["input_ids"]  # (B, T)
        tokens = [
            self.tokenizer.convert_ids_to_tokens(row[m.bool()])
            for row, m in zip(ids, enc["attention_mask"], strict=True)
        ]
        unk = self.tokenizer.unk_token
        flags = [
            ["special" if t in self._special else "unk" if t == unk else "" for t in toks]
            for toks in tokens
        ]
        return EncodedBatch(
            ids.to(self.device), tokens, enc["attention_mask"].bool().to(self.device), flags
        )

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.module.get_input_embeddings()(ids)  # (B, T, E)

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.module(inputs_embeds=emb, attention_mask=mask.long()).logits  # (B, K)

    def forward(self, batch: EncodedBatch) -> torch.Tensor:
        assert batch.mask is not None
        return self.module(input_ids=batch.ids, attention_mask=batch.mask.long()).logits

    def layers(self) -> list[LayerCard]:
        """Model card: the embeddings, each Transformer layer (hidden size) with its MLP units, and
        the output layer; attention sees the whole text (no receptive field)."""
        config = self.module.config
        hidden = int(getattr(config, "hidden_size", 0) or 0) or None
        mlp = getattr(config, "intermediate_size", None) or getattr(config, "hidden_dim", None)
        cards = [LayerCard(self._states_root, "embedding", hidden, 1)]
        try:
            points = self.mlp_units()
        except NotApplicable:  # the card lists the layers it can find
            points = [""] * len(self._blocks)
        for block, point in zip(self._blocks, points, strict=True):
            cards.append(LayerCard(block, "transformer", hidden, None))
            if point:
                cards.append(LayerCard(point, "mlp", int(mlp) if mlp else None, None))
        try:
            cards.append(LayerCard(self.output_layer(), "linear", self.n_classes, None))
        except NotApplicable:
            pass
        return cards

    # -- facts ---------------------------------------------------------------------------------
    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id or 0)

    @property
    def input_kind(self) -> str:
        return "subword"

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def settings(self) -> dict:
        return {
            "tokenizer": type(self.tokenizer).__name__,
            "vocabulary": len(self.tokenizer),
            "max_len": self.max_len,
        }

    def full_lengths(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer(list(texts), truncation=False)["input_ids"]]

    # -- capabilities --------------------------------------------------------------------------
    def text_encoder(self) -> TextEncoder:
        raise NotApplicable(f"{self.name} reads word pieces of its own Transformers tokenizer")

    def conv_chains(self) -> ConvChains:
        raise NotApplicable(f"{self.name} has no convolutional layers")

    def recurrent_layers(self) -> list[tuple[str, nn.RNNBase]]:
        raise NotApplicable(f"{self.name} has no recurrent layer")

    def mlp_units(self) -> list[str]:
        """Per Transformer layer, the activation module of its feed-forward block: its output
        (B, T, I) holds the layer's MLP units, the neurons of neuron analyses. ``NotApplicable``
        when a layer has none, or one activation module is shared between layers (its output
        could not be told apart per layer)."""
        if self._units is None:
            try:
                self._units = self._find_units()
            except NotApplicable as why:
                self._units = why
        if isinstance(self._units, NotApplicable):
            raise NotApplicable(str(self._units))
        return list(self._units)

    def _find_units(self) -> list[str]:
        modules = dict(self.module.named_modules())
        points: list[str] = []
        for block in self._blocks:
            found = next(
                (
                    f"{block}.{sub}"
                    for sub, m in modules[block].named_modules()
                    if sub
                    and _is_activation(m)
                    and not any(a in sub for a in ("attention", "attn"))
                ),
                None,
            )
            if found is None:
                raise NotApplicable(
                    f"{self.name}: layer {block} has no feed-forward activation "
                    "module to read its MLP units at"
                )
            points.append(found)
        if not points:
            raise NotApplicable(
                f"{self.name}: no Transformer layers found (no nn.ModuleList of "
                "config.num_hidden_layers layers)"
            )
        if len({id(modules[p]) for p in points}) < len(points):
            raise NotApplicable(
                f"{self.name}: its layers share one activation module, so their "
                "MLP units cannot be read per layer"
            )
        return points

    def layer_states(self, batch: EncodedBatch) -> dict[str, torch.Tensor]:
        """Hidden states (B, T, H) after the embeddings and after each Transformer layer, named by
        the module that outputs them."""
        assert batch.mask is not None
        with torch.no_grad():
            out = self.module(
                input_ids=batch.ids, attention_mask=batch.mask.long(), output_hidden_states=True
            )
        names = [self._states_root, *self._blocks]
        states = out.hidden_states
        if len(states) != len(names):  # an unusual layout: number the states instead
            names = ["embeddings", *(f"layer.{i}" for i in range(1, len(states)))]
        return dict(zip(names, states, strict=True))

    def hidden_states(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotApplicable(f"{self.name}: its hidden states are read per layer (layer_states)")

    def output_layer(self) -> str:
        """The last linear layer producing the class scores (BERT, DistilBERT: ``classifier``;
        RoBERTa: ``classifier.out_proj``); its input is the sentence vector the output reads."""
        found = [
            n
            for n, m in self.module.named_modules()
            if isinstance(m, nn.Linear) and m.out_features == self.module.config.num_labels
        ]
        if not found:
            raise NotApplicable(f"{self.name}: no linear layer gives its {self.n_classes} scores")
        return found[-1]

    def vocabulary(self) -> VocabVectors:
        weight = self.module.get_input_embeddings().weight.detach()  # (V, E)
        special = set(self.tokenizer.all_special_ids)
        n = weight.size(0)
        texts = [str(t) for t in self.tokenizer.convert_ids_to_tokens(list(range(n)))]
        return VocabVectors(
            texts, weight, np.array([i in special for i in range(n)], dtype=bool), "embedding"
        )

    def generation_step(self) -> Step:
        raise NotApplicable(f"{self.name} is a classifier, not a language model")

    def display_tokens(self, batch: EncodedBatch) -> list[list[TokenText]]:
        """Word pieces: '##ble' (WordPiece) is shown as 'ble' joined to the piece before; 'Ġword'
        (byte BPE) and '▁word' (SentencePiece) start a new word, and with those tokenizers an
        unmarked piece continues the word before (unless that is a special token). The unknown
        token is not special: it stands for a word of the text."""
        return [
            piece_row(toks, [t in self._special for t in toks], self._bpe_marks)
            for toks in batch.tokens
        ]

    # -- layers --------------------------------------------------------------------------------
    @cached_property
    def _states_root(self) -> str:
        """The module whose output is hidden state 0: the parent of the word-piece embedding."""
        return self.embedding_name.rpartition(".")[0] or self.embedding_name

    @cached_property
    def _blocks(self) -> list[str]:
        """Dotted names of the Transformer layers, input side first (the ``nn.ModuleList`` that
        holds ``config.num_hidden_layers`` of them)."""
        n = int(getattr(self.module.config, "num_hidden_layers", 0) or 0)
        for name, m in self.module.named_modules():
            if isinstance(m, nn.ModuleList) and n and len(m) == n:
                return [f"{name}.{i}" for i in range(n)]
        return []


def _is_activation(m: nn.Module) -> bool:
    return isinstance(m, _TORCH_ACTIVATIONS) or type(m).__module__ == "transformers.activations"
