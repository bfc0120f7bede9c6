"""representations of a 2-unit tanh RNN with hand-set weights, worked out by hand; Figure 3 of a
BiLSTM against its own module's one pass; t-SNE labels that never overlap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from reportgen.analyses import representations
from reportgen.analyses.base import RunContext
from reportgen.analyses.representations_views import CHAR_PX, LABEL_HEIGHT, place_labels
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES

WORDS = ["good", "bad", "not", "very", "extremely", "i", "hate", "love", "the", "movie", "though",
         "plot", "is", "interesting", "boring", "nothing", "a", "lot"]
T1 = math.tanh(1.0)
EMB = {"good": (1.0, 0.0), "bad": (-1.0, 0.0), "not": (0.0, 1.0), "very": (0.0, -0.25),
       "extremely": (0.0, -0.5), "love": (1.0, 0.0), "hate": (-1.0, 0.0),
       "interesting": (0.5, 0.0), "boring": (-0.5, 0.0)}  # every other word (0, 0)


def hand_rnn() -> ModelAdapter:
    """h_t = tanh(x_t + U h_{t-1}), U = [[0, -2], [0, 0]]: unit 1 (set by 'not', 'very',
    'extremely') subtracts twice its value from unit 0 at the next step, then is gone."""
    enc = TextEncoder.fit("word", [" ".join(WORDS)])
    cls = ARCHITECTURES["rnn"]
    model = cls({**cls.default_config(enc.n_tokens, 2), "emb_dim": 2, "hidden": 2, "dropout": 0.0})
    with torch.no_grad():
        emb = torch.zeros(enc.n_tokens, 2)
        for word, vector in EMB.items():
            emb[enc.vocab.stoi[word]] = torch.tensor(vector)
        model.emb.weight.copy_(emb)
        model.rnn.weight_ih_l0.copy_(torch.eye(2))
        model.rnn.weight_hh_l0.copy_(torch.tensor([[0.0, -2.0], [0.0, 0.0]]))
        model.rnn.bias_ih_l0.zero_(), model.rnn.bias_hh_l0.zero_()
    return ModelAdapter(model, enc, ["neg", "pos"], name="hand", arch="rnn", source="t")


def run(model, params: representations.Params | None = None):
    examples = [Example("good", "pos")]
    ctx = RunContext(model, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0)
    return representations.compute(ctx, params or representations.Params(random_words=5))


@pytest.fixture(scope="module")
def hand():
    return run(hand_rnn())


def test_final_states_of_probe_phrases_by_hand(hand) -> None:
    phrases = hand.tables["phrases"]

    def vector(phrase: str) -> list[float]:
        rows = (phrases[phrases["phrase"] == phrase].drop_duplicates("dimension")
                .sort_values("dimension"))
        return rows["value"].tolist()

    assert vector("good") == pytest.approx([T1, 0.0], abs=1e-6)
    assert vector("bad") == pytest.approx([-T1, 0.0], abs=1e-6)
    # "not good": after "not" h = (0, tanh 1); after "good" h = (tanh(1 - 2 tanh 1), 0)
    assert vector("not good") == pytest.approx([math.tanh(1 - 2 * T1), 0.0], abs=1e-6)
    unique = phrases["phrase"].nunique()  # "good" is in two groups: once in the t-SNE
    assert unique < hand.metrics["phrases"] and len(hand.tables["tsne"]) == unique + 5
    assert np.isfinite(hand.tables["tsne"][["x", "y"]].to_numpy()).all()


def test_each_negation_pair_on_its_own_and_their_asymmetry(hand) -> None:
    """'not good' ends like 'bad' (flip +2) and so does 'not bad' (flip -2): this 'not' only
    subtracts. The old mean flip read 0 ("no effect"); each pair and the asymmetry (4) say what
    happened."""
    m = hand.metrics
    assert m["negation_flip_not_good"] == pytest.approx(2.0, abs=1e-6)
    assert m["negation_flip_not_bad"] == pytest.approx(-2.0, abs=1e-6)
    assert m["negation_flip_nothing_good"] == pytest.approx(-2.0, abs=1e-6)  # 'nothing' is 0
    assert m["negation_flip_not_interesting"] == pytest.approx(2.0, abs=1e-6)
    assert m["negation_asymmetry"] == pytest.approx(4.0, abs=1e-6)
    assert "negation_flip" not in m  # no mean over the pairs
    table = hand.tables["negation"].set_index("phrase")
    assert list(table.index) == ["not good", "nothing good", "not bad", "not interesting"] or \
        set(table.index) == {"not good", "nothing good", "not bad", "not interesting"}
    assert table.loc["not bad", "cos_to_word"] == pytest.approx(1.0, abs=1e-6)
    assert table.loc["not bad", "cos_to_opposite"] == pytest.approx(-1.0, abs=1e-6)
    assert "not too bad" not in table.index  # 'too' is not in the vocabulary: left out
    assert "'not good'" in hand.labels["negation_flip_not_good"]


def test_each_intensity_step_on_its_own(hand) -> None:
    """'very' puts -0.25 on unit 1, 'extremely' -0.5: the next word's unit 0 gains 2 tanh of it."""
    m = hand.metrics
    very_good, extremely_good = (math.tanh(1 + 2 * math.tanh(0.25)),
                                 math.tanh(1 + 2 * math.tanh(0.5)))
    very_bad, extremely_bad = math.tanh(1 - 2 * math.tanh(0.25)), math.tanh(1 - 2 * math.tanh(0.5))
    assert m["intensity_growth_good_to_very_good"] == pytest.approx(very_good / T1, abs=1e-5)
    assert m["intensity_growth_very_good_to_extremely_good"] == pytest.approx(
        extremely_good / very_good, abs=1e-5)
    assert m["intensity_growth_bad_to_very_bad"] == pytest.approx(very_bad / T1, abs=1e-5)
    assert m["intensity_growth_very_bad_to_extremely_bad"] == pytest.approx(
        extremely_bad / very_bad, abs=1e-5)
    assert m["intensity_asymmetry"] == pytest.approx((extremely_good - extremely_bad) / T1,
                                                     abs=1e-5)
    assert "intensity_growth" not in m
    steps = hand.tables["intensity"]
    assert len(steps) == 4  # 'like it' sequences left out: 'like' and 'it' are unknown
    assert steps["cosine"].to_numpy() == pytest.approx([1.0] * 4, abs=1e-6)


