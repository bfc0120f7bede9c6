"""The one narrow view every analysis has of a model.

Whatever the model (a reference architecture, a user's own ``nn.Module``, a Transformers
classifier), analyses only use:

- ``encode(texts)``: texts -> ``EncodedBatch`` (ids, display tokens, mask)
- ``embed(ids)``: ids -> input embeddings, (B, T, E) or (B, T, C, E) for character-spelled words
- ``forward_from_embeddings(emb, mask)``: -> logits, (B, K) for classifiers
- ``layers()``: ordered ``LayerCard``s with kind, units and receptive field
- ``conv_chains()`` / ``conv_outputs()``: conv/pool chains by module name, and where each layer's
  activation (after its nonlinearity) can be read
- ``token_vectors()``: every vocabulary entry's vector, special tokens marked
- ``classes``, ``task``, ``encoder``, ``module``

What analyses read inside a model (hidden and cell states, conv activations with receptive fields,
unit features, clamping, vocabulary vectors) are free functions over this protocol in
``reportgen.models.internals``.

Adapters never mutate the wrapped model (beyond ``eval()``). At load, ``verify`` checks on one batch
that ``forward_from_embeddings(embed(ids))`` reproduces the model's own forward, and that each text
gives the same output alone as in a padded batch; it fails with the deviation if not.

Receptive fields (Araujo et al. 2019's recurrence; the design guide's helper): starting from
(size 1, jump 1, offset 0), each conv/pool layer with kernel k, stride s, dilation d and padding p
gives size += (k - 1) * d * jump, offset -= p * jump, jump *= s.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from reportgen.data.encoding import EncodedBatch, TextEncoder
from reportgen.errors import BadInput
from reportgen.heap import release_free_memory
from reportgen.models.hooks import capture
from reportgen.records import LayerCard

CONV_TYPES = (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)
RECURRENT_TYPES = (nn.RNN, nn.LSTM, nn.GRU)
VERIFY_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ReceptiveField:
    size: int  # input positions one output position sees
    jump: int  # input positions between neighbouring output positions
    offset: int  # input position of output position 0's window start


def receptive_fields(layers: Sequence[nn.Module]) -> list[ReceptiveField]:
    """Receptive field after each layer of a sequential chain of conv / pool layers."""
    size, jump, offset = 1, 1, 0
    out = []
    for layer in layers:
        k, s, d, p = _conv_geometry(layer)
        size += (k - 1) * d * jump
        offset -= p * jump
        jump *= s
        out.append(ReceptiveField(size, jump, offset))
    return out


def _conv_geometry(layer: nn.Module) -> tuple[int, int, int, int]:
    """(kernel, stride, dilation, padding) of a 1-D conv or pool layer."""

    def first(v: int | tuple[int, ...] | str) -> int:
        if isinstance(v, str):  # padding="same"/"valid" on Conv1d
            if v == "valid":
                return 0
            k, d = _first(layer.kernel_size), _first(layer.dilation)
            return (k - 1) * d // 2
        return _first(v)

    kernel = _first(layer.kernel_size)
    stride = _first(layer.stride) if layer.stride is not None else kernel
    dilation = _first(getattr(layer, "dilation", 1))
    padding = first(getattr(layer, "padding", 0))
    return kernel, stride, dilation, padding


def _first(v: int | tuple[int, ...]) -> int:
    return int(v[0] if isinstance(v, tuple) else v)


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
    every Conv1d/pool in module order, as one chain); ``min_len``: the fewest tokens the model
    accepts (convolutions without padding): shorter texts are padded up to it, as the card says.
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
    min_len: int = 1


class UserCodeError(BadInput):
    """The user's own model code raised: exit 2 at load, with the SPEC, the exception and the text."""


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
    elif not isinstance(out, torch.Tensor) and isinstance(getattr(out, "logits", None), torch.Tensor):
        out, how = out.logits, "the .logits attribute of what the forward returns"
    if not isinstance(out, torch.Tensor):
        raise BadInput(f"returns {type(out).__name__}, not logits: return a tensor (B, "
                       f"{n_classes}), a tuple whose first element it is, or a dict with 'logits'")
    if batch == 1 and out.dim() == 0:  # one sigmoid logit, squeezed
        out = out.reshape(1)
    elif batch == 1 and out.dim() == 1 and out.size(0) == n_classes and n_classes > 1:
        out = out[None]  # (K,) -> (1, K): the batch axis squeezed away
    if batch is not None and out.dim() >= 1 and out.size(0) != batch:
        raise BadInput(f"returns shape {tuple(out.shape)} for {batch} texts: the first axis must be "
                       "the batch (squeeze only the class axis, .squeeze(-1), not .squeeze())")
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


