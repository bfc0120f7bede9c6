"""matching_rate: do the words read off the salient locations carry the model's decision?

Method (Yuan, Chen, Hu and Ji 2019, AAAI, section 4.3, Table 4): for each text, take its k most
salient locations (``hidden_saliency``) and the m nearest vocabulary words of each location's
optimised input (``optimization``), and feed the k*m words, in order, to the model as a new text
X'. It matches when pred(X') == pred(X); the matching rate is the share of texts that match
(paper: MR 0.934, AG News 0.843 with k = 3, m = 5).

A rate means little alone, so three references are computed on the same texts:
- ``random_words_rate``: X' made of k*m random vocabulary words (seeded, special tokens excluded);
- ``salient_words_rate``: X' made of the k*m input tokens with the highest first-derivative
  saliency (Li et al. 2016), in their order in the text;
- ``majority_class_share``: the share of texts whose prediction is the most frequent prediction
  (what a constant X' that the model puts in that class would score).

Outputs (tables): ``matches`` (per model and text: prediction, the three X' texts and their
predictions), ``rates`` (per model and predicted class). Metrics: ``matching_rate``,
``random_words_rate``, ``salient_words_rate``, ``majority_class_share``, ``examples``.
Cost: three batched predictions and one saliency pass per text.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from reportgen.analyses.base import RunContext
from reportgen.analyses.sampling import sampling_note
from reportgen.analyses.spec import AnalysisSpec, PlanFacts
from reportgen.chart_layout import chart_spec
from reportgen.models.facts import predict_proba
from reportgen.models.tokens import vocabulary_vectors
from reportgen.models.view import ModelView
from reportgen.records import AnalysisResult, ChartSpec, Presentation

NAME = "matching_rate"
VERSION = 2
TITLE = "Matching rate of interpreted words"
HEADLINE = "matching_rate"
BASELINES = {"matching_rate": "random_words_rate"}
NEEDS = ("hidden_saliency", "optimization")
CITATION = (
    "Yuan, Chen, Hu, Ji (2019). Interpreting Deep Models for Text Analysis via Optimization and "
    "Regularization Methods. AAAI. Section 4.3, matching rate (Table 4)."
)
METHOD = (
    "The words that interpret a text's most salient hidden locations are put together as a new, "
    "short text and classified. If the model gives it the same class as the original text, the "
    "interpretation kept what the model decided on. The matching rate is the share of texts for "
    "which that happens.\n\n"
    "It is shown beside three references on the same texts: random vocabulary words, the input's "
    "own most salient tokens (first-derivative saliency), and the share of the most frequent "
    "prediction, which any constant text would reach."
)
HOW_TO_READ = (
    "Bars: the matching rate of each model beside its references; a rate close to the majority "
    "share or to random words says little. Table: per predicted class. Matches table (download): "
    "every X' and its prediction."
)

TABLES = {
    "matches": ["model", "example_id", "predicted", "words", "words_predicted", "random",
                "random_predicted", "salient", "salient_predicted"],
    "rates": ["model", "predicted", "examples", "matching_rate", "random_words_rate",
              "salient_words_rate"],
}
RATE_NAMES = {"matching_rate": "interpreted words", "random_words_rate": "random words",
              "salient_words_rate": "most salient input words", "majority_class_share": "majority class"}


@dataclass(frozen=True)
class Params:
    locations: int = 3  # k
    words: int = 5  # m

    def validate(self) -> list[str]:
        return [f"matching_rate.{n} must be >= 1" for n in ("locations", "words") if getattr(self, n) < 1]


def skip_reason(model: ModelView) -> str | None:
    from reportgen.analyses import hidden_saliency

    return hidden_saliency.skip_reason(model)


def compute(ctx: RunContext, params: Params) -> AnalysisResult:
    model = ctx.model
    locations = ctx.upstream["hidden_saliency"].tables["locations"]
    neighbours = ctx.upstream["optimization"].tables["neighbours"]
    if params.words > int(neighbours["neighbour"].max() or 0):
        raise ValueError(f"matching_rate.words = {params.words} but optimization found only "
                         f"{int(neighbours['neighbour'].max())} neighbours per location")
    kept = locations[(locations["model"] == model.name) & (locations["rank"] <= params.locations)]
    near = neighbours[(neighbours["model"] == model.name) & (neighbours["neighbour"] <= params.words)]
    near = near.merge(kept[["example_id", "rank"]], on=["example_id", "rank"])
    words = (near.sort_values(["example_id", "rank", "neighbour"])
             .groupby("example_id")["word"].agg(" ".join))
    ids = list(words.index)
    texts = [ctx.examples[i].text for i in ids]
    k = params.locations * params.words
    vocab = vocabulary_vectors(model)
    pool = [w for w, special in zip(vocab.tokens, vocab.special, strict=True) if not special]
    rng = np.random.default_rng(ctx.seed)
    random_texts = [" ".join(pool[j] for j in rng.integers(0, len(pool), size=k)) for _ in ids]
    salient_texts = _salient_words(model, texts, k, ctx.batch_size)
    predict = {name: _predict(model, batch, ctx.batch_size) for name, batch in
               (("original", texts), ("words", list(words)), ("random", random_texts),
                ("salient", salient_texts))}
    frame = pd.DataFrame({
        "model": model.name, "example_id": ids, "predicted": predict["original"],
        "words": list(words), "words_predicted": predict["words"],
        "random": random_texts, "random_predicted": predict["random"],
        "salient": salient_texts, "salient_predicted": predict["salient"],
    })
    rates = _rates(frame)
    counts = frame["predicted"].value_counts()
    metrics = {
        "examples": float(len(frame)),
        **{name: float(rates.loc[rates["predicted"] == "all", name].iloc[0])
           for name in ("matching_rate", "random_words_rate", "salient_words_rate")},
        "majority_class_share": float(counts.max() / len(frame)) if len(frame) else 0.0,
    }
    return AnalysisResult(tables={"matches": frame, "rates": rates}, metrics=metrics,
                          notes=[(f"{model.name}: k = {params.locations} locations x m = "
                                 f"{params.words} words = {k} words per X'.")]
                          + ([sampled] if (sampled := sampling_note(
                              len(ctx.detail_ids()), len(ctx.examples), ctx.seed,
                              what="Examples whose interpreted words are tested")) else []))


def _predict(model: ModelView, texts: list[str], batch_size: int) -> list[str]:
    if not texts:
        return []
    probs = predict_proba(model, texts, batch_size=batch_size)
    return [model.classes[int(i)] for i in probs.argmax(1)]


def _salient_words(model: ModelView, texts: list[str], k: int, batch_size: int) -> list[str]:
    """The ``k`` tokens of each text with the highest gradient saliency, in text order."""
    from reportgen.analyses.saliency import saliency_batch

    out = []
    for lo in range(0, len(texts), batch_size):
        found = saliency_batch(model, texts[lo : lo + batch_size])
        for toks, vec in zip(found.tokens, found.vecs, strict=True):
            keep = sorted(np.argsort(-vec, kind="stable")[:k])
            out.append(" ".join(toks[i] for i in keep))
    return out


def _rates(frame: pd.DataFrame) -> pd.DataFrame:
    def rate(part: pd.DataFrame, column: str) -> float:
        return float((part[column] == part["predicted"]).mean()) if len(part) else 0.0

    rows = []
    model = frame["model"].iloc[0] if len(frame) else ""
    for name, part in [("all", frame), *frame.groupby("predicted", sort=True)]:
        rows.append((model, name, len(part), rate(part, "words_predicted"),
                     rate(part, "random_predicted"), rate(part, "salient_predicted")))
    return pd.DataFrame(rows, columns=TABLES["rates"])


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    from reportgen.analyses.spec import combine_per_model

    merged = combine_per_model(results)
    matches = merged.tables["matches"]
    merged.metrics["examples"] = float(len(matches["example_id"].unique())) if len(matches) else 0.0
    for name in ("matching_rate", "random_words_rate", "salient_words_rate", "majority_class_share"):
        merged.metrics[name] = float(np.mean([r.metrics[name] for r in results.values()]))
    return merged


def present(result: AnalysisResult, params: Params) -> Presentation:
    rows = []
    for key, value in result.metrics.items():
        model, _, name = key.rpartition(".")
        if model and name in RATE_NAMES:
            rows.append({"model": model, "reference": RATE_NAMES[name], "rate": value})
    if not rows:
        return Presentation()
    frame = pd.DataFrame(rows)
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("rate:Q", title="share of texts whose prediction is kept", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        y=alt.Y("reference:N", sort=list(RATE_NAMES.values()), title=None),
        color=alt.Color("reference:N", legend=None, sort=list(RATE_NAMES.values())),
        row=alt.Row("model:N", title=None),
        tooltip=["model", "reference", alt.Tooltip("rate:Q", format=".1%")],
    ).properties(width=360, height=alt.Step(18))
    return Presentation(charts=[ChartSpec(
        "rates", "Matching rate beside its references", chart_spec(bars),
        f"X' = {params.locations} locations x {params.words} nearest words; references on the "
        "same texts.")])

def check_plan(params: Params, facts: PlanFacts) -> list[str]:
    """``words`` cannot exceed the neighbours ``optimization`` finds per location."""
    found = facts.params["optimization"].neighbours
    if params.words > found:
        return [f"matching_rate.words = {params.words} but optimization.neighbours = {found} "
                f"(valid: 1 to {found}, or raise optimization.neighbours)"]
    return []


SPEC = AnalysisSpec(
    name=NAME,
    version=VERSION,
    title=TITLE,
    headline=HEADLINE,
    method=METHOD,
    how_to_read=HOW_TO_READ,
    citation=CITATION,
    params=Params,
    tables=TABLES,
    compute=compute,
    present=present,
    skip_reason=skip_reason,
    check_plan=check_plan,
    combine=combine,
    needs=NEEDS,
    baselines=BASELINES,
)
