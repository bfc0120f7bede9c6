"""saliency and variance_salience, issue 21: what their pages say is what they computed.

- ``target = "label"`` works on labelled data although the user's and Li et al.'s sentences have
  no label (they take the predicted class, and a note says so);
- Li et al.'s sentences are named as theirs, with no "Gold label: nan";
- a heatmap caption gives each model's own number of dimensions (48 and 64, not "32 of 64" for
  both);
- a note that every model has is shown once; the others once after their model's name;
- variance salience: one-word texts count in neither the top share nor its baseline (top share >=
  uniform always); its captions name variance salience, not |dS/de|; it shows the saliency page's
  sentences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from reportgen.analyses import saliency, saliency_views, variance_salience
from reportgen.analyses.base import RunContext
from reportgen.analyses.words import shares_summary, text_shares, word_frame
from reportgen.data.dataset import Dataset, Example
from reportgen.data.vocab import Vocab
from reportgen.models.adapter import HookedAdapter
from reportgen.records import AnalysisResult
from tests.tiny_models import tanh_sum_model

TINY = Path(__file__).resolve().parent / "tiny_models.py"
WORDS = ["i", "hate", "the", "movie", "though", "plot", "is", "interesting", "boring"]


def paper_model() -> HookedAdapter:
    """tanh-sum, with a vocabulary that holds every word of Li et al.'s three sentences."""
    user = tanh_sum_model()
    user.encoder.vocab = Vocab(["<pad>", "<unk>", "a", "b", *WORDS])
    torch.manual_seed(0)
    user.module.emb = torch.nn.Embedding(len(user.encoder.vocab), 2, padding_idx=0)
    return HookedAdapter(user, source="t", device="cpu")


def _ctx(model, examples: list[Example]) -> RunContext:
    return RunContext(model, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0)


def test_label_target_works_with_the_unlabelled_paper_and_user_sentences() -> None:
    model = paper_model()
    examples = [Example("a b", "neg"), Example("b b a", "pos")]
    params = saliency.Params(target="label", sentences=("a a b",))
    result = saliency.combine({model.name: saliency.compute(_ctx(model, examples), params)},
                              params)
    predictions = result.tables["predictions"].set_index("example_id")
    # the data: the gold class; the three paper sentences and "a a b": the predicted class
    assert predictions.loc[0, "target"] == "neg" and predictions.loc[1, "target"] == "pos"
    extra = predictions[predictions.index >= 2]
    assert len(extra) == 4 and (extra["target"] == extra["predicted"]).all()
    assert any("have no label: their gradients are of the class the model predicts" in n
               for n in result.notes)
    sources = result.tables["examples"].set_index("example_id")["source"].to_dict()
    assert sources == {0: "data", 1: "data", 2: "yours", 3: "paper", 4: "paper", 5: "paper"}


