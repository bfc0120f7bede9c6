"""The run's detail sample: per-token tables shrink to it, metrics stay those of every example.

A yuan-cnn with random weights over 70 demo texts, run once keeping every example and once with
``detail_examples = 12``. Streaming must not change any number that covers every example (the
top-token and top-location shares, the word ranking, the predictions), the sampled tables must be
exactly the full run's rows of the sampled examples, and the costly analyses must run on the sample.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from reportgen.analyses import spec as analysis_spec
from reportgen.analyses.sampling import detail_sample, sampling_note
from reportgen.cli import main
from reportgen.data.loaders import load_data
from reportgen.models.checkpoint import load_checkpoint
from reportgen.models.loading import adapter_from_checkpoint
from reportgen.run.analysis import RunSettings, run_analysis
from reportgen.run.plan import plan
from tests.tiny_models import random_yuan_checkpoint

ANALYSES = ["saliency", "variance_salience", "hidden_saliency", "optimization", "matching_rate",
            "faithfulness"]
N, KEPT = 70, 12


def test_the_sample_is_seeded_sorted_and_nested() -> None:
    assert detail_sample(50, 2000, 0).tolist() == list(range(50))  # a small run keeps everything
    assert detail_sample(50, 0, 0).tolist() == list(range(50))  # 0: every example
    small, large = detail_sample(1000, 100, 3), detail_sample(1000, 300, 3)
    assert len(small) == 100 and len(set(small.tolist())) == 100
    assert small.tolist() == sorted(small.tolist())
    assert set(small.tolist()) <= set(large.tolist())  # a larger limit only adds examples
    assert small.tolist() == detail_sample(1000, 100, 3).tolist()
    assert small.tolist() != detail_sample(1000, 100, 4).tolist()
    assert sampling_note(10, 10, 0, what="x") is None
    assert "12 of the 70" in sampling_note(12, 70, 0, what="x")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """A yuan-cnn with random weights over the demo vocabulary, saved as a checkpoint."""
    return random_yuan_checkpoint(tmp_path_factory.mktemp("sampling") / "m.pt")


@pytest.fixture(scope="module")
def runs(checkpoint, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("runs")
    demo = load_data("demo")
    model = adapter_from_checkpoint(load_checkpoint(checkpoint), name="yuan-cnn", source="m.pt",
                                    device=torch.device("cpu"))
    examples = demo.split("test")[:N]
    out = {}
    for limit in (0, KEPT):
        settings = RunSettings(examples, demo, torch.device("cpu"), 0, 16, tmp / f"cache{limit}",
                               detail_examples=limit, no_cache=True)
        records = {}
        for name in plan(ANALYSES):
            spec = analysis_spec(name)
            params = spec.params(chunk=64) if name == "optimization" else spec.params()
            records[name] = run_analysis(name, params, [model], settings)
        out[limit] = (records, settings.sample)
    return out


def _rows(frame: pd.DataFrame, ids: set[int]) -> pd.DataFrame:
    return frame[frame["example_id"].isin(ids)].reset_index(drop=True)


def test_every_analysis_ran(runs) -> None:
    for limit in (0, KEPT):
        records, _ = runs[limit]
        assert {n: r.status for n, r in records.items()} == dict.fromkeys(ANALYSES, "ok"), \
            {n: r.reason for n, r in records.items()}


def test_streamed_metrics_equal_the_full_run(runs) -> None:
    full, _ = runs[0]
    sampled, sample = runs[KEPT]
    assert len(sample) == KEPT
    for name in ("saliency", "variance_salience", "hidden_saliency"):
        assert sampled[name].metrics == full[name].metrics, name  # the same floats, not close ones
    for name in ("saliency", "variance_salience", "hidden_saliency"):
        pd.testing.assert_frame_equal(sampled[name].tables["predictions"],
                                      full[name].tables["predictions"])
    pd.testing.assert_frame_equal(sampled["saliency"].tables["texts"],
                                  full["saliency"].tables["texts"])
    assert len(full["saliency"].tables["texts"]) == N
    # the word ranking adds up per-batch sums: equal to the full run's up to rounding
    words_full, words_sampled = (full["saliency"].tables["words"],
                                 sampled["saliency"].tables["words"])
    assert words_sampled[["model", "word", "count"]].equals(words_full[["model", "word", "count"]])
    np.testing.assert_allclose(words_sampled["mean_share"], words_full["mean_share"], rtol=1e-12)


def test_sampled_tables_are_the_full_runs_rows_of_the_sample(runs) -> None:
    full, _ = runs[0]
    sampled, sample = runs[KEPT]
    ids = set(sample.tolist())
    # saliency also keeps its heatmap examples (the page always shows them)
    heat = set(full["saliency"].tables["dimensions"]["example_id"])
    for name, table, keep in (("saliency", "tokens", ids | heat),
                              # variance salience shows saliency's heatmap examples (issue 21)
                              ("variance_salience", "tokens", ids | heat),
                              ("hidden_saliency", "scores", ids),
                              ("hidden_saliency", "locations", ids),
                              ("hidden_saliency", "fields", ids),
                              ("hidden_saliency", "examples", ids)):
        got = sampled[name].tables[table].reset_index(drop=True)
        assert set(got["example_id"]) == keep, (name, table)
        pd.testing.assert_frame_equal(got, _rows(full[name].tables[table], keep),
                                      obj=f"{name}.{table}")


def test_costly_analyses_run_on_the_sample(runs) -> None:
    full, _ = runs[0]
    sampled, sample = runs[KEPT]
    ids = set(sample.tolist())
    problems = sampled["optimization"].tables["problems"]
    assert set(problems["example_id"]) == ids and len(problems) == 3 * KEPT
    assert sampled["matching_rate"].metrics["examples"] == KEPT
    assert full["matching_rate"].metrics["examples"] == N
    texts = sampled["faithfulness"].tables["texts"]
    assert set(texts["example_id"]) == ids and sampled["faithfulness"].metrics["examples"] == KEPT
    # a text's deletion scores do not depend on which other texts share its batch (beyond rounding)
    merged = texts.merge(full["faithfulness"].tables["texts"], on=["model", "method", "example_id"])
    assert len(merged) == len(texts)
    np.testing.assert_allclose(merged["comprehensiveness_x"], merged["comprehensiveness_y"],
                               atol=1e-5)
    for name in ("saliency", "hidden_saliency", "optimization", "matching_rate", "faithfulness"):
        notes = " ".join(sampled[name].notes)
        assert f"{KEPT} of the {N} evaluated examples" in notes, name
        assert "of the 70 evaluated" not in " ".join(full[name].notes), name


def test_the_sample_is_stated_in_report_json_and_on_the_page(checkpoint, tmp_path) -> None:
    demo = load_data("demo")
    csv = tmp_path / "d.csv"
    csv.write_text("text,label\n"
                   + "".join(f'"{e.text}",{e.label}\n' for e in demo.split("test")[:40]),
                   encoding="utf-8")
    out = tmp_path / "site"
    result = CliRunner().invoke(main, ["run", "--model", str(checkpoint), "--data", f"csv:{csv}",
                                       "--only", "saliency",
                                       "--detail-examples", "9", "--out", str(out), "--quiet",
                                       "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["detail_examples"] == {"examples": 9, "of": 40, "seed": 0}
    assert report["analyses"]["saliency"]["metrics"]["examples"] == 40
    page = (out / "analyses" / "saliency.html").read_text()
    assert "a seeded sample of 9 of the 40 evaluated examples" in page
    bad = CliRunner().invoke(main, ["run", "--model", str(checkpoint), "--data", f"csv:{csv}",
                                    "--detail-examples", "-1",
                                    "--out", str(tmp_path / "bad"), "--quiet"])
    assert bad.exit_code == 2 and "--detail-examples must be 0" in bad.output



# recorded with the code before sampling and streaming existed (commit 8fa58e6), on this fixture;
# saliency 8 (batches of texts of about the same length) moved two of them by float rounding
# (6e-10 and 2e-11 relative; were 0.13911463132731874 and 0.9919436963843584) and was re-recorded
BEFORE_SAMPLING = {
    "saliency": {"top_token_share": 0.13911463141242011,
                 "uniform_top_token_share": 0.11543214341312528,
                 "yuan-cnn.normalised_entropy": 0.9919436963624152},
    "variance_salience": {"top_token_share": 0.12900520692789186},
    # hidden_saliency, optimization and faithfulness changed their numbers on purpose in issue 21
    # (every bank scored, Eq. 7, best method with intervals): their versions were bumped
}


def test_a_run_that_samples_nothing_gives_the_numbers_of_before(runs) -> None:
    """70 texts, under any sample size: streaming must reproduce the pre-sampling metrics exactly
    (same floats: per-text shares are summed in the same order and precision as before)."""
    full, _ = runs[0]
    for name, metrics in BEFORE_SAMPLING.items():
        for key, value in metrics.items():
            assert full[name].metrics[key] == pytest.approx(
                value, rel=1e-12, abs=1e-15), (name, key)
