"""faithfulness's headline: each model's best method, with bootstrap intervals, against random.

The anti-saliency model: b = (0, 0) decides the class, the fillers a = (1, 0) and c = (-1, 0)
barely matter, and every attribution points away from b:

    pos = 5 tanh(5 sum_t bump(e_t)) + 0.1 sum_t |e_t|^2,   neg = 2.5,   bump(e) = exp(-|e|^2 / 0.09)

- saliency: |dS/de_b| = 0 (the bump is flat at its peak, |e|^2 too), |dS/de_a| = 0.2;
- gradient x input: 0 on b (e_b = 0), 0.2 on a filler;
- integrated gradients (from the zero embedding): 0 on b (its path has length 0), about +0.1 on a
  filler (its bump falls, but tanh is saturated by b's bump all along the path);
- variance salience: texts hold as many a as c, so b sits on the sentence's mean: 0 on b, 1 on a
  filler.

Deleting b flips the prediction (pos 5 -> about 0.1 n); deleting fillers barely moves it. So every
method ranks b last and never deletes it below 50% of a text's tokens, and random, which deletes
b about k/n of the time, beats every method: the card says "below random".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from reportgen.analyses import faithfulness, faithfulness_scores, faithfulness_views, saliency
from reportgen.analyses.base import RunContext
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.data.vocab import Vocab
from reportgen.models.adapter import HookedAdapter, UserModel
from reportgen.records import AnalysisRecord
from reportgen.site import metrics as site_metrics

HERE = Path(__file__).resolve()


class AntiSaliency(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5, 2, padding_idx=0)  # <pad> <unk> a b c
        with torch.no_grad():
            self.emb.weight.copy_(torch.tensor(
                [[0.0, 0.0], [3.0, 3.0], [1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]]))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.emb(ids)  # (B, T, 2)
        real = ids.ne(0).float()  # (B, T)
        sq = e.pow(2).sum(-1)  # (B, T)
        bump = torch.exp(-sq / 0.09) * real  # (B, T): 1 on b, ~1e-5 on a filler
        pos = 5 * torch.tanh(5 * bump.sum(1)) + 0.1 * (sq * real).sum(1)  # (B,)
        return torch.stack([torch.full_like(pos, 2.5), pos], -1)  # (B, 2)


def anti_saliency_model() -> UserModel:
    encoder = TextEncoder("word", Vocab(["<pad>", "<unk>", "a", "b", "c"]))
    return UserModel(AntiSaliency(), encoder, ["neg", "pos"], name="anti")


def anti_texts(n: int, seed: int = 0) -> list[str]:
    """Texts of 1-3 (a, c) pairs in a random order with one b somewhere."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = ["a", "c"] * int(rng.integers(1, 4))
        rng.shuffle(words)
        words.insert(int(rng.integers(0, len(words) + 1)), "b")
        out.append(" ".join(words))
    return out


def _computed(texts: list[str]) -> tuple[faithfulness.AnalysisResult, RunContext]:
    model = HookedAdapter(anti_saliency_model(), source="t", device="cpu")
    examples = [Example(t, "pos") for t in texts]
    ctx = RunContext(model, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0,
                     batch_size=32)
    ctx.upstream = {"saliency": saliency.compute(ctx, saliency.Params(paper_sentences=False))}
    p = faithfulness.Params(ig_steps=8)
    return faithfulness.combine({"anti": faithfulness.compute(ctx, p)}, p), ctx


def test_every_attribution_of_the_anti_saliency_model_is_below_random() -> None:
    result, _ = _computed(anti_texts(80))
    m = result.metrics
    for method in ("saliency", "gradient_x_input", "integrated_gradients", "variance_salience"):
        high = m[f"anti.{method}_comprehensiveness_ci_high"]
        assert high < m["anti.random_comprehensiveness_ci_low"]
    # the headline is the best method's, named, with its interval; no pooled headline
    best = max(("saliency", "gradient_x_input", "integrated_gradients", "variance_salience"),
               key=lambda k: m[f"anti.{k}_comprehensiveness"])
    assert m["anti.comprehensiveness"] == m[f"anti.{best}_comprehensiveness"]
    assert m["anti.comprehensiveness_ci_low"] <= m["anti.comprehensiveness"]
    assert m["anti.comprehensiveness"] <= m["anti.comprehensiveness_ci_high"]
    assert result.labels["anti.comprehensiveness"] == (
        f"comprehensiveness of {faithfulness_views.METHOD_LABELS[best]}")
    assert result.labels["anti.sufficiency"].startswith("sufficiency of ")
    assert "comprehensiveness" not in m and "random_comprehensiveness" not in m
    record = AnalysisRecord(name="faithfulness", title="t", status="ok",
                            headline="comprehensiveness", metrics=m, labels=result.labels,
                            baselines=dict(faithfulness.BASELINES))
    _, rows = site_metrics.headline_rows(record, ["anti"])
    assert [(v.model, v.verdict) for v in rows] == [("anti", "below random")]


