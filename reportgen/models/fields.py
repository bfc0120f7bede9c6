"""Receptive fields of conv/pool chains, and the fewest input positions a chain accepts.

Receptive fields (Araujo et al. 2019's recurrence; the design guide's helper): starting from
(size 1, jump 1, offset 0), each conv/pool layer with kernel k, stride s, dilation d and padding p
gives size += (k - 1) * d * jump, offset -= p * jump, jump *= s.

Minimum length: a layer of n input positions has floor((n + 2p - d(k - 1) - 1) / s) + 1 output
positions; a chain accepts n inputs when every layer keeps at least one. ``min_length`` is the
smallest such n (1 for padded convolutions; the last receptive field for unpadded ones).

Cost: arithmetic on the layers' geometry; no forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

CONV_TYPES = (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)
MAX_MIN_LENGTH = 100_000  # a chain that needs more inputs than this is reported as is


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
        k, s, d, p = conv_geometry(layer)
        size += (k - 1) * d * jump
        offset -= p * jump
        jump *= s
        out.append(ReceptiveField(size, jump, offset))
    return out


def conv_geometry(layer: nn.Module) -> tuple[int, int, int, int]:
    """(kernel, stride, dilation, padding) of a 1-D conv or pool layer (a text Conv2d: its first
    axis)."""

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


def output_length(layer: nn.Module, n: int) -> int:
    """Output positions of ``layer`` for ``n`` input positions."""
    k, s, d, p = conv_geometry(layer)
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def min_length(layers: Sequence[nn.Module]) -> int:
    """The fewest input positions for which every layer of the chain has an output position."""

    def fits(n: int) -> bool:
        for layer in layers:
            n = output_length(layer, n)
            if n < 1:
                return False
        return True

    n = 1
    while not fits(n) and n < MAX_MIN_LENGTH:
        n += 1
    return n
