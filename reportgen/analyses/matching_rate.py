"""matching_rate: do the words read off the salient locations carry the model's decision?

Method (Yuan, Chen, Hu and Ji 2019, AAAI, section 4.3, Table 4): for each text, take its k most
salient locations (``hidden_saliency``) and the m nearest vocabulary words of each location's
optimised input (``optimization``), and feed the k*m words, in order, to the model as a new text
X'. It matches when pred(X') == pred(X); the matching rate is the share of texts that match
(paper: MR 0.934, AG News 0.843 with k = 3, m = 5). A Wilson 95% interval goes with every rate.

A rate means little alone, so references are computed on the same texts:
- ``random_words_rate`` (the headline's baseline): X' made of k*m random vocabulary words
  (seeded, special tokens excluded);
- ``salient_words_rate``: X' made of the input tokens with the highest first-derivative saliency
  (Li et al. 2016), in their order in the text, as many as one receptive field holds (the field
  of the text's top location; never more than k*m). Uncapped, k*m = 15 tokens of texts averaging
  about 11 would hand most texts back whole and the reference would be circular;
- ``field_words_rate``: X' made of the input tokens inside the receptive fields of the k top
  locations (their union, in text order): the words the locations actually see;
- ``majority_class_share``: the share of texts whose prediction is the most frequent prediction
  (what a constant X' that the model puts in that class would score).
How circular each reference is: ``salient_whole_text_share`` / ``field_whole_text_share`` (texts
whose X' is the whole text) and ``words_from_text_share`` (interpreted words that are tokens of
the text itself).

Outputs (tables): ``matches`` (per model and text: prediction, every X' and its prediction),
``rates`` (per model and predicted class). Metrics (per model): ``matching_rate`` with its
interval, every reference rate with its interval, the circularity shares, ``examples``.
Cost: four batched predictions and one saliency pass per text.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from reportgen.analyses.base import RunContext
from reportgen.analyses.sampling import sampling_note
from reportgen.analyses.spec import AnalysisSpec, PlanFacts
from reportgen.analyses.yuan_intervals import share_interval, with_interval
from reportgen.chart_layout import chart_spec
from reportgen.models.conv import conv_layer
from reportgen.models.facts import predict_proba
from reportgen.models.tokens import vocabulary_vectors
from reportgen.models.view import ModelView
from reportgen.records import AnalysisResult, ChartSpec, Presentation

NAME = "matching_rate"
VERSION = 3  # 3: capped salient words, receptive-field words, intervals, per-model metrics only
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
    "It is shown beside references on the same texts: random vocabulary words; the input's own "
    "most salient tokens (first-derivative saliency), as many as one receptive field holds; the "
    "input tokens inside the top locations' receptive fields; and the share of the most frequent "
    "prediction, which any constant text would reach."
)
HOW_TO_READ = (
    "Bars: the matching rate of each model beside its references, with 95% intervals; a rate "
    "close to the majority share or to random words says little, and one no higher than the "
    "receptive-field words says the interpretation adds nothing to reading the fields. The "
    "whole-text shares say how often a reference is simply the original text. Table: per "
    "predicted class. Matches table (download): every X' and its prediction."
)

TABLES = {
    "matches": ["model", "example_id", "predicted", "words", "words_predicted", "random",
                "random_predicted", "salient", "salient_predicted", "fields", "fields_predicted"],
    "rates": ["model", "predicted", "examples", "matching_rate", "random_words_rate",
              "salient_words_rate", "field_words_rate"],
}
RATES = {"matching_rate": "words_predicted", "random_words_rate": "random_predicted",
         "salient_words_rate": "salient_predicted", "field_words_rate": "fields_predicted"}
RATE_NAMES = {"matching_rate": "interpreted words", "random_words_rate": "random words",
              "salient_words_rate": "most salient input words (one field's worth)",
              "field_words_rate": "receptive-field words", "majority_class_share": "majority class"}
LABELS = {
    "matching_rate": "matching rate of X' = k x m interpreted words (pred(X') = pred(X))",
    "random_words_rate": "matching rate of k x m random vocabulary words",
    "salient_words_rate": "matching rate of the text's most salient tokens, one receptive field's "
                          "worth",
    "field_words_rate": "matching rate of the tokens inside the k top locations' receptive fields",
    "majority_class_share": "share of texts with the most frequent prediction",
    "salient_whole_text_share": "texts whose most-salient-tokens X' is the whole text",
    "field_whole_text_share": "texts whose receptive-field X' is the whole text",
    "words_from_text_share": "interpreted words that are tokens of the text itself",
    "examples": "texts tested",
}


@dataclass(frozen=True)
class Params:
    locations: int = 3  # k
    words: int = 5  # m

    def validate(self) -> list[str]:
        return [f"matching_rate.{n} must be >= 1" for n in ("locations", "words")
                if getattr(self, n) < 1]


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
    near = neighbours[(neighbours["model"] == model.name)
                      & (neighbours["neighbour"] <= params.words)]
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
    caps = _field_sizes(model, kept, ids, k)
    tokens, salient_texts = _salient_words(model, texts, caps, ctx.batch_size)
    field_texts = _field_words(kept, ids, tokens)
    predict = {name: _predict(model, batch, ctx.batch_size) for name, batch in
               (("original", texts), ("words", list(words)), ("random", random_texts),
                ("salient", salient_texts), ("fields", field_texts))}
    frame = pd.DataFrame({
        "model": model.name, "example_id": ids, "predicted": predict["original"],
        "words": list(words), "words_predicted": predict["words"],
        "random": random_texts, "random_predicted": predict["random"],
        "salient": salient_texts, "salient_predicted": predict["salient"],
        "fields": field_texts, "fields_predicted": predict["fields"],
    })
    rates = _rates(frame)
    counts = frame["predicted"].value_counts()
    n = len(frame)
    metrics: dict[str, float] = {"examples": float(n)}
    for name, column in RATES.items():
        hits = int((frame[column] == frame["predicted"]).sum())
        metrics[name] = hits / n if n else 0.0
        with_interval(metrics, name, share_interval(hits, n))
    metrics["majority_class_share"] = float(counts.max() / n) if n else 0.0
    whole = [" ".join(t) for t in tokens]
    metrics["salient_whole_text_share"] = _mean([s == w for s, w in zip(salient_texts, whole,
                                                                         strict=True)])
    metrics["field_whole_text_share"] = _mean([f == w for f, w in zip(field_texts, whole,
                                                                       strict=True)])
    own = [set(t) for t in tokens]
    metrics["words_from_text_share"] = _mean([w in seen for x, seen in zip(list(words), own,
                                                                            strict=True)
                                              for w in x.split()])
    cap_text = (f"{min(caps)}-{max(caps)}" if caps and min(caps) != max(caps)
                else str(caps[0] if caps else k))
    notes = [(f"{model.name}: k = {params.locations} locations x m = {params.words} words = {k} "
              f"words per X'; the salient-words reference keeps {cap_text} tokens per text (the "
              "receptive field of its top location).")]
    if (sampled := sampling_note(len(ctx.detail_ids()), len(ctx.examples), ctx.seed,
                                 what="Examples whose interpreted words are tested")):
        notes.append(sampled)
    return AnalysisResult(tables={"matches": frame, "rates": rates}, metrics=metrics,
                          notes=notes, labels=dict(LABELS))


def _mean(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else 0.0


def _field_sizes(model: ModelView, kept: pd.DataFrame, ids: list[int], k: int) -> list[int]:
    """Per text: the receptive-field size of its top location's layer, capped at ``k``."""
    sizes = {name: conv_layer(model, name).field.size for name in set(kept["layer"].astype(str))}
    top = kept[kept["rank"] == 1].set_index("example_id")["layer"].astype(str)
    return [min(k, sizes[top[i]]) if i in top.index else k for i in ids]


