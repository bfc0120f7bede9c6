"""Issue 21 for the Yuan et al. (2019) analyses: Eq. 7 exactly, the objective's term shares, the
presets, every bank of a multi-width CNN scored, the capped and receptive-field references of the
matching rate, and headlines that are per model with their label, reference and interval."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest
import torch

from reportgen import analyses
from reportgen.analyses import hidden_saliency, matching_rate, optimization
from reportgen.analyses.yuan_intervals import mean_interval, share_interval
from reportgen.data.encoding import TextEncoder
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES
from reportgen.models.conv import conv_layer
from tests.test_yuan2019 import context, yuan_adapter

TEXTS = ["the film is good and moving", "a dull and tired plot", "not bad at all", "great fun",
         "the plot is dull but the film is good and the cast is great fun"]


def direct_sim(x: torch.Tensor) -> float:
    """Eq. 7 by hand: 1/N sum over every (i, j), i = j included, of cos(x_i, x_j)."""
    n = x.size(0)
    total = 0.0
    for i, j in itertools.product(range(n), range(n)):
        total += float(torch.dot(x[i], x[j]) / (x[i].norm() * x[j].norm()))
    return total / n


@pytest.mark.parametrize("n", [1, 3, 5])
def test_eq7_similarity_equals_a_direct_computation(n: int) -> None:
    g = torch.Generator().manual_seed(n)
    x = torch.randn(2, 7, 4, generator=g, dtype=torch.float64)
    mask = torch.zeros(2, 7, dtype=torch.bool)
    mask[0, :n] = True  # the first n positions real
    mask[1, 7 - n :] = True  # the last n
    got = optimization.similarity(x, mask)
    assert got[0].item() == pytest.approx(direct_sim(x[0, :n]), rel=1e-12)
    assert got[1].item() == pytest.approx(direct_sim(x[1, 7 - n :]), rel=1e-12)
    if n == 1:
        assert got.tolist() == pytest.approx([1.0, 1.0])  # a vector with itself
    same = torch.ones(1, n, 4, dtype=torch.float64)
    assert optimization.similarity(same, torch.ones(1, n, dtype=torch.bool)).item() == \
        pytest.approx(n)  # N equal directions: N (the old mean over i != j gave 1)
    assert optimization.similarity(x[:1], torch.zeros(1, 7, dtype=torch.bool)).item() == 0.0


def test_term_shares_by_hand() -> None:
    act, norm, sim = torch.tensor([2.0, 0.0]), torch.tensor([100.0, 0.0]), torch.tensor([5.0, 0.0])
    shares = optimization.term_shares(act, norm, sim, l1=0.01, l2=0.2)  # |2|, 1, 1
    assert shares.tolist() == [[0.5, 0.25, 0.25], [0.0, 0.0, 0.0]]


def test_presets_and_their_overrides() -> None:
    assert optimization.Params().resolved() == (0.05, 300)
    assert optimization.Params(preset="paper").resolved() == (2e-4, 5000)
    assert optimization.Params(preset="paper", steps=50).resolved() == (2e-4, 50)
    assert optimization.Params(lr=0.1).resolved() == (0.1, 300)
    assert optimization.Params(preset="paper").validate() == []
    assert "optimization.preset must be one of fast, paper" in optimization.Params(
        preset="slow").validate()[0]


def kim_adapter(decisive: int | None = 2) -> ModelAdapter:
    """A kim-cnn (widths 3, 4, 5) whose output reads only bank ``decisive`` (None: every bank)."""
    cls = ARCHITECTURES["kim-cnn"]
    enc = TextEncoder.fit("word", TEXTS * 3, max_len=20)
    torch.manual_seed(0)
    module = cls({**cls.default_config(enc.n_tokens, 2), "emb_dim": 12, "filters": 6})
    if decisive is not None:
        with torch.no_grad():
            for bank in range(3):
                if bank != decisive:
                    module.out.weight[:, bank * 6 : (bank + 1) * 6] = 0
    module.eval()
    return ModelAdapter(module, enc, ["neg", "pos"], name="kim", arch="kim-cnn", source="k")


def test_a_multi_width_cnn_gets_scores_for_every_bank() -> None:
    model = kim_adapter(decisive=2)
    assert [layer.name for layer in hidden_saliency.scored_layers(model)] == [
        "convs.0", "convs.1", "convs.2"]
    ctx = context(model, TEXTS)
    result = hidden_saliency.compute(ctx, hidden_saliency.Params())
    scores = result.tables["scores"]
    assert set(scores["layer"]) == {"convs.0", "convs.1", "convs.2"}
    # a wide width-k bank has n + k - 1 locations per text of n tokens
    n = len(TEXTS[0].split())
    counts = scores[scores["example_id"] == 0].groupby("layer").size().to_dict()
    assert counts == {"convs.0": n + 2, "convs.1": n + 3, "convs.2": n + 4}
    # the output reads only the width-5 bank: the others score 0, the top locations are its own
    assert (scores.loc[scores["layer"] != "convs.2", "score"] == 0).all()
    assert set(result.tables["locations"]["layer"]) == {"convs.2"}
    assert result.metrics["layers"] == 3
    assert "convs.0" in result.notes[0] and "convs.2" in result.notes[0]
    # one layer when asked for
    one = hidden_saliency.compute(ctx, hidden_saliency.Params(layer="convs.1"))
    assert set(one.tables["scores"]["layer"]) == {"convs.1"}


def test_optimisation_and_matching_rate_follow_every_bank() -> None:
    model = kim_adapter(decisive=None)
    ctx = context(model, TEXTS)
    hs = hidden_saliency.compute(ctx, hidden_saliency.Params(top_m=3))
    banks = set(hs.tables["locations"]["layer"])
    assert len(banks) >= 2  # top locations from several banks on these texts
    ctx.upstream = {"hidden_saliency": hs}
    opt = optimization.compute(ctx, optimization.Params(steps=20, chunk=4))
    problems = opt.tables["problems"]
    assert set(problems["layer"]) == banks and len(problems) == len(hs.tables["locations"])
    assert problems[["example_id", "rank"]].values.tolist() == sorted(
        problems[["example_id", "rank"]].values.tolist())
    merged = problems.merge(hs.tables["locations"], on=["example_id", "rank"])
    assert (merged["layer_x"] == merged["layer_y"]).all()
    ctx.upstream["optimization"] = opt
    mr = matching_rate.compute(ctx, matching_rate.Params())
    matches = mr.tables["matches"]
    # the salient reference keeps one receptive field's worth: the top location's bank width
    top = hs.tables["locations"].query("rank == 1").set_index("example_id")["layer"]
    width = {f"convs.{i}": k for i, k in enumerate([3, 4, 5])}
    for row in matches.itertuples():
        assert len(row.salient.split()) == min(width[top[row.example_id]],
                                               len(TEXTS[row.example_id].split()))


def test_the_salient_reference_is_capped_and_the_field_words_are_what_the_locations_see() -> None:
    model = yuan_adapter()  # one chain; its first layer's field is 5 tokens
    ctx = context(model, TEXTS)
    hs = hidden_saliency.compute(ctx, hidden_saliency.Params())
    ctx.upstream = {"hidden_saliency": hs}
    ctx.upstream["optimization"] = optimization.compute(ctx, optimization.Params(steps=10))
    result = matching_rate.compute(ctx, matching_rate.Params())
    matches = result.tables["matches"].set_index("example_id")
    assert conv_layer(model).field.size == 5
    for eid, text in enumerate(TEXTS):
        toks = text.split()
        assert len(matches.loc[eid, "salient"].split()) == min(5, len(toks))  # not 15
        rows = hs.tables["locations"].query("example_id == @eid")
        seen = sorted({p for a, b in zip(rows["start"], rows["end"], strict=True)
                       for p in range(a, b + 1)})
        assert matches.loc[eid, "fields"] == " ".join(toks[p] for p in seen)
    # the long text is never handed back whole by the capped reference; short ones are
    assert matches.loc[4, "salient"] != TEXTS[4]
    whole = [matches.loc[i, "salient"] == t for i, t in enumerate(TEXTS)]
    assert result.metrics["salient_whole_text_share"] == pytest.approx(sum(whole) / len(TEXTS))
    for name in ("matching_rate", "random_words_rate", "salient_words_rate", "field_words_rate"):
        low, high = result.metrics[f"{name}_ci_low"], result.metrics[f"{name}_ci_high"]
        assert low <= result.metrics[name] <= high
        assert result.labels[name]
    rates = result.tables["rates"]
    assert list(rates.columns) == matching_rate.TABLES["rates"]


def test_optimisation_metrics_say_what_they_are() -> None:
    model = yuan_adapter()
    ctx = context(model, TEXTS)
    ctx.upstream = {"hidden_saliency": hidden_saliency.compute(ctx, hidden_saliency.Params())}
    result = optimization.compute(ctx, optimization.Params(steps=30))
    m, problems = result.metrics, result.tables["problems"]
    shares = problems[["activation_share", "norm_share", "similarity_share"]].sum(axis=1)
    assert shares.to_numpy() == pytest.approx(1.0)
    assert m["activation_share"] + m["norm_share"] + m["similarity_share"] == pytest.approx(1.0)
    # the table's terms are the objective's: objective = activation + norm + similarity terms
    total = problems["activation_term"] + problems["norm_term"] + problems["similarity_term"]
    assert total.to_numpy() == pytest.approx(problems["objective"].to_numpy(), rel=1e-4, abs=1e-5)
    assert (problems["norm_term"] <= 0).all() and (problems["similarity_term"] >= 0).all()
    terms = result.tables["terms"]
    assert terms["term"].tolist() == ["activation", "norm", "similarity"]
    assert terms["weight"].tolist() == [1.0, 0.004, 0.02]
    assert m["mean_activation_cosine_ci_low"] <= m["mean_activation_cosine"] \
        <= m["mean_activation_cosine_ci_high"]
    assert "start_activation_cosine" in m and (problems["window_norm_ratio"] > 0).all()
    for key in ("converged_share", "mean_activation_match", "median_window_norm_ratio",
                "similarity_share"):
        assert result.labels[key]
    assert "convergence test" in result.labels["converged_share"]
    assert "preset fast: Adam lr 0.05, at most 30 steps" in result.notes[0]
    page = optimization.present(result, optimization.Params())
    assert "terms" in [c.name for c in page.charts]


def test_headlines_are_per_model_named_and_referenced() -> None:
    for name in ("hidden_saliency", "optimization", "matching_rate"):
        spec = analyses.spec(name)
        assert spec.headline_label and spec.reference.startswith("Yuan et al. 2019")
        assert spec.baselines.get(spec.headline)
    # optimization 6: fewer passes per step and the fused Adam (float rounding only); hidden 4:
    # saliency's batches of texts of about the same length (float rounding only)
    assert (analyses.spec("hidden_saliency").version, analyses.spec("optimization").version,
            analyses.spec("matching_rate").version) == (4, 6, 3)
    # two models combined: no headline (nor any rate) pooled over them
    one, two = kim_adapter(), yuan_adapter()
    per_model = {}
    for model in (one, two):
        ctx = context(model, TEXTS[:3])
        hs = hidden_saliency.compute(ctx, hidden_saliency.Params())
        ctx.upstream = {"hidden_saliency": hs}
        opt = optimization.compute(ctx, optimization.Params(steps=5))
        ctx.upstream["optimization"] = opt
        per_model[model.name] = (hs, opt, matching_rate.compute(ctx, matching_rate.Params()))
    for i, module in enumerate((hidden_saliency, optimization, matching_rate)):
        merged = module.combine({n: r[i] for n, r in per_model.items()}, module.Params())
        pooled = [k for k in merged.metrics if "." not in k]
        assert set(pooled) <= {"examples", "problems"}, (module.__name__, pooled)
        assert f"kim.{module.SPEC.headline}" in merged.metrics
        assert f"yuan.{module.SPEC.headline}" in merged.metrics


def test_intervals_by_hand() -> None:
    low, high = share_interval(9, 10)  # Wilson: 0.9 -> (0.596, 0.982)
    assert (round(low, 3), round(high, 3)) == (0.596, 0.982)
    assert share_interval(0, 0) == (pytest.approx(math.nan, nan_ok=True),) * 2
    assert mean_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)
    low, high = mean_interval([0.0, 1.0] * 50, seed=1)
    assert low < 0.5 < high
    # clustered: whole texts resampled (one text's problems together)
    assert mean_interval([1.0, 1.0, 0.0], clusters=[7, 7, 8]) != (math.nan, math.nan)


def test_the_page_tables_follow_their_declared_columns() -> None:
    model = kim_adapter(decisive=None)
    ctx = context(model, TEXTS[:2], labels=["pos", "neg"])
    hs = hidden_saliency.compute(ctx, hidden_saliency.Params())
    for table, columns in hidden_saliency.TABLES.items():
        assert list(hs.tables[table].columns) == columns
    ctx.upstream = {"hidden_saliency": hs}
    opt = optimization.compute(ctx, optimization.Params(steps=5))
    for table, columns in optimization.TABLES.items():
        assert list(opt.tables[table].columns) == columns
        assert not opt.tables[table].isna().any().any(), table
    assert isinstance(hidden_saliency.present(hs, hidden_saliency.Params()).charts[0].name, str)
    assert pd.api.types.is_bool_dtype(opt.tables["problems"]["converged"])
