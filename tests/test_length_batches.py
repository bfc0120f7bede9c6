"""Batches of texts of about the same length (``analyses.base.longest_first``).

A padded batch pays for its longest text at every text, so saliency (and the location scores and
gradient x input its pass gives hidden_saliency and faithfulness), filter_top_words, neuron_sweep's
feature pass and ``predict_proba`` batch their texts longest first. Checked here:

- the passes really run over the longest-first batches (the widths a hook sees);
- the tables equal those of one text at a time (no padding at all), row for row in example order,
  values within float rounding;
- every data text's gradients reach the store even when the batch size does not divide them and
  your own sentences follow: hidden_saliency then makes no pass, faithfulness none for gradient x
  input.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pandas as pd
import pytest
import torch

from reportgen import analyses
from reportgen.analyses import filter_top_words, hidden_saliency, saliency
from reportgen.analyses.base import in_example_order, longest_first
from reportgen.analyses.gradient_pass import SharedGradients
from reportgen.analyses.neuron_sweep import features
from reportgen.data.dataset import Dataset, Example
from reportgen.models.facts import predict_proba
from reportgen.run.analysis import RunSettings, run_analysis
from reportgen.run.plan import shared_gradients
from tests.test_gradient_pass import forwards, reference, texts

N = 21  # not a multiple of the batch size


def test_longest_first_is_stable_and_in_example_order_keeps_each_examples_rows() -> None:
    assert longest_first([3, 5, 3, 1, 5]).tolist() == [1, 4, 0, 2, 3]
    assert longest_first([]).tolist() == []
    frame = pd.DataFrame({"example_id": [2, 0, 2, 1, 0], "position": [0, 0, 1, 0, 1],
                          "label": [None, None, None, "pos", None]})
    out = in_example_order(frame)
    assert out["example_id"].tolist() == [0, 0, 1, 2, 2]
    assert out["position"].tolist() == [0, 1, 0, 0, 1]
    placed = in_example_order(frame, {2: 0, 0: 1, 1: 2})
    assert placed["example_id"].tolist() == [2, 2, 0, 0, 1]
    assert placed["position"].tolist() == [0, 1, 0, 1, 0]


def _examples() -> list[Example]:
    return [Example(t, random.Random(i).choice(["neg", "pos"]))
            for i, t in enumerate(texts(N, seed=5))]


def _run(model, examples, names, batch_size: int, tmp_path, params=None,
         calls: dict[str, int] | None = None) -> dict:
    """The analyses ``names`` in one run with the shared gradient store (nothing cached): their
    records; ``calls``, when given, gets the model's forward calls in each."""
    dataset = Dataset("t", {"test": examples})
    run = RunSettings(examples, dataset, torch.device("cpu"), 0, batch_size, tmp_path,
                      no_cache=True)
    params = params or {n: analyses.spec(n).params() for n in names}
    run.gradients = shared_gradients(names, params, [model], run.sample)
    assert isinstance(run.gradients, SharedGradients)
    out = {}
    for name in names:
        counter, handle = forwards(model)
        try:
            record = run_analysis(name, params[name], [model], run)
        finally:
            handle.remove()
        run.gradients.done(name)
        assert record.status == "ok", record.reason
        out[name] = record
        if calls is not None:
            calls[name] = counter[0]
    return out


def _same_rows(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b), what
    for column in a.columns:
        if pd.api.types.is_float_dtype(a[column]):
            np.testing.assert_allclose(a[column].to_numpy(float), b[column].to_numpy(float),
                                       rtol=1e-5, atol=1e-7, err_msg=f"{what}.{column}")
        else:
            assert a[column].tolist() == b[column].tolist(), f"{what}.{column}"


def test_saliencys_pass_runs_over_the_longest_first_batches(tmp_path) -> None:
    model = reference("kim-cnn", seed=2)
    examples = _examples()
    widths: list[int] = []
    first = dict(model.module.named_modules())["convs.0"]
    handle = first.register_forward_hook(lambda _m, args, _o: widths.append(args[0].size(-1)))
    try:
        _run(model, examples, ["saliency"], 8, tmp_path)
    finally:
        handle.remove()
    lengths = [len(model.encode([ex.text]).tokens[0]) for ex in examples]
    by_length = sorted(lengths, reverse=True)
    expected = [max(by_length[lo : lo + 8]) for lo in range(0, N, 8)]
    in_order = [max(lengths[lo : lo + 8]) for lo in range(0, N, 8)]
    assert widths[: len(expected)] == expected
    assert sum(expected) < sum(in_order)  # the fixture's texts gain from it


@pytest.mark.parametrize("name", ["saliency", "hidden_saliency", "filter_top_words"])
def test_batched_by_length_equals_one_text_at_a_time(name: str, tmp_path, monkeypatch) -> None:
    model = reference("kim-cnn", seed=2)
    names = [*dict.fromkeys(["saliency", name])]
    params = {n: analyses.spec(n).params() for n in names}
    params["saliency"] = dataclasses.replace(params["saliency"], sentences=("good film",))
    batched = _run(model, _examples(), names, 8, tmp_path / "a", params)[name]
    # the reference: one text at a time in example order, so a row left in the batches' order
    # (or a text's values given to another) shows
    for module in (saliency, hidden_saliency, filter_top_words):
        monkeypatch.setattr(module, "longest_first", lambda lengths: np.arange(len(lengths)))
    alone = _run(model, _examples(), names, 1, tmp_path / "b", params)[name]
    for table, frame in alone.tables.items():
        _same_rows(batched.tables[table], frame, f"{name}.{table}")
        if name != "filter_top_words" and "example_id" in frame and len(frame):
            # in example order: the data's ids, then your sentence's (N); not the batches' order
            ids = batched.tables[table]["example_id"].to_numpy()
            assert (np.diff(ids) >= 0).all() and ids.max() >= N - 1, f"{name}.{table}"
    for key, value in alone.metrics.items():
        assert batched.metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


def test_neuron_sweeps_features_and_predict_proba_come_back_in_the_texts_order() -> None:
    model = reference("kim-cnn", seed=2)
    some = texts(N, seed=5)
    batched = features(model, some, 8)
    each = [features(model, [t], 1) for t in some]  # one text at a time, in the texts' order
    assert list(batched) == list(each[0])
    for view, values in batched.items():
        np.testing.assert_allclose(values, np.concatenate([e[view] for e in each]), rtol=1e-5,
                                   atol=1e-7, err_msg=view)
    np.testing.assert_allclose(predict_proba(model, some, batch_size=8),
                               np.concatenate([predict_proba(model, [t]) for t in some]),
                               rtol=1e-5, atol=1e-7)


def test_every_data_text_reaches_the_store_though_the_batches_do_not_divide_them(tmp_path
                                                                                 ) -> None:
    model = reference("kim-cnn", seed=2)
    names = ["saliency", "hidden_saliency", "faithfulness"]
    params = {n: analyses.spec(n).params() for n in names}
    params["saliency"] = dataclasses.replace(params["saliency"], sentences=("good film",))
    calls: dict[str, int] = {}
    records = _run(model, _examples(), names, 8, tmp_path, params, calls)
    assert calls["hidden_saliency"] == 0  # all 21 texts' location scores from saliency's pass
    assert f"{N} of {N} texts read from the run's one gradient pass" in " ".join(
        records["faithfulness"].notes)