def _field_words(kept: pd.DataFrame, ids: list[int], tokens: list[list[str]]) -> list[str]:
    """Per text: its tokens inside the receptive fields of its kept top locations, in text order
    (a token two fields share, once)."""
    by_example = {eid: rows for eid, rows in kept.groupby("example_id", sort=False)}
    out = []
    for eid, toks in zip(ids, tokens, strict=True):
        rows = by_example.get(eid)
        seen = sorted({p for lo, hi in zip(rows["start"], rows["end"], strict=True)
                       for p in range(int(lo), int(hi) + 1)} if rows is not None else set())
        out.append(" ".join(toks[p] for p in seen if p < len(toks)))
    return out


def _predict(model: ModelView, texts: list[str], batch_size: int) -> list[str]:
    if not texts:
        return []
    probs = predict_proba(model, texts, batch_size=batch_size)
    return [model.classes[int(i)] for i in probs.argmax(1)]


def _salient_words(model: ModelView, texts: list[str], caps: list[int], batch_size: int
                   ) -> tuple[list[list[str]], list[str]]:
    """(each text's tokens, its ``caps[i]`` tokens of highest gradient saliency in text order)."""
    from reportgen.analyses.saliency_batch import saliency_batch

    tokens, out = [], []
    for lo in range(0, len(texts), batch_size):
        found = saliency_batch(model, texts[lo : lo + batch_size])
        for b, (toks, vec) in enumerate(zip(found.tokens, found.vecs, strict=True)):
            keep = sorted(np.argsort(-vec, kind="stable")[: caps[lo + b]])
            tokens.append(list(toks))
            out.append(" ".join(toks[i] for i in keep))
    return tokens, out


