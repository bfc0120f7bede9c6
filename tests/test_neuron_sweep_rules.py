"""neuron_sweep's zero-shot rules (issue 21): the sentiment-neuron post's rule (raw value vs 0,
oriented by the unit's L1 weight) as the headline of bounded units, the 2-means threshold beside it
(and instead of it for unbounded units), the best single unit and its L1 rank, the random-unit
baseline with intervals the site's verdict reads, per-model metrics only, the zero-shot chart,
oriented traces, and unlabelled data skipped through the runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from reportgen.analyses import neuron_sweep
from reportgen.analyses.base import RunContext
from reportgen.analyses.neuron_sweep_data import sweep_notes
from reportgen.analyses.neuron_sweep_scores import (
    HEADLINE_LABEL,
    SPEC_LABEL,
    UNBOUNDED_LABEL,
    bounded_units,
    score_units,
)
from reportgen.analyses.unit_probes import POST, TWO_MEANS, orientations, unit_rules
from reportgen.cli import main
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES
from reportgen.models.view import NotApplicable
from reportgen.site.metrics import verdict
from tests.test_neuron_sweep import NEUTRAL, corpus, planted

TINY = Path(__file__).resolve().parent / "tiny_models.py"
PARAMS = neuron_sweep.Params(seeds=1, random_units=3, sweep_values=3, sweep_texts=8)


def _run(model: ModelAdapter, n_train: int = 120, n_test: int = 40):
    train, test = corpus(n_train, 0), corpus(n_test, 1)
    ctx = RunContext(model, test, Dataset("t", {"train": train, "test": test}),
                     torch.device("cpu"), 0)
    return neuron_sweep.compute(ctx, PARAMS), test


def _shifted(flip: bool = False, shift: float = 0.0) -> ModelAdapter:
    """The planted RNN with unit 0's input weight scaled (``flip``: negated, so its value is minus
    the label's sign) and a bias ``shift`` on it (its values then stay on one side of 0)."""
    model = planted()
    with torch.no_grad():
        if flip:
            model.module.rnn.weight_ih_l0[0, 0] = -2.0
            model.module.out.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]]))
        if shift:
            model.module.rnn.weight_ih_l0[0, 0] = 0.5
            model.module.rnn.bias_ih_l0[0] = shift
    return model


# -- acceptance: the post's rule on a unit whose raw value is the label's sign ------------------
def test_a_unit_with_the_labels_sign_scores_100_by_the_posts_rule_and_is_the_best_unit() -> None:
    result, _ = _run(planted())
    m = result.metrics
    assert m["post_rule_applies"] == 1.0
    assert m["top_unit"] == 0 and m["top_unit_post_rule_accuracy"] == 1.0
    assert m["top_unit_zero_shot_accuracy"] == 1.0  # the headline is the post's rule
    assert result.labels["top_unit_zero_shot_accuracy"] == HEADLINE_LABEL
    assert m["best_unit"] == 0 and m["best_unit_l1_rank"] == 1 and m["top_unit_dev_rank"] == 1
    single = result.tables["single_units"]
    best = single.iloc[0]  # best dev accuracy first
    assert (best["unit"], best["dev_rank"], best["rank"]) == (0, 1, 1)
    assert best["post_rule_accuracy"] == 1.0 and best["two_means_accuracy"] == 1.0
    assert best["sign_from"] == "L1 weight" and best["sign"] == 1.0
    # the analysis's label names both rules: the index shows it over every model's headline
    assert neuron_sweep.SPEC.headline_label == SPEC_LABEL and neuron_sweep.SPEC.reference
    assert "raw value vs 0 (sentiment-neuron rule)" in SPEC_LABEL and "2-means" in SPEC_LABEL


def test_the_sign_comes_from_the_l1_weight_and_traces_are_oriented() -> None:
    """Unit 0 is minus the label's sign: oriented by its (negative) L1 weight the post's rule is
    still 100%, and the traces' oriented value leans toward the text's own class (red: 'pos')."""
    result, test = _run(_shifted(flip=True))
    m = result.metrics
    assert m["top_unit"] == 0 and m["top_unit_zero_shot_accuracy"] == 1.0
    row = result.tables["single_units"].set_index("unit").loc[0]
    assert row["sign"] == -1.0 and row["sign_from"] == "L1 weight"
    traces = result.tables["traces"]
    assert set(traces["toward"]) == {"pos"}  # the positive side of the oriented value
    for example_id, cells in traces.groupby("example_id"):
        last = cells.sort_values("position").iloc[-1]
        assert np.sign(last["value"]) == (-1 if test[example_id].label == "pos" else 1)
        assert np.sign(last["oriented"]) == (1 if test[example_id].label == "pos" else -1)
    view = neuron_sweep.present(result, PARAMS).token_views[0]
    first = view.rows[0]
    label = test[first.example_id].label
    assert np.sign(first.scores[-1]) == (1 if label == "pos" else -1)
    assert "toward pos" in first.caption