def test_figure3_is_the_difference_at_every_step_of_two_same_length_sentences(hand) -> None:
    over = hand.tables["over_time"]
    for key, a, b in representations.CONCESSIVE:  # the pairs are what Figure 3 needs
        wa, wb = a.split(), b.split()
        assert len(wa) == len(wb) and sum(x != y for x, y in zip(wa, wb, strict=True)) == 1, key
    diff = over[over["row"] == "|a - b|"]
    assert set(over["row"]) == {"a", "b", "|a - b|"}
    clause, main = (diff[diff["pair"].str.contains(w)] for w in ("interesting", "love"))
    # clause_word: identical until the last word, interesting (0.5, 0) vs boring (-0.5, 0)
    d0 = clause[clause["dimension"] == 0].sort_values("position")["value"].to_numpy()
    assert d0 == pytest.approx([0.0] * 8 + [2 * math.tanh(0.5)], abs=1e-6)
    assert clause[clause["position"] == 8]["token"].iloc[0] == "interesting/boring"
    # main_word: love vs hate at step 1, forgotten at step 2 (unit 1 stays 0)
    d0 = main[main["dimension"] == 0].sort_values("position")["value"].to_numpy()
    assert d0 == pytest.approx([0.0, 2 * T1] + [0.0] * 7, abs=1e-6)
    assert diff[diff["dimension"] == 1]["value"].abs().max() == pytest.approx(0.0, abs=1e-6)
    assert hand.metrics["concessive_difference_clause_word"] == pytest.approx(2.0, abs=1e-5)
    assert hand.metrics["concessive_difference_main_word"] == pytest.approx(0.0, abs=1e-6)
    assert set(over["direction"]) == {"forward"}


def test_bilstm_figure3_reads_both_directions_from_one_pass() -> None:
    """Every step's state is the module's own output for the whole sentence: the backward half at
    step t has read the words from the end down to t (a prefix re-encoded from scratch has not)."""
    torch.manual_seed(0)
    enc = TextEncoder.fit("word", [" ".join(WORDS)])
    cls = ARCHITECTURES["bilstm"]
    module = cls({**cls.default_config(enc.n_tokens, 2), "emb_dim": 4, "hidden": 3,
                  "dropout": 0.0}).eval()
    model = ModelAdapter(module, enc, ["neg", "pos"], name="bi", arch="bilstm", source="t")
    result = run(model, representations.Params(random_words=0))
    over = result.tables["over_time"]
    for key, a, b in representations.CONCESSIVE:
        for row, text in (("a", a), ("b", b)):
            ids = model.encode([text]).ids
            with torch.no_grad():
                want = module.rnn(module.emb(ids))[0][0].numpy()  # (T, 2H), one pass
            got = (over[over["pair"].str.contains(a) & (over["row"] == row)]
                   .pivot(index="position", columns="dimension", values="value").to_numpy())
            np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f"{key} {row}")
    assert list(over.drop_duplicates("dimension").sort_values("dimension")["direction"]) == \
        ["forward"] * 3 + ["backward"] * 3


