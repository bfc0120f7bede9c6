"""States inside a model: recurrences step by step, per-position states, units, clamping.

Question: what does each layer hold at every position, which per-text vectors of units does a
model offer, and what happens when some units are held fixed? Method: free functions over the
``ModelView``, on the hook points of ``reportgen.models.hooks`` and the step-by-step recurrences of
``reportgen.models.recurrence``; a model without the part raises ``NotApplicable``.

- ``recurrent_states``: hidden and cell states of every recurrent layer at every step;
- ``sequence_states``: per-position hidden states by layer (recurrent outputs, conv maps,
  Transformer layers);
- ``unit_states``: per-position values of the units neuron analyses read and clamp: the
  ``sequence_states``, except for models that name their neurons (Transformers: each layer's MLP
  units, ``mlp_units``);
- ``output_features``: the vector the output layer reads (the ``features`` hook point, or the input
  of the view's ``output_layer``);
- ``unit_features``: one vector of units per text (that vector, final states, units pooled over
  time);
- ``clamp_units``: hold units fixed at every step, for classifiers and for generating text from a
  language model (the sentiment-neuron sweeps).

Cost: each function is one batched forward pass; ``recurrent_states`` and ``clamp_units`` re-run
recurrences step by step in Python, about T times slower than cuDNN/oneDNN's fused kernels but
exact and differentiable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

import torch
from torch import nn

from reportgen.data.encoding import EncodedBatch
from reportgen.models.conv import conv_activations
from reportgen.models.hooks import HookPoint, capture, capture_inputs, override, to_btc
from reportgen.models.recurrence import RecurrentTrace, unrolled
from reportgen.models.view import NotApplicable

if TYPE_CHECKING:
    from reportgen.models.view import ModelView


def recurrent_states(adapter: ModelView, batch: EncodedBatch) -> dict[str, RecurrentTrace]:
    """Recurrent module name -> hidden (and LSTM cell) states of every layer at every step."""
    rnns = adapter.recurrent_layers()  # NotApplicable: no recurrent layer
    traces: dict[str, list[RecurrentTrace]] = {name: [] for name, _ in rnns}
    with torch.no_grad(), _all_unrolled(adapter.module, traces):
        adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
    return {name: found[-1] for name, found in traces.items() if found}


@contextmanager
def _all_unrolled(module: nn.Module, traces: dict[str, list[RecurrentTrace]]) -> Iterator[None]:
    with ExitStack() as stack:
        for name, found in traces.items():
            stack.enter_context(unrolled(module, name, traces=found))
        yield


def sequence_states(adapter: ModelView, batch: EncodedBatch) -> dict[str, torch.Tensor]:
    """Layer name -> per-position hidden states (B, T', H), input side first."""
    try:
        return adapter.layer_states(batch)  # Transformers: every layer's hidden states
    except NotApplicable:
        pass
    points = _position_points(adapter)
    if points:
        with torch.no_grad(), capture(adapter.module, list(points)) as seen:
            adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
        return _point_states(points, seen, batch)
    states: dict[str, torch.Tensor] = {}
    if _recurrent(adapter):
        states.update({n: t.outputs for n, t in recurrent_states(adapter, batch).items()})
    try:
        states.update(conv_activations(adapter, batch))
    except NotApplicable:
        pass
    if not states:
        raise NotApplicable(f"{adapter.name} exposes no per-position hidden states")
    return states


def mlp_units(adapter: ModelView) -> list[str] | None:
    """Dotted names of the modules whose outputs are the model's neurons, when the view names
    them (Transformers: each layer's feed-forward activation); None when it does not (the units
    are then its per-position hidden states). ``NotApplicable`` with the reason when the view
    should name them but cannot."""
    return adapter.mlp_units() or None


def _recurrent(adapter: ModelView) -> list:
    try:
        return adapter.recurrent_layers()
    except NotApplicable:
        return []


def output_layer(adapter: ModelView) -> str:
    """The view's ``output_layer``, "" when it has none."""
    try:
        return adapter.output_layer()
    except NotApplicable:
        return ""


def unit_states(adapter: ModelView, batch: EncodedBatch) -> dict[str, torch.Tensor]:
    """Module name -> per-position unit values (B, T', U) for neuron analyses: each ``mlp_units``
    module's output where the model names them, else ``sequence_states``. Every key is a module of
    the model (or a recurrent layer), so ``clamp_units`` can hold its units."""
    names = mlp_units(adapter)
    if names is None:
        return sequence_states(adapter, batch)
    with torch.no_grad(), capture(adapter.module, names) as seen:
        adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
    return {n: seen[n] for n in names}


def output_features(adapter: ModelView, batch: EncodedBatch) -> torch.Tensor | None:
    """(B, D): the vector the output layer reads: the ``features`` hook point of reference models,
    else the input of the adapter's ``output_layer`` (Transformers: the classification head's last
    linear layer: BERT's pooled [CLS], DistilBERT's and RoBERTa's projected [CLS] / <s>); None when
    the model names neither."""
    if "features" in _hook_points(adapter):
        name, reader = "features", capture
    elif output_layer(adapter):
        name, reader = output_layer(adapter), capture_inputs
    else:
        return None
    with torch.no_grad(), reader(adapter.module, [name]) as seen:
        adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
    return seen[name]


def _hook_points(adapter: ModelView) -> dict[str, HookPoint]:
    return {n: m for n, m in adapter.module.named_modules() if isinstance(m, HookPoint)}


def _position_points(adapter: ModelView) -> dict[str, HookPoint]:
    """The hook points that hold per-position states (layout B T C or B C T)."""
    return {n: p for n, p in _hook_points(adapter).items()
            if p.layout.replace(" ", "") in ("BTC", "BCT")}


def _point_states(points: dict[str, HookPoint], seen: dict[str, torch.Tensor],
                  batch: EncodedBatch) -> dict[str, torch.Tensor]:
    """Hook point name -> (B, T', H) of what ``capture`` saw at the per-position ``points``."""
    return {n: to_btc(seen[n], points[n].layout) for n in points
            if n in seen and seen[n].size(0) == batch.ids.size(0)}


@torch.no_grad()
def unit_features(adapter: ModelView, batch: EncodedBatch) -> dict[str, torch.Tensor]:
    """Name -> one vector of units per text (B, U): the representation the output layer reads
    (``features``: a final state, pooled maps, a Transformer's sentence vector), and each
    ``unit_states`` layer pooled over real positions (``<layer>:mean``, ``<layer>:max``; recurrent
    layers also ``<layer>:final``)."""
    out: dict[str, torch.Tensor] = {}
    mask = batch.mask
    assert mask is not None
    names = mlp_units(adapter)
    points = _hook_points(adapter)
    if names is not None and "features" not in points:
        # a model that names its neurons (Transformers): the sentence vector and every MLP
        # layer's units from ONE forward pass, the same values as the two passes below
        per_position = _one_pass_units(adapter, batch, names, out)
    elif names is None and "features" in points and (positions := _position_points(adapter)):
        # hook points for both (reference models): the pooled features and the per-position
        # states of ``sequence_states`` from ONE forward pass, the same values as two
        with capture(adapter.module, ["features", *positions]) as seen:
            adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
        out["features"] = seen["features"]
        per_position = _point_states(positions, seen, batch)
    else:
        pooled = output_features(adapter, batch)
        if pooled is not None:
            out["features"] = pooled
        if _recurrent(adapter) and "features" not in _hook_points(adapter):
            for name, trace in recurrent_states(adapter, batch).items():
                out[f"{name}:final"] = _final_state(trace, mask)
        per_position = unit_states(adapter, batch)
    for name, states in per_position.items():
        if states.size(1) != mask.size(1):  # wide convolutions: positions are not tokens
            m = states.abs().sum(-1) > 0  # (B, L) locations that see a real token
        else:
            m = mask
        w = m[..., None].to(states.dtype)  # (B, L, 1)
        out[f"{name}:mean"] = (states * w).sum(1) / w.sum(1).clamp(min=1)
        out[f"{name}:max"] = (
            states.masked_fill(~m[..., None], float("-inf")).max(1).values.nan_to_num(neginf=0.0)
        )
    return out


def _one_pass_units(adapter: ModelView, batch: EncodedBatch, names: list[str],
                    out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One forward pass reading the input of the ``output_layer`` (into ``out["features"]``)
    and the outputs of the ``names`` modules, returned as (B, T, U) per name."""
    head = output_layer(adapter)
    with torch.no_grad(), capture(adapter.module, names) as seen, \
            capture_inputs(adapter.module, [head] if head else []) as read:
        adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
    if head:
        out["features"] = read[head]
    return {n: seen[n] for n in names}


def _final_state(trace: RecurrentTrace, mask: torch.Tensor) -> torch.Tensor:
    """(B, D*H): the forward half at each example's last real step, the backward half at step 0."""
    outputs = trace.outputs  # (B, T, D*H)
    last = mask.long().sum(1).clamp(min=1) - 1  # (B,)
    forward = outputs[torch.arange(outputs.size(0)), last]  # (B, D*H)
    if trace.final is not None and outputs.size(-1) == 2 * _hidden(trace):
        h = outputs.size(-1) // 2
        return torch.cat([forward[:, :h], outputs[:, 0, h:]], -1)
    return forward


def _hidden(trace: RecurrentTrace) -> int:
    final = trace.final[0] if isinstance(trace.final, tuple) else trace.final
    return int(final.size(-1))


@contextmanager
def clamp_units(
    adapter: ModelView, layer: str, units: dict[int, float], cell: bool = False
) -> Iterator[None]:
    """Hold ``units`` of ``layer`` at fixed values during the block.

    A recurrent module is re-run step by step with the units set after every step, so the clamp
    reaches later steps through the recurrence (``cell``: LSTM cell states too); any other module or
    hook point has those units of its output overwritten (at every position).
    """
    modules = dict(adapter.module.named_modules())
    head = output_layer(adapter)
    if layer == "features" and layer not in modules and head:
        # the representation the output layer reads (``output_features``): set on its input
        index = torch.tensor(sorted(units))
        values = torch.tensor([units[u] for u in sorted(units)])

        def set_input(_m: nn.Module, inputs: tuple) -> tuple:
            x = inputs[0].clone()
            x[..., index.to(x.device)] = values.to(x)
            return (x, *inputs[1:])

        handle = modules[head].register_forward_pre_hook(set_input)
        try:
            yield
        finally:
            handle.remove()
        return
    if layer not in modules:
        raise NotApplicable(f"{adapter.name} has no layer {layer!r}")
    if isinstance(modules[layer], nn.RNNBase):
        with unrolled(adapter.module, layer, clamp=units, clamp_cell=cell):
            yield
        return
    index = torch.tensor(sorted(units))
    values = torch.tensor([units[u] for u in sorted(units)])

    module = modules[layer]
    if isinstance(module, HookPoint):
        layout = module.layout.replace(" ", "")
    elif isinstance(module, nn.Conv2d):  # a Conv2d over the text: (B, C, T, 1)
        layout = "BCT1"
    elif isinstance(module, (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)):  # channels on the second axis
        layout = "BCT"
    else:
        layout = "BTC"

    def fix(out: torch.Tensor) -> torch.Tensor:
        out = out.clone()
        if layout in ("BCT", "BCT1"):
            tail = (None,) * (out.dim() - 2)
            out[:, index.to(out.device)] = values.to(out)[(slice(None), *tail)]
        else:
            out[..., index.to(out.device)] = values.to(out)
        return out

    with override(adapter.module, {layer: fix}):
        yield
