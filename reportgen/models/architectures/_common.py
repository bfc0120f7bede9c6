"""Small tensor helpers the reference architectures share: masking, masked pooling, packed RNNs.

Padding invariance is the rule they serve: an example's output must not change when it is padded
into a longer batch. Every architecture therefore (1) zeroes the embedding of masked positions, so
padding looks exactly like a convolution's own zero padding, (2) zeroes hidden activations at masked
positions after every same-length layer, (3) pools only over real positions and (4) runs RNNs on
packed sequences so the final state is taken at each example's own last token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def init_embedding(emb: nn.Embedding, scale: float | None) -> None:
    """Uniform(-scale, scale) rows (Kim 2014 uses 0.25 for words without a pretrained vector),
    padding row zero; ``None`` keeps PyTorch's N(0, 1), which trains markedly worse on small data
    like MR."""
    if scale is None:
        return
    with torch.no_grad():
        nn.init.uniform_(emb.weight, -scale, scale)
        if emb.padding_idx is not None:
            emb.weight[emb.padding_idx] = 0.0


def zero_masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (B, T, ...) with the masked-out positions of mask (B, T) set to zero."""
    shape = mask.shape + (1,) * (x.dim() - mask.dim())
    return x * mask.reshape(shape).to(x.dtype)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over time of x (B, T, C) at real positions of mask (B, T) -> (B, C); 0 for empty rows."""
    filled = x.masked_fill(~mask.unsqueeze(-1), float("-inf"))  # (B, T, C)
    pooled = filled.max(dim=1).values  # (B, C)
    return torch.where(mask.any(dim=1, keepdim=True), pooled, torch.zeros_like(pooled))


def wide_conv_mask(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """Output mask of a wide convolution (padding kernel-1 both sides): (B, T) -> (B, T+kernel-1).

    An output position is real when its window covers at least one real input position.
    """
    padded = F.pad(mask.float().unsqueeze(1), (kernel - 1, kernel - 1))  # (B, 1, T + 2(k-1))
    return F.max_pool1d(padded, kernel, stride=1).squeeze(1) > 0  # (B, T + k - 1)


def seq_lengths(mask: torch.Tensor) -> torch.Tensor:
    """(B, T) mask -> (B,) int64 on the CPU: index of the last real position + 1, at least 1."""
    steps = torch.arange(1, mask.size(1) + 1, device=mask.device)  # (T,)
    return (mask.long() * steps).max(dim=1).values.clamp(min=1).cpu()


def reverse_real(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (B, T, ...) with each example's real positions 0 .. L-1 in reverse order,
    padding in place."""
    B, T = mask.shape
    n = seq_lengths(mask).to(x.device).unsqueeze(1)  # (B, 1)
    t = torch.arange(T, device=x.device).expand(B, T)  # (B, T)
    src = torch.where(t < n, n - 1 - t, t)  # (B, T) source index of each position
    return x.gather(1, src.reshape(B, T, *([1] * (x.dim() - 2))).expand_as(x))


def run_packed(
    rnn: nn.RNNBase,
    x: torch.Tensor,
    mask: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor] | torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
    """Run a batch-first RNN on x (B, T, E) packed by the lengths of mask (B, T).

    Returns the outputs (B, T, D*H), zero after each example's end, and the final state as the RNN
    gives it (``h_n``, or ``(h_n, c_n)`` for an LSTM; each (layers*D, B, H)), in batch order.
    """
    packed = pack_padded_sequence(x, seq_lengths(mask), batch_first=True, enforce_sorted=False)
    out, final = rnn(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))  # (B, T, D*H)
    return out, final


def last_layer_state(h_n: torch.Tensor, bidirectional: bool) -> torch.Tensor:
    """h_n (layers*D, B, H) -> the top layer's final state (B, D*H), forward then backward."""
    if bidirectional:
        return torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (B, 2H)
    return h_n[-1]  # (B, H)
