"""hidden_saliency, optimization, matching_rate (Yuan et al. 2019) against hand computations.

The tiny model: 2-d embeddings of <pad> <unk> a b c, one Conv1d of kernel 2 (no padding) with two
channels, ReLU, max over time, a linear layer. With hand-set weights the location scores, the
objective and the matching rate can be worked out on paper.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from reportgen.analyses import hidden_saliency, matching_rate, optimization
from reportgen.analyses.base import RunContext
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.data.vocab import Vocab
from reportgen.models.adapter import HookedAdapter, ModelAdapter, UserModel, receptive_fields
from reportgen.models.architectures import ARCHITECTURES
from reportgen.models.internals import conv_layer


class TinyCNN(nn.Module):
    """e_a = (1, 0), e_b = (0, 1), e_c = (1, 1). Conv kernel 2: channel 0 = x_t[0] + x_{t+1}[1],
    channel 1 = x_t[1] - x_{t+1}[0]; ReLU; max over time; logits = (-z0 - z1, z0 + z1)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5, 2, padding_idx=0)
        self.body = nn.Sequential(nn.Conv1d(2, 2, 2), nn.ReLU())
        self.out = nn.Linear(2, 2)
        with torch.no_grad():
            self.emb.weight.copy_(torch.tensor([[0, 0], [0, 0], [1, 0], [0, 1], [1, 1.0]]))
            w = torch.zeros(2, 2, 2)  # (out, in, k)
            w[0, 0, 0], w[0, 1, 1] = 1, 1
            w[1, 1, 0], w[1, 0, 1] = 1, -1
            self.body[0].weight.copy_(w)
            self.body[0].bias.zero_()
            self.out.weight.copy_(torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
            self.out.bias.zero_()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.body(self.emb(ids).transpose(1, 2))  # (B, 2, T - 1)
        valid = ids[:, 1:].ne(0)[:, None]  # a window is real when both tokens are
        return self.out(h.masked_fill(~valid, 0).max(-1).values)


def tiny() -> HookedAdapter:
    enc = TextEncoder("word", Vocab(["<pad>", "<unk>", "a", "b", "c"]))
    return HookedAdapter(UserModel(TinyCNN(), enc, ["neg", "pos"], name="tiny"), source="t",
                         device="cpu")


def context(model: ModelAdapter, texts: list[str], labels=None, upstream=None,
            spec="t") -> RunContext:
    examples = [Example(t, (labels or [None] * len(texts))[i]) for i, t in enumerate(texts)]
    return RunContext(model, examples, Dataset(spec, {"test": examples}), torch.device("cpu"), 0,
                      batch_size=8, upstream=upstream or {})


def test_receptive_fields_of_hand_worked_stacks() -> None:
    # conv k3 pad1 -> maxpool k2 s2 -> conv k3 dilation 2 pad 2 -> conv k2 stride 2
    stack = [nn.Conv1d(1, 1, 3, padding=1), nn.MaxPool1d(2),
             nn.Conv1d(1, 1, 3, dilation=2, padding=2), nn.Conv1d(1, 1, 2, stride=2)]
    fields = [(f.size, f.jump, f.offset) for f in receptive_fields(stack)]
    # size: 3; +1*1*1 = 4; +(2*2)*2 = 12; +1*1*2 = 14. jump: 1, 2, 2, 4.
    # offset: -1, -1, -1-2*2=-5, -5
    assert fields == [(3, 1, -1), (4, 2, -1), (12, 2, -5), (14, 4, -5)]
    model = ARCHITECTURES["yuan-cnn"](ARCHITECTURES["yuan-cnn"].default_config(10, 2))
    enc = TextEncoder("word", Vocab(["<pad>", "<unk>", *"abcdefgh"]))
    adapter = ModelAdapter(model, enc, ["x", "y"], name="y", arch="yuan-cnn", source="y")
    assert [conv_layer(adapter, f"convs.{j}").field.size for j in range(3)] == [5, 9, 13]


def test_location_scores_by_hand() -> None:
    model = tiny()
    layer = conv_layer(model)
    assert (layer.name, layer.read_at, layer.field.size) == ("body.0", "body.1", 2)
    # "a b c": windows (a,b): ch0 = 1 + 1 = 2, ch1 = 0 - 0 = 0; (b,c): ch0 = 0 + 1 = 1,
    # ch1 = 1 - 1 = 0. Max over time: z = (2, 0) from location 0; logits (-2, 2): pos.
    # dS_pos/dz = (1, 1) flows to the argmax location only:
    # Score_0 = (1, 1) . (2, 0) = 2, Score_1 = 0
    tokens, scores, predicted, _ = hidden_saliency.location_scores(model, layer, ["a b c", "c"])
    assert tokens[0] == ["a", "b", "c"] and predicted.tolist()[0] == 1
    np.testing.assert_allclose(scores[0], [2.0, 0.0], atol=1e-6)
    # "c" alone: location 0 sees (c, padding), which the model masks: score 0; location 1 sees none
    assert scores[1][0] == 0 and np.isnan(scores[1][1])
    result = hidden_saliency.compute(context(model, ["a b c", "b a a"]),
                                     hidden_saliency.Params(top_m=1))
    locations = result.tables["locations"]
    assert locations[["example_id", "location", "start", "end", "tokens"]].values.tolist() == [
        [0, 0, 0, 1, "a b"], [1, 1, 1, 2, "a a"]]
    # "b a a": (b,a): ch0 = 0 + 0 = 0, ch1 = 1 - 1 = 0; (a,a): ch0 = 1, ch1 = -1 -> relu 0.
    # z = (1, 0) from location 1: Score_1 = 1, Score_0 = 0
    assert locations["score"].tolist() == pytest.approx([2.0, 1.0])
    assert result.metrics["top_location_share"] == pytest.approx(1.0)
    assert result.metrics["uniform_location_share"] == pytest.approx(0.5)
    # the page boxes each top location's receptive field, coloured by its rank
    rows = {r.example_id: r
            for r in hidden_saliency.present(result, hidden_saliency.Params(top_m=1))
            .token_views[0].rows}
    assert [(b.start, b.end, b.rank) for b in rows[0].boxes] == [(0, 1, 1)]
    assert [(b.start, b.end, b.rank) for b in rows[1].boxes] == [(1, 2, 1)]
    assert rows[1].boxes[0].label == "location 1 of body.0 · score 1"


def test_similarity_and_objective_match_a_direct_computation() -> None:
    x = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]])
    mask = torch.tensor([[True, True, True]])
    c = 1 / math.sqrt(2)  # cos((1,0),(1,1)) = cos((1,1),(0,2))
    # Eq. 7: 1/N times the sum over all N^2 ordered pairs, i = j included
    assert optimization.similarity(x, mask).item() == pytest.approx((3 + 2 * (c + 0 + c)) / 3)
    assert (optimization.similarity(x, torch.tensor([[True, True, False]])).item()
            == pytest.approx((2 + 2 * c) / 2))
    model = tiny()
    layer = conv_layer(model)
    window = torch.tensor([[[1.0, 2.0], [3.0, 1.0]]])  # conv: ch0 = 1 + 1 = 2, ch1 = 2 - 3 -> 0
    target = torch.tensor([[0.5, 2.0]])
    value, act, norm, sim, cosine = optimization.objective(model, layer, window,
                                                           torch.ones(1, 2, dtype=torch.bool),
                                                           target, l1=0.1, l2=0.5)
    sim_direct = (2 + 2 * (1 * 3 + 2 * 1) / (math.sqrt(5) * math.sqrt(10))) / 2
    assert act.item() == pytest.approx(2 * 0.5 + 0 * 2.0)
    assert norm.item() == pytest.approx(1 + 4 + 9 + 1)
    assert sim.item() == pytest.approx(sim_direct)
    assert value.item() == pytest.approx(1.0 - 0.1 * 15 + 0.5 * sim_direct)
    assert cosine.item() == pytest.approx(0.5 / math.sqrt(0.25 + 4))


