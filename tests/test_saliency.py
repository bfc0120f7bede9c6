"""saliency: hand-computed gradients on a hand-set model, and batched == one at a time."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reportgen.analyses import saliency, saliency_batch, saliency_tables, saliency_views
from reportgen.analyses.base import RunContext
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.models.adapter import HookedAdapter, ModelAdapter
from reportgen.models.facts import predict_proba
from tests.tiny_models import tanh_sum_model


def computed(model: ModelAdapter, examples: list[Example], params: saliency.Params):
    """compute for one model, then combine, as the pipeline does."""
    ctx = RunContext(model, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0)
    return saliency.combine({model.name: saliency.compute(ctx, params)}, params)


@pytest.fixture
def tanh_adapter() -> HookedAdapter:
    return HookedAdapter(tanh_sum_model(), source="tests:tanh_sum_model", device="cpu")


def test_gradients_match_hand_computation(tanh_adapter: HookedAdapter) -> None:
    tokens, mats, vecs, predicted = saliency_batch.token_saliency(tanh_adapter, ["a b a", "b"])
    assert tokens == [["a", "b", "a"], ["b"]]
    assert predicted.tolist() == [1, 1]
    # dS_pos/de = 2 * (1 - tanh^2) * (1, 2): a -> (2, 4), b -> (1.5, 3)
    np.testing.assert_allclose(mats[0], [[2, 4], [1.5, 3], [2, 4]], rtol=1e-6)
    np.testing.assert_allclose(vecs[0], [math.sqrt(20), math.sqrt(11.25), math.sqrt(20)], rtol=1e-6)
    np.testing.assert_allclose(mats[1], [[1.5, 3]], rtol=1e-6)


def test_label_target_differentiates_the_gold_class(tanh_adapter: HookedAdapter) -> None:
    # dS_neg/de = -1 * (1 - tanh^2) * (1, 2): |.| -> a: (1, 2), b: (0.75, 1.5)
    _, mats, _, _ = saliency_batch.token_saliency(tanh_adapter, ["a b"], targets=[0])
    np.testing.assert_allclose(mats[0], [[1, 2], [0.75, 1.5]], rtol=1e-6)


def test_compute_tables_and_top_token_share(tanh_adapter: HookedAdapter) -> None:
    examples = [Example("a b", "pos"), Example("b b b b", "pos")]
    result = computed(tanh_adapter, examples, saliency.Params(heatmap_examples=1))
    tokens = result.tables["tokens"]
    assert list(tokens.columns) == saliency.TABLES["tokens"]
    assert len(tokens) == 6
    predictions = result.tables["predictions"]
    assert (predictions[["label", "predicted", "target"]].values.tolist()
            == [["pos", "pos", "pos"]] * 2)
    # "a b": norms 1 and 0.75 -> top share 4/7; "b b b b": equal -> 1/4
    assert result.metrics["top_token_share"] == pytest.approx((4 / 7 + 1 / 4) / 2, rel=1e-6)
    assert result.metrics["examples"] == 2
    dims = result.tables["dimensions"]
    # heatmaps go to the first readable example (4 to 14 words): "b b b b", 4 tokens x 2 dims
    assert set(dims["example_id"]) == {1} and len(dims) == 4 * 2
    assert tokens.groupby("example_id")["share"].sum().tolist() == pytest.approx([1.0, 1.0])
    pres = saliency.present(result, saliency.Params(heatmap_examples=1, min_word_count=1))
    assert {c.name for c in pres.charts} == {"heatmap-1", "top-words"}
    rows = {r.example_id: r for r in pres.token_views[0].rows}
    assert rows[0].scores == pytest.approx([1.0, 0.75])
    assert rows[0].correct is True and rows[0].flags == ["", ""] and rows[0].truncated == 0
    # uniform baseline: mean of 1/length = (1/2 + 1/4) / 2
    assert result.metrics["uniform_top_token_share"] == pytest.approx(0.375)
    assert result.metrics["tanh-sum.single_token_texts"] == 0
    # normalised entropy: "a b" has shares 4/7, 3/7; "b b b b" is even (1)
    h = -(4 / 7 * math.log(4 / 7) + 3 / 7 * math.log(3 / 7)) / math.log(2)
    assert result.metrics["tanh-sum.normalised_entropy"] == pytest.approx((h + 1) / 2, rel=1e-6)


def test_li_et_al_sentences_are_shown_when_the_vocabulary_covers_them() -> None:
    from reportgen.data.vocab import Vocab

    words = ["i", "hate", "the", "movie", "though", "plot", "is", "interesting"]
    user = tanh_sum_model()
    user.encoder.vocab = Vocab(["<pad>", "<unk>", "a", "b", *words])
    user.module.emb = torch.nn.Embedding(len(user.encoder.vocab), 2, padding_idx=0)
    adapter = HookedAdapter(user, source="t", device="cpu")
    result = computed(adapter, [Example("a b", "pos")], saliency.Params())
    examples = result.tables["examples"]
    yours = examples[examples["source"] == "paper"]["text"].tolist()
    # "boring" is unknown to the model: the third sentence is left out
    assert yours == list(saliency.PAPER_SENTENCES[:2])
    assert result.metrics["examples"] == 1


def _reference_models() -> list[ModelAdapter]:
    from reportgen.models.architectures import ARCHITECTURES

    texts = ["the film is not good at all", "a very fine and moving piece", "bad",
             "i loved it , though long"]
    adapters = []
    for arch, cls in ARCHITECTURES.items():
        if cls.task != "classify":
            continue
        encoder = TextEncoder.fit(cls.encoder_kind, texts, max_len=32)
        torch.manual_seed(0)
        module = cls(cls.default_config(encoder.n_tokens, 2))
        adapters.append(ModelAdapter(module, encoder, ["neg", "pos"], name=arch, arch=arch,
                                     source=arch))
    return adapters


@pytest.mark.parametrize("adapter", _reference_models(), ids=lambda a: a.name)
def test_batched_equals_one_at_a_time(adapter: ModelAdapter) -> None:
    texts = ["the film is not good at all", "bad", "a very fine and moving piece , though long",
             "i loved it"]
    _, mats, vecs, pred = saliency_batch.token_saliency(adapter, texts)
    for i, text in enumerate(texts):
        _, mats1, vecs1, pred1 = saliency_batch.token_saliency(adapter, [text])
        assert pred1[0] == pred[i]
        np.testing.assert_allclose(vecs1[0], vecs[i], rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(mats1[0], mats[i], rtol=1e-4, atol=1e-7)
    # the confidence comes from the differentiated forward pass: the model's own probabilities
    np.testing.assert_allclose(saliency_batch.saliency_batch(adapter, texts).probs,
                               predict_proba(adapter, texts), rtol=1e-6, atol=1e-7)


def test_non_classifiers_are_skipped_with_a_reason(tanh_adapter: HookedAdapter) -> None:
    assert saliency.skip_reason(tanh_adapter) is None
    tanh_adapter.task = "lm"
    assert "classifier" in saliency.skip_reason(tanh_adapter)


def test_decoding_saliency_of_a_context_free_autoencoder() -> None:
    from tests.tiny_models import tied_copy_model

    adapter = HookedAdapter(tied_copy_model(), source="t", device="cpu")
    adapter.task = "autoencode"
    _tokens, mats, outs = saliency_tables.decoding_saliency(adapter, ["a b a", "b"])
    assert outs == [[2, 3, 2], [3]]  # reconstructs a b a / b
    expected = math.sqrt(10) / (math.e + 3)
    np.testing.assert_allclose(mats[0], np.diag([expected] * 3), atol=1e-7, rtol=1e-6)
    examples = [Example("a b a"), Example("b a")]
    result = computed(adapter, examples, saliency.Params())
    assert result.metrics["tied-copy.diagonal_share"] == pytest.approx(1.0)
    assert len(result.tables["decoding"]) == 9 + 4
    assert result.tables["tokens"].empty
    assert ([c.name for c in saliency.present(result, saliency.Params()).charts]
            == ["decoding-0", "decoding-1"])


def test_seq2seq_decoding_batched_equals_one_at_a_time() -> None:
    from reportgen.models.architectures import ARCHITECTURES

    cls = ARCHITECTURES["seq2seq-ae"]
    texts = ["the film is not good", "bad", "a fine and moving piece , though long"]
    encoder = TextEncoder.fit("word", texts, max_len=16)
    torch.manual_seed(0)
    adapter = ModelAdapter(cls(cls.default_config(encoder.n_tokens, 0)), encoder, [], name="ae",
                           arch="seq2seq-ae", source="t", task="autoencode")
    _, mats, outs = saliency_tables.decoding_saliency(adapter, texts)
    for i, text in enumerate(texts):
        _, mats1, outs1 = saliency_tables.decoding_saliency(adapter, [text])
        assert outs1[0] == outs[i]
        np.testing.assert_allclose(mats1[0], mats[i], rtol=1e-4, atol=1e-7)


def test_unknown_and_truncated_tokens_are_recorded(tanh_adapter: HookedAdapter) -> None:
    tanh_adapter.encoder.max_len = 3
    result = computed(tanh_adapter, [Example("a zzz b a b", "pos"), Example("b", "pos")],
                      saliency.Params())
    tokens, predictions = result.tables["tokens"], result.tables["predictions"]
    assert tokens[tokens["example_id"] == 0]["flag"].tolist() == ["", "unk", ""]  # "zzz": <unk>
    assert predictions["truncated"].tolist() == [2, 0]  # 5 words, the model reads 3
    assert predictions["confidence"].between(0.5, 1).all()


def test_words_chart_leaves_out_one_token_texts_and_unknown_words(
        tanh_adapter: HookedAdapter) -> None:
    examples = [Example("a b", "pos"), Example("a", "pos"), Example("a zzz", "pos")] * 3
    words = computed(tanh_adapter, examples, saliency.Params())
    table = words.tables["words"].set_index("word")
    assert "<unk>" not in table.index and "zzz" not in table.index
    # "a" counted in "a b" and "a zzz" only (3 + 3), never in the one-token "a"
    assert table.loc["a", "count"] == 6
    assert table.loc["a", "mean_share"] < 1


def test_wide_heatmaps_show_the_most_salient_dimensions_and_say_so() -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = [{"model": m, "example_id": 0, "position": p, "token": f"t{p}", "dimension": d,
             "saliency": float(rng.random() + (5 if d in (7, 250) else 0))}
            for m in ("x", "y") for p in range(3) for d in range(300)]
    frame = pd.DataFrame(rows)
    predictions = pd.DataFrame({"model": ["x"], "example_id": [0], "label": ["pos"]})
    chart = saliency_views.heatmap(0, frame, predictions, top=32)
    values = chart.spec["datasets"][next(iter(chart.spec["datasets"]))]
    assert all(len(v["dims"]) == 32 for v in values)
    assert all(7 in v["dims"] and 250 in v["dims"] for v in values)
    assert "the embedding dimensions with the most saliency in this sentence: x 32 of 300" in (
        chart.caption)
