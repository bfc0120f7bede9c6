"""benchmarks/limit.py's pass recorder and replay on a tiny untrained Kim CNN: every outermost
adapter pass is noted once with its shape and whether it was differentiated, the adapter is left
as it was, and the replay makes exactly those passes."""

from __future__ import annotations

import torch

from benchmarks import limit
from reportgen.analyses.gradient_pass import gradient_batch
from reportgen.models.facts import predict_proba
from tests.test_benchmark_baselines import TEXTS, reference


def conv_calls(model) -> tuple[list[int], object]:
    calls = [0]
    first = next(m for m in model.module.modules() if isinstance(m, torch.nn.Conv1d))
    return calls, first.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))


def test_recorder_notes_each_pass_and_replay_makes_the_same_ones() -> None:
    model = reference("kim-cnn")
    with limit.PassRecorder(model) as recorder:
        gradient_batch(model, TEXTS[:4])  # one differentiated pass
        with torch.no_grad():
            predict_proba(model, TEXTS, batch_size=4)  # two plain ones
    passes = recorder.passes
    assert [(p.method, p.differentiated) for p in passes] == [
        ("forward_from_embeddings", True), ("forward_from_embeddings", False),
        ("forward_from_embeddings", False)]
    longest = max(len(model.encode([t]).tokens[0]) for t in TEXTS[:4])
    assert passes[0].shape[:2] == (4, max(longest, model.min_len))
    assert passes[2].shape[0] == 2  # the last batch of predict_proba: texts 5 and 6
    assert "forward_from_embeddings" not in vars(model)  # the class's method again
    calls, handle = conv_calls(model)
    try:
        limit.replay(model, passes, torch.device("cpu"))
    finally:
        handle.remove()
    assert calls[0] == 3


def test_profile_shares_name_the_libraries() -> None:
    shares = limit.profile_shares(lambda: torch.randn(200, 200) @ torch.randn(200, 200))
    assert abs(sum(s for _, s in shares) - 1.0) < 0.5 and shares[0][1] > 0
    assert limit.library(("~", 0, "<built-in method torch.conv1d>")) == "torch kernels"
    assert limit.library(("/x/sklearn/linear_model/_base.py", 1, "fit")) == "scikit-learn"


def test_recorder_notes_optimisation_window_passes() -> None:
    """optimise calls the layer's window function once per Adam step: each call is one recorded
    differentiated ``window`` pass of the windows' shape, and the module is restored after."""
    from types import SimpleNamespace

    from reportgen.analyses import optimization_solver as solver
    from reportgen.models.conv import conv_layers

    model = reference("kim-cnn")
    layer = conv_layers(model)[0]
    size = layer.field.size
    start = torch.randn(3, size, model.embed(torch.zeros(1, 1, dtype=torch.long)).size(-1))
    mask = torch.ones(3, size, dtype=torch.bool)
    target = torch.randn(3, layer.channels)
    settings = SimpleNamespace(resolved=lambda: (0.05, 4), tolerance=0.0, patience=10**6)
    original = solver.window_function
    with limit.PassRecorder(model) as recorder:
        solver.optimise(model, layer, start, mask, target, 0.0, 0.0, settings)
    assert solver.window_function is original
    windows = [p for p in recorder.passes if p.method == "window"]
    assert len(windows) == 4 and all(p.differentiated for p in windows)
    assert windows[0].shape == tuple(start.shape)
    calls = []  # the replay runs each recorded function once, on windows it differentiates

    def counted(function):
        def call(x, mask=None):
            calls.append((tuple(x.shape), x.requires_grad))
            return function(x, mask)
        return call

    for p in windows:
        p.function = counted(p.function)
    limit.replay(model, windows, torch.device("cpu"))
    assert calls == [(tuple(start.shape), True)] * 4