def test_a_cnn_has_no_figure3_and_says_why() -> None:
    torch.manual_seed(0)
    enc = TextEncoder.fit("word", [" ".join(WORDS)])
    cls = ARCHITECTURES["kim-cnn"]
    model = ModelAdapter(cls({**cls.default_config(enc.n_tokens, 2), "emb_dim": 4}).eval(), enc,
                         ["neg", "pos"], name="cnn", arch="kim-cnn", source="t")
    result = run(model, representations.Params(random_words=0))
    assert result.tables["over_time"].empty
    assert any("no hidden state per step" in n for n in result.notes)
    assert "concessive_difference_clause_word" in result.metrics
    assert np.isfinite(result.metrics["negation_asymmetry"])


def test_headline_is_per_model_named_and_referenced(hand) -> None:
    spec = representations.SPEC
    assert spec.version >= 3 and spec.headline == "negation_asymmetry"
    assert "not good" in spec.headline_label and "not bad" in spec.headline_label
    assert spec.reference.startswith("Li et al. 2016")
    assert spec.headline in hand.metrics
    merged = spec.combine({"m1": hand, "m2": hand}, representations.Params())
    assert all(k.split(".", 1)[0] in {"m1", "m2"} for k in merged.metrics)  # nothing pooled
    assert merged.labels["m1.negation_asymmetry"] == spec.headline_label
    assert not any(n.startswith("hand:") for n in hand.notes)


def test_tsne_labels_never_overlap_each_other_or_points() -> None:
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"model": "m", "phrase": [f"phrase number {i}" for i in range(n)],
                          "kind": ["probe"] * 20 + ["random word"] * 40,
                          "x": rng.normal(size=n), "y": rng.normal(size=n)})
    placed = place_labels(frame, size=260)
    boxes = []
    for _, r in placed[placed["labelled"]].iterrows():
        left, mid = r["label_x"] * 260, (1 - r["label_y"]) * 260
        boxes.append((left, mid - LABEL_HEIGHT / 2, left + len(r["label"]) * CHAR_PX,
                      mid + LABEL_HEIGHT / 2))
    assert 0 < len(boxes) <= 20
    assert not placed.loc[placed["kind"] == "random word", "labelled"].any()
    for i, a in enumerate(boxes):
        assert 0 <= a[0] and a[2] <= 260 and 0 <= a[1] and a[3] <= 260
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
        points = placed[["px", "py"]].to_numpy() * [260, -260] + [0, 260]
        inside = ((points[:, 0] > a[0]) & (points[:, 0] < a[2]) & (points[:, 1] > a[1])
                  & (points[:, 1] < a[3]))
        assert not inside.any()
    spread = pd.DataFrame({"model": "m", "phrase": ["good", "bad", "not good"], "kind": "probe",
                           "x": [0.0, 10.0, 0.0], "y": [0.0, 0.0, 10.0]})
    assert place_labels(spread)["label"].tolist() == ["good", "bad", "not good"]
    # three probes on one spot (and "good" twice, from two groups): one label, each phrase once
    stacked = pd.DataFrame({"model": "m", "phrase": ["good", "very good", "good", "bad"],
                            "kind": "probe", "x": [0.0, 0.001, 0.0, 10.0], "y": [0.0] * 4})
    placed = place_labels(stacked, first=("very good",))
    assert placed["label"].tolist() == ["", "very good, good", "", "bad"]


def test_charts_show_pairs_steps_labels_and_figure3(hand) -> None:
    charts = {c.name: c for c in representations.present(hand, representations.Params()).charts}
    assert {"negation-pairs", "intensity-steps", "tsne", "concessive-0", "concessive-1"} <= set(
        charts)
    text = str(charts["tsne"].spec)
    assert "labelled" in text and "label_x" in text
    fig3 = str(charts["concessive-0"].spec)
    assert "'field': 'step'" in fig3 and "'field': 'dimension'" in fig3