def test_the_headline_picks_each_models_best_method() -> None:
    scores = pd.DataFrame({
        "model": "m", "method": ["saliency", "gradient_x_input", "integrated_gradients", "random"],
        "comprehensiveness": [0.10, 0.40, 0.40, 0.20], "comprehensiveness_sd": 0.0,
        "comprehensiveness_ci_low": [0.05, 0.35, 0.30, 0.15],
        "comprehensiveness_ci_high": [0.15, 0.45, 0.50, 0.25],
        "sufficiency": [0.5, 0.2, 0.1, 0.4], "sufficiency_sd": 0.0,
        "sufficiency_ci_low": [0.4, 0.1, 0.0, 0.3], "sufficiency_ci_high": [0.6, 0.3, 0.2, 0.5],
        "texts": 10})
    metrics, labels = faithfulness_scores.headline_metrics(scores)
    # ties go to the first in METHODS: gradient x input, and its sufficiency goes with it
    assert labels == {"comprehensiveness": "comprehensiveness of gradient x input",
                      "sufficiency": "sufficiency of gradient x input"}
    assert (metrics["comprehensiveness"], metrics["comprehensiveness_ci_low"],
            metrics["sufficiency"]) == (0.40, 0.35, 0.2)
    assert metrics["random_comprehensiveness_ci_high"] == 0.25


def test_bootstrap_intervals_and_random_orders_by_hand() -> None:
    texts = pd.DataFrame({"model": "m", "method": ["x"] * 4 + ["random"] * 4,
                          "example_id": [0, 1, 2, 3] * 2,
                          "comprehensiveness": [0.0, 1.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5],
                          "sufficiency": [1.0] * 8})
    scores = faithfulness_scores.score_table(texts, 2000, seed=0).set_index("method")
    # resampled means of four 0/1 values: quantiles of Binomial(4, 1/2) / 4 -> 0 and 1
    assert scores.loc["x", "comprehensiveness"] == 0.5
    assert (scores.loc["x", "comprehensiveness_ci_low"],
            scores.loc["x", "comprehensiveness_ci_high"]) == (0.0, 1.0)
    assert (scores.loc["random", "comprehensiveness_ci_low"],
            scores.loc["random", "comprehensiveness_ci_high"]) == (0.5, 0.5)
    assert scores.loc["x", "sufficiency_ci_low"] == scores.loc["x", "sufficiency_ci_high"] == 1.0
    # the same seed: the same intervals
    again = faithfulness_scores.score_table(texts, 2000, seed=0).set_index("method")
    pd.testing.assert_frame_equal(scores, again)


def test_random_is_the_mean_of_several_orders(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = anti_texts(30, seed=2)
    assert faithfulness.RANDOM_ORDERS == 5
    five, _ = _computed(texts)
    monkeypatch.setattr(faithfulness, "RANDOM_ORDERS", 1)
    one, _ = _computed(texts)
    rows = five.tables["texts"]
    rows = rows[rows["method"] == "random"]
    # a 3-token text has 3 first tokens to delete: with five orders its score is rarely one order's
    assert rows["comprehensiveness"].nunique() > one.tables["texts"].query(
        "method == 'random'")["comprehensiveness"].nunique()
    assert abs(five.metrics["anti.random_comprehensiveness"]
               - one.metrics["anti.random_comprehensiveness"]) < 0.15


def test_deletion_and_insertion_differ_in_the_legend() -> None:
    result, _ = _computed(anti_texts(10))
    spec = faithfulness.present(result, faithfulness.Params()).charts[1].spec
    enc = json.dumps(spec)
    assert '"shape"' in enc and '"strokeDash"' in enc
    found = [node for node in _walk(spec)
             if isinstance(node, dict) and node.get("field") == "curve"]
    shapes = [n["scale"]["range"] for n in found if "scale" in n and "range" in n["scale"]]
    assert ["circle", "triangle-up"] in shapes and [[1, 0], [6, 3]] in shapes


def _walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_the_faithfulness_card_of_the_anti_saliency_model_says_below_random(tmp_path) -> None:
    from reportgen.cli import main

    csv = tmp_path / "anti.csv"
    csv.write_text("text,label\n" + "".join(f"{t},pos\n" for t in anti_texts(60)),
                   encoding="utf-8")
    out = tmp_path / "site"
    result = CliRunner().invoke(main, [
        "run", "--model", f"{HERE}:anti_saliency_model", "--data", f"csv:{csv}",
        "--out", str(out), "--only", "faithfulness", "--quiet",
        "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    faith = report["analyses"]["faithfulness"]
    assert faith["status"] == "ok"
    metrics = faith["metrics"]
    high, random_low = (metrics["anti.comprehensiveness_ci_high"],
                        metrics["anti.random_comprehensiveness_ci_low"])
    assert high < random_low
    assert "comprehensiveness" not in metrics  # nothing pooled over models
    index = (out / "index.html").read_text(encoding="utf-8")
    cards = [c for c in index.split('<article class="card analysis-card')[1:]
             if '<a href="analyses/faithfulness.html">' in c.split("</h3>")[0]]
    assert len(cards) == 1
    card = cards[0][: cards[0].index("</article>")]
    assert "below random" in card
    assert "comprehensiveness of" in card and "DeYoung et al. 2020" in card
    page = (out / "analyses" / "faithfulness.html").read_text(encoding="utf-8")
    assert re.search(r"comprehensiveness of [a-z -]+", page)