def _rates(frame: pd.DataFrame) -> pd.DataFrame:
    def rate(part: pd.DataFrame, column: str) -> float:
        return float((part[column] == part["predicted"]).mean()) if len(part) else 0.0

    rows = []
    model = frame["model"].iloc[0] if len(frame) else ""
    for name, part in [("all", frame), *frame.groupby("predicted", sort=True)]:
        rows.append((model, name, len(part), *(rate(part, c) for c in RATES.values())))
    return pd.DataFrame(rows, columns=TABLES["rates"])


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    """Per-model metrics only (a rate pooled over models is no model's), and the texts counted."""
    from reportgen.analyses.spec import combine_per_model

    merged = combine_per_model(results)
    matches = merged.tables["matches"]
    merged.metrics["examples"] = float(len(matches["example_id"].unique())) if len(matches) else 0.0
    return merged


def present(result: AnalysisResult, params: Params) -> Presentation:
    rows = []
    for key, value in result.metrics.items():
        model, _, name = key.rpartition(".")
        if model and name in RATE_NAMES:
            rows.append({"model": model, "reference": RATE_NAMES[name], "rate": value,
                         "low": result.metrics.get(f"{key}_ci_low", value),
                         "high": result.metrics.get(f"{key}_ci_high", value)})
    if not rows:
        return Presentation()
    frame = pd.DataFrame(rows)
    order = list(RATE_NAMES.values())
    base = alt.Chart().encode(y=alt.Y("reference:N", sort=order, title=None))
    bars = base.mark_bar().encode(
        x=alt.X("rate:Q", title="share of texts whose prediction is kept",
                scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=alt.Color("reference:N", legend=None, sort=order),
        tooltip=["model", "reference", alt.Tooltip("rate:Q", format=".1%"),
                 alt.Tooltip("low:Q", format=".1%", title="95% CI low"),
                 alt.Tooltip("high:Q", format=".1%", title="95% CI high")],
    )
    whiskers = base.mark_rule(color="black").encode(x="low:Q", x2="high:Q")
    chart = alt.layer(bars, whiskers, data=frame).properties(
        width=360, height=alt.Step(18)).facet(row=alt.Row("model:N", title=None))
    return Presentation(charts=[ChartSpec(
        "rates", "Matching rate beside its references", chart_spec(chart),
        f"X' = {params.locations} locations x {params.words} nearest words; references on the "
        "same texts; black lines: Wilson 95% intervals.")])


def check_plan(params: Params, facts: PlanFacts) -> list[str]:
    """``words`` cannot exceed the neighbours ``optimization`` finds per location."""
    found = facts.params["optimization"].neighbours
    if params.words > found:
        return [(f"matching_rate.words = {params.words} but optimization.neighbours = {found} "
                 f"(valid: 1 to {found}, or raise optimization.neighbours)")]
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
    headline_label="matching rate of the k x m interpreted words (pred(X') = pred(X))",
    reference="Yuan et al. 2019, Table 4 (MR 0.934, AG News 0.843)",
)
