"""Convolutions as analyses read them: each conv/pool layer's activation with its receptive field.

Question: which input positions does location i of a conv layer see, and what does that layer
compute there? Method: the view's ``conv_chains()`` name each sequential chain of conv/pool layers
and where each layer's activation (after its nonlinearity) is read; receptive fields follow from
the layers' geometry (``reportgen.models.fields``), so location i maps to input positions
``location_span`` (Yuan et al. 2019's hidden locations, at any depth).

- ``conv_layers`` / ``conv_layer``: every conv/pool layer of the chains with its field;
- ``conv_activations``: every layer's activation (B, L, C) on a batch;
- ``window_forward``: a layer's activation at the one location whose receptive field is exactly a
  given input window (input optimisation needs only that window), and ``window_function``, an
  exact one-matrix-product shortcut for first-layer convolutions where it is proven;
- ``following_activation``: for user models, the activation module registered after a conv.

Cost: one batched forward pass per call (``window_forward`` stops after the layer);
``window_function`` proves its shortcut on 64 random windows once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from reportgen.data.encoding import EncodedBatch
from reportgen.models.fields import ReceptiveField, receptive_fields
from reportgen.models.hooks import HookPoint, capture, stop_after, to_btc
from reportgen.models.view import NotApplicable

if TYPE_CHECKING:
    from reportgen.models.view import ModelView


@dataclass(frozen=True)
class ConvLayer:
    name: str  # the Conv1d / pool module
    read_at: (
        str  # the module whose output is read: a hook point after the nonlinearity, else ``name``
    )
    layout: str  # axes of that output, "B C T" or "B T C"
    field: ReceptiveField  # in input positions of ``axis``
    chain: int  # which sequential chain of the model (Kim's parallel widths are separate chains)
    depth: int  # 1-based position within the chain
    channels: int | None
    axis: str  # "tokens", or "chars" for character-spelled words
    activated: bool  # True when ``read_at`` is after the nonlinearity


_ACTIVATIONS = (nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.ReLU6)


def conv_layers(adapter: ModelView) -> list[ConvLayer]:
    """Every conv/pool layer of the model's conv chains, input side first, chain by chain
    (``NotApplicable`` with the reason when the model has none)."""
    found = adapter.conv_chains()
    modules = dict(adapter.module.named_modules())
    layers = []
    for c, chain in enumerate(found.chains):
        fields = receptive_fields([modules[n] for n in chain])
        for depth, (name, field_) in enumerate(zip(chain, fields, strict=True), start=1):
            read_at = found.read_at.get(name, name)
            point = modules[read_at]
            if isinstance(point, HookPoint):
                layout = point.layout
            else:  # a Conv2d over the text (kernel (k, E)) keeps a width-1 axis, as do its acts
                layout = "B C T 1" if isinstance(modules[name], nn.Conv2d) else "B C T"
            channels = getattr(modules[name], "out_channels", None)
            layers.append(
                ConvLayer(
                    name,
                    read_at,
                    layout,
                    field_,
                    c,
                    depth,
                    channels,
                    found.axis,
                    activated=read_at != name,
                )
            )
    return layers


def conv_layer(adapter: ModelView, name: str | None = None) -> ConvLayer:
    """The conv layer called ``name`` (None: the first)."""
    layers = conv_layers(adapter)
    if name is None:
        return layers[0]
    for layer in layers:
        if name in (layer.name, layer.read_at):
            return layer
    raise NotApplicable(
        f"{adapter.name} has no conv layer {name!r} "
        f"(layers: {', '.join(layer.name for layer in layers)})"
    )


def conv1d_weight(conv: nn.Module) -> torch.Tensor:
    """A text convolution's weight as a Conv1d's, (filters, embedding, k): a Conv2d over
    (B, 1, T, E) with kernel (k, E) holds it as (filters, 1, k, E)."""
    w = conv.weight.detach()
    if isinstance(conv, nn.Conv2d):
        return w[:, 0].transpose(1, 2)  # (F, k, E) -> (F, E, k)
    return w


def following_activation(module: nn.Module, conv_name: str) -> str | None:
    """For user models: the activation module registered right after ``conv_name`` in the same
    parent (an ``nn.Sequential`` of conv, ReLU, ...), else None."""
    parent_name, _, child = conv_name.rpartition(".")
    parent = dict(module.named_modules())[parent_name]
    names = list(parent._modules)
    i = names.index(child)
    if i + 1 < len(names) and isinstance(parent._modules[names[i + 1]], _ACTIVATIONS):
        return f"{parent_name}.{names[i + 1]}" if parent_name else names[i + 1]
    return None


def location_span(field_: ReceptiveField, location: int, n_inputs: int) -> tuple[int, int]:
    """Input positions [start, end] (inclusive, clipped to the text) seen by ``location``."""
    start = field_.offset + location * field_.jump
    return max(start, 0), min(start + field_.size - 1, n_inputs - 1)


@torch.no_grad()
def conv_activations(
    adapter: ModelView, batch: EncodedBatch, names: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """Conv layer name -> its activation (B, L, C) on ``batch`` (reference models: zero at
    locations that see only padding)."""
    layers = [layer for layer in conv_layers(adapter) if names is None or layer.name in names]
    with capture(adapter.module, [layer.read_at for layer in layers]) as seen:
        adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
    return {layer.name: to_btc(seen[layer.read_at], layer.layout) for layer in layers}


def window_forward(
    adapter: ModelView, layer: ConvLayer, window: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Activation (N, C) of ``layer`` at the location whose receptive field is exactly ``window``.

    ``window``: (N, S, E) input embeddings with S = the layer's receptive field size (for
    character models, characters of one word); ``mask`` (N, S) marks real positions (default all).
    Differentiable in ``window``. The model runs only up to the layer.
    """
    size, jump, offset = layer.field.size, layer.field.jump, layer.field.offset
    if window.size(1) != size:
        raise ValueError(f"window of {window.size(1)} positions; {layer.name} sees {size}")
    if offset % jump:
        raise NotApplicable(f"{layer.name}: no location's receptive field starts at position 0")
    location = -offset // jump
    n = window.size(0)
    if mask is None:
        mask = torch.ones(n, size, dtype=torch.bool, device=window.device)
    if layer.axis == "chars":  # one word slot of ``size`` characters
        emb, token_mask = window[:, None], mask.any(1, keepdim=True)  # (N, 1, S, E), (N, 1)
    else:
        emb, token_mask = window * mask[..., None].to(window.dtype), mask
    with (
        capture(adapter.module, [layer.read_at]) as seen,
        stop_after(adapter.module, layer.read_at),
    ):
        adapter.forward_from_embeddings(emb, token_mask)
    acts = to_btc(seen[layer.read_at], layer.layout)  # (N', L, C); for chars N' = N words
    return acts[:, location]  # (N, C)


