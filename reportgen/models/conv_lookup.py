"""First-layer convolutions as table lookups, for scoring many edits of the same texts.

Question: ``faithfulness`` re-scores about a hundred edited copies of every text (tokens deleted or
kept alone); every copy is made of the text's own tokens. Must each copy pay the first
convolution's full matrix products again?

Method: a first-layer ``nn.Conv1d`` over the (masked) token embeddings computes, at output t,
b + sum_j W_j . e(id[t s + j d - p]) (stride s, dilation d, padding p; zero outside the text and at
masked positions). W_j . e(v) depends on the token only, so for the U distinct tokens of a batch the
projections P[j, u] = W_j . e(u) are computed once (one (U, E) x (E, k C) product, about the cost
of one forward pass of the batch), and every edited copy's convolution is k gathers and sums of
those rows: no product over the embedding dimension per copy. The rest of the model runs as it is
(the conv modules are swapped for the lookups while a copy is scored, then put back).

Nothing about the model is assumed: ``EditScorer`` compares the lookups' logits with the model's
own on the first chunk it scores (to 1e-5 of their size) and uses them only when they agree;
otherwise, or for a model without such a layer (RNNs, Transformers, character CNNs), every copy
runs the model as it is. The same gathers and sums round differently from a convolution's products:
probabilities agree to about 1e-7.

Outputs: logits (N, K) of edited id batches. Cost: per batch of texts, one projection product;
per edited chunk, k gathers of (N, T, C) per first-layer convolution.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from reportgen.models.conv import conv_layers
from reportgen.models.view import ModelView, NotApplicable

_PROVEN: weakref.WeakKeyDictionary[nn.Module, bool] = weakref.WeakKeyDictionary()


class ConvStandIn(nn.Module):
    """Base of modules swapped in for a Conv1d: they show its geometry and parameters, which
    models read off their convolution (Kim's reads ``kernel_size``)."""

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__()
        self.conv = conv

    kernel_size = property(lambda self: self.conv.kernel_size)
    stride = property(lambda self: self.conv.stride)
    padding = property(lambda self: self.conv.padding)
    dilation = property(lambda self: self.conv.dilation)
    in_channels = property(lambda self: self.conv.in_channels)
    out_channels = property(lambda self: self.conv.out_channels)
    weight = property(lambda self: self.conv.weight)
    bias = property(lambda self: self.conv.bias)


class _Lookup(ConvStandIn):
    """Stands in for one Conv1d: its output from the projections of the current chunk's tokens."""

    def __init__(self, conv: nn.Conv1d, table: torch.Tensor) -> None:
        super().__init__(conv)
        self.table = table  # (k, U + 1, C): row U is the zero row
        self.local: torch.Tensor | None = None  # (N, T) rows of the table, U where masked

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (N, E, T): only its shape is read
        local = self.local
        if local is None or x.dim() != 3 or x.size(-1) != local.size(1):
            raise ValueError("lookup convolution called on another input than its chunk")
        (p,), (d,), (s,), k = self.conv.padding, self.conv.dilation, self.conv.stride, \
            self.conv.kernel_size[0]
        zero = self.table.size(1) - 1
        idx = F.pad(local, (p, p), value=zero)  # (N, T + 2p)
        out_len = (idx.size(1) - d * (k - 1) - 1) // s + 1
        acc = None
        for j in range(k):
            rows = self.table[j][idx[:, j * d : j * d + s * (out_len - 1) + 1 : s]]  # (N, L, C)
            acc = rows if acc is None else acc + rows
        if self.conv.bias is not None:
            acc = acc + self.conv.bias.to(acc.dtype)
        return acc.transpose(1, 2).to(x.dtype)  # (N, C, L), as Conv1d returns


def first_convs(model: ModelView) -> list[tuple[str, nn.Conv1d]]:
    """The first-layer Conv1d modules over tokens whose geometry the lookup reproduces."""
    try:
        layers = conv_layers(model)
    except NotApplicable:
        return []
    modules = dict(model.module.named_modules())
    found = []
    for layer in layers:
        conv = modules.get(layer.name)
        if (layer.depth == 1 and layer.axis == "tokens" and isinstance(conv, nn.Conv1d)
                and conv.groups == 1 and conv.padding_mode == "zeros"
                and not isinstance(conv.padding, str)):
            found.append((layer.name, conv))
    return found


@contextmanager
def swapped(root: nn.Module, swaps: dict[str, nn.Module]) -> Iterator[None]:
    """``root``'s submodules at these names replaced while inside, restored after."""
    before = {}
    try:
        for name, new in swaps.items():
            parent_name, _, leaf = name.rpartition(".")
            parent = root.get_submodule(parent_name) if parent_name else root
            before[name] = (parent, leaf, getattr(parent, leaf))
            setattr(parent, leaf, new)
        yield
    finally:
        for parent, leaf, old in before.values():
            setattr(parent, leaf, old)


class EditScorer:
    """Logits of edited copies of one batch's texts: ``logits(ids, mask)`` for (N, T) ids made of
    the batch's own tokens. Uses the lookups where proven for the model, the model otherwise."""

    def __init__(self, model: ModelView, batch_ids: torch.Tensor) -> None:
        self.model = model
        convs = first_convs(model) if batch_ids.dim() == 2 else []
        if not convs or _PROVEN.get(model.module) is False:
            self.lookups = None
            return
        unique, inverse = torch.unique(batch_ids, return_inverse=True)  # (U,), (B, T)
        self.unique, self.inverse = unique, inverse
        with torch.no_grad():
            vectors = model.embed(unique[None])[0].float()  # (U, E): what the model reads
            self.lookups = {}
            for name, conv in convs:
                w = conv.weight.detach().float()  # (C, E, k)
                table = torch.einsum("ue,cek->kuc", vectors, w)  # (k, U, C)
                table = torch.cat([table, table.new_zeros(table.size(0), 1, table.size(2))], 1)
                self.lookups[name] = _Lookup(conv, table.contiguous())

    def _local(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(N, T) rows of the projection tables: each id's place among the batch's tokens."""
        pos = torch.searchsorted(self.unique, ids.clamp(min=int(self.unique[0])))
        pos = pos.clamp(max=self.unique.numel() - 1)
        if not bool((self.unique[pos] == ids)[mask].all()):
            raise ValueError("an edited copy holds a token its batch does not")
        return torch.where(mask, pos, torch.full_like(pos, self.unique.numel()))

    def _by_lookup(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        local = self._local(ids, mask)
        for lookup in self.lookups.values():
            lookup.local = local
        try:
            with swapped(self.model.module, self.lookups):
                return self.model.forward_from_embeddings(self.model.embed(ids), mask)
        finally:
            for lookup in self.lookups.values():
                lookup.local = None

    @torch.no_grad()
    def logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(N, K) logits of the edited copies ids (N, T), mask (N, T)."""
        if self.lookups is None:
            return self.model.forward_from_embeddings(self.model.embed(ids), mask)
        if self.model.module not in _PROVEN:  # once per model: the lookups equal the model?
            expected = self.model.forward_from_embeddings(self.model.embed(ids), mask)
            try:
                got = self._by_lookup(ids, mask)
                ok = got.shape == expected.shape and torch.allclose(
                    got.float(), expected.float(), rtol=1e-5,
                    atol=1e-5 * float(expected.abs().max()) + 1e-6)
            except Exception:  # noqa: BLE001 - any failure: the model's own path
                ok = False
            _PROVEN[self.model.module] = ok
            if not ok:
                self.lookups = None
                return expected
            return got  # the lookups' numbers on every chunk, this one too: runs stay equal
        return self._by_lookup(ids, mask)