class ModelAdapter:
    """Adapter over a reference ``TextModel`` (native split forward)."""

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
        config = getattr(module, "config", None)  # reference models: a dict; Transformers: an object
        self.min_len = int(config.get("min_len", 1)) if isinstance(config, dict) else 1
        self.pad_batches = True  # False: one text per batch (the model reads padding)
        self.code_files: list[str] = []  # source files beside the model's classes (user SPEC files)
        self.training: dict = {}  # what the checkpoint says of its training (data, splits, vectors)

    # -- the protocol ------------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def is_classifier(self) -> bool:
        return self.task == "classify"

    def encode(self, texts: Sequence[str]) -> EncodedBatch:
        return self.encoder.encode(texts, min_len=self.min_len).to(self.device)

    @property
    def pad_id(self) -> int:
        """The id that fills padded positions: 0, or what the model's tokenizer says."""
        if self.encoder is not None:
            return int(getattr(self.encoder, "pad_id", 0))
        return int(getattr(getattr(self, "tokenizer", None), "pad_token_id", 0) or 0)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.module.embed(ids)

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.module.forward_from_embeddings(emb, mask)

    def forward(self, batch: EncodedBatch) -> torch.Tensor:
        return self.module(batch.ids)

    def conv_chains(self) -> list[list[str]]:
        fn = getattr(self.module, "conv_chains", None)
        chains = fn() if fn is not None else []
        if chains:
            return chains
        names = [n for n, m in self.module.named_modules() if isinstance(m, CONV_TYPES)]
        return [names] if names else []

    def conv_outputs(self) -> dict[str, str]:
        """Conv/pool module name -> the module whose output is its activation after the nonlinearity
        (a hook point in reference models); layers not listed are read at their own output."""
        fn = getattr(self.module, "conv_outputs", None)
        return dict(fn()) if fn is not None else {}

    def batch_size(self, wanted: int) -> int:
        """The batch size to use: ``wanted``, or 1 for a model that must never be padded."""
        return wanted if self.pad_batches else 1

    def token_vectors(self) -> tuple[list[str], torch.Tensor, list[bool], str]:
        """(entry texts, (V, E) vectors, special flags, space) of the whole vocabulary."""
        enc = self.encoder
        if enc.kind == "word_chars":
            assert enc.vocab is not None
            word_vectors = getattr(self.module, "word_vectors", None)
            if word_vectors is None:
                from reportgen.models.internals import NotApplicable

                raise NotApplicable(f"{self.name} builds words from characters but has no word_vectors")
            words = enc.vocab.itos
            ids = torch.tensor([enc.spell(w) + [0] * (enc.max_word_len + 2 - len(enc.spell(w)))
                                for w in words], device=self.device)  # (V, C)
            with torch.no_grad():
                vectors = torch.cat([word_vectors(self.embed(chunk[:, None]))[:, 0]
                                     for chunk in ids.split(1024)])  # (V, D)
            return list(words), vectors, [i < 2 for i in range(len(words))], "char-cnn word vectors"
        rows = getattr(getattr(self, "_embedding", None), "num_embeddings", None)
        n = min(enc.n_tokens, rows) if enc.n_tokens and rows else enc.n_tokens or rows or 0
        ids = torch.arange(n, device=self.device)[None]  # (1, V)
        with torch.no_grad():
            vectors = self.embed(ids)[0]  # (V, E)
        texts = [enc.token_text(i) for i in range(n)]
        is_special = getattr(enc, "is_special", None)
        if is_special is not None:  # a user's tokenizer: its own pad and special ids
            special = [is_special(i) for i in range(n)]
        else:
            special = [i == 0 for i in range(n)] if enc.kind == "byte" else [i < 2 for i in range(n)]
        return texts, vectors, special, "embedding"

    @contextmanager
    def gradients(self) -> Iterator[None]:
        """Grad mode for input gradients. cuDNN's RNNs have no backward pass in eval mode, so cuDNN
        is switched off while each recurrent module runs forward (its backward then follows the
        native kernels); convolutions keep cuDNN."""
        handles = []
        previous: list[bool] = []

        def off(_m: nn.Module, _inputs: tuple) -> None:
            previous.append(torch.backends.cudnn.enabled)
            torch.backends.cudnn.enabled = False

        def back(_m: nn.Module, _inputs: tuple, _out: object) -> None:
            torch.backends.cudnn.enabled = previous.pop()

        try:
            for m in self.module.modules():
                if isinstance(m, RECURRENT_TYPES):
                    handles.append(m.register_forward_pre_hook(off))
                    handles.append(m.register_forward_hook(back))
            with torch.enable_grad():
                yield
        finally:
            for h in handles:
                h.remove()
            if previous:  # a recurrent forward raised: restore the setting it changed
                torch.backends.cudnn.enabled = previous[0]

    # -- facts for the model card --------------------------------------------------------------
    def embedding_description(self) -> str:
        """Which embedding the analyses differentiate, and its size."""
        get = getattr(self.module, "get_input_embeddings", None)
        found = [("input embeddings", get())] if callable(get) else []
        name = getattr(self, "embedding_name", None)
        if name:
            found = [(name, dict(self.module.named_modules())[name])]
        if not found:
            found = [(n, m) for n, m in self.module.named_modules() if isinstance(m, nn.Embedding)][:1]
        if not found:
            return ""
        label, module = found[0]
        size = f"{module.num_embeddings:,} x {module.embedding_dim}" if isinstance(module, nn.Embedding) else ""
        what = "character embeddings (words spelled out)" if self.encoder is not None and \
            self.encoder.kind == "word_chars" else "token embeddings"
        return f"{label}: {what}" + (f", {size}" if size else "")

    def tokenizer_description(self) -> str:
        enc = self.encoder
        if enc is None:
            tok = getattr(self, "tokenizer", None)
            return f"the model's own ({type(tok).__name__})" if tok is not None else ""
        if hasattr(enc, "fn"):  # a reportgen.Tokenizer around the model's own
            return f"the model's own ({enc.name})"
        return f"reportgen's {enc.kind.replace('_', ' ')} tokens"

    def reading(self) -> list[str]:
        """How reportgen reads this model, where that is not the plain way."""
        notes = []
        note = getattr(self, "output_note", "")
        if note:
            notes.append(f"logits: {note}")
        if self.min_len > 1:
            notes.append(f"texts shorter than {self.min_len} tokens are padded to {self.min_len} "
                         "(the model's minimum length)")
        return notes

    @property
    def vocab_size(self) -> int:
        vocab = self.encoder.vocab
        return len(vocab) if vocab is not None else self.encoder.n_tokens

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def layers(self) -> list[LayerCard]:
        modules = dict(self.module.named_modules())
        rf: dict[str, tuple[int, str]] = {}
        for chain in self.conv_chains():
            axis = "chars" if self.encoder.kind == "word_chars" else "tokens"
            for lname, field_ in zip(chain, receptive_fields([modules[n] for n in chain]), strict=True):
                rf[lname] = (field_.size, axis)
        cards = []
        for lname, m in self.module.named_modules():
            if not lname:
                continue
            card = _layer_card(lname, m, rf)
            if card is not None:
                cards.append(card)
        return cards

    def fingerprint(self) -> str:
        """Hash of what the model computes: weights, code, vocabulary, classes, task, batching."""
        h = hashlib.sha256()
        encoder = self.encoder.to_dict() if self.encoder is not None else None
        h.update(repr((self.arch, self.task, self.classes, encoder, self.pad_batches, self.min_len,
                       getattr(self, "embedding_name", None), getattr(self, "_chains", None))).encode())
        h.update(self.code_fingerprint().encode())
        for k, v in sorted(self.module.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def code_fingerprint(self) -> str:
        """Hash of the source files that define the model: every class of every submodule (and its
        bases) outside torch itself, plus ``code_files``; a changed line anywhere changes it."""
        files: set[str] = set(self.code_files)
        for m in self.module.modules():
            for cls in type(m).__mro__:
                if cls.__module__.split(".")[0] in ("torch", "builtins"):
                    continue
                try:
                    files.add(inspect.getsourcefile(cls) or "")
                except TypeError:
                    continue
        h = hashlib.sha256()
        for path in sorted(f for f in files if f):
            h.update(path.encode())
            try:
                with open(path, "rb") as fh:
                    h.update(fh.read())
            except OSError:
                h.update(b"<unreadable>")
        return h.hexdigest()[:16]

    # -- inference helpers ---------------------------------------------------------------------
    @torch.no_grad()
    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """(N, K) class probabilities, in order, batched."""
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.encode(texts[start : start + batch_size])
            logits = self.forward_from_embeddings(self.embed(batch.ids), batch.mask)  # (B, K)
            out.append(torch.softmax(logits.float(), -1).cpu().numpy())
            release_free_memory()  # freed memory must not pile up with the batches (reportgen.heap)
        return np.concatenate(out) if out else np.zeros((0, self.n_classes), np.float32)

    @torch.no_grad()
    def sequence_accuracy(self, texts: Sequence[str], batch_size: int = 128) -> float:
        """Autoencoders: share of tokens reconstructed; language models: of next tokens predicted."""
        right = total = 0
        for start in range(0, len(texts), batch_size):
            batch = self.encode(texts[start : start + batch_size])
            assert batch.mask is not None
            logits = self.forward_from_embeddings(self.embed(batch.ids), batch.mask)  # (B, T, V)
            guess, target, mask = logits.argmax(-1), batch.ids, batch.mask
            if self.task == "lm":  # position t predicts token t + 1
                guess, target, mask = guess[:, :-1], target[:, 1:], mask[:, 1:]
            right += int(((guess == target) & mask).sum())
            total += int(mask.sum())
            release_free_memory()
        return right / total if total else 0.0

    def class_index(self, labels: Sequence[str | None]) -> np.ndarray:
        """Label names -> class indices; ``BadInput`` naming the labels the model does not know."""
        known = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted({str(label) for label in labels if label is not None and label not in known})
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            data_labels = sorted({str(label) for label in labels if label is not None})
            if all(x.isdigit() and int(x) < len(self.classes) for x in data_labels):
                hint = ",".join(f"{x}={self.classes[int(x)]}" for x in data_labels)
                advice = f"; if they are class indices, map them with --label-map {hint}"
            else:
                advice = "; rename them to the model's classes with --label-map OLD=NEW,..."
            raise BadInput(
                f"the data has labels that model {self.name!r} ({self.source}) does not know: {shown}{advice}",
                choices=self.classes,
            )
        return np.array([known.get(label, -1) if label is not None else -1 for label in labels])

    def verify(self, texts: Sequence[str]) -> None:
        """Check on one batch that the split forward reproduces the model's own forward, and that
        each text gives the same output alone as inside a padded batch (unless never padded)."""
        texts = list(texts)[:32] or ["a"]
        self._probe_texts = texts[:8]
        batch = self.encode(texts)
        with torch.no_grad():
            own = self.forward(batch).float()
            split = self.forward_from_embeddings(self.embed(batch.ids), batch.mask).float()
        if own.shape != split.shape:
            raise BadInput(
                f"model {self.name!r} ({self.source}): forward_from_embeddings gives shape {tuple(split.shape)}, "
                f"the model's forward {tuple(own.shape)}"
            )
        deviation = (own - split).abs().max().item() if own.numel() else 0.0
        if not deviation <= VERIFY_TOLERANCE * max(1.0, own.abs().max().item()):
            raise BadInput(
                f"model {self.name!r} ({self.source}): forward_from_embeddings(embed(ids)) deviates from the "
                f"model's forward by {deviation:.3g}; the adapter cannot split this model at its "
                "embedding layer"
            )
        with torch.no_grad():  # the shortest texts alone: where a minimum length bites
            for text in sorted(texts, key=len)[:2]:
                self.forward(self.encode([text]))
        if self.pad_batches:
            self._verify_padding(texts, batch, split)

    def _verify_padding(self, texts: list[str], batch: EncodedBatch, batched: torch.Tensor) -> None:
        """Refuse a model whose output for a text changes when the text is padded into a batch."""
        lengths = [len(t) for t in batch.tokens]
        if len(set(lengths)) < 2:  # no padding in this batch: pad the shortest text with the longest
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            texts = [texts[order[0]], texts[order[-1]] + " " + texts[order[-1]]]
            batch = self.encode(texts)
            with torch.no_grad():
                batched = self.forward_from_embeddings(self.embed(batch.ids), batch.mask).float()
            lengths = [len(t) for t in batch.tokens]
        worst, where = 0.0, 0
        scale = 1.0
        with torch.no_grad():
            for i, text in enumerate(texts):
                if lengths[i] == batch.ids.size(1):
                    continue  # not padded in the batch
                one = self.encode([text])
                alone = self.forward_from_embeddings(self.embed(one.ids), one.mask).float()[0]
                padded = batched[i]
                if padded.dim() == 2:  # (T, V): compare real positions only
                    n = min(lengths[i], alone.size(0))
                    alone, padded = alone[:n], padded[:n]
                scale = max(scale, alone.abs().max().item())
                gap = (alone - padded).abs().max().item() if alone.numel() else 0.0
                if gap > worst:
                    worst, where = gap, i
        if worst > VERIFY_TOLERANCE * scale:
            raise BadInput(
                f"model {self.name!r} ({self.source}) gives a different output for the same text alone and inside "
                f"a padded batch (by {worst:.3g} for {texts[where][:40]!r}): it reads the padding "
                "positions, e.g. by pooling over every position. Results would depend on which "
                "texts share a batch. Fix the model to ignore padding (mask the pad id's positions, or "
                "pass lengths), or return UserModel(..., pad_batches=False) so that reportgen never "
                "pads it (one text per batch, slower; stated on the model card)"
            )


class HookedAdapter(ModelAdapter):
    """Adapter over a user's module: the embedding layer's output is replaced through a hook."""

    def __init__(self, user: UserModel, *, source: str, device: torch.device | str) -> None:
        from reportgen.data.user_tokenizer import as_encoder

        super().__init__(
            user.module,
            as_encoder(user.encoder),
            user.classes,
            name=user.name or "model",
            arch=type(user.module).__name__,
            source=source,
            checkpoint_accuracy=user.accuracy,
            device=device,
        )
        self._chains = user.conv_chains
        self.pad_batches = user.pad_batches
        if user.min_len < 1:
            raise BadInput(f"model {source!r}: UserModel(min_len={user.min_len}) must be >= 1")
        self.min_len = int(user.min_len)
        self.embedding_name = user.embedding or _single_embedding(user.module, source)
        modules = dict(user.module.named_modules())
        if self.embedding_name not in modules or not isinstance(modules[self.embedding_name], nn.Embedding):
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
        self._probe_texts = ["a b c d e f g h", "a"]  # for tracing; verify() puts real texts here

    def encode(self, texts: Sequence[str]) -> EncodedBatch:
        batch = super().encode(texts)
        self._last_texts, self._last_shape = list(texts), tuple(batch.ids.shape[:2])
        return batch

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self._embedding(ids)

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # placeholder ids: the pad id where masked, another id elsewhere, so that a model that
        # masks by its ids sees the right mask; the hook then swaps in ``emb``
        ids = torch.where(mask, self._real_id, self._pad_id).long()
        try:
            with _replace_output(self._embedding, lambda _out: emb):
                return self._run(ids)
        except _UserFailure as failure:  # located now, outside the hook that swapped ``emb`` in
            raise self._user_error(failure.exc, tuple(mask.shape)) from None

    def forward(self, batch: EncodedBatch) -> torch.Tensor:
        try:
            return self._run(batch.ids)
        except _UserFailure as failure:
            raise self._user_error(failure.exc, tuple(batch.ids.shape[:2])) from None

    def _run(self, ids: torch.Tensor) -> torch.Tensor:
        """The user's module on ``ids``, its output read as logits; its errors as ``_UserFailure``."""
        try:
            out = self.module(ids)
        except Exception as exc:  # the user's code: any error, named and located by the caller
            if _raised_by_reportgen(exc):  # ours (BadInput, a hook's stop, a hook's own bug)
                raise
            raise _UserFailure(exc) from exc
        if not self.is_classifier:  # sequence outputs (B, T, V), as they are
            return out[0] if isinstance(out, (tuple, list)) else out
        try:
            logits, how = read_logits(out, self.n_classes, int(ids.size(0)))
        except BadInput as exc:
            raise BadInput(f"model {self.name!r} ({self.source}): its forward {exc.message}") from None
        self.output_note = how
        return logits

    def display_tokens(self, batch: EncodedBatch) -> list:
        """The tokens as the model's tokenizer flagged them: special tokens marked; for a
        Transformers tokenizer, word pieces joined into words as in ``HFAdapter``."""
        from reportgen.models.internals import TokenText, marks_word_starts, piece_row

        flags = batch.flags or [[""] * len(toks) for toks in batch.tokens]
        if not getattr(self.encoder, "transformers", False):
            return [[TokenText(t, False, f == "special") for t, f in zip(toks, row, strict=True)]
                    for toks, row in zip(batch.tokens, flags, strict=True)]
        vocab = self.encoder.vocab
        starts = vocab is not None and marks_word_starts(vocab.itos)
        return [piece_row(toks, [f == "special" for f in row], starts)
                for toks, row in zip(batch.tokens, flags, strict=True)]

    @cached_property
    def output_layer(self) -> str:
        """The ``nn.Linear`` whose output is the model's logits, found by tracing one forward pass
        and checked against the model's own output ("" when none matches: the logits are then
        computed after the last linear layer, e.g. scaled or pooled, and no layer's input is the
        sentence vector). Its input is the representation the classes are read from."""
        linears = [n for n, m in self.module.named_modules() if isinstance(m, nn.Linear)]
        if not linears or not self.is_classifier:
            return ""
        batch = self.encode(self._probe_texts)
        with torch.no_grad(), capture(self.module, linears) as seen:
            logits = self.forward(batch).float()  # (B, K)
        single = self.n_classes == 2 and self.output_note.endswith("read as a sigmoid: p(second "
                                                                   "class) = sigmoid(logit)")
        target = logits[:, 1:] if single else logits  # a sigmoid model's one logit
        for name in reversed(linears):
            out = seen.get(name)
            if out is None or out.dim() != 2 or out.shape != target.shape:
                continue
            if torch.allclose(out.float(), target, atol=VERIFY_TOLERANCE, rtol=VERIFY_TOLERANCE):
                return name
        return ""

    def _user_error(self, exc: Exception, shape: tuple[int, ...]) -> UserCodeError:
        """Name the model, the exception and, found by running them one by one with every hook of
        the model set aside, the text; a text only when the failing call was the last batch
        encoded (an analysis's own inputs, such as optimised windows, have no text)."""
        culprit = None
        if shape == self._last_shape:
            with _hooks_set_aside(self.module), torch.no_grad():
                for text in self._last_texts[:256]:
                    try:
                        self.module(self.encoder.encode([text], min_len=self.min_len).ids.to(self.device))
                    except Exception:  # noqa: BLE001 - the first text that fails alone is the one to name
                        culprit = text
                        break
        where = f" on the text {culprit[:80]!r}" if culprit is not None else ""
        hint = ""
        if culprit is not None and len(self.encoder.tokens(culprit)) < 8:
            hint = ("; if the model needs a minimum number of tokens (a convolution without "
                    "padding), declare it with UserModel(..., min_len=N) and shorter texts are padded")
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return UserCodeError(f"model {self.name!r} ({self.source}): the model's forward raised "
                             f"{type(exc).__name__}: {first}{where}{hint}")

    def conv_chains(self) -> list[list[str]]:
        """The user's ``conv_chains``, else the chains found by tracing the forward pass."""
        if self._chains is not None:
            return self._chains
        return self.conv_trace.chains

    @cached_property
    def conv_trace(self):
        from reportgen.models.tracing import trace_conv_chains

        return trace_conv_chains(self, self._probe_texts)

    def conv_outputs(self) -> dict[str, str]:
        """Each conv layer read after the activation module that follows it, where there is one."""
        from reportgen.models.internals import following_activation

        found = {}
        for chain in self.conv_chains():
            for name in chain:
                after = following_activation(self.module, name)
                if after is not None:
                    found[name] = after
        return found


class _UserFailure(Exception):
    """Carries an exception of the user's forward out of the hooks, to be located and named."""

    def __init__(self, exc: Exception) -> None:
        super().__init__(str(exc))
        self.exc = exc


PACKAGE = Path(__file__).resolve().parents[1]


def _raised_by_reportgen(exc: Exception) -> bool:
    """An exception of reportgen's own, or raised while reportgen's code ran inside the forward (a
    hook, or torch called from one): any frame below the user's module call in reportgen's files."""
    if type(exc).__module__.split(".")[0] == "reportgen":
        return True
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # below ``_run``
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE):
            return True
        tb = tb.tb_next
    return False


