"""What a report says of a model, as functions over the ``ModelView``.

- ``fingerprint`` / ``code_fingerprint``: a hash of what the model computes (weights, code,
  settings), in every cache key;
- ``predict_proba``, ``sequence_accuracy``: batched inference for the model card;
- ``class_index``: label names -> class indices, refusing labels the model does not know;
- ``batch_size``: the batch size a model takes (1 for a model that must never be padded);
- the model card's text: ``embedding_description``, ``tokenizer_description``, ``reading``,
  ``parameter_count`` (its ``layers()`` come from the view).

Cost: ``fingerprint`` reads every weight once; the inference helpers are one forward pass per
batch, with the heap's free memory released after each (``reportgen.heap``).
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from reportgen.errors import BadInput
from reportgen.heap import release_free_memory
from reportgen.models.view import NotApplicable

if TYPE_CHECKING:
    from reportgen.models.view import ModelView


def fingerprint(view: ModelView) -> str:
    """Hash of what the model computes: weights, code, vocabulary, classes, task, batching."""
    h = hashlib.sha256()
    h.update(
        repr(
            (
                view.arch,
                view.task,
                view.classes,
                view.pad_batches,
                view.min_len,
                view.embedding_name,
                view.settings(),
            )
        ).encode()
    )
    h.update(code_fingerprint(view).encode())
    for k, v in sorted(view.module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def code_fingerprint(view: ModelView) -> str:
    """Hash of the source files that define the model: every class of every submodule (and its
    bases) outside torch itself, plus ``code_files``; a changed line anywhere changes it."""
    files: set[str] = set(view.code_files)
    for m in view.module.modules():
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


def batch_size(view: ModelView, wanted: int) -> int:
    """The batch size to use: ``wanted``, or 1 for a model that must never be padded."""
    return wanted if view.pad_batches else 1


@torch.no_grad()
def predict_proba(view: ModelView, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """(N, K) class probabilities, in the texts' order, batched: in batches of texts of about the
    same length (by characters, longest first), as a padded batch pays for its longest text at
    every text; a text's probabilities can move by float rounding with its batch's width."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out = []
    for start in range(0, len(texts), batch_size):
        batch = view.encode([texts[i] for i in order[start : start + batch_size]])
        logits = view.forward_from_embeddings(view.embed(batch.ids), batch.mask)  # (B, K)
        out.append(torch.softmax(logits.float(), -1).cpu().numpy())
        release_free_memory()  # freed memory must not pile up with the batches (reportgen.heap)
    if not out:
        return np.zeros((0, view.n_classes), np.float32)
    return np.concatenate(out)[np.argsort(order, kind="stable")]


@torch.no_grad()
def sequence_accuracy(view: ModelView, texts: Sequence[str], batch_size: int = 128) -> float:
    """Autoencoders: share of tokens reconstructed; language models: of next tokens predicted."""
    right = total = 0
    for start in range(0, len(texts), batch_size):
        batch = view.encode(texts[start : start + batch_size])
        assert batch.mask is not None
        logits = view.forward_from_embeddings(view.embed(batch.ids), batch.mask)  # (B, T, V)
        guess, target, mask = logits.argmax(-1), batch.ids, batch.mask
        if view.task == "lm":  # position t predicts token t + 1
            guess, target, mask = guess[:, :-1], target[:, 1:], mask[:, 1:]
        right += int(((guess == target) & mask).sum())
        total += int(mask.sum())
        release_free_memory()
    return right / total if total else 0.0


def class_index(view: ModelView, labels: Sequence[str | None]) -> np.ndarray:
    """Label names -> class indices; ``BadInput`` naming the labels the model does not know."""
    known = {c: i for i, c in enumerate(view.classes)}
    unknown = sorted({str(label) for label in labels if label is not None and label not in known})
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        data_labels = sorted({str(label) for label in labels if label is not None})
        if all(x.isdigit() and int(x) < len(view.classes) for x in data_labels):
            hint = ",".join(f"{x}={view.classes[int(x)]}" for x in data_labels)
            advice = f"; if they are class indices, map them with --label-map {hint}"
        else:
            advice = "; rename them to the model's classes with --label-map OLD=NEW,..."
        raise BadInput(
            f"the data has labels that model {view.name!r} ({view.source}) does not know: "
            f"{shown}{advice}",
            choices=view.classes,
        )
    return np.array([known.get(label, -1) if label is not None else -1 for label in labels])


def parameter_count(view: ModelView) -> int:
    return sum(p.numel() for p in view.module.parameters())


def embedding_description(view: ModelView) -> str:
    """Which embedding the analyses differentiate, and its size."""
    if not view.embedding_name:
        return ""
    module = dict(view.module.named_modules())[view.embedding_name]
    size = (
        f"{module.num_embeddings:,} x {module.embedding_dim}"
        if isinstance(module, nn.Embedding)
        else ""
    )
    what = (
        "character embeddings (words spelled out)"
        if view.input_kind == "word_chars"
        else "token embeddings"
    )
    return f"{view.embedding_name}: {what}" + (f", {size}" if size else "")


def tokenizer_description(view: ModelView) -> str:
    try:
        enc = view.text_encoder()
    except NotApplicable:  # the model's own Transformers tokenizer
        return f"the model's own ({view.settings().get('tokenizer', 'tokenizer')})"
    if hasattr(enc, "fn"):  # a reportgen.Tokenizer around the model's own (the encoder's type)
        return f"the model's own ({enc.name})"
    return f"reportgen's {enc.kind.replace('_', ' ')} tokens"


def reading(view: ModelView) -> list[str]:
    """How reportgen reads this model, where that is not the plain way."""
    notes = []
    if view.output_note:
        notes.append(f"logits: {view.output_note}")
    if view.min_len > 1:
        notes.append(
            f"texts shorter than {view.min_len} tokens are padded to {view.min_len} "
            "(the model's minimum length)"
        )
    return notes