def test_the_posts_rule_is_not_2_means() -> None:
    """A bounded unit that is positive for both classes (higher for 'good'): 2-means separates
    them, the raw value vs 0 calls every text one class. The old headline said 100% here."""
    result, _ = _run(_shifted(shift=1.0))
    m = result.metrics
    assert m["top_unit"] == 0
    assert m["top_unit_two_means_accuracy"] == 1.0
    assert m["top_unit_post_rule_accuracy"] == 0.5 == m["top_unit_zero_shot_accuracy"]
    zero = result.tables["zero_shot"]
    top = zero[zero["classifier"] == "top L1 unit"].set_index("rule")["accuracy"]
    assert top.to_dict() == {f"{POST} (sentiment-neuron rule)": 0.5,
                             f"unsupervised {TWO_MEANS}": 1.0}


# -- the rules and scores on hand-made unit values -----------------------------------------------
def _values(seed: int = 0, n: int = 400):
    """Units (N, 4): 0 is 70% right by its sign, 1 is exactly the label's sign, 2-3 noise."""
    rng = np.random.default_rng(seed)
    y = {k: rng.integers(0, 2, n) for k in ("train", "dev", "test")}
    x = {}
    for k, labels in y.items():
        s = labels * 2.0 - 1.0
        noisy = np.where(rng.random(n) < 0.7, s, -s) * 0.5
        x[k] = np.stack([noisy, s * 0.3, rng.normal(0, 0.5, n), rng.normal(0, 0.5, n)], 1)
    return x, y


def test_the_best_single_unit_and_its_l1_rank() -> None:
    x, y = _values()
    coef = np.array([2.0, 0.5, 0.0, 0.1])  # unit 0 first in the L1 order, unit 1 the best alone
    order = np.argsort(-np.abs(coef), kind="stable")
    got = score_units("m", x, y, coef, order, bounded=True, random_units=3, seed=0)
    m = got["metrics"]
    assert m["best_unit"] == 1 and m["best_unit_l1_rank"] == 2 and m["top_unit_dev_rank"] == 2
    assert m["best_unit_zero_shot_accuracy"] == 1.0
    assert m["top_unit_zero_shot_accuracy"] == pytest.approx(0.7, abs=0.06)
    single = got["single_units"]
    assert single["unit"].tolist()[0] == 1 and single["dev_rank"].tolist() == [1, 2, 3, 4]
    assert set(single.set_index("unit").loc[[2], "sign_from"]) == {"training correlation"}
    # random units never include the top unit
    zero = got["zero_shot"]
    assert 0 not in set(zero[zero["classifier"] == "random unit"]["unit"])


def test_random_baseline_interval_gives_the_verdict() -> None:
    """kim-cnn on the phrase data: its top unit below the mean random unit, and nothing said.
    With intervals the site's verdict says where it stands."""
    x, y = _values()
    coef = np.array([2.0, 0.5, 0.4, 0.3])
    # units 2, 3 as good as unit 1: the random units (1, 2, 3) beat the top unit (70%)
    for k in x:
        x[k][:, 2] = x[k][:, 1] * 2
        x[k][:, 3] = x[k][:, 1] * 3
    order = np.argsort(-np.abs(coef), kind="stable")
    m = score_units("m", x, y, coef, order, bounded=False, random_units=3, seed=0)["metrics"]
    assert m["random_unit_zero_shot_accuracy"] == 1.0
    assert m["best_random_unit_zero_shot_accuracy"] == 1.0
    assert m["top_unit_zero_shot_accuracy_ci_low"] < m["top_unit_zero_shot_accuracy"] \
        < m["top_unit_zero_shot_accuracy_ci_high"] < 1.0
    prefixed = {f"m.{k}": v for k, v in m.items()}
    assert verdict(prefixed, "m.top_unit_zero_shot_accuracy", "m.random_unit_zero_shot_accuracy",
                   "random") == "below random"
    # the same unit as the random ones: not distinguishable
    same = {k: v for k, v in prefixed.items()}
    same["m.top_unit_zero_shot_accuracy_ci_high"] = 1.0
    assert verdict(same, "m.top_unit_zero_shot_accuracy", "m.random_unit_zero_shot_accuracy",
                   "random").startswith("not distinguishable")


def test_rules_by_hand() -> None:
    x = {"train": np.array([[0.2], [0.4], [0.6], [0.8]]), "dev": np.array([[0.3], [0.7]]),
         "test": np.array([[0.3], [0.7]])}
    y = {"train": np.array([0, 0, 1, 1]), "dev": np.array([0, 1]), "test": np.array([0, 1])}
    rules = unit_rules(x, y, np.array([1.0]))
    assert rules.threshold[0] == pytest.approx(0.5)  # between the clusters (0.3, 0.7)
    assert rules.accuracy(TWO_MEANS, "test")[0] == 1.0
    assert rules.accuracy(POST, "test")[0] == 0.5  # both above 0: every text class 1
    sign, source = orientations(np.array([0.0]), x["train"], y["train"])
    assert sign[0] == 1.0 and source[0] == "training correlation"
    sign, source = orientations(np.array([-0.2]), x["train"], y["train"])
    assert sign[0] == -1.0 and source[0] == "L1 weight"  # the weight wins over the correlation


