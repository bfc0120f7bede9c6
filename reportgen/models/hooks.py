"""Named places inside a model that analyses may read or change, and context managers that do it.

Question: what tensor does layer X hand to the next layer, and what happens downstream if it were
different? Method (after TransformerLens's hook points): every reference architecture puts an
identity module, ``HookPoint``, after each nonlinearity and mask, so the dotted module name (e.g.
``conv_acts.0``) addresses exactly the tensor the next layer reads. ``HookPoint`` holds no
parameters, so checkpoints written before hook points existed still load.

- ``capture(model, names)``: a dict filled with the output of each named module during the block
  (``capture_inputs``: with the input each one reads);
- ``override(model, {name: fn})``: replaces each named module's output by ``fn(output)``;
- ``stop_after(model, name)``: ends the forward pass once ``name`` has run (``StopForward``), so
  reading an early layer does not pay for the rest of the model.

All three remove their hooks in ``finally``: an exception inside the block leaves no hook behind.
Cost: one dictionary write per hooked call; tensors are kept as they are (not copied or detached),
so gradients flow through captured and overridden values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn


class HookPoint(nn.Identity):
    """An identity module that names a tensor. ``layout`` says how its axes read, e.g.
    ``"B T C"`` (batch, time, channels) or ``"B C T"`` (the layout a Conv1d consumes)."""

    def __init__(self, layout: str = "B T C") -> None:
        super().__init__()
        self.layout = layout

    def extra_repr(self) -> str:
        return f"layout={self.layout!r}"


class StopForward(Exception):
    """Raised by ``stop_after`` to end a forward pass early; caught by the context manager."""


def hook_points(model: nn.Module) -> dict[str, HookPoint]:
    """Every ``HookPoint`` of ``model`` by dotted name, in module order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, HookPoint)}


def _modules(model: nn.Module, names: Sequence[str]) -> dict[str, nn.Module]:
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise KeyError(f"no module named {', '.join(map(repr, missing))} in {type(model).__name__}")
    return {n: modules[n] for n in names}


@contextmanager
def capture(model: nn.Module, names: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Yield a dict that, after a forward pass inside the block, maps each name to its output.

    A module called several times in one pass keeps its last output.
    """
    seen: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name, module in _modules(model, names).items():
            handles.append(module.register_forward_hook(_recorder(seen, name)))
        yield seen
    finally:
        for h in handles:
            h.remove()


@contextmanager
def capture_inputs(model: nn.Module, names: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Like ``capture``, for the first positional input of each named module: what it reads, e.g.
    the vector a classification layer turns into logits."""
    seen: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name, module in _modules(model, names).items():
            handles.append(module.register_forward_pre_hook(
                lambda _m, inputs, name=name: seen.__setitem__(name, inputs[0])))
        yield seen
    finally:
        for h in handles:
            h.remove()


def _recorder(seen: dict[str, torch.Tensor], name: str) -> Callable:
    def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        seen[name] = output

    return hook


@contextmanager
def override(model: nn.Module,
             fns: dict[str, Callable[[torch.Tensor], torch.Tensor]]) -> Iterator[None]:
    """Inside the block, module ``name``'s output is replaced by ``fns[name](output)``."""
    handles = []
    try:
        for name, module in _modules(model, list(fns)).items():
            fn = fns[name]
            handles.append(module.register_forward_hook(lambda _m, _i, out, fn=fn: fn(out)))
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def stop_after(model: nn.Module, name: str) -> Iterator[None]:
    """Inside the block, a forward pass ends (silently) right after module ``name`` has run.

    Use with ``capture`` to read a layer without computing the layers above it::

        with capture(m, [name]) as seen, stop_after(m, name):
            m(ids)
    """

    def hook(_m: nn.Module, _i: tuple, _out: torch.Tensor) -> None:
        raise StopForward

    (module,) = _modules(model, [name]).values()
    handle = module.register_forward_hook(hook)
    try:
        yield
    except StopForward:
        pass
    finally:
        handle.remove()


def to_btc(x: torch.Tensor, layout: str) -> torch.Tensor:
    """A captured (B, C, T) or (B, T, C) tensor in (B, T, C) order; a Conv2d's (B, C, T, 1)
    ("B C T 1": a kernel spanning the embedding) too."""
    compact = layout.replace(" ", "")
    if compact == "BCT1":
        return x.squeeze(3).transpose(1, 2)
    if compact in ("BCT", "WCT"):
        return x.transpose(1, 2)
    return x
