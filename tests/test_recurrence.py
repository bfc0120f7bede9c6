"""reportgen.models.recurrence: step-by-step unrolls match the fused modules; clamps;
hooks (CPU)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from reportgen.models.recurrence import (
    RecurrentTrace,
    recurrent_modules,
    step,
    unroll,
    unrolled,
)

E, H, B, T = 3, 4, 3, 5
LENGTHS = torch.tensor([3, 5, 2])  # unsorted on purpose
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
ATOL = 1e-5


def make(kind: str, seed: int = 0, **kw) -> nn.RNNBase:
    torch.manual_seed(seed)
    if kind.startswith("rnn"):
        return nn.RNN(E, H, nonlinearity=kind[4:], **kw)
    return {"lstm": nn.LSTM, "gru": nn.GRU}[kind](E, H, **kw)


def inputs(rnn: nn.RNNBase, seed: int = 1, with_state: bool = True):
    """x laid out for rnn (B, T, E) or (T, B, E), and a random initial state (L*D, B, H)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, E, generator=g)
    if not rnn.batch_first:
        x = x.transpose(0, 1)
    if not with_state:
        return x, None
    shape = (rnn.num_layers * (2 if rnn.bidirectional else 1), B, H)
    h0 = torch.randn(shape, generator=g)
    state = (h0, torch.randn(shape, generator=g)) if isinstance(rnn, nn.LSTM) else h0
    return x, state


def run_packed(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor, state=None):
    """The module on a PackedSequence: padded batch-first outputs (B, T, D*H) and final state."""
    packed = pack_padded_sequence(x, lengths, batch_first=rnn.batch_first, enforce_sorted=False)
    out, final = rnn(packed, state)
    padded, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    return padded, final