@contextmanager
def _hooks_set_aside(module: nn.Module) -> Iterator[None]:
    """Every forward hook of ``module`` and its submodules removed while inside, then put back."""
    kinds = ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs",
             "_forward_hooks_always_called")
    saved = [(m, k, getattr(m, k)) for m in module.modules() for k in kinds if hasattr(m, k)]
    for m, k, hooks in saved:
        setattr(m, k, type(hooks)())
    try:
        yield
    finally:
        for m, k, hooks in saved:
            setattr(m, k, hooks)


@contextmanager
def _replace_output(module: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Replace a module's output while inside the block; the hook is removed even on error."""
    handle = module.register_forward_hook(lambda _m, _inp, out: fn(out))
    try:
        yield
    finally:
        handle.remove()


def _single_embedding(module: nn.Module, source: str) -> str:
    names = [n for n, m in module.named_modules() if isinstance(m, nn.Embedding)]
    if len(names) != 1:
        raise BadInput(
            f"model {source!r}: cannot tell which embedding layer to analyse ({len(names)} found); "
            "name it with UserModel(embedding=...)",
            choices=names or ["(no nn.Embedding in the module)"],
        )
    return names[0]


def _layer_card(name: str, m: nn.Module, rf: dict[str, tuple[int, str]]) -> LayerCard | None:
    if isinstance(m, nn.Embedding):
        return LayerCard(name, "embedding", m.embedding_dim, 1)
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        if name not in rf and isinstance(m, nn.Conv2d):
            return None  # not a convolution over the text
        size, axis = rf.get(name, (None, "tokens"))
        return LayerCard(name, "conv", m.out_channels, size, axis)
    if isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)):
        size, axis = rf.get(name, (None, "tokens"))
        return LayerCard(name, "pool", None, size, axis)
    if isinstance(m, RECURRENT_TYPES):
        units = m.hidden_size * (2 if m.bidirectional else 1)
        return LayerCard(name, "recurrent", units, None)
    if isinstance(m, nn.Linear):
        kind = "highway" if "highway" in name else "linear"
        return LayerCard(name, kind, m.out_features, None)
    if isinstance(m, nn.MultiheadAttention):
        return LayerCard(name, "attention", m.embed_dim, None)
    return None