@dataclass(frozen=True)
class WindowAffine:
    """A proven first-layer shortcut as numbers: activation = f(taps(window) . weight^T + bias),
    taps every ``dilation``-th of the window's first ``(kernel - 1) * dilation + 1`` positions,
    f a ReLU when ``relu`` else the identity. weight (C, kernel * E), bias (C,) or None."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    kernel: int
    dilation: int
    relu: bool


def window_function(adapter: ModelView, layer: ConvLayer, probes: int = 64):
    """``window_forward`` for ``layer``, or an exact shortcut when one is proven on probes.

    For a first-layer ``nn.Conv1d`` the activation of one location is f(W . window + b) with f the
    identity or a ReLU: one matrix product instead of running the model's padded convolution over
    every position of the window. Which f (if any) the model applies is not assumed: both are
    compared with ``window_forward`` on ``probes`` random windows (some positions masked), and the
    shortcut is used only when it agrees to 1e-5; otherwise ``window_forward`` itself is returned.
    A shortcut carries its ``WindowAffine`` as ``.affine``.
    """
    conv = dict(adapter.module.named_modules())[layer.name]
    generic = lambda x, mask=None: window_forward(adapter, layer, x, mask)
    if (
        layer.depth != 1
        or layer.axis != "tokens"
        or not isinstance(conv, nn.Conv1d)
        or conv.groups != 1
    ):
        return generic
    k, d = conv.kernel_size[0], conv.dilation[0]
    weight = conv.weight.detach().permute(0, 2, 1).reshape(conv.out_channels, -1)  # (C, k * E)
    bias = conv.bias.detach() if conv.bias is not None else None

    def linear(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            x = x * mask[..., None].to(x.dtype)
        taps = x[:, : (k - 1) * d + 1 : d]  # (N, k, E)
        out = taps.reshape(x.size(0), -1) @ weight.T  # (N, C)
        return out + bias if bias is not None else out

    def relu(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.relu(linear(x, mask))

    # what the shortcut computes, for callers that differentiate it by hand (optimisation)
    linear.affine = WindowAffine(weight, bias, k, d, relu=False)  # type: ignore[attr-defined]
    relu.affine = WindowAffine(weight, bias, k, d, relu=True)  # type: ignore[attr-defined]

    g = torch.Generator().manual_seed(0)
    dim = conv.in_channels
    x = (torch.randn(probes, layer.field.size, dim, generator=g) * 2).to(weight)
    mask = torch.rand(probes, layer.field.size, generator=g) > 0.2
    mask[:, layer.field.size // 2] = True  # the location itself is inside the text
    with torch.no_grad(), torch.autocast(weight.device.type, enabled=False):  # proven in fp32
        expected = generic(x, mask)
        for shortcut in (relu, linear):
            got = shortcut(x, mask)
            if torch.allclose(
                got, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()) + 1e-6
            ):
                return shortcut
    return generic