def close(a, b, atol: float = ATOL) -> bool:
    if isinstance(a, tuple):
        return all(close(u, v, atol) for u, v in zip(a, b, strict=True))
    return a.shape == b.shape and torch.allclose(a, b, atol=atol, rtol=0)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_unroll_matches_module_on_packed_batch(kind, layers, bidirectional, batch_first):
    rnn = make(kind, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    x, state = inputs(rnn)
    with torch.no_grad():
        want_out, want_final = run_packed(rnn, x, LENGTHS, state)
        trace = unroll(rnn, x, LENGTHS, state)
    d = 2 if bidirectional else 1
    assert trace.outputs.shape == (B, T, d * H)
    assert trace.hidden.shape == (layers, B, T, d * H)
    assert close(trace.outputs, want_out)
    assert close(trace.hidden[-1], trace.outputs)
    assert close(trace.final, want_final)
    if kind == "lstm":
        assert trace.cell is not None and trace.cell.shape == (layers, B, T, d * H)
    else:
        assert trace.cell is None
    pad = torch.arange(T)[None, :] >= LENGTHS[:, None]  # (B, T)
    assert (trace.hidden[:, pad] == 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_unroll_without_bias_and_lengths_matches_plain_call(kind):
    rnn = make(kind, num_layers=2, bidirectional=True, bias=False)
    x, state = inputs(rnn)
    with torch.no_grad():
        want_out, want_final = rnn(x, state)
        trace = unroll(rnn, x, None, state)
    assert close(trace.outputs.transpose(0, 1), want_out)  # module is (T, B, ...), trace (B, T)
    assert close(trace.final, want_final)


def test_lower_layer_hidden_equals_a_one_layer_copy():
    rnn = make("lstm", num_layers=2, bidirectional=True, batch_first=True)
    one = nn.LSTM(E, H, bidirectional=True, batch_first=True)
    with torch.no_grad():
        for name, p in one.named_parameters():
            p.copy_(getattr(rnn, name))
        x, _ = inputs(rnn)
        want, _ = run_packed(one, x, LENGTHS)
        trace = unroll(rnn, x, LENGTHS)
    assert close(trace.hidden[0], want)


def test_float64_weights():
    rnn = make("gru", num_layers=2, bidirectional=True, batch_first=True).double()
    x, state = inputs(rnn)
    x, state = x.double(), state.double()
    with torch.no_grad():
        want_out, want_final = run_packed(rnn, x, LENGTHS, state)
        trace = unroll(rnn, x, LENGTHS, state)
    assert trace.outputs.dtype == torch.float64
    assert close(trace.outputs, want_out, 1e-12) and close(trace.final, want_final, 1e-12)


def test_cell_at_step_t_is_c_n_of_the_prefix():
    rnn = make("lstm", batch_first=True)
    x, _ = inputs(rnn)
    with torch.no_grad():
        trace = unroll(rnn, x)
        for t in range(T):
            _, (_, c_n) = rnn(x[:, : t + 1])
            assert close(trace.cell[0, :, t], c_n[0])


def test_clamp_by_hand_two_steps():
    rnn = nn.RNN(1, 2, bias=False, batch_first=True)  # tanh
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor([[1.0], [0.5]]))
        rnn.weight_hh_l0.copy_(torch.tensor([[0.5, -1.0], [2.0, 0.25]]))
    x = torch.tensor([[[1.0], [-2.0]]])  # (B=1, T=2, E=1)
    # step 1 from h0 = 0: h = tanh([1, 0.5]), unit 0 -> 0.3
    h1 = [0.3, math.tanh(0.5)]
    # step 2: W_ih x2 + W_hh h1 = [-2 + 0.5*0.3 - h1[1], -1 + 2*0.3 + 0.25*h1[1]], unit 0 -> 0.3
    h2 = [0.3, math.tanh(-1.0 + 0.6 + 0.25 * h1[1])]
    with torch.no_grad():
        trace = unroll(rnn, x, clamp={0: 0.3})
        plain = unroll(rnn, x)
    assert close(trace.outputs[0], torch.tensor([h1, h2]))
    assert close(trace.final, torch.tensor([[h2]]))
    # unclamped: the second unit at step 2 sees tanh(1), not 0.3
    want = math.tanh(-1.0 + 2 * math.tanh(1.0) + 0.25 * math.tanh(0.5))
    assert abs(plain.outputs[0, 1, 1].item() - want) < ATOL


def test_clamp_holds_the_unit_and_reaches_the_recurrence():
    rnn = make("lstm", num_layers=2, bidirectional=True, batch_first=True)
    x, _ = inputs(rnn)
    clamp = {1: 0.7, H + 2: -0.4}  # forward unit 1, backward unit 2
    with torch.no_grad():
        plain = unroll(rnn, x, LENGTHS)
        held = unroll(rnn, x, LENGTHS, clamp=clamp)
    real = torch.arange(T)[None, :] < LENGTHS[:, None]  # (B, T)
    for unit, value in clamp.items():
        assert (held.outputs[..., unit][real] == value).all()
        assert (held.outputs[..., unit][~real] == 0).all()
    h_n, _ = held.final
    assert (h_n[-2, :, 1] == 0.7).all() and (h_n[-1, :, 2] == -0.4).all()
    others_fwd = [u for u in range(H) if u != 1]
    others_bwd = [u for u in range(H, 2 * H) if u != H + 2]
    # the clamped value feeds later steps: other units move in both directions
    for others in (others_fwd, others_bwd):
        diff = (held.outputs[..., others] - plain.outputs[..., others]).abs()[real]
        assert diff.max() > 1e-3
    assert close(held.hidden[0], plain.hidden[0])  # only the top layer is clamped
    assert close(held.cell[0], plain.cell[0])


def test_clamp_cell_and_bad_clamps():
    rnn = make("lstm", batch_first=True)
    x, _ = inputs(rnn)
    with torch.no_grad():
        trace = unroll(rnn, x, clamp={0: 2.0}, clamp_cell=True)
    assert (trace.cell[0, :, :, 0] == 2.0).all() and (trace.outputs[..., 0] == 2.0).all()
    with pytest.raises(ValueError, match="outside"):
        unroll(rnn, x, clamp={H: 1.0})
    with pytest.raises(ValueError, match="clamp_cell"):
        unroll(make("gru", batch_first=True), x, clamp={0: 1.0}, clamp_cell=True)
    with pytest.raises(ValueError, match="proj_size"):
        unroll(nn.LSTM(E, H, proj_size=2, batch_first=True), x)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_step_repeated_equals_unroll(kind):
    rnn = make(kind, num_layers=2, batch_first=True)
    x, state = inputs(rnn)
    clamp = {2: 0.5}
    with torch.no_grad():
        trace = unroll(rnn, x, None, state, clamp=clamp)
        hs = []
        for t in range(T):
            h_t, state = step(rnn, x[:, t], state, clamp=clamp)
            hs.append(h_t)
    assert close(torch.stack(hs, 1), trace.outputs)
    assert close(state, trace.final)
    with pytest.raises(ValueError, match="unidirectional"):
        step(make(kind, bidirectional=True), x[:, 0], None)


class PackedTagger(nn.Module):
    """Embedding -> 2-layer BiLSTM on a packed batch -> mean of outputs + final states -> linear."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.emb = nn.Embedding(20, E)
        self.encoder = nn.Sequential()
        self.encoder.add_module("lstm", nn.LSTM(E, H, 2, batch_first=True, bidirectional=True))
        self.head = nn.Linear(4 * H, 2)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.emb(ids), lengths, batch_first=True,
                                      enforce_sorted=False)
        out, (h_n, _) = self.encoder.lstm(packed)
        padded, _ = pad_packed_sequence(out, batch_first=True)  # (B, T, 2H)
        return self.head(torch.cat([padded.sum(1), h_n[-2], h_n[-1]], -1))


def test_recurrent_modules_lists_names_in_order():
    model = nn.Sequential(nn.GRU(E, H), nn.Linear(H, H), PackedTagger(), nn.RNN(E, H))
    names = [(n, type(m).__name__) for n, m in recurrent_modules(model)]
    assert names == [("0", "GRU"), ("2.encoder.lstm", "LSTM"), ("3", "RNN")]


def test_unrolled_packed_model():
    model = PackedTagger().eval()
    ids = torch.randint(1, 20, (B, T))
    lstm = model.encoder.lstm
    with torch.no_grad():
        want = model(ids, LENGTHS)
        want_out, (want_h, want_c) = lstm(
            pack_padded_sequence(model.emb(ids), LENGTHS, batch_first=True, enforce_sorted=False)
        )
        traces: list[RecurrentTrace] = []
        with unrolled(model, "encoder.lstm", traces=traces) as found:
            assert found is lstm
            same = model(ids, LENGTHS)
            packed = pack_padded_sequence(
                model.emb(ids), LENGTHS, batch_first=True, enforce_sorted=False
            )
            direct, _ = lstm(packed)
        with unrolled(model, "encoder.lstm", clamp={0: 1.0, H: -1.0}):
            moved = model(ids, LENGTHS)
    assert close(same, want)
    assert close(direct.data, want_out.data)
    for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        assert torch.equal(getattr(direct, field), getattr(want_out, field))
    assert not torch.allclose(moved, want, atol=1e-3)
    trace = traces[0]
    assert len(traces) == 2  # one per call of the LSTM
    t_max = int(LENGTHS.max())
    assert trace.outputs.shape == (B, t_max, 2 * H)
    assert trace.hidden.shape == trace.cell.shape == (2, B, t_max, 2 * H)
    padded, _ = pad_packed_sequence(want_out, batch_first=True)  # original order
    assert close(trace.outputs, padded)
    assert close(trace.final, (want_h, want_c))
    assert not lstm._forward_hooks and not lstm._forward_hooks_with_kwargs


def test_unrolled_removes_hook_after_errors():
    model = PackedTagger()
    ids = torch.randint(1, 20, (B, T))
    lstm = model.encoder.lstm
    bad = {2 * H: 1.0}  # refused on entry, before any hook is added
    with pytest.raises(ValueError, match="outside"), unrolled(model, "encoder.lstm", clamp=bad):
        pass
    assert not lstm._forward_hooks
    with pytest.raises(RuntimeError, match="boom"), unrolled(model, "encoder.lstm"):
        model(ids, LENGTHS)
        raise RuntimeError("boom")
    assert not lstm._forward_hooks
    with pytest.raises(ValueError, match="no submodule"), unrolled(model, "encoder.gru"):
        pass
    with pytest.raises(TypeError, match="Linear"), unrolled(model, "head"):
        pass


def test_unrolled_forward_raising_inside_the_block():
    model = PackedTagger()
    lstm = model.encoder.lstm
    with pytest.raises(RuntimeError), unrolled(model, "encoder.lstm"):
        model(torch.randint(1, 20, (B, T)), torch.tensor([3, 9, 2]))  # length 9 > T: LSTM raises
    assert not lstm._forward_hooks


def test_unrolled_plain_tensor_kwargs_and_unbatched():
    rnn = make("gru", num_layers=2, bidirectional=True)  # (T, B, E) layout
    x, h0 = inputs(rnn)
    with torch.no_grad():
        want, want_h = rnn(x, hx=h0)
        want1, want1_h = rnn(x[:, 0], h0[:, 0])  # unbatched (T, E), (L*D, H)
        with unrolled(rnn, "", clamp=None) as same:
            assert same is rnn
            got, got_h = rnn(x, hx=h0)
            got1, got1_h = rnn(x[:, 0], h0[:, 0])
    assert close(got, want) and close(got_h, want_h)
    assert close(got1, want1) and close(got1_h, want1_h)
    assert not rnn._forward_hooks


def test_gradients_match_module():
    rnn = make("lstm", num_layers=2, bidirectional=True, batch_first=True)
    x, (h0, c0) = inputs(rnn)
    x.requires_grad_(True)
    h0.requires_grad_(True)
    weights = torch.randn(B, T, 2 * H, generator=torch.Generator().manual_seed(5))
    params = [x, h0, *rnn.parameters()]

    def loss(out, final):
        return (out * weights).sum() + final[0].pow(2).sum() + final[1].sum()

    want = torch.autograd.grad(loss(*run_packed(rnn, x, LENGTHS, (h0, c0))), params)
    trace = unroll(rnn, x, LENGTHS, (h0, c0))
    got = torch.autograd.grad(loss(trace.outputs, trace.final), params)
    for g, w in zip(got, want, strict=True):
        assert close(g, w)
