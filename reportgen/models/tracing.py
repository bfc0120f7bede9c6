"""Where a user's model keeps its convolutions, found from one traced forward pass, not from names.

Question: which conv/pool layers of an arbitrary ``nn.Module`` read the text, and in what order do
they feed each other? Module order says nothing about it (Kim et al.'s parallel widths sit side by
side in an ``nn.ModuleList``; a stack may be registered out of order).

Method: one forward pass with gradients, a hook on every ``Conv1d``, ``Conv2d``, ``MaxPool1d`` and
``AvgPool1d`` recording the autograd node of its input and of its output. A layer's parent is the
nearest conv/pool layer whose output node is reached walking the autograd graph back from its
input, so the chains are the real data flow: each root-to-leaf path is one chain, input side first,
whose receptive fields follow from the layers' geometry. The pass is the model's own forward, so
what is found is what produces its output.

A ``Conv2d`` reads the text when its input is (B, 1, T, E) and its kernel spans the whole last
axis (kernel (k, E), output (B, C, T', 1)): positions are then its first axis, as for a
``Conv1d`` of kernel k. Any other
``Conv2d`` is left out, with the reason in ``notes``.

Cost: one forward pass on a few texts.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from reportgen.models.common import gradients

if TYPE_CHECKING:
    from reportgen.data.encoding import EncodedBatch
    from reportgen.models.view import ModelView

TRACED_TYPES = (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.AvgPool1d)
MAX_NODES = 20_000  # autograd nodes visited per layer, at most


@dataclass
class ConvTrace:
    chains: list[list[str]] = field(default_factory=list)  # input side first
    notes: list[str] = field(default_factory=list)  # layers left out, and why


def text_conv2d(module: nn.Conv2d, input_shape: torch.Size, output_shape: torch.Size) -> bool:
    """Whether a Conv2d slides over the text only: input (B, 1, T, E), kernel (k, E), output
    (B, C, T', 1) (no padding across the embedding, one input channel)."""
    return (
        len(input_shape) == 4
        and module.in_channels == 1
        and module.groups == 1
        and module.kernel_size[1] == input_shape[3]
        and len(output_shape) == 4
        and output_shape[3] == 1
    )


def _parent(start, outputs: dict[int, str], own: str) -> str | None:
    """The nearest traced layer whose output node is reached from ``start`` going back."""
    seen: set[int] = set()
    queue = deque([start])
    while queue and len(seen) < MAX_NODES:
        node = queue.popleft()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        name = outputs.get(id(node))
        if name is not None and name != own:
            return name
        queue.extend(fn for fn, _ in getattr(node, "next_functions", ()))
    return None


def trace_conv_chains(adapter: ModelView, batch: EncodedBatch) -> ConvTrace:
    """The conv/pool chains of ``adapter``'s module, from one forward pass on ``batch``."""
    module = adapter.module
    candidates = {n: m for n, m in module.named_modules() if isinstance(m, TRACED_TYPES)}
    found = ConvTrace()
    if not candidates:
        return found
    seen: dict[str, tuple] = {}  # name -> (input node, output node, input shape, output shape)
    order: list[str] = []

    def hook(name: str):
        def record(_m: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if name not in seen and inputs and isinstance(output, torch.Tensor):
                seen[name] = (inputs[0].grad_fn, output.grad_fn, inputs[0].shape, output.shape)
                order.append(name)

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in candidates.items()]
    try:
        with gradients(module):
            emb = adapter.embed(batch.ids).detach().requires_grad_(True)  # (B, T, E)
            adapter.forward_from_embeddings(emb, batch.mask)
    finally:
        for h in handles:
            h.remove()
    for name in list(order):
        m = candidates[name]
        if isinstance(m, nn.Conv2d) and not text_conv2d(m, seen[name][2], seen[name][3]):
            found.notes.append(
                f"{name}: a Conv2d whose kernel {tuple(m.kernel_size)} does not span "
                f"its input's last axis {tuple(seen[name][2])[-1:]} with one input "
                "channel, so it does not slide over the text alone; left out"
            )
            order.remove(name)
    for name in candidates:
        if name not in seen:
            found.notes.append(f"{name}: not used by the forward pass; left out")
    outputs = {id(seen[n][1]): n for n in order if seen[n][1] is not None}
    parents = {n: _parent(seen[n][0], outputs, n) for n in order}
    children: dict[str | None, list[str]] = {}
    for n in order:
        children.setdefault(parents[n], []).append(n)

    def paths(n: str) -> list[list[str]]:
        below = children.get(n, [])
        return [[n]] if not below else [[n, *rest] for c in below for rest in paths(c)]

    found.chains = [p for root in children.get(None, []) for p in paths(root)]
    return found
