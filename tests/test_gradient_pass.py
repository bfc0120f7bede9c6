"""One backward pass for every gradient attribution (``analyses.gradient_pass``), shared in a run.

- By hand: on the tiny CNN of ``test_yuan2019`` one forward pass gives saliency, gradient x input
  and the location scores worked out on paper.
- Against Captum: on random Kim and Yuan CNNs the one pass equals Captum's ``Saliency``,
  ``InputXGradient`` and ``LayerGradientXActivation`` called one method at a time.
- In a run: with the store, ``hidden_saliency`` makes no model pass at all and ``faithfulness``
  none for gradient x input, and every table equals the one each computes alone.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import torch

from reportgen import analyses
from reportgen.analyses import gradient_pass, hidden_saliency, integrated_gradients
from reportgen.analyses.gradient_pass import SharedGradients, gradient_batch
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.data.vocab import Vocab
from reportgen.models import conv_lookup
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES
from reportgen.run.analysis import RunSettings, run_analysis
from reportgen.run.plan import shared_gradients
from tests.test_yuan2019 import tiny

WORDS = ["good", "bad", "film", "plot", "dull", "fine", "not", "very", "story", "acting"]


def forwards(model) -> tuple[list[int], object]:
    """A counter of the model's forward passes (a hook on its first conv layer, which every pass
    runs; ``forward_from_embeddings`` does not call the module itself) and the hook's handle."""
    calls = [0]
    first = dict(model.module.named_modules())[hidden_saliency.scored_layers(model)[0].name]
    handle = first.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls, handle


def test_one_pass_gives_the_three_attributions_worked_out_by_hand() -> None:
    model = tiny()
    layer = hidden_saliency.scored_layers(model)[0]
    calls, handle = forwards(model)
    try:
        out = gradient_batch(model, ["a b c"], layers=[layer])
    finally:
        handle.remove()
    assert calls[0] == 1  # one forward pass (and one torch.autograd.grad) for all three
    # "a b c": location 0 (a, b) gives z0 = 1 + 1 = 2 through channel 0 = x_t[0] + x_{t+1}[1]; z1 =
    # relu(0) = 0 passes no gradient. dS/de_a = (1, 0), dS/de_b = (0, 1), dS/de_c = (0, 0).
    np.testing.assert_allclose(out.mats[0], [[1, 0], [0, 1], [0, 0]], atol=1e-7)
    np.testing.assert_allclose(out.vecs[0], [1, 1, 0], atol=1e-7)
    # gradient x input: e_a = (1, 0) -> 1, e_b = (0, 1) -> 1, e_c = (1, 1) . (0, 0) -> 0
    np.testing.assert_allclose(out.gxi[0], [1, 1, 0], atol=1e-7)
    # location scores as in test_yuan2019: (1, 1) . (2, 0) = 2 at location 0, 0 at location 1
    np.testing.assert_allclose(out.layer_scores[0][0], [2, 0], atol=1e-7)
    assert out.predicted.tolist() == [1]


def reference(arch: str, seed: int = 0) -> ModelAdapter:
    torch.manual_seed(seed)
    vocab = Vocab(["<pad>", "<unk>", *WORDS])
    config = ARCHITECTURES[arch].default_config(len(vocab), 2)
    module = ARCHITECTURES[arch](config).eval()
    return ModelAdapter(module, TextEncoder("word", vocab), ["neg", "pos"], name=arch, arch=arch,
                        source="test")


def texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))) for _ in range(n)]


@pytest.mark.parametrize("arch", ["kim-cnn", "yuan-cnn"])
def test_one_pass_equals_captum_one_method_at_a_time(arch: str) -> None:
    from captum.attr import InputXGradient, LayerGradientXActivation, Saliency

    from reportgen.models.common import gradients

    model = reference(arch)
    layers = hidden_saliency.scored_layers(model)
    batch_texts = texts(12)
    out = gradient_batch(model, batch_texts, layers=layers)
    batch = model.encode(batch_texts)
    n = [len(t) for t in batch.tokens]
    emb = model.embed(batch.ids).detach()  # (B, T, E)

    def forward(e: torch.Tensor) -> torch.Tensor:
        return model.forward_from_embeddings(e, batch.mask)

    modules = dict(model.module.named_modules())
    with gradients(model.module):
        target = forward(emb).argmax(-1)  # (B,)
        sal = Saliency(forward).attribute(emb.clone().requires_grad_(True), target=target)
        gxi = InputXGradient(forward).attribute(emb.clone().requires_grad_(True), target=target)
        per_layer = [LayerGradientXActivation(forward, modules[lay.read_at]).attribute(
            emb.clone(), target=target) for lay in layers]
    assert out.predicted.tolist() == target.tolist()
    per_token = sal.pow(2).sum(-1).sqrt()  # (B, T)
    signed = gxi.detach().sum(-1)  # (B, T)
    for b in range(len(n)):
        np.testing.assert_allclose(out.vecs[b], per_token[b, : n[b]].numpy(), rtol=1e-6)
        np.testing.assert_allclose(out.mats[b], sal[b, : n[b]].numpy(), rtol=1e-6)
        np.testing.assert_allclose(out.gxi[b], signed[b, : n[b]].numpy(), rtol=1e-5, atol=1e-7)
    for lay, scores, attr in zip(layers, out.layer_scores, per_layer, strict=True):
        from reportgen.models.hooks import to_btc

        theirs = to_btc(attr.detach(), lay.layout).sum(-1).numpy()  # (B, L)
        seen = ~np.isnan(scores)
        np.testing.assert_allclose(scores[seen], theirs[seen], rtol=1e-5, atol=1e-7)
        assert seen.any(1).all()  # every text has locations that see it


