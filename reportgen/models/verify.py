"""A model is never trusted blindly: at load, its split forward must be its own forward.

Question: does ``forward_from_embeddings(embed(ids))`` compute what the model's own forward does,
and does a text give the same output alone as inside a padded batch? Method: both on one batch of
at most 32 evaluated texts, within ``VERIFY_TOLERANCE`` of the output's scale; the shortest texts
also run alone (where a minimum length bites). A model that fails either is refused (exit 2) with
the deviation and what to do; a model that must never be padded (``pad_batches=False``) skips the
padding check.

Cost: three forward passes on one batch, and one per padded text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from reportgen.errors import BadInput

if TYPE_CHECKING:
    from reportgen.data.encoding import EncodedBatch
    from reportgen.models.view import ModelView

VERIFY_TOLERANCE = 1e-4


def verify(view: ModelView, texts: Sequence[str]) -> None:
    """Check on one batch that the split forward reproduces the model's own forward, and that
    each text gives the same output alone as inside a padded batch (unless never padded)."""
    texts = list(texts)[:32] or ["a"]
    batch = view.encode(texts)
    with torch.no_grad():
        own = view.forward(batch).float()
        split = view.forward_from_embeddings(view.embed(batch.ids), batch.mask).float()
    if own.shape != split.shape:
        raise BadInput(
            f"model {view.name!r} ({view.source}): forward_from_embeddings gives shape "
            f"{tuple(split.shape)}, the model's forward {tuple(own.shape)}"
        )
    deviation = (own - split).abs().max().item() if own.numel() else 0.0
    if not deviation <= VERIFY_TOLERANCE * max(1.0, own.abs().max().item()):
        raise BadInput(
            f"model {view.name!r} ({view.source}): forward_from_embeddings(embed(ids)) deviates "
            f"from the model's forward by {deviation:.3g}; the adapter cannot split this model at "
            "its embedding layer"
        )
    with torch.no_grad():  # the shortest texts alone: where a minimum length bites
        for text in sorted(texts, key=len)[:2]:
            view.forward(view.encode([text]))
    if view.pad_batches:
        _verify_padding(view, texts, batch, split)


def _verify_padding(
    view: ModelView, texts: list[str], batch: EncodedBatch, batched: torch.Tensor
) -> None:
    """Refuse a model whose output for a text changes when the text is padded into a batch."""
    lengths = [len(t) for t in batch.tokens]
    if len(set(lengths)) < 2:  # no padding in this batch: pad the shortest text with the longest
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        texts = [texts[order[0]], texts[order[-1]] + " " + texts[order[-1]]]
        batch = view.encode(texts)
        with torch.no_grad():
            batched = view.forward_from_embeddings(view.embed(batch.ids), batch.mask).float()
        lengths = [len(t) for t in batch.tokens]
    worst, where = 0.0, 0
    scale = 1.0
    with torch.no_grad():
        for i, text in enumerate(texts):
            if lengths[i] == batch.ids.size(1):
                continue  # not padded in the batch
            one = view.encode([text])
            alone = view.forward_from_embeddings(view.embed(one.ids), one.mask).float()[0]
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
            f"model {view.name!r} ({view.source}) gives a different output for the same text "
            f"alone and inside a padded batch (by {worst:.3g} for {texts[where][:40]!r}): it reads "
            "the padding positions, e.g. by pooling over every position. Results would depend on "
            "which texts share a batch. Fix the model to ignore padding (mask the pad id's "
            "positions, or pass lengths), or return UserModel(..., pad_batches=False) so that "
            "reportgen never pads it (one text per batch, slower; stated on the model card)"
        )