def test_the_readme_config_target_label_runs(tmp_path) -> None:
    from reportgen.cli import main

    csv = tmp_path / "d.csv"
    csv.write_text("text,label\na b,pos\nb,neg\na a,pos\nb b,neg\n", encoding="utf-8")
    config = tmp_path / "c.toml"
    config.write_text('[saliency]\ntarget = "label"\nsentences = ["a b a"]\n', encoding="utf-8")
    out = tmp_path / "site"
    result = CliRunner().invoke(main, [
        "run", "--model", f"{TINY}:tanh_sum_model", "--data", f"csv:{csv}", "--out", str(out),
        "--config", str(config), "--only", "saliency", "--quiet",
        "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert "failed" not in result.output


def test_paper_sentences_are_named_as_li_et_als_with_no_gold_label() -> None:
    model = paper_model()
    examples = [Example("a b a b", "pos"), Example("b b a a", "pos")]
    params = saliency.Params(heatmap_examples=1)
    result = saliency.combine({model.name: saliency.compute(_ctx(model, examples), params)},
                              params)
    pres = saliency.present(result, params)
    papers = [c for c in pres.charts if c.name.startswith("heatmap-") and c.name != "heatmap-0"]
    assert len(papers) == 3
    for chart in papers:
        assert "nan" not in chart.caption and "Gold label" not in chart.caption
        assert "Li et al. (2016)'s sentence" in chart.caption
        assert "Li et al. (2016)'s sentence" in chart.title
    assert "Gold label: pos" in next(c for c in pres.charts if c.name == "heatmap-0").caption
    reasons = {r.example_id: r.caption for r in pres.token_views[0].rows}
    assert [reasons[i] for i in (2, 3, 4)] == ["Li et al. (2016)'s sentence"] * 3
    assert all(r.label is None for r in pres.token_views[0].rows if r.example_id >= 2)


def test_heatmap_unlabelled_example_has_no_gold_label() -> None:
    frame = pd.DataFrame({"model": "m", "example_id": 0, "position": [0, 0], "token": "t",
                          "dimension": [0, 1], "saliency": [1.0, 2.0]})
    predictions = pd.DataFrame({"model": ["m"], "example_id": [0], "label": [np.nan]})
    chart = saliency_views.heatmap(0, frame, predictions, top=32)
    assert "Gold label" not in chart.caption and "nan" not in chart.caption


def test_captions_give_each_models_own_number_of_dimensions() -> None:
    rng = np.random.default_rng(0)
    rows = [{"model": m, "example_id": 0, "position": p, "token": f"t{p}", "dimension": d,
             "saliency": float(rng.random())}
            for m, width in (("rnn", 48), ("kim", 64), ("small", 16))
            for p in range(3) for d in range(width)]
    predictions = pd.DataFrame({"model": ["rnn"], "example_id": [0], "label": ["pos"]})
    caption = saliency_views.heatmap(0, pd.DataFrame(rows), predictions, top=32).caption
    assert "rnn 32 of 48" in caption and "kim 32 of 64" in caption and "small all 16" in caption
    assert "of 64" not in caption.split("kim")[0]  # rnn's count is its own


def test_notes_name_their_model_once() -> None:
    def result(notes: list[str]) -> AnalysisResult:
        return AnalysisResult(tables={t: pd.DataFrame(columns=c)
                                      for t, c in saliency.TABLES.items()},
                              metrics={"examples": 1.0}, notes=notes)

    shared = "Gradients of the predicted class score."
    merged = saliency.combine({"kim": result([shared, "Word pieces: 3 joined."]),
                               "rnn": result([shared])}, saliency.Params())
    assert merged.notes == [shared, "kim: Word pieces: 3 joined."]
    model = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    model.training = {"vectors": {"path": "glove.txt"}}
    ctx = _ctx(model, [Example("a b", "pos")])
    notes = variance_salience.combine(
        {"kim": variance_salience.compute(ctx, variance_salience.Params())},
        variance_salience.Params()).notes
    assert notes and all(not n.startswith("kim: kim") for n in notes)
    assert any(n.startswith("kim: Started from pretrained vectors") for n in notes)


@pytest.mark.parametrize("texts", [["a", "b", "a b"], ["a"] * 5 + ["a b b"], ["b b", "a b a"]])
def test_variance_top_share_is_never_below_its_uniform_baseline(texts) -> None:
    model = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    ctx = _ctx(model, [Example(t, "pos") for t in texts])
    m = variance_salience.compute(ctx, variance_salience.Params()).metrics
    assert m["top_token_share"] >= m["uniform_top_token_share"]
    unscored = sum(len(set(t.split())) == 1 for t in texts)  # one word, or repeats of one
    assert m.get("unscored_texts", 0.0) == unscored


def test_one_word_texts_count_in_neither_the_share_nor_its_baseline() -> None:
    model = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    ctx = _ctx(model, [Example(t, "pos") for t in ["a", "b", "a b b"]])
    m = variance_salience.compute(ctx, variance_salience.Params()).metrics
    # only "a b b" counts: shares 4/6, 1/6, 1/6 (tests/test_faithfulness.py by hand)
    assert m["top_token_share"] == pytest.approx(4 / 6)
    assert m["uniform_top_token_share"] == pytest.approx(1 / 3)
    # saliency: a one-word text has all of its saliency on its word, so it counts (share 1)
    frame, _ = word_frame("m", [0, 1], [[_t("a")], [_t("a"), _t("b")]],
                          [np.array([2.0]), np.array([1.0, 3.0])], [[""], ["", ""]], "saliency")
    summary = shares_summary(text_shares(frame))
    assert summary["top_token_share"] == pytest.approx((1 + 0.75) / 2)
    assert summary["uniform_top_token_share"] == pytest.approx((1 + 0.5) / 2)
    assert "unscored_texts" not in summary


def _t(text: str):
    from reportgen.models.tokens import TokenText

    return TokenText(text, False, False)


def test_variance_salience_shows_the_saliency_pages_sentences_and_names_itself() -> None:
    model = paper_model()
    examples = [Example("a b", "pos"), Example("a b a b", "pos"), Example("b", "pos"),
                Example("b a a b a", "neg"), Example("a a b b", "pos")]
    ctx = _ctx(model, examples)
    sal_params = saliency.Params(heatmap_examples=2)
    ctx.upstream = {"saliency": saliency.compute(ctx, sal_params)}
    sal = saliency.present(saliency.combine({model.name: ctx.upstream["saliency"]}, sal_params),
                           sal_params)
    params = variance_salience.Params()
    result = variance_salience.combine({model.name: variance_salience.compute(ctx, params)},
                                       params)
    pres = variance_salience.present(result, params)
    sal_heat = sorted(c.name.split("-")[1] for c in sal.charts if c.name.startswith("heatmap-"))
    var_heat = sorted(c.name.split("-")[1] for c in pres.charts if c.name.startswith("variance-"))
    assert sal_heat == var_heat == ["1", "3", "5", "6", "7"]  # 4-14 words, then Li et al.'s
    for chart in pres.charts:
        assert "|dS/de|" not in chart.caption and "most saliency" not in chart.caption
        assert "variance salience" in chart.title
    assert {r.example_id for r in sal.token_views[0].rows} == {
        r.example_id for r in pres.token_views[0].rows}
    # the extra sentences are shown but in no metric
    assert result.metrics[f"{model.name}.examples"] == 5
    wide = result.tables["dimensions"]
    assert set(wide["example_id"]) == {1, 3, 5, 6, 7}


def test_without_saliency_the_same_rule_picks_the_heatmaps() -> None:
    model = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    examples = [Example("a b", "pos"), Example("a b a b", "pos"), Example("b a a b a", "neg")]
    result = variance_salience.compute(_ctx(model, examples), variance_salience.Params())
    assert sorted(set(result.tables["dimensions"]["example_id"])) == saliency.heatmap_example_ids(
        [e.text for e in examples], (), 3) == [1, 2]
