"""Transformers at lower cost, same numbers (issue 24): what changed in how the work is done must
not change what is computed.

Held here, on a tiny random BERT built from a config (``tests/test_transformers.py``):
- the sentence vector and MLP units from one forward pass equal those of the two separate passes
  (``states.output_features`` and ``states.unit_states``, pooled here by hand) exactly;
- ``neuron_sweep.features`` over length-sorted batches gives every text the values of its
  unsorted batches (to float rounding: padding differs);
- the L1 probes fitted in a pool of processes are the probes fitted one after the other, exactly;
- integrated gradients in chunks of a few sequences equal one pass over all steps (to rounding);
- ``faithfulness``'s edited texts re-scored shortest-padded equal each edit scored alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from reportgen.analyses import faithfulness, faithfulness_edits, neuron_sweep, unit_probes
from reportgen.models import states
from reportgen.models.hf import HFAdapter
from tests.test_transformers import BUILDERS, TEXTS

MORE = TEXTS + ["the film", "a very very good film is not bad", "terrible",
                "an invigorating plot is a good film in the film", "good", "not terrible plot",
                "the the the film"]


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> HFAdapter:
    folder = BUILDERS["bert"](tmp_path_factory.mktemp("hf-cost"))
    return HFAdapter(str(folder), source=f"hf:{folder}", device="cpu")


def test_one_pass_reads_what_the_two_passes_read(bert: HFAdapter) -> None:
    batch = bert.encode(MORE)
    found = states.unit_features(bert, batch)
    vector = states.output_features(bert, batch)
    per_position = states.unit_states(bert, batch)
    assert torch.equal(found["features"], vector)
    mask = batch.mask[..., None].float()  # (B, T, 1)
    assert per_position and set(found) == {"features"} | {
        f"{n}:{how}" for n in per_position for how in ("mean", "max")}
    for name, values in per_position.items():  # (B, T, U)
        mean = (values * mask).sum(1) / mask.sum(1)
        top = values.masked_fill(mask == 0, float("-inf")).max(1).values
        assert torch.allclose(found[f"{name}:mean"], mean, atol=1e-6)
        assert torch.equal(found[f"{name}:max"], top)


def test_length_sorted_batches_give_each_text_its_own_values(bert: HFAdapter) -> None:
    sorted_rows = neuron_sweep.features(bert, MORE, batch_size=3)
    alone = [neuron_sweep.features(bert, [t], batch_size=1) for t in MORE]  # no padding at all
    assert sorted_rows and set(sorted_rows) == set(alone[0])
    for name, rows in sorted_rows.items():
        assert rows.shape[0] == len(MORE)
        for i in range(len(MORE)):
            np.testing.assert_allclose(rows[i], alone[i][name][0], rtol=1e-4, atol=1e-5)


def test_probes_fitted_in_a_pool_are_the_probes_fitted_in_turn(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    views = {f"v{k}": rng.standard_normal((300, 40)).astype(np.float32) for k in range(3)}
    dev = {k: rng.standard_normal((80, 40)).astype(np.float32) for k in views}
    y = (views["v1"][:, 3] + 0.5 * rng.standard_normal(300) > 0).astype(int)
    y_dev = (dev["v1"][:, 3] > 0).astype(int)
    monkeypatch.setattr(unit_probes, "PARALLEL_ABOVE", 0)  # these small paths in the pool too
    monkeypatch.setattr(unit_probes.os, "cpu_count", lambda: 2)
    pooled = unit_probes.choose_source(views, dev, y, y_dev, seed=0)
    again = unit_probes.choose_source(views, dev, y, y_dev, seed=0)
    assert np.array_equal(pooled[2][1].coef_, again[2][1].coef_)  # the pool is deterministic
    monkeypatch.setattr(unit_probes.os, "cpu_count", lambda: 1)
    in_turn = unit_probes.choose_source(views, dev, y, y_dev, seed=0)
    assert pooled[0] == in_turn[0] == "v1" and pooled[1] == in_turn[1]
    assert np.array_equal(pooled[2][1].coef_, in_turn[2][1].coef_)
    # and the chosen view's probe is the one the path alone would choose
    x = pooled[2][0].transform(views["v1"])
    alone = unit_probes.l1_probe(x, y, pooled[2][0].transform(dev["v1"]), y_dev, 0)
    assert alone.C == pooled[2][1].C and np.array_equal(alone.coef_, pooled[2][1].coef_)


def test_a_learning_curve_fitted_in_a_pool_is_the_curve_fitted_in_turn(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 30))
    y = (x[:, 2] + 0.7 * rng.standard_normal(400) > 0).astype(int)
    x_test = rng.standard_normal((90, 30))
    y_test = (x_test[:, 2] > 0).astype(int)
    columns = ["model", "labelled", "what", "seed", "accuracy"]

    def curve():
        return unit_probes.learning_curve("m", x, y, x_test, y_test, 2, 0.6, 3, 0,
                                          (0, 10, 50, 200), columns)

    monkeypatch.setattr(unit_probes, "PARALLEL_ABOVE", 0)
    monkeypatch.setattr(unit_probes.os, "cpu_count", lambda: 2)
    pooled = curve()
    monkeypatch.setattr(unit_probes.os, "cpu_count", lambda: 1)
    in_turn = curve()
    assert pooled.equals(in_turn)
    # 1 zero-label point, 3 seeds at 10, 50 and 200 texts, the whole training set once; two rows
    assert len(pooled) == 2 * (1 + 3 * 3 + 1)
    whole = pooled[(pooled["labelled"] == 400) & (pooled["what"] == "all units")]["accuracy"]
    from sklearn.linear_model import LogisticRegression

    expect = LogisticRegression(max_iter=1000, C=0.1).fit(x, y).score(x_test, y_test)
    assert float(whole.iloc[0]) == pytest.approx(expect)
    assert float(pooled[pooled["labelled"] == 0]["accuracy"].iloc[0]) == 0.6  # zero-shot given


def test_integrated_gradients_in_chunks_equal_one_pass(bert: HFAdapter) -> None:
    batch = bert.encode(MORE[:6])
    target = torch.tensor([0, 1, 1, 0, 1, 0])
    params = faithfulness.Params(ig_steps=5)
    whole = faithfulness._attributions(bert, batch, target, params)
    chunked = faithfulness._attributions(bert, batch, target, params, ig_chunk=6)  # 5 passes
    for a, b in zip(whole["integrated_gradients"], chunked["integrated_gradients"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # a cheap model's chunk is the whole pass; under a budget below one text's cost, the batch
    assert faithfulness._ig_chunk(bert, MORE[:4], 4, 5) == 20
    old = faithfulness.IG_PASS_BYTES
    try:
        faithfulness.IG_PASS_BYTES = 1
        assert faithfulness._ig_chunk(bert, MORE[:4], 4, 5) == 4
    finally:
        faithfulness.IG_PASS_BYTES = old


def test_edits_scored_shortest_padded_equal_each_edit_alone(bert: HFAdapter) -> None:
    batch = bert.encode(MORE[:4])
    n = [len(t) for t in batch.tokens]
    special = [[i in (0, k - 1) for i in range(k)] for k in n]  # [CLS] ... [SEP]
    edits = [(b, (1,), keep) for b in range(4) for keep in (False, True)] + [
        (b, tuple(range(1, n[b] - 1)), False) for b in range(4)]
    target = torch.tensor([1, 0, 1, 1])
    together = faithfulness_edits.edited_probabilities(bert, batch, edits, target, special)
    for e, edit in enumerate(edits):
        b = edit[0]
        one = bert.encode([MORE[b]])
        alone = faithfulness_edits.edited_probabilities(bert, one, [(0, *edit[1:])], target[[b]],
                                                   [special[b]])
        assert together[e] == pytest.approx(alone[0], abs=1e-5), edit