def yuan_adapter() -> ModelAdapter:
    cls = ARCHITECTURES["yuan-cnn"]
    texts = ["the film is good and moving", "a dull and tired plot", "not bad at all", "great fun"]
    enc = TextEncoder.fit("word", texts * 3, max_len=20)
    torch.manual_seed(0)
    module = cls({**cls.default_config(enc.n_tokens, 2), "emb_dim": 16, "channels": [12, 8, 6]})
    return ModelAdapter(module, enc, ["neg", "pos"], name="yuan", arch="yuan-cnn", source="y")


def test_batched_optimisation_equals_one_problem_at_a_time() -> None:
    model = yuan_adapter()
    texts = ["the film is good and moving", "a dull and tired plot", "not bad at all"]
    params = optimization.Params(steps=40, chunk=64)
    ctx = context(model, texts)
    ctx.upstream = {"hidden_saliency": hidden_saliency.compute(
        ctx, hidden_saliency.Params(layer="convs.1"))}
    together = optimization.compute(ctx, params).tables["problems"]
    alone = optimization.compute(ctx, optimization.Params(steps=40, chunk=1)).tables["problems"]
    # 9 tokens, clipped
    assert len(together) == 9 and (together["end"] - together["start"]).max() <= 8
    pd.testing.assert_frame_equal(together, alone, rtol=1e-5)
    assert (together["activation_cosine"] > 0.5).mean() > 0.5  # the optimisation does its job


