"""The model view of a user's own ``nn.Module``: ``UserModel`` in, ``UserAdapter`` out.

Question: how is an arbitrary PyTorch text classifier split at its embedding layer without
touching its code? Method: the named ``nn.Embedding``'s output is replaced through a forward hook
(``forward_from_embeddings``), with placeholder ids that carry the mask (the pad id where masked),
so a model that masks by its ids sees the right mask. Its logits are read from whatever the
forward returns (``read_logits``: a tensor, a tuple, a dict or an object with ``.logits``, one
sigmoid logit for two classes). Conv chains are found by tracing one forward pass
(``reportgen.models.tracing``) unless declared; the minimum length of a model whose convolutions
have no padding follows from them (``fields.min_length``) unless declared. The module's errors
are named with the text that fails alone (``UserCodeError``, exit 2).

Cost: tracing is one forward pass with gradients on at most 8 texts, once per model; locating a
failing text runs the texts of the failing batch one by one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from reportgen.data.encoding import EncodedBatch, TextEncoder
from reportgen.errors import BadInput
from reportgen.models.common import encoder_vocabulary, layer_cards, recurrent_layers
from reportgen.models.conv import following_activation
from reportgen.models.fields import min_length
from reportgen.models.hooks import capture
from reportgen.models.tokens import marks_word_starts, piece_row
from reportgen.models.tracing import ConvTrace, trace_conv_chains
from reportgen.models.user_code import (
    UserFailure,
    hooks_set_aside,
    raised_by_reportgen,
    replace_output,
    single_embedding,
)
from reportgen.models.verify import VERIFY_TOLERANCE
from reportgen.models.view import ConvChains, NotApplicable, Step, TokenText, VocabVectors
from reportgen.records import LayerCard

TRACE_MIN_LEN = 64  # probe texts padded to this many tokens when a short batch fails to trace


@dataclass
class UserModel:
    """What a user's ``FILE.py:FUNC`` returns to be analysed.

    ``module(ids)`` returns the logits for ids (B, T) made by ``encoder``: a tensor (B, K) for the
    K ``classes``, or for two classes one logit per text ((B, 1) or (B,), read as a sigmoid); a
    tuple whose first element, a dict with a ``"logits"`` key, or an object with a ``.logits``
    attribute holding them also works (the model card says which). ``encoder`` is the model's own
    tokenizer: a ``reportgen.Tokenizer``, a Transformers tokenizer, a callable text -> ids, or
    reportgen's ``TextEncoder``. ``embedding`` is the dotted name of the ``nn.Embedding`` whose
    output the analyses differentiate (found automatically when the module has exactly one);
    ``conv_chains`` lists sequential conv/pool chains by dotted name for receptive fields (default:
    found by tracing the forward pass); ``min_len``: the fewest tokens the model accepts, shorter
    texts are padded up to it, as the card says (default: what the conv chains need, 1 for padded
    convolutions).
    """

    module: nn.Module
    encoder: Any  # TextEncoder | Tokenizer | a Transformers tokenizer | Callable[[str], list[int]]
    classes: list[str]
    embedding: str | None = None
    conv_chains: list[list[str]] | None = None
    name: str | None = None
    accuracy: float | None = None
    # False: the model's output depends on padding (it pools over every position, say) and reportgen
    # should never pad it: every batch then holds one text, which the model card states
    pad_batches: bool = True
    min_len: int | None = None


class UserCodeError(BadInput):
    """The user's own model code raised: exit 2 at load, with the SPEC, the exception and the
    text."""


def read_logits(out: Any, n_classes: int, batch: int | None = None) -> tuple[torch.Tensor, str]:
    """A user's forward output for ``batch`` texts -> (B, K) logits, and how they were read ("" when
    plainly).

    A ``.squeeze()`` of the output loses the batch axis when one text is given: (K,) is read as
    (1, K) and a 0-d logit as (1,). ``BadInput`` (its message completed by the caller) for anything
    else, a first axis other than the batch included."""
    how = ""
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        out, how = out[0], "the first element of the tuple the forward returns"
    elif isinstance(out, Mapping) and isinstance(out.get("logits"), torch.Tensor):
        out, how = out["logits"], "the 'logits' entry of the dict the forward returns"
    elif not isinstance(out, torch.Tensor) and isinstance(
        getattr(out, "logits", None), torch.Tensor
    ):
        out, how = out.logits, "the .logits attribute of what the forward returns"
    if not isinstance(out, torch.Tensor):
        raise BadInput(
            f"returns {type(out).__name__}, not logits: return a tensor (B, "
            f"{n_classes}), a tuple whose first element it is, or a dict with 'logits'"
        )
    if batch == 1 and out.dim() == 0:  # one sigmoid logit, squeezed
        out = out.reshape(1)
    elif batch == 1 and out.dim() == 1 and out.size(0) == n_classes and n_classes > 1:
        out = out[None]  # (K,) -> (1, K): the batch axis squeezed away
    if batch is not None and out.dim() >= 1 and out.size(0) != batch:
        raise BadInput(
            f"returns shape {tuple(out.shape)} for {batch} texts: the first axis must be "
            "the batch (squeeze only the class axis, .squeeze(-1), not .squeeze())"
        )
    if out.dim() == 2 and out.size(1) == n_classes:
        return out, how
    if n_classes == 2 and (out.dim() == 1 or (out.dim() == 2 and out.size(1) == 1)):
        z = out.reshape(-1)  # (B,): log-odds of the second class
        sigmoid = "one logit per text, read as a sigmoid: p(second class) = sigmoid(logit)"
        return torch.stack([torch.zeros_like(z), z], -1), f"{how}; {sigmoid}" if how else sigmoid
    expected = f"(B, {n_classes}) for its {n_classes} classes"
    if n_classes == 2:
        expected += ", or (B, 1) / (B,) for one sigmoid logit"
    raise BadInput(f"returns shape {tuple(out.shape)}; expected {expected}")


class UserAdapter:
    """``ModelView`` of a user's module: the embedding layer's output is replaced through a hook."""

    def __init__(self, user: UserModel, *, source: str, device: torch.device | str) -> None:
        from reportgen.data.user_tokenizer import as_encoder

        self.module = user.module.to(device).eval()
        self.encoder = as_encoder(user.encoder)
        self.classes = list(user.classes)
        self.name = user.name or "model"
        self.arch = type(user.module).__name__
        self.source = source
        self.task = "classify"
        self.checkpoint_accuracy = user.accuracy
        self.device = torch.device(device)
        self.code_files: list[str] = []
        self.training: dict = {}
        self.pad_batches = user.pad_batches
        if user.min_len is not None and user.min_len < 1:
            raise BadInput(f"model {source!r}: UserModel(min_len={user.min_len}) must be >= 1")
        self._declared_min = None if user.min_len is None else int(user.min_len)
        self._derived_min: int | None = None
        self._chains = user.conv_chains
        self.embedding_name = user.embedding or single_embedding(user.module, source)
        modules = dict(user.module.named_modules())
        if self.embedding_name not in modules or not isinstance(
            modules[self.embedding_name], nn.Embedding
        ):
            raise BadInput(
                f"model {source!r}: {self.embedding_name!r} is not an nn.Embedding of the module",
                choices=[n for n, m in modules.items() if isinstance(m, nn.Embedding)],
            )
        self._embedding: nn.Embedding = modules[self.embedding_name]  # type: ignore[assignment]
        pad = getattr(self.encoder, "pad_id", 0)
        self._pad_id, self._real_id = pad, 1 if pad != 1 else 2  # placeholder ids, see below
        self.output_note = ""  # how the logits were read, when not a plain (B, K) tensor
        self._last_texts: list[str] = []  # the texts of the last batch encoded, for error messages
        self._last_shape: tuple[int, ...] = ()
        self._probe_texts: list[str] | None = None  # for tracing: the first texts encoded
        self._trace: ConvTrace | None = None
        self._output_layer: str | None = None

    # -- the core ------------------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def is_classifier(self) -> bool:
        return self.task == "classify"

    def encode(self, texts: Sequence[str]) -> EncodedBatch:
        if self._probe_texts is None and texts:  # verify's texts, at load
            self._probe_texts = list(texts)[:8]
        batch = self.encoder.encode(texts, min_len=self.min_len).to(self.device)
        self._last_texts, self._last_shape = list(texts), tuple(batch.ids.shape[:2])
        return batch

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self._embedding(ids)

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # placeholder ids: the pad id where masked, another id elsewhere, so that a model that
        # masks by its ids sees the right mask; the hook then swaps in ``emb``
        ids = torch.where(mask, self._real_id, self._pad_id).long()
        try:
            with replace_output(self._embedding, lambda _out: emb):
                return self._run(ids)
        except UserFailure as failure:  # located now, outside the hook that swapped ``emb`` in
            raise self._user_error(failure.exc, tuple(mask.shape)) from None

    def forward(self, batch: EncodedBatch) -> torch.Tensor:
        try:
            return self._run(batch.ids)
        except UserFailure as failure:
            raise self._user_error(failure.exc, tuple(batch.ids.shape[:2])) from None

    def layers(self) -> list[LayerCard]:
        try:
            found = self.conv_chains()
        except NotApplicable:
            found = ConvChains([], {})
        return layer_cards(self.module, found.chains, found.axis)

    # -- facts ---------------------------------------------------------------------------------
    @property
    def min_len(self) -> int:
        """The declared minimum length, else what the conv chains need (1 without chains)."""
        if self._declared_min is not None:
            return self._declared_min
        if self._derived_min is None:
            self._derived_min = 1  # while tracing: the probe batch is padded on its own
            try:
                chains = self.conv_chains().chains
            except NotApplicable:
                chains = []
            modules = dict(self.module.named_modules())
            self._derived_min = max(
                [min_length([modules[n] for n in c]) for c in chains], default=1
            )
        return self._derived_min

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
        return {
            "encoder": self.encoder.to_dict(),
            "embedding": self.embedding_name,
            "conv_chains": self._chains,
        }

    def full_lengths(self, texts: Sequence[str]) -> list[int]:
        return [self.encoder.full_length(t) for t in texts]

    # -- capabilities --------------------------------------------------------------------------
    def text_encoder(self) -> TextEncoder:
        return self.encoder

    def conv_chains(self) -> ConvChains:
        """The user's ``conv_chains``, else the chains found by tracing the forward pass; each
        layer read after the activation module that follows it, where there is one."""
        notes: list[str] = []
        if self._chains is not None:
            chains = self._chains
        else:
            trace = self._traced()
            chains, notes = trace.chains, trace.notes
        if not chains:
            found = "; ".join(notes)
            if found:
                raise NotApplicable(
                    f"{self.name} has no convolutional layers over the text ({found}); if it has, "
                    "name them: UserModel(..., conv_chains=[['convs.0'], ['convs.1']]), one list "
                    "per stack, input side first"
                )
            raise NotApplicable(f"{self.name} has no convolutional layers")
        read_at = {}
        for chain in chains:
            for name in chain:
                after = following_activation(self.module, name)
                if after is not None:
                    read_at[name] = after
        axis = "chars" if self.encoder.kind == "word_chars" else "tokens"
        return ConvChains(chains, read_at, axis, notes)

    def _traced(self) -> ConvTrace:
        if self._trace is None:
            texts = self._probe_texts or ["a b c d e f g h", "a"]
            first = self._declared_min or 1
            try:
                self._trace = trace_conv_chains(self, self._probe_batch(texts, first))
            except UserCodeError:  # too short for the model: pad the probes
                self._trace = trace_conv_chains(self, self._probe_batch(texts, TRACE_MIN_LEN))
        return self._trace

    def _probe_batch(self, texts: list[str], min_len: int) -> EncodedBatch:
        return self.encoder.encode(texts, min_len=min_len).to(self.device)

    def recurrent_layers(self) -> list[tuple[str, nn.RNNBase]]:
        return recurrent_layers(self.module, self.name)

    def mlp_units(self) -> list[str]:
        return []  # its neurons are its per-position hidden states

    def layer_states(self, batch: EncodedBatch) -> dict[str, torch.Tensor]:
        raise NotApplicable(f"{self.name} keeps no list of per-layer states")

    def hidden_states(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotApplicable(
            f"{self.name} is a user model: its hidden states are read at its layers"
        )

    def output_layer(self) -> str:
        """The ``nn.Linear`` whose output is the model's logits, found by tracing one forward pass
        and checked against the model's own output; ``NotApplicable`` when none matches (the
        logits are then computed after the last linear layer, e.g. scaled or pooled, and no
        layer's input is the sentence vector). Its input is the representation the classes are
        read from."""
        if self._output_layer is None:
            self._output_layer = self._find_output_layer()
        if not self._output_layer:
            raise NotApplicable(f"{self.name}: no linear layer's output is its logits")
        return self._output_layer

    def _find_output_layer(self) -> str:
        linears = [n for n, m in self.module.named_modules() if isinstance(m, nn.Linear)]
        if not linears or not self.is_classifier:
            return ""
        batch = self.encode(self._probe_texts or ["a b c d e f g h", "a"])
        with torch.no_grad(), capture(self.module, linears) as seen:
            logits = self.forward(batch).float()  # (B, K)
        single = self.n_classes == 2 and self.output_note.endswith(
            "read as a sigmoid: p(second class) = sigmoid(logit)"
        )
        target = logits[:, 1:] if single else logits  # a sigmoid model's one logit
        for name in reversed(linears):
            out = seen.get(name)
            if out is None or out.dim() != 2 or out.shape != target.shape:
                continue
            if torch.allclose(out.float(), target, atol=VERIFY_TOLERANCE, rtol=VERIFY_TOLERANCE):
                return name
        return ""

    def vocabulary(self) -> VocabVectors:
        return encoder_vocabulary(
            self.name, self.encoder, self.embed, self.device, rows=self._embedding.num_embeddings
        )

    def generation_step(self) -> Step:
        raise NotApplicable(f"{self.name} is not a language model with a step interface")

    def display_tokens(self, batch: EncodedBatch) -> list[list[TokenText]]:
        """The tokens as the model's tokenizer flagged them: special tokens marked; for a
        Transformers tokenizer, word pieces joined into words as in ``HFAdapter``."""
        flags = batch.flags or [[""] * len(toks) for toks in batch.tokens]
        if not getattr(self.encoder, "transformers", False):
            return [
                [TokenText(t, False, f == "special") for t, f in zip(toks, row, strict=True)]
                for toks, row in zip(batch.tokens, flags, strict=True)
            ]
        vocab = self.encoder.vocab
        starts = vocab is not None and marks_word_starts(vocab.itos)
        return [
            piece_row(toks, [f == "special" for f in row], starts)
            for toks, row in zip(batch.tokens, flags, strict=True)
        ]

    # -- the user's code -----------------------------------------------------------------------
    def _run(self, ids: torch.Tensor) -> torch.Tensor:
        """The user's module on ``ids``, its output read as logits; its errors as
        ``UserFailure``."""
        try:
            out = self.module(ids)
        except Exception as exc:  # the user's code: any error, named and located by the caller
            if raised_by_reportgen(exc):  # ours (BadInput, a hook's stop, a hook's own bug)
                raise
            raise UserFailure(exc) from exc
        if not self.is_classifier:  # sequence outputs (B, T, V), as they are
            return out[0] if isinstance(out, (tuple, list)) else out
        try:
            logits, how = read_logits(out, self.n_classes, int(ids.size(0)))
        except BadInput as exc:
            raise BadInput(
                f"model {self.name!r} ({self.source}): its forward {exc.message}"
            ) from None
        self.output_note = how
        return logits

    def _user_error(self, exc: Exception, shape: tuple[int, ...]) -> UserCodeError:
        """Name the model, the exception and, found by running them one by one with every hook of
        the model set aside, the text; a text only when the failing call was the last batch
        encoded (an analysis's own inputs, such as optimised windows, have no text)."""
        culprit = None
        if shape == self._last_shape:
            with hooks_set_aside(self.module), torch.no_grad():
                for text in self._last_texts[:256]:
                    try:
                        one = self.encoder.encode([text], min_len=self.min_len)
                        self.module(one.ids.to(self.device))
                    except Exception:  # noqa: BLE001 - the first text that fails alone is named
                        culprit = text
                        break
        where = f" on the text {culprit[:80]!r}" if culprit is not None else ""
        hint = ""
        if culprit is not None and len(self.encoder.tokens(culprit)) < 8:
            hint = (
                "; if the model needs a minimum number of tokens (a convolution without "
                "padding), declare it with UserModel(..., min_len=N) and shorter texts are "
                "padded"
            )
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return UserCodeError(
            f"model {self.name!r} ({self.source}): the model's forward raised "
            f"{type(exc).__name__}: {first}{where}{hint}"
        )