def run_all(model: ModelAdapter, examples: list[Example], names: list[str], share: bool,
            tmp_path) -> tuple[dict[str, dict[str, pd.DataFrame]], dict[str, int]]:
    """The analyses ``names`` in one run (nothing cached): their tables and the model's forward
    calls in each."""
    # faithfulness proves its first-layer shortcuts (edit lookups, integrated gradients) once per
    # model and process: forgotten here, so that each run proves them and the counts compare
    conv_lookup._PROVEN.pop(model.module, None)
    integrated_gradients._PROVEN.pop(model.module, None)
    dataset = Dataset("t", {"test": examples})
    run = RunSettings(examples, dataset, torch.device("cpu"), 0, 8, tmp_path, no_cache=True)
    params = {n: analyses.spec(n).params() for n in names}
    run.gradients = (shared_gradients(names, params, [model], run.sample) if share
                     else SharedGradients())
    tables, calls = {}, {}
    for name in names:
        counter, handle = forwards(model)
        try:
            record = run_analysis(name, params[name], [model], run)
        finally:
            handle.remove()
        run.gradients.done(name)
        assert record.status == "ok", record.reason
        tables[name], calls[name] = record.tables, counter[0]
    return tables, calls


def test_a_run_shares_saliencys_pass_and_every_table_stays_the_same(tmp_path) -> None:
    model = reference("kim-cnn", seed=1)
    examples = [Example(t, random.Random(i).choice(["neg", "pos"]))
                for i, t in enumerate(texts(20, seed=3))]
    names = ["saliency", "hidden_saliency", "faithfulness"]
    alone, alone_calls = run_all(model, examples, names, False, tmp_path / "a")
    shared, shared_calls = run_all(model, examples, names, True, tmp_path / "b")
    for name in names:
        for table, frame in alone[name].items():
            pd.testing.assert_frame_equal(shared[name][table], frame, check_exact=True,
                                          obj=f"{name}.{table}")
    assert shared_calls["saliency"] == alone_calls["saliency"]
    assert alone_calls["hidden_saliency"] == 3  # 20 texts in batches of 8
    assert shared_calls["hidden_saliency"] == 0  # every location score came from saliency's pass
    # faithfulness's own gradient x input pass is gone: one forward pass fewer per batch
    assert shared_calls["faithfulness"] == alone_calls["faithfulness"] - 3


def test_the_store_keeps_only_what_its_readers_need_and_drops_it_after_them() -> None:
    model = reference("kim-cnn")
    layers = hidden_saliency.scored_layers(model)
    store = SharedGradients(layers={model.name: layers}, gxi_ids=frozenset({1}))
    out = gradient_batch(model, texts(3), layers=layers)
    store.put(model.name, 8, [0, 1, 2], out)
    assert store.get(model.name, 8, [0, 1, 2], layers=layers) is not None
    assert store.get(model.name, 4, [0, 1, 2], layers=layers) is None  # another batch size
    assert store.get(model.name, 8, [0, 1], gxi=True) is None  # text 0's was not kept
    np.testing.assert_array_equal(store.get(model.name, 8, [1], gxi=True)[0].gxi, out.gxi[1])
    store.done("hidden_saliency")
    assert store.get(model.name, 8, [0], layers=layers) is None
    assert store.get(model.name, 8, [0]) is None and store.get(model.name, 8, [2]) is None
    assert store.get(model.name, 8, [1])[0].tokens == out.tokens[1]  # the detail text stays
    assert store.get(model.name, 8, [1], gxi=True) is not None
    store.done("faithfulness")
    assert store.get(model.name, 8, [1]) is None  # nothing left


def test_no_sharing_when_saliency_differentiates_the_label() -> None:
    model = reference("kim-cnn")
    names = ["saliency", "hidden_saliency", "faithfulness"]
    params = {n: analyses.spec(n).params() for n in names}
    planned = shared_gradients(names, params, [model], [0, 1])
    assert [lay.name for lay in planned.layers[model.name]] == [
        lay.name for lay in hidden_saliency.scored_layers(model)]
    assert planned.gxi_ids == {0, 1}
    import dataclasses

    params["saliency"] = dataclasses.replace(params["saliency"], target="label")
    assert not shared_gradients(names, params, [model], [0, 1]).wanted(model.name)
    assert gradient_pass.SharedGradients().get(model.name, 8, [0]) is None


def test_variance_salience_reads_saliencys_predictions_and_makes_no_pass() -> None:
    from reportgen.analyses import saliency, variance_salience
    from reportgen.analyses.base import RunContext

    model = reference("kim-cnn", seed=2)
    examples = [Example(t, ["neg", "pos"][i % 2]) for i, t in enumerate(texts(19, seed=4))]
    dataset = Dataset("t", {"test": examples})

    def ctx(upstream: dict) -> RunContext:
        return RunContext(model, examples, dataset, torch.device("cpu"), 0, batch_size=8,
                          upstream=upstream)

    first = saliency.compute(ctx({}), saliency.Params())
    counter, handle = forwards(model)
    try:
        alone = variance_salience.compute(ctx({}), variance_salience.Params())
        own = counter[0]
        read = variance_salience.compute(ctx({"saliency": first}), variance_salience.Params())
    finally:
        handle.remove()
    assert own >= 3 and counter[0] == own  # 19 texts in batches of 8 alone; none when read
    pd.testing.assert_frame_equal(read.tables["predictions"], alone.tables["predictions"],
                                  check_exact=True)
    assert read.metrics == alone.metrics