# -- unbounded units: the post's rule does not apply ---------------------------------------------
def test_unbounded_units_fall_back_to_2_means_and_say_so() -> None:
    assert bounded_units(None, "features", np.array([[0.0, 3.0]]))[0] is False
    assert bounded_units(torch.nn.RNN(2, 2, nonlinearity="relu"), "rnn:final",
                         np.zeros((1, 2)))[0] is False
    assert bounded_units(torch.nn.LSTM(2, 2), "features", np.full((1, 2), 0.9))[0] is True
    enc = TextEncoder.fit("word", [" ".join([*NEUTRAL, "good", "bad"])])
    cls = ARCHITECTURES["kim-cnn"]
    torch.manual_seed(0)
    model = ModelAdapter(cls(cls.default_config(enc.n_tokens, 2)), enc, ["neg", "pos"],
                         name="k", arch="kim-cnn", source="t")
    result, _ = _run(model, 80, 30)
    m = result.metrics
    assert m["post_rule_applies"] == 0.0 and "top_unit_post_rule_accuracy" not in m
    assert m["top_unit_zero_shot_accuracy"] == m["top_unit_two_means_accuracy"]
    assert result.labels["top_unit_zero_shot_accuracy"] == UNBOUNDED_LABEL
    assert "does not apply" in " ".join(result.notes)
    rules = set(result.tables["zero_shot"]["rule"])
    assert rules == {f"unsupervised {TWO_MEANS}", "L1 probe"}


# -- per model only; the chart the page promises; notes that say which units ------------------
def test_metrics_are_per_model_only_and_the_zero_shot_chart_is_drawn() -> None:
    a, _ = _run(planted())
    b, _ = _run(_shifted(flip=True))
    merged = neuron_sweep.SPEC.combine({"a": a, "b": b}, PARAMS)
    assert merged.metrics and all(k.split(".")[0] in ("a", "b") for k in merged.metrics)
    assert merged.labels["a.top_unit_zero_shot_accuracy"] == HEADLINE_LABEL
    charts = {c.name: c for c in neuron_sweep.present(merged, PARAMS).charts}
    assert "zero-shot" in charts
    json.dumps(charts["zero-shot"].spec)
    assert "Zero-shot" in neuron_sweep.SPEC.how_to_read


def test_notes_name_the_view_and_how_many_units_it_has() -> None:
    f_train = {"features": np.zeros((5, 300)), "convs.0:max": np.zeros((5, 100))}
    note = sweep_notes("kim", "convs.0:max", f_train, {"features": 0.8, "convs.0:max": 0.81},
                       (5, 2, 3), 0.1, "why", True)[0]
    assert "'convs.0:max' (100 units; one layer's units pooled over the text; the output layer " \
           "reads 300 units)" in note
    # the method says the view is chosen and the notes say which (Kim's CNN: one bank of three)
    assert "the notes name it and its number of units" in neuron_sweep.METHOD


# -- unlabelled data: skipped with its reason, never failed --------------------------------------
def test_unlabelled_evaluated_texts_are_not_applicable() -> None:
    train = corpus(40, 0)
    test = [Example(ex.text, None) for ex in corpus(10, 1)]
    ctx = RunContext(planted(), test, Dataset("t", {"train": train, "test": test}),
                     torch.device("cpu"), 0)
    with pytest.raises(NotApplicable, match="0 labelled evaluated texts"):
        neuron_sweep.compute(ctx, PARAMS)


def test_txt_data_is_skipped_with_its_reason_through_the_runner(tmp_path: Path) -> None:
    data = tmp_path / "texts.txt"
    data.write_text("a b\nb\na a\nb b a\n", encoding="utf-8")
    out = tmp_path / "site"
    result = CliRunner().invoke(main, [
        "run", "--model", f"{TINY}:tanh_sum_model", "--data", f"txt:{data}", "--out", str(out),
        "--only", "neuron_sweep", "--quiet", "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "report.json").read_text())["analyses"]["neuron_sweep"]
    assert record["status"] == "skipped"
    assert "needs labelled texts" in record["reason"]
    assert not (out / "logs" / "neuron_sweep.txt").exists()
    assert "Traceback" not in result.output and "FAILED" not in result.output


def test_a_hook_point_on_lstm_outputs_is_bounded() -> None:
    """The byte LM's units pooled from ``rnn_out`` (a hook point naming its LSTM's outputs) are LSTM
    hidden states: the post's rule applies to them."""
    enc = TextEncoder.fit("byte", ["the film was good"])
    cls = ARCHITECTURES["byte-lstm-lm"]
    torch.manual_seed(0)
    module = cls(cls.default_config(enc.n_tokens, 0))
    model = ModelAdapter(module, enc, [], name="lm", arch="byte-lstm-lm", source="t", task="lm")
    rnn = neuron_sweep._recurrent_source(model, "rnn_out:mean", module.rnn.hidden_size)
    assert rnn is module.rnn
    assert neuron_sweep._recurrent_source(model, "rnn_out:mean", 3) is None  # another width
