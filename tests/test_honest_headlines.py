"""Issue 21: every headline is per model, names its method and reference, and says where its
interval overlaps its baseline ("not distinguishable from random") or lies below it."""

from __future__ import annotations

from reportgen.records import AnalysisRecord
from reportgen.site.metrics import headline_rows, verdict
from reportgen.site.summary import summary_markdown
from tests.site_fixtures import make_record


def test_verdicts_from_intervals() -> None:
    m = {"a.c": 0.30, "a.c_ci_low": 0.25, "a.c_ci_high": 0.35, "a.r": 0.20, "a.r_ci_low": 0.18,
         "a.r_ci_high": 0.22, "b.c": 0.20, "b.c_ci_low": 0.15, "b.c_ci_high": 0.26, "b.r": 0.21,
         "d.c": 0.1, "d.c_ci_low": 0.05, "d.c_ci_high": 0.15, "d.r": 0.2, "e.c": 0.3, "e.r": 0.2}
    assert verdict(m, "a.c", "a.r", "random") == "above random"
    assert verdict(m, "b.c", "b.r", "random") == "not distinguishable from random"  # 0.21 inside
    assert verdict(m, "d.c", "d.r", "random") == "below random"
    assert verdict(m, "e.c", "e.r", "random") == ""  # no interval: no verdict


def test_the_headline_is_per_model_with_its_label_verdict_and_reference() -> None:
    a = AnalysisRecord(
        name="faithfulness", title="F", status="ok", headline="comprehensiveness",
        headline_label="comprehensiveness of the best attribution", reference="DeYoung et al. 2020",
        baselines={"comprehensiveness": "random_comprehensiveness"},
        metrics={"comprehensiveness": 0.5, "random_comprehensiveness": 0.2,  # pooled: no headline
                 "kim.comprehensiveness": 0.10, "kim.comprehensiveness_ci_low": 0.06,
                 "kim.comprehensiveness_ci_high": 0.14, "kim.random_comprehensiveness": 0.20,
                 "kim.random_comprehensiveness_ci_low": 0.18,
                 "kim.random_comprehensiveness_ci_high": 0.22,
                 "lstm.comprehensiveness": 0.6, "lstm.random_comprehensiveness": 0.2})
    overall, per_model = headline_rows(a, ["kim", "lstm"])
    assert overall is None
    assert [v.model for v in per_model] == ["kim", "lstm"]
    assert per_model[0].label == "comprehensiveness of the best attribution"
    assert per_model[0].verdict == "below random"
    assert per_model[0].interval == "95% CI 0.06 to 0.14"
    record = make_record()
    record.analyses = [a]
    text = summary_markdown(record)
    assert "comprehensiveness of the best attribution (DeYoung et al. 2020), per model:" in text
    assert "**below random**" in text
    assert "= 0.5" not in text  # the pooled value is not shown as a headline


def test_a_metric_label_names_the_method_of_one_models_headline(tmp_path) -> None:
    from reportgen import cache
    from reportgen.analyses.spec import combine_per_model
    from reportgen.records import AnalysisResult

    one = AnalysisResult({}, {"comprehensiveness": 0.6},
                         labels={"comprehensiveness": "comprehensiveness of gradient x input"})
    merged = combine_per_model({"kim": one})
    assert merged.labels == {"kim.comprehensiveness": "comprehensiveness of gradient x input"}
    cache.save_result(tmp_path, "faithfulness", "k", one)
    assert cache.load_result(tmp_path, "faithfulness", "k").labels == one.labels
    a = AnalysisRecord(name="faithfulness", title="F", status="ok", headline="comprehensiveness",
                       metrics=merged.metrics, labels=merged.labels)
    _, (row,) = headline_rows(a, ["kim"])
    assert row.label == "comprehensiveness of gradient x input"


def test_the_model_card_says_how_many_texts_the_length_limit_cut() -> None:
    from reportgen import UserModel
    from reportgen.data.dataset import Example
    from reportgen.data.encoding import TextEncoder
    from reportgen.data.vocab import Vocab
    from reportgen.evaluation import model_card
    from reportgen.models.adapter import HookedAdapter
    from tests.tiny_models import TanhSum

    encoder = TextEncoder("word", Vocab(["<pad>", "<unk>", "a", "b"]), max_len=2)
    model = HookedAdapter(UserModel(TanhSum(), encoder, ["neg", "pos"], name="short"),
                          source="t", device="cpu")
    examples = [Example("a b a", "pos"), Example("b", "neg"), Example("a a b b", "pos")]
    card = model_card(model, examples, 8, "3 texts")
    assert any(line.startswith("2 of 3 evaluated texts (66.7%) are longer than the 2 tokens")
               for line in card.reading), card.reading


def test_models_whose_headlines_come_from_different_methods_each_show_their_own() -> None:
    a = AnalysisRecord(
        name="faithfulness", title="F", status="ok", headline="comprehensiveness",
        headline_label="comprehensiveness of the best attribution",
        metrics={"kim.comprehensiveness": 0.5, "lstm.comprehensiveness": 0.6},
        labels={"kim.comprehensiveness": "comprehensiveness of integrated gradients",
                "lstm.comprehensiveness": "comprehensiveness of gradient x input"})
    record = make_record()
    record.analyses = [a]
    text = summary_markdown(record)
    assert "comprehensiveness of the best attribution, per model:" in text
    assert "| ↳ kim | | comprehensiveness of integrated gradients = 0.5 | |" in text
    assert "| ↳ lstm | | comprehensiveness of gradient x input = 0.6 | |" in text


def test_a_note_that_names_its_model_is_not_prefixed_again() -> None:
    from reportgen.analyses.spec import combine_per_model
    from reportgen.records import AnalysisResult

    merged = combine_per_model({"kim": AnalysisResult({}, {}, notes=["kim: 100 of 300 units"]),
                                "lstm": AnalysisResult({}, {}, notes=["48 units"])})
    assert merged.notes == ["kim: 100 of 300 units", "lstm: 48 units"]


def test_a_table_writes_the_same_csv_from_the_run_and_from_the_cache(tmp_path) -> None:
    """``render`` wrote numbers to 6 digits where ``run`` had written all 17: a column of numbers
    held as objects (one model's empty table concatenated with another's) skipped the format."""
    import pandas as pd

    from reportgen.site.table_files import to_csv_bytes

    run = pd.concat([pd.DataFrame({"value": pd.Series([], dtype=object)}),
                     pd.DataFrame({"value": [-0.9968481659889221]})], ignore_index=True)
    assert run["value"].dtype == object
    run.to_parquet(tmp_path / "t.parquet")
    cached = pd.read_parquet(tmp_path / "t.parquet")
    assert to_csv_bytes(run) == to_csv_bytes(cached) == b"value\n-0.996848\n"