def test_convergence_freezes_a_problem() -> None:
    model = yuan_adapter()
    ctx = context(model, ["the film is good and moving"])
    ctx.upstream = {"hidden_saliency": hidden_saliency.compute(ctx, hidden_saliency.Params())}
    loose = optimization.Params(steps=200, tolerance=1e9, patience=3)  # any change counts as calm
    problems = optimization.compute(ctx, loose).tables["problems"]
    # step 1 has nothing to compare with; steps 2, 3, 4 are calm: frozen after step 4
    assert problems["converged"].all() and (problems["steps"] == 4).all()


def test_a_problem_that_stops_early_ends_where_it_would_alone() -> None:
    """Problems converging at different steps: each one's steps and flag in the batch equal those
    of its own run, and one that stopped early ends where it ended alone (Adam's momentum must not
    move a frozen problem). The problems still running at the cap are not compared: batched and
    single-row products round differently, and 120 Adam steps on a weak target amplify that."""
    from reportgen.analyses.optimization_solver import optimise
    from reportgen.models.conv import conv_layers

    model = yuan_adapter()
    layer = conv_layers(model)[0]
    size, dim = layer.field.size, model.embed(torch.zeros(1, 1, dtype=torch.long)).size(-1)
    g = torch.Generator().manual_seed(3)
    start = torch.randn(6, size, dim, generator=g) * 0.3
    mask = torch.ones(6, size, dtype=torch.bool)
    target = torch.randn(6, layer.channels, generator=g) * torch.tensor([1e-3, 1, 10, 1e-2, 3,
                                                                         0.1])[:, None]
    params = optimization.Params(steps=120, tolerance=2e-3, patience=3)
    x, steps, converged = optimise(model, layer, start, mask, target, 0.01, 0.0, params)
    assert len(set(steps.tolist())) > 1 and converged.any()  # they stop at different steps
    for i in range(6):
        xi, si, ci = optimise(model, layer, start[i : i + 1], mask[i : i + 1], target[i : i + 1],
                              0.01, 0.0, params)
        assert (si[0], ci[0]) == (steps[i], converged[i])
        if converged[i]:  # frozen while the others ran on: where it stopped alone
            torch.testing.assert_close(x[i : i + 1], xi, rtol=1e-5, atol=1e-6)


def _hand_window(affine):
    """The shortcut's activation written out for the test: f(W . taps + b)."""
    def forward(x, mask=None):
        if mask is not None:
            x = x * mask[..., None].to(x.dtype)
        taps = x[:, : (affine.kernel - 1) * affine.dilation + 1 : affine.dilation]
        pre = taps.reshape(x.size(0), -1) @ affine.weight.T
        pre = pre + affine.bias if affine.bias is not None else pre
        return torch.relu(pre) if affine.relu else pre
    return forward


@pytest.mark.parametrize("relu,kernel,dilation,size,bias", [(True, 3, 1, 3, True),
                                                            (False, 2, 2, 4, False),
                                                            (True, 1, 1, 1, True)])
def test_hand_gradient_equals_autograd_of_the_objective(relu, kernel, dilation, size,
                                                         bias) -> None:
    """``affine_ascent``'s objective and gradient (worked out by hand, no graph) equal autograd
    through ``objective`` for ReLU and identity, dilated taps, windows longer than the taps,
    masked positions, a real zero vector and a window with no real position at all."""
    from reportgen.analyses.optimization_solver import affine_ascent, objective
    from reportgen.models.conv import WindowAffine

    g = torch.Generator().manual_seed(7)
    dim, channels, n = 5, 4, 6
    affine = WindowAffine(torch.randn(channels, kernel * dim, generator=g),
                          torch.randn(channels, generator=g) if bias else None, kernel, dilation,
                          relu)
    x = torch.randn(n, size, dim, generator=g, dtype=torch.float64)
    affine = WindowAffine(affine.weight.double(),
                          None if affine.bias is None else affine.bias.double(), kernel, dilation,
                          relu)
    mask = torch.rand(n, size, generator=g) > 0.3
    mask[0] = True
    mask[1] = False  # nothing real: similarity 0, gradient 0
    x[0, 0], mask[0, 0] = 0.0, True  # a real zero vector: normalize's 1e-12 floor applies
    target = torch.randn(n, channels, generator=g, dtype=torch.float64)
    leaf = x.clone().requires_grad_(True)
    value = objective(None, None, leaf, mask, target, 0.03, 0.7, _hand_window(affine))[0]
    value.sum().backward()
    got_value, got_grad = affine_ascent(affine, x, mask, target, 0.03, 0.7)
    torch.testing.assert_close(got_value, value.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_grad, leaf.grad, rtol=1e-10, atol=1e-10)
    assert got_grad[1].abs().max() == 0 and (got_grad[~mask] == 0).all()
    if relu:  # channels on both sides of zero: the ReLU's gradient rule is exercised
        taps = (x * mask[..., None])[:, : (kernel - 1) * dilation + 1 : dilation].reshape(n, -1)
        pre = taps @ affine.weight.T + (affine.bias if affine.bias is not None else 0)
        assert (pre[mask.any(1)] < 0).any() and (pre > 0).any()


