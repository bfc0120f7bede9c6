"""The strongest windows of word-level conv filters, in a total order (``filter_top_words``).

Method: per filter, the top k (text, location) windows of each batch, sorted on activations
rounded to 5 significant digits with ties to the earlier window (``tie_safe``), so that merging
batches or torchrun ranks in any grouping gives the same windows (``merge_windows``); only the
texts that hold a top window are tokenised again (``window_tokens``).

Cost: per batch, a top-k of B x L candidates per filter (a whole sort only for a filter with
more tied windows at its k-th value than fit).
"""

from __future__ import annotations

import torch

from reportgen.models.conv import ConvLayer
from reportgen.models.view import ModelView


def valid_locations(layer: ConvLayer, tokens: list[list[str]], n_loc: int) -> torch.Tensor:
    """(B, L) True where the location sees the text (same-length layers: inside it)."""
    width = max(len(t) for t in tokens) if tokens else 0
    loc = torch.arange(n_loc)
    start = layer.field.offset + loc * layer.field.jump  # (L,)
    n = torch.tensor([len(t) for t in tokens])[:, None]  # (B, 1)
    ok = (start[None] <= n - 1) & (start[None] + layer.field.size - 1 >= 0)
    if n_loc == width:  # 'same' padding: location i is token i
        ok &= loc[None] < n
    return ok


def tie_safe(acts: torch.Tensor) -> torch.Tensor:
    """Sort keys: activations rounded to 5 significant digits. Windows that compute the same value
    (unknown words, padding around them) differ in the last float bits (about 1e-7 of their size)
    with the batch they ran in; rounded, they tie, and ties go to the earlier (text, location), so
    the top windows do not depend on the batch size. Relative, so filters with small activations
    keep their order. The values reported are the activations themselves."""
    step = torch.pow(10.0, torch.floor(torch.log10(acts.abs().clamp(min=1e-30))) - 4)
    return torch.where(torch.isfinite(acts), torch.round(acts / step) * step, acts)


def strongest_rows(keys: torch.Tensor, k: int) -> torch.Tensor:
    """(k', C) row indices of the k largest keys of every column, ties to the earlier row: the
    first k of ``keys.sort(dim=0, descending=True, stable=True).indices`` (k' = min(k, rows)),
    without sorting every row. ``topk`` finds each column's k largest; where more rows than it
    kept tie with its k-th value (topk may keep any of them) that column is sorted whole."""
    rows = keys.size(0)
    k = min(k, rows)
    if k == 0 or rows <= 4 * k:
        return keys.sort(dim=0, descending=True, stable=True).indices[:k]
    vals, idx = keys.topk(k, dim=0)  # (k, C), in no defined order among equal keys
    boundary = vals[-1]  # (C,): each column's k-th largest
    # every key above the boundary is in; ties at the boundary: in only if all of them fit
    clean = (keys >= boundary).sum(0) == k  # (C,)
    # within the kept rows: by key, descending, ties to the earlier row
    by_row = idx.sort(dim=0).values  # (k, C), rows ascending
    order = keys.gather(0, by_row).sort(dim=0, descending=True, stable=True).indices
    out = by_row.gather(0, order)
    if not bool(clean.all()):
        cols = (~clean).nonzero()[:, 0]
        out[:, cols] = keys[:, cols].sort(dim=0, descending=True, stable=True).indices[:k]
    return out


def merge_windows(best, cand, k: int):
    """Two sets of top windows per filter (values (C, n), where (C, n, 2) = (text, location)) ->
    the best ``k`` of both, ties to the earlier (text, location): a total order, so merging batches
    or ranks in any grouping gives the same windows."""
    if best is None:
        return cand
    if cand is None:
        return best
    vals = torch.cat([best[0], cand[0]], 1)
    where = torch.cat([best[1], cand[1]], 1)
    first = (where[..., 0] * (int(where[..., 1].max()) + 1) + where[..., 1]).argsort(
        dim=1, stable=True
    )
    vals, where = vals.gather(1, first), where.gather(1, first[..., None].expand(-1, -1, 2))
    idx = tie_safe(vals).sort(dim=1, descending=True, stable=True).indices[:, :k]
    return vals.gather(1, idx), torch.gather(where, 1, idx[..., None].expand(-1, -1, 2))


def window_tokens(
    model: ModelView, texts: list[str], best: dict, batch_size: int
) -> dict[int, list[str]]:
    """The tokens of the texts that hold a top window (only those: no token list per text is
    kept while streaming)."""
    ids = sorted(
        {
            int(i)
            for vals, where in best.values()
            if vals is not None
            for i in where[..., 0][vals > float("-inf")].tolist()
        }
    )
    tokens: dict[int, list[str]] = {}
    for lo in range(0, len(ids), batch_size):
        chunk = ids[lo : lo + batch_size]
        tokens.update(zip(chunk, model.encode([texts[i] for i in chunk]).tokens, strict=True))
    return tokens
