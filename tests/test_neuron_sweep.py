"""neuron_sweep on a tiny RNN with a planted unit whose final value is the label's sign."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reportgen.analyses import neuron_sweep
from reportgen.analyses.base import RunContext
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES
from reportgen.models.facts import predict_proba

NEUTRAL = ["the", "film", "plot", "was", "really", "quite", "acting", "story"]


def corpus(n: int, seed: int) -> list[Example]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        words = list(rng.choice(NEUTRAL, size=int(rng.integers(2, 6))))
        label = "pos" if i % 2 else "neg"
        out.append(Example(" ".join([*words, "good" if label == "pos" else "bad"]), label))
    return out


def planted() -> ModelAdapter:
    """tanh RNN, 4 units. Unit 0: tanh(2 * polarity + 0.5 * h0): 'good' +1, 'bad' -1, others 0;
    so the final h0 is +-tanh(2) with the label's sign. Units 1-3: noise from a second dimension.
    The output reads unit 0 only: logits (-h0, h0)."""
    enc = TextEncoder.fit("word", [" ".join([*NEUTRAL, "good", "bad"])])
    cls = ARCHITECTURES["rnn"]
    model = cls({**cls.default_config(enc.n_tokens, 2), "emb_dim": 2, "hidden": 4, "dropout": 0.0})
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        emb = torch.zeros(enc.n_tokens, 2)
        emb[:, 1] = torch.randn(enc.n_tokens, generator=g)
        emb[enc.vocab.stoi["good"], 0], emb[enc.vocab.stoi["bad"], 0] = 1.0, -1.0
        emb[0] = 0
        model.emb.weight.copy_(emb)
        w_ih = torch.zeros(4, 2)
        w_ih[0, 0] = 2.0
        w_ih[1:, 1] = torch.randn(3, generator=g)
        w_hh = torch.randn(4, 4, generator=g) * 0.3
        w_hh[0] = torch.tensor([0.5, 0.0, 0.0, 0.0])
        w_hh[1:, 0] = 0.0
        model.rnn.weight_ih_l0.copy_(w_ih), model.rnn.weight_hh_l0.copy_(w_hh)
        model.rnn.bias_ih_l0.zero_(), model.rnn.bias_hh_l0.zero_()
        model.out.weight.copy_(torch.tensor([[-1.0, 0, 0, 0], [1.0, 0, 0, 0]]))
        model.out.bias.zero_()
    return ModelAdapter(model, enc, ["neg", "pos"], name="planted", arch="rnn", source="t")


def test_the_planted_unit_is_found_first_and_classifies_zero_shot() -> None:
    model = planted()
    train, test = corpus(120, 0), corpus(40, 1)
    data = Dataset("t", {"train": train, "test": test})
    ctx = RunContext(model, test, data, torch.device("cpu"), 0)
    params = neuron_sweep.Params(seeds=2, random_units=3, sweep_values=5, sweep_texts=20)
    result = neuron_sweep.compute(ctx, params)
    m = result.metrics
    assert m["top_unit"] == 0
    assert m["top_unit_zero_shot_accuracy"] == 1.0 and m["all_units_accuracy"] == 1.0
    units = result.tables["units"].set_index("unit")
    assert units.loc[0, "rank"] == 1
    # clamping unit 0 high raises P(pos): the output weight on it is +1 for pos
    sweep = result.tables["sweep"]
    pos = sweep[sweep["class"] == "pos"].sort_values("value")["probability"].to_numpy()
    assert pos[-1] > pos[0] and np.all(np.diff(pos) >= -1e-6)
    # traces: one value per token, and the unit's last value has the label's sign
    traces = result.tables["traces"]
    for example_id, cells in traces.groupby("example_id"):
        n = len(model.encode([test[example_id].text]).tokens[0])
        assert len(cells) == n
        last = cells.sort_values("position")["value"].iloc[-1]
        assert np.sign(last) == (1 if test[example_id].label == "pos" else -1)
        assert last == pytest.approx(np.tanh(2.0) * np.sign(last), rel=1e-4)
    curve = result.tables["learning_curve"]
    assert set(curve["units"]) == {"top unit", "all units"} and curve["labelled"].max() == 100
    moves = result.tables["moves"].set_index("token_kind")
    assert "word or character" in moves.index


def test_clamping_changes_the_probability_in_the_weights_direction() -> None:
    from reportgen.models.internals import clamp_units

    model = planted()
    texts = ["the film was good", "the plot was bad"]
    with clamp_units(model, "rnn", {0: -0.9}):
        low = predict_proba(model, texts)[:, 1]
    with clamp_units(model, "rnn", {0: 0.9}):
        high = predict_proba(model, texts)[:, 1]
    # logits (-h0, h0): P(pos) = sigmoid(2 h0), whatever the text
    np.testing.assert_allclose(high, 1 / (1 + np.exp(-1.8)), rtol=1e-5)
    np.testing.assert_allclose(low, 1 / (1 + np.exp(1.8)), rtol=1e-5)


def test_a_conv_clamp_never_reaches_the_padding_of_a_batch() -> None:
    """The clamped sweep of a conv unit equals clamping each text on its own: the clamp must not
    set the padding positions of the shorter texts of a batch (which a max-pool would read)."""
    from reportgen.models.internals import clamp_units

    enc = TextEncoder.fit("word", [" ".join([*NEUTRAL, "good", "bad"])])
    cls = ARCHITECTURES["yuan-cnn"]
    torch.manual_seed(0)
    model = ModelAdapter(cls(cls.default_config(enc.n_tokens, 2)), enc, ["neg", "pos"], name="y",
                         arch="yuan-cnn", source="t")
    test = corpus(20, 3)
    layer = next(name for name, _ in model.module.named_modules() if name.startswith("conv_acts"))
    values = np.linspace(-1.0, 3.0, 50)
    params = neuron_sweep.Params(sweep_texts=20, sweep_values=3)
    got = neuron_sweep._sweep(model, test, 0, values, layer, model.classes, params, batch_size=16)
    grid = np.linspace(np.percentile(values, 1), np.percentile(values, 99), 3)
    for v in grid:
        with clamp_units(model, layer, {0: float(v)}):
            alone = np.mean([predict_proba(model, [ex.text], batch_size=1)[0] for ex in test], 0)
        row = got[np.isclose(got["value"], v)].sort_values("class")
        np.testing.assert_allclose(row["probability"].to_numpy(),
                                   alone[[model.classes.index(c) for c in row["class"]]], atol=1e-6)


def test_three_classes_probe_one_class_against_the_rest() -> None:
    """AG News has four classes: liblinear's L1 probe fits two, so each class gets its own probe
    against the rest. The planted unit separates 'good' (+), 'bad' (-) and neither (0) texts."""
    rng = np.random.default_rng(5)

    def three(n: int) -> list[Example]:
        out = []
        for i in range(n):
            words = list(rng.choice(NEUTRAL, size=int(rng.integers(2, 6))))
            label = ("pos", "neg", "none")[i % 3]
            out.append(Example(
                " ".join([*words, {"pos": "good", "neg": "bad", "none": "film"}[label]]), label))
        return out

    model = planted()
    model.module.out = torch.nn.Linear(4, 3)  # logits (-h0, 0, h0): neg, none, pos
    with torch.no_grad():
        model.module.out.weight.copy_(
            torch.tensor([[-1.0, 0, 0, 0], [0.0, 0, 0, 0], [1.0, 0, 0, 0]]))
        model.module.out.bias.zero_()
    model.classes = ["neg", "none", "pos"]
    train, test = three(150), three(60)
    ctx = RunContext(model, test, Dataset("t", {"train": train, "test": test}),
                     torch.device("cpu"), 0)
    result = neuron_sweep.compute(ctx, neuron_sweep.Params(seeds=2, random_units=3, sweep_values=3,
                                                           sweep_texts=12))
    # the argmax of the three probes tells the classes apart (+, -, neither on the planted unit)
    assert result.metrics["all_units_accuracy"] >= 0.9
    # a unit's weight is its largest |coefficient| over the probes; 'good' and 'bad' lean on unit 0
    units = result.tables["units"].set_index("unit")
    assert units.loc[0, "rank"] <= 2
    # a one-unit threshold needs two classes
    assert "top_unit_zero_shot_accuracy" not in result.metrics


def test_data_without_a_train_split_fits_at_most_max_train_texts() -> None:
    """Without a train split, half the evaluated texts are tested and the other half fits the
    probe, cut to max_train (+ a fifth for dev) so 100,000 texts do not mean 40,000-text L1 fits."""
    model = planted()
    test = corpus(200, 2)
    ctx = RunContext(model, test, Dataset("t", {"test": test}), torch.device("cpu"), 0)
    train, dev, tested = neuron_sweep._splits(ctx, neuron_sweep.Params(max_train=20))
    assert (len(train), len(dev), len(tested)) == (20, 4, 100)
    ids = {id(ex) for ex in train + dev}
    assert len(ids) == 24 and not ids & {id(ex) for ex in tested}  # disjoint from what is tested
    train, dev, tested = neuron_sweep._splits(ctx, neuron_sweep.Params(max_train=50))
    assert (len(train), len(dev), len(tested)) == (50, 10, 100)
    train, dev, _ = neuron_sweep._splits(ctx, neuron_sweep.Params(max_train=80))  # just fits
    assert (len(train), len(dev)) == (80, 20)
    # without the cap: the fitting half (100 texts), a fifth of it for dev
    train, dev, tested = neuron_sweep._splits(ctx, neuron_sweep.Params(max_train=5000))
    assert (len(train), len(dev), len(tested)) == (80, 20, 100)
    result = neuron_sweep.compute(ctx, neuron_sweep.Params(max_train=20, seeds=1, random_units=2,
                                                           sweep_values=3, sweep_texts=8))
    assert result.metrics["train_examples"] == 20 and result.metrics["test_examples"] == 100