@pytest.mark.parametrize("fused", [False, True])
def test_the_solvers_adam_is_torchs_adam(fused: bool) -> None:
    """``optimization_solver.Adam`` replaces torch.optim.Adam (whose constructor costs a second):
    step by step it gives torch's windows after every step exactly; with the fused kernel
    (available on this CPU) they agree to float rounding after 40 steps, far from the start."""
    from reportgen.analyses.optimization_solver import Adam

    g = torch.Generator().manual_seed(3)
    start = torch.randn(7, 4, 6, generator=g)
    grads = [torch.randn(7, 4, 6, generator=g) * 10.0 ** (k % 5 - 2) for k in range(40)]
    theirs = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([theirs], lr=0.05)
    ours = start.clone()
    mine = Adam(ours, 0.05, fused=fused)
    assert mine.fused is fused
    for grad in grads:
        theirs.grad = grad.clone()
        opt.step()
        mine.step(ours, grad)
        if not fused:
            assert torch.equal(theirs.detach(), ours)
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-5, atol=1e-6)
    assert (ours - start).abs().max() > 0.5


def test_optimisation_with_the_hand_gradient_follows_the_autograd_path() -> None:
    """The same Adam run with the shortcut's gradient by hand and through autograd (the shortcut
    stripped of its ``affine``): the same steps, and windows equal up to float rounding."""
    from reportgen.analyses import optimization_solver as solver
    from reportgen.models.conv import conv_layers

    model = yuan_adapter()
    layer = conv_layers(model)[0]
    assert getattr(solver.window_function(model, layer), "affine", None) is not None
    size, dim = layer.field.size, model.embed(torch.zeros(1, 1, dtype=torch.long)).size(-1)
    g = torch.Generator().manual_seed(5)
    start = torch.randn(8, size, dim, generator=g) * 0.3
    mask = torch.rand(8, size, generator=g) > 0.2
    mask[:, size // 2] = True
    target = torch.relu(torch.randn(8, layer.channels, generator=g))
    params = optimization.Params(steps=60)
    by_hand = solver.optimise(model, layer, start, mask, target, 0.01, 0.1, params)
    original = solver.window_function

    def stripped(adapter, layer_, *args, **kwargs):
        fn = original(adapter, layer_, *args, **kwargs)
        return lambda x, m=None: fn(x, m)

    solver.window_function = stripped
    try:
        autograd = solver.optimise(model, layer, start, mask, target, 0.01, 0.1, params)
    finally:
        solver.window_function = original
    np.testing.assert_array_equal(by_hand[1], autograd[1])
    torch.testing.assert_close(by_hand[0], autograd[0], rtol=1e-4, atol=1e-5)
    assert (by_hand[0] - start).abs().max() > 0.1  # it moved


def test_matching_rate_counts_matches_beside_its_references() -> None:
    model = tiny()
    texts = ["a b c", "b a a", "c c b a"]
    ctx = context(model, texts)
    hs = hidden_saliency.compute(ctx, hidden_saliency.Params(top_m=1))
    # hand-made neighbours: "a b" keeps class pos (z0 = 2); "b b" -> ch0 = 1: pos;
    # so every X' matches
    neighbours = pd.DataFrame(
        [("tiny", i, 1, j + 1, w, 1.0) for i in range(3) for j, w in enumerate(["a", "b"])],
        columns=optimization.TABLES["neighbours"])
    ctx.upstream = {"hidden_saliency": hs,
                    "optimization": optimization.AnalysisResult({"neighbours": neighbours}, {})}
    result = matching_rate.compute(ctx, matching_rate.Params(locations=1, words=2))
    matches = result.tables["matches"]
    assert matches["words"].tolist() == ["a b"] * 3
    assert matches["predicted"].tolist() == ["pos"] * 3 == matches["words_predicted"].tolist()
    assert result.metrics["matching_rate"] == 1.0
    assert result.metrics["majority_class_share"] == 1.0
    assert 0 <= result.metrics["random_words_rate"] <= 1
    assert set(matches["salient"].str.split().map(len)) == {2}
    with pytest.raises(ValueError, match="only 2 neighbours"):
        matching_rate.compute(ctx, matching_rate.Params(locations=1, words=5))
