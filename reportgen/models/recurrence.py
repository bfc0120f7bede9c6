"""Step-by-step re-runs of PyTorch recurrent modules: every step's hidden and cell state; clamping.

Question: what do the hidden state h_t and (for an LSTM) the cell state c_t of a recurrent layer
hold at every time step, and what happens to the rest of the computation when one unit is held at
a fixed value for the whole sequence (the sentiment-neuron experiments)? The fused ``nn.LSTM`` only
hands back the top layer's h at each step and the last (h, c); it cannot be told to overwrite a
unit between two steps.

Method: the module's own parameters (``weight_ih_l{k}[_reverse]``, ``weight_hh_l{k}[_reverse]``
and the optional biases) are read and the recurrence is computed again in Python, one time step
at a time, with PyTorch's gate equations (LSTM gates i, f, g, o; GRU gates r, z, n; Elman RNN with
tanh or relu). Variable lengths follow packed-sequence semantics: a forward direction stops
updating after an example's last real token, and a backward direction starts at that token and
reads the real positions in reverse, so padding never reaches the state. A clamp overwrites chosen
units of the top layer's h (and optionally c) right after each cell update, before the value
feeds the next step. ``unrolled`` swaps this computation into any model through a forward hook.

Outputs: a ``RecurrentTrace`` with the top layer's output (B, T, D*H), every layer's h and c at
every step (L, B, T, D*H), and the final state exactly as the module returns it (L*D, B, H).
Everything stays on the autograd graph, on the weights' device and dtype.

Cost: one small matrix product per layer, direction and step in a Python loop (L*D*T of them)
instead of the fused kernel: 2-4x the module's time on CPU (60 units, B = 32, T = 50: an LSTM
6 ms against 1.5 ms, one core), more on a GPU where cuDNN fuses the whole sequence; memory
O(L*B*T*D*H). Under ``unrolled`` the original forward still runs too (its
output is replaced), so a call costs the module once plus the unroll. Dropout between layers is
applied in training mode (same rate, not the same random mask as the module).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass
class RecurrentTrace:
    """Every step of a recurrent module, batch first, in the batch order it was given."""

    outputs: torch.Tensor  # (B, T, D*H) top layer's h; forward half then backward; 0 after length
    hidden: torch.Tensor  # (L, B, T, D*H) every layer's h at every step, 0 after length
    cell: torch.Tensor | None  # (L, B, T, D*H) LSTM cell states, None for RNN / GRU
    final: State  # h_n or (h_n, c_n), each (L*D, B, H), as the module returns them


def recurrent_modules(module: nn.Module) -> list[tuple[str, nn.RNNBase]]:
    """(dotted name, module) of every nn.RNN / nn.LSTM / nn.GRU inside ``module``."""
    kinds = (nn.RNN, nn.LSTM, nn.GRU)
    return [(name, m) for name, m in module.named_modules() if isinstance(m, kinds)]


def _cell(
    mode: str, gi: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None,
    w_hh: torch.Tensor, b_hh: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One cell update. gi: (B, G*H) input projection incl. b_ih; h, c: (B, H) -> new (h, c)."""
    gh = F.linear(h, w_hh, b_hh)  # (B, G*H)
    if mode == "LSTM":
        i, f, g, o = (gi + gh).chunk(4, 1)  # each (B, H)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    if mode == "GRU":
        ir, iz, i_n = gi.chunk(3, 1)  # each (B, H)
        hr, hz, h_n = gh.chunk(3, 1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h, None
    if mode == "RNN_TANH":
        return torch.tanh(gi + gh), None
    return torch.relu(gi + gh), None


def _check(rnn: nn.RNNBase, clamp: dict[int, float] | None, clamp_cell: bool) -> None:
    if not isinstance(rnn, (nn.RNN, nn.LSTM, nn.GRU)):
        raise TypeError(f"expected nn.RNN, nn.LSTM or nn.GRU, got {type(rnn).__name__}")
    if getattr(rnn, "proj_size", 0):
        raise ValueError("LSTM with proj_size > 0 is not supported by the step-by-step unroll")
    width = rnn.hidden_size * (2 if rnn.bidirectional else 1)
    for unit in clamp or {}:
        if not 0 <= unit < width:
            raise ValueError(f"clamp unit {unit} outside the top layer's {width} units")
    if clamp_cell and rnn.mode != "LSTM":
        raise ValueError(f"clamp_cell=True needs an nn.LSTM, got {type(rnn).__name__}")


def _initial(rnn: nn.RNNBase, state: State | None, shape: tuple[int, ...], like: torch.Tensor):
    """(h0, c0) each (L*D, B, H); c0 None unless LSTM."""
    lstm = rnn.mode == "LSTM"
    if state is None:
        h0 = like.new_zeros(shape)
        return h0, (like.new_zeros(shape) if lstm else None)
    if lstm != isinstance(state, tuple):
        want = "an (h0, c0) tuple" if lstm else "a single h0 tensor"
        raise ValueError(f"{type(rnn).__name__} state must be {want}")
    h0, c0 = state if lstm else (state, None)
    for s in (h0, c0) if lstm else (h0,):
        if tuple(s.shape) != shape:
            raise ValueError(f"state shaped {tuple(s.shape)}, expected (L*D, B, H) = {shape}")
    return h0, c0


def _unroll(
    rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor | None, state: State | None,
    clamp: dict[int, float] | None, clamp_cell: bool,
) -> RecurrentTrace:
    """``unroll`` on a batch-first x (B, T, E)."""
    _check(rnn, clamp, clamp_cell)
    mode, layers, hid = rnn.mode, rnn.num_layers, rnn.hidden_size
    dirs = 2 if rnn.bidirectional else 1
    b, t_max, _ = x.shape
    w0 = rnn.weight_hh_l0  # (G*H, H): reference for device and dtype
    steps = torch.arange(t_max, device=x.device)  # (T,)
    if lengths is None:
        lengths = torch.full((b,), t_max, dtype=torch.long, device=x.device)  # (B,)
    lengths = torch.as_tensor(lengths, device=x.device).long()  # (B,)
    if lengths.shape != (b,) or bool((lengths > t_max).any()) or bool((lengths < 0).any()):
        raise ValueError(f"lengths must be (B,) = ({b},) with values in 0..{t_max}")
    mask = steps[None, :] < lengths[:, None]  # (B, T) real positions
    # reversal of each example's real positions (an involution; padding maps to itself)
    rev = torch.where(mask, lengths[:, None] - 1 - steps[None, :], steps[None, :])  # (B, T)
    h0, c0 = _initial(rnn, state, (layers * dirs, b, hid), w0)
    targets: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for d in range(dirs):
        units = {u - d * hid: v for u, v in (clamp or {}).items() if d * hid <= u < (d + 1) * hid}
        if units:
            cmask = torch.zeros(hid, dtype=torch.bool, device=w0.device)  # (H,)
            cval = torch.zeros(hid, dtype=w0.dtype, device=w0.device)  # (H,)
            cmask[list(units)] = True
            values = list(units.values())
            cval[list(units)] = torch.tensor(values, dtype=w0.dtype, device=w0.device)
            targets[d] = (cmask, cval)

    def flip(z: torch.Tensor) -> torch.Tensor:  # (B, T, F) -> (B, T, F) reversed per example
        return z.gather(1, rev[:, :, None].expand(-1, -1, z.shape[-1]))

    inp = x  # (B, T, E) then (B, T, D*H)
    hidden, cells, h_n, c_n = [], [], [], []
    for k in range(layers):
        if k and rnn.dropout and rnn.training:
            inp = F.dropout(inp, rnn.dropout, training=True)
        outs, cs = [], []
        for d in range(dirs):
            sfx = f"l{k}_reverse" if d else f"l{k}"
            w_ih, w_hh = getattr(rnn, f"weight_ih_{sfx}"), getattr(rnn, f"weight_hh_{sfx}")
            b_ih = getattr(rnn, f"bias_ih_{sfx}", None) if rnn.bias else None
            b_hh = getattr(rnn, f"bias_hh_{sfx}", None) if rnn.bias else None
            gi = F.linear(flip(inp) if d else inp, w_ih, b_ih)  # (B, T, G*H) in reading order
            h = h0[k * dirs + d]  # (B, H)
            c = c0[k * dirs + d] if c0 is not None else None  # (B, H)
            target = targets.get(d) if k == layers - 1 else None
            hs, cc = [], []
            for t in range(t_max):
                h_new, c_new = _cell(mode, gi[:, t], h, c, w_hh, b_hh)  # (B, H) each
                if target is not None:
                    h_new = torch.where(target[0], target[1], h_new)
                    if clamp_cell:
                        c_new = torch.where(target[0], target[1], c_new)
                live = mask[:, t, None]  # (B, 1)
                h = torch.where(live, h_new, h)
                hs.append(h_new.masked_fill(~live, 0))
                if c is not None:
                    c = torch.where(live, c_new, c)
                    cc.append(c_new.masked_fill(~live, 0))
            seq = torch.stack(hs, 1)  # (B, T, H)
            outs.append(flip(seq) if d else seq)
            if c is not None:
                cseq = torch.stack(cc, 1)  # (B, T, H)
                cs.append(flip(cseq) if d else cseq)
            h_n.append(h)
            c_n.append(c)
        inp = torch.cat(outs, -1)  # (B, T, D*H)
        hidden.append(inp)
        if cs:
            cells.append(torch.cat(cs, -1))  # (B, T, D*H)
    final_h = torch.stack(h_n)  # (L*D, B, H)
    final: State = (final_h, torch.stack(c_n)) if mode == "LSTM" else final_h
    return RecurrentTrace(
        outputs=inp,
        hidden=torch.stack(hidden),  # (L, B, T, D*H)
        cell=torch.stack(cells) if cells else None,  # (L, B, T, D*H)
        final=final,
    )


def unroll(
    rnn: nn.RNNBase,
    x: torch.Tensor,
    lengths: torch.Tensor | None = None,
    state: State | None = None,
    clamp: dict[int, float] | None = None,
    clamp_cell: bool = False,
) -> RecurrentTrace:
    """Re-run ``rnn`` step by step on x ((B, T, E) if batch_first else (T, B, E)).

    lengths: (B,) real lengths (None: all T); state: h0 or (h0, c0), each (L*D, B, H), None =
    zeros; clamp: {top-layer unit in 0..D*H-1: value} held at every step (backward units are
    H..2H-1), also the LSTM cell's unit when ``clamp_cell``. An unbatched x (T, E) is treated as a
    batch of one (the trace and final state keep B = 1).
    """
    if x.dim() == 2:
        x = x.unsqueeze(0 if rnn.batch_first else 1)
    x_bf = x if rnn.batch_first else x.transpose(0, 1)  # (B, T, E)
    return _unroll(rnn, x_bf, lengths, state, clamp, clamp_cell)


def step(
    rnn: nn.RNNBase,
    x_t: torch.Tensor,
    state: State | None,
    clamp: dict[int, float] | None = None,
    clamp_cell: bool = False,
) -> tuple[torch.Tensor, State]:
    """One time step of a unidirectional module: x_t (B, E) -> (top h_t (B, H), new state).

    state: h or (h, c), each (L, B, H), None = zeros; the new state has the same layout.
    """
    if rnn.bidirectional:
        raise ValueError(
            "step() needs a unidirectional module: a bidirectional layer's backward direction "
            "needs the whole sequence; use unroll() instead"
        )
    trace = _unroll(rnn, x_t.unsqueeze(1), None, state, clamp, clamp_cell)  # x: (B, 1, E)
    return trace.outputs[:, 0], trace.final


def _pack_like(padded: torch.Tensor, like: PackedSequence) -> PackedSequence:
    """Pack a batch-first (B, T, F) tensor in original order with ``like``'s layout."""
    order = like.sorted_indices
    sorted_ = padded if order is None else padded.index_select(0, order)  # (B, T, F)
    sizes = like.batch_sizes  # (T,) CPU: batch size at each step, non-increasing
    keep = torch.arange(padded.shape[0])[None, :] < sizes[:, None]  # (T, B): rows alive at t
    data = sorted_.transpose(0, 1)[keep.to(padded.device)]  # (sum of lengths, F), packed order
    return PackedSequence(data, sizes, like.sorted_indices, like.unsorted_indices)


@contextmanager
def unrolled(
    module: nn.Module,
    name: str,
    clamp: dict[int, float] | None = None,
    clamp_cell: bool = False,
    traces: list[RecurrentTrace] | None = None,
) -> Iterator[nn.RNNBase]:
    """Inside the block, the recurrent submodule ``name`` answers with ``unroll``'s result.

    A forward hook replaces its output (tensor or PackedSequence, and h_n / (h_n, c_n)) by the
    step-by-step computation with ``clamp``; each call's trace (original batch order, batch first,
    T = the longest real length for packed input) is appended to ``traces`` when given. Yields
    the submodule; the hook is removed on leaving, also after an exception.
    """
    rnn = dict(module.named_modules()).get(name)
    found = [n for n, _ in recurrent_modules(module)]
    if rnn is None:
        raise ValueError(f"no submodule {name!r}; recurrent submodules: {found}")
    if not isinstance(rnn, (nn.RNN, nn.LSTM, nn.GRU)):
        raise TypeError(f"{name!r} is a {type(rnn).__name__}; recurrent submodules: {found}")
    _check(rnn, clamp, clamp_cell)

    def hook(mod: nn.RNNBase, args: tuple, kwargs: dict[str, Any], output: Any) -> Any:
        inp = args[0] if args else kwargs["input"]
        hx = args[1] if len(args) > 1 else kwargs.get("hx")
        if isinstance(inp, PackedSequence):
            padded, lengths = pad_packed_sequence(inp, batch_first=True)  # (B, T, E) original order
            trace = _unroll(mod, padded, lengths, hx, clamp, clamp_cell)
            out: Any = _pack_like(trace.outputs, inp)
            final = trace.final
        elif inp.dim() == 2:  # unbatched (T, E); hx (L*D, H)
            if hx is not None:
                hx = tuple(s.unsqueeze(1) for s in hx) if isinstance(hx, tuple) else hx.unsqueeze(1)
            trace = _unroll(mod, inp.unsqueeze(0), None, hx, clamp, clamp_cell)
            out = trace.outputs[0]  # (T, D*H)
            f = trace.final
            final = tuple(s.squeeze(1) for s in f) if isinstance(f, tuple) else f.squeeze(1)
        else:
            x_bf = inp if mod.batch_first else inp.transpose(0, 1)  # (B, T, E)
            trace = _unroll(mod, x_bf, None, hx, clamp, clamp_cell)
            out = trace.outputs if mod.batch_first else trace.outputs.transpose(0, 1)
            final = trace.final
        if traces is not None:
            traces.append(trace)
        return out, final

    handle = rnn.register_forward_hook(hook, with_kwargs=True)
    try:
        yield rnn
    finally:
        handle.remove()
