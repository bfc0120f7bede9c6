"""hidden_saliency: which spatial locations of a convolutional layer drive the prediction?

Method (Yuan, Chen, Hu and Ji 2019, "Interpreting deep models for text analysis via optimization
and regularization methods", AAAI, section 3.1): for the score S_c of the predicted class and the
activation vector a_i of location i of a conv layer (after its nonlinearity, as the next layer
reads it), Score_i = (dS_c / da_i) . a_i, the first-order contribution of the whole location. The
top ``top_m`` locations of each input are kept, each with its receptive field in the input tokens
(from the kernel sizes, strides, dilations and paddings of the conv/pool stack below it:
``reportgen.models.fields``). Any layer of the stack works, not only the first.

Which layers: by default the first layer of every conv chain the model has (``ModelView.
conv_chains()``). A stacked CNN (Yuan's) has one chain, so its first layer; a multi-width CNN
(Kim's parallel widths 3, 4 and 5) has one depth-1 chain per width, and every bank is scored: the
top locations are ranked over all banks together (each score is a first-order contribution to the
same class score, so they compare). ``layer = "convs.1"`` scores that one layer only.

Outputs (tables):
- ``locations``: per (model, example, rank): layer, location, score, the receptive field
  [start, end] (clipped to the text) and its tokens;
- ``scores``: per (model, example, layer, location) over every location that sees the text;
- ``fields``: per (model, example, token): the best rank of a top location whose field covers it
  (0: none), for a per-token view;
- ``predictions``: per (model, example): label, predicted class and its probability;
- ``examples``: the evaluated texts.
Metrics (per model): ``examples``, ``top_location_share`` (mean share of the positive scores held
by the top location, with a bootstrap 95% interval over texts) beside ``uniform_location_share``
(1 / the number of locations, over every scored layer, that see the text), ``layers`` (how many
layers were scored).
Scale: every table but ``predictions`` keeps the run's seeded sample of examples
(``analyses.sampling``; 2,000 by default), which ``optimization`` and ``matching_rate`` then work
on; the metrics stream over every example.

Cost: one forward and one backward pass per batch, like saliency; none when ``saliency``'s pass
in the same run already gave the scores (``analyses.gradient_pass``).
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from reportgen.analyses.base import RunContext, longest_first
from reportgen.analyses.examples import pick_examples, token_rows
from reportgen.analyses.gradient_pass import gradient_batch
from reportgen.analyses.sampling import kept_ids, sampling_note
from reportgen.analyses.spec import AnalysisSpec, combine_per_model
from reportgen.analyses.yuan_intervals import mean_interval, with_interval
from reportgen.chart_layout import chart_spec, label_width, wrap_by_model
from reportgen.models.conv import ConvLayer, conv_layer, conv_layers, location_span
from reportgen.models.tokens import full_lengths
from reportgen.models.view import ModelView, NotApplicable
from reportgen.records import AnalysisResult, ChartSpec, Presentation, TokenBox, TokenView

NAME = "hidden_saliency"
VERSION = 4  # 3: every parallel chain's first layer scored; intervals
# 4: saliency's batches of texts of about the same length (float rounding of a text's scores)
SAMPLED = True  # reads the run's detail sample (analyses.sampling): its size is in the cache key
TITLE = "Saliency of hidden locations"
HEADLINE = "top_location_share"
BASELINES = {"top_location_share": "uniform_location_share"}
CITATION = (
    "Yuan, Chen, Hu, Ji (2019). Interpreting Deep Models for Text Analysis via Optimization and "
    "Regularization Methods. AAAI. Section 3.1, saliency of hidden spatial locations."
)
METHOD = (
    "Each location of a convolutional layer holds a vector of activations computed from a window "
    "of input tokens, its receptive field. The location's score is the gradient of the predicted "
    "class score with respect to that vector, dotted with the vector itself: how much the class "
    "score would change, to first order, if the location were switched off.\n\n"
    "The receptive field of a location comes from the layers below it: starting from one token, "
    "each convolution or pooling layer with kernel k, stride s, dilation d and padding p widens it "
    "by (k - 1) * d * jump, shifts it by p * jump, and multiplies the jump by s.\n\n"
    "Which layers: the first layer of every convolution chain. A CNN with parallel filter banks "
    "of several widths (Kim's 3, 4 and 5) has a chain per width, and every bank is scored; the top "
    "locations are ranked over all banks together, so the fields of a text's top locations may "
    "have different widths. The notes name the layers scored."
)
HOW_TO_READ = (
    "Sentences: the receptive field of each top location is boxed, coloured by rank (#1 first); "
    "overlapping fields nest. Hover a token for its layer, location and score. Bars: every "
    "location's score for a few examples, labelled by layer and location. Headline: the share of "
    "the positive scores on the top location, with its 95% interval over texts, beside the share "
    "it would have if all locations scored the same."
)

TABLES = {
    "locations": ["model", "example_id", "rank", "layer", "location", "score", "start", "end",
                  "tokens"],
    "scores": ["model", "example_id", "layer", "location", "score", "start", "end"],
    "fields": ["model", "example_id", "position", "token", "rank", "flag"],
    "predictions": ["model", "example_id", "label", "predicted", "confidence"],
    "examples": ["example_id", "text", "label"],
}


@dataclass(frozen=True)
class Params:
    layer: str = ""  # conv module name; "" = the first layer of every conv chain (all banks)
    top_m: int = 3
    token_view_examples: int = 10
    chart_examples: int = 4

    def validate(self) -> list[str]:
        problems = []
        for name in ("top_m", "token_view_examples", "chart_examples"):
            if getattr(self, name) < (1 if name == "top_m" else 0):
                problems.append(f"hidden_saliency.{name} must be >= {1 if name == 'top_m' else 0}")
        return problems


def skip_reason(model: ModelView) -> str | None:
    if not model.is_classifier:
        return f"{model.name} is a {model.task} model; hidden_saliency needs a classifier"
    if model.input_kind == "word_chars":
        return (f"{model.name}'s convolutions run over the characters of each word; "
                "hidden_saliency reads word-level conv layers (see filter_top_words)")
    try:
        conv_layer(model)
    except NotApplicable as why:
        return str(why)
    return None


def scored_layers(model: ModelView, name: str = "") -> list[ConvLayer]:
    """The layers scored: ``name`` alone, else the first layer of every conv chain (Kim's three
    parallel widths: all three banks; a stacked CNN: its first layer)."""
    if name:
        return [conv_layer(model, name)]
    return [layer for layer in conv_layers(model) if layer.depth == 1]


def location_scores(model: ModelView, layer: ConvLayer, texts: list[str]
                    ) -> tuple[list[list[str]], np.ndarray, np.ndarray, np.ndarray]:
    """One batch -> (tokens, scores (B, L), predicted (B,), probabilities (B, K)) for one layer."""
    tokens, (scores,), predicted, probs = bank_scores(model, [layer], texts)
    return tokens, scores, predicted, probs


def bank_scores(model: ModelView, layers: list[ConvLayer], texts: list[str]
                ) -> tuple[list[list[str]], list[np.ndarray], np.ndarray, np.ndarray]:
    """One batch, one forward and backward pass -> (tokens, one (B, L_j) score array per layer,
    predicted (B,), probabilities (B, K)).

    Score[b, i] = (dS_c / da_bi) . a_bi for the predicted class c; locations that see no token of
    the text are NaN.
    """
    out = gradient_batch(model, texts, layers=layers, inputs=False)
    return out.tokens, out.layer_scores, out.predicted, out.probs


def _batch_scores(ctx: RunContext, layers: list[ConvLayer], ids: list[int]
                  ) -> tuple[list[list[str]], list[np.ndarray], np.ndarray, np.ndarray]:
    """``bank_scores`` of the examples ``ids`` (one batch), read from the run's shared gradient
    pass when ``saliency``'s pass already made it (``analyses.gradient_pass``), else computed here
    in the same batches as saliency's (``longest_first``), so both give the same values."""
    found = (ctx.gradients.get(ctx.model.name, ctx.batch_size, ids, layers=layers)
             if ctx.gradients is not None else None)
    if found is None:
        return bank_scores(ctx.model, layers, [ctx.examples[i].text for i in ids])
    return ([r.tokens for r in found],
            [np.stack([r.layers[layer.name] for r in found]) for layer in layers],
            np.array([r.predicted for r in found]), np.stack([r.probs for r in found]))


def compute(ctx: RunContext, params: Params) -> AnalysisResult:
    model = ctx.model
    layers = scored_layers(model, params.layer)
    texts = [ex.text for ex in ctx.examples]
    # every row but the predictions is kept for the run's sample (analyses.sampling); the share
    # metrics stream over every example
    keep = kept_ids(ctx.detail_ids())

    def one_batch(ids: list[int]) -> tuple[list, list, list, list, list]:
        locations, all_scores, predictions, fields, shares = [], [], [], [], []
        tokens, scores, predicted, probs = _batch_scores(ctx, layers, ids)
        for b, toks in enumerate(tokens):
            example_id = ids[b]
            predictions.append((model.name, example_id, ctx.examples[example_id].label,
                                model.classes[int(predicted[b])], float(probs[b].max())))
            # every (layer, location) that sees the text, banks in chain order
            seen = [(j, int(i)) for j, s in enumerate(scores)
                    for i in np.flatnonzero(~np.isnan(s[b]))]
            values = np.array([scores[j][b, i] for j, i in seen], dtype=np.float32)  # (locations,)
            if values.size:
                shares.append((example_id, _location_share(values)))
            if example_id not in keep:
                continue
            for j, i in seen:
                lo, hi = location_span(layers[j].field, i, len(toks))
                all_scores.append((model.name, example_id, layers[j].name, i,
                                   float(scores[j][b, i]), lo, hi))
            ranked = np.argsort(-values, kind="stable")[: params.top_m]
            best = [0] * len(toks)
            for rank, r in enumerate(ranked, start=1):
                j, i = seen[int(r)]
                lo, hi = location_span(layers[j].field, i, len(toks))
                locations.append((model.name, example_id, rank, layers[j].name, i,
                                  float(values[r]), lo, hi, " ".join(toks[lo : hi + 1])))
                for p in range(lo, hi + 1):
                    best[p] = best[p] or rank
            fields += [(model.name, example_id, p, tok, best[p], "") for p, tok in enumerate(toks)]
        return locations, all_scores, predictions, fields, shares

    locations, all_scores, predictions, fields, shares = [], [], [], [], []
    # saliency's batches (texts of about the same length), the rows then put in example order
    order = longest_first(full_lengths(model, texts))
    for batch_rows in ctx.map_in_order(order, one_batch, desc="hidden_saliency"):
        for rows, batch_part in zip((locations, all_scores, predictions, fields, shares),
                                    batch_rows, strict=True):
            rows += batch_part
    # rows are (model, example_id, ...): a stable sort keeps an example's rows in their order
    locations, all_scores, predictions, fields = (sorted(rows, key=lambda row: row[1]) for rows
                                                  in (locations, all_scores, predictions, fields))
    shares = [share for _, share in sorted(shares, key=lambda pair: pair[0])]
    described = "; ".join(f"{layer.name}: receptive field {layer.field.size} {layer.axis}, jump "
                          f"{layer.field.jump}, offset {layer.field.offset}" for layer in layers)
    which = ("every conv chain's first layer, the top locations ranked over all of them"
             if len(layers) > 1 else "the layer scored")
    notes = [f"Layers scored ({which}): {described}."]
    shown = sorted(keep & set(range(len(texts))))
    if (sampled := sampling_note(len(shown), len(texts), ctx.seed,
                                 what="Locations, scores and fields")):
        notes.append(sampled + " The top-location share covers every example; optimization and "
                     "matching_rate work on the sampled examples' top locations.")
    share = np.array([s for s, _ in shares])  # (texts,)
    metrics = {"examples": float(len(predictions)),
               "top_location_share": float(np.mean(share)) if share.size else 0.0,
               "uniform_location_share": float(np.mean([u for _, u in shares])) if shares else 0.0,
               "layers": float(len(layers))}
    with_interval(metrics, "top_location_share", mean_interval(share, seed=ctx.seed))
    names = ", ".join(layer.name for layer in layers)
    labels = {"top_location_share": f"top location's share of the positive dS/da . a scores "
                                    f"({names})",
              "uniform_location_share": "1 / locations that see the text (every location equal)",
              "layers": "conv layers scored (every parallel chain's first layer by default)"}
    return AnalysisResult(
        tables={
            "locations": pd.DataFrame(locations, columns=TABLES["locations"]),
            "scores": pd.DataFrame(all_scores, columns=TABLES["scores"]),
            "fields": pd.DataFrame(fields, columns=TABLES["fields"]),
            "predictions": pd.DataFrame(predictions, columns=TABLES["predictions"]),
            "examples": pd.DataFrame({"example_id": shown, "text": [texts[i] for i in shown],
                                      "label": [ctx.examples[i].label for i in shown]}),
        },
        metrics=metrics,
        notes=notes,
        labels=labels,
    )


def _location_share(scores: np.ndarray) -> tuple[float, float]:
    """One text's (top location's share of the positive location scores, 1 / number of
    locations): the top share is 0 when no location scores above 0."""
    positive = np.clip(scores.astype(np.float64), 0, None)  # (L,), summed in float64 as pandas did
    total = float(positive.sum())
    return (float(positive.max()) / total if total > 0 else 0.0), 1.0 / scores.size


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    """Per-model metrics only (no value pooled over models); the texts once."""
    merged = combine_per_model({n: _without_examples(r) for n, r in results.items()})
    first = next(iter(results.values()))
    merged.tables["examples"] = first.tables["examples"]
    merged.tables = {t: merged.tables[t] for t in TABLES}
    merged.metrics["examples"] = float(len(first.tables["predictions"]))
    return merged


def _without_examples(result: AnalysisResult) -> AnalysisResult:
    tables = {t: f for t, f in result.tables.items() if t != "examples"}
    return AnalysisResult(tables=tables, metrics=result.metrics, notes=result.notes,
                          labels=result.labels)


# -- presentation ----------------------------------------------------------------------------------
def present(result: AnalysisResult, params: Params) -> Presentation:
    locations, scores = result.tables["locations"], result.tables["scores"]
    predictions = result.tables["predictions"]
    if locations.empty:
        return Presentation()
    # the sample
    kept = predictions[predictions["example_id"].isin(locations["example_id"].unique())]
    picked = pick_examples(kept, params.token_view_examples)
    view = TokenView(
        "fields", "Receptive fields of the top locations",
        token_rows(result.tables["fields"].assign(score=0.0), predictions, picked, "score",
                   normalise=False, boxes=field_boxes(locations)),
        f"Each box is the receptive field of one of the top {params.top_m} locations, coloured by "
        "its rank; overlapping fields nest. Hover a token for the location and its score.",
        shaded=False,
    )
    charts = [_bars(scores, predictions, [i for i, _ in picked[: params.chart_examples]])]
    return Presentation(charts=charts, token_views=[view])


def field_boxes(locations: pd.DataFrame) -> dict[tuple[str, int], list[TokenBox]]:
    """The receptive field of every top location as a box, per (model, example_id)."""
    boxes: dict[tuple[str, int], list[TokenBox]] = {}
    for row in locations.itertuples(index=False):
        boxes.setdefault((str(row.model), int(row.example_id)), []).append(TokenBox(
            int(row.start), int(row.end), int(row.rank),
            f"location {int(row.location)} of {row.layer} · score {row.score:.3g}"))
    return boxes


def _bars(scores: pd.DataFrame, predictions: pd.DataFrame, shown: list[int]) -> ChartSpec:
    """One row of panels per example, a panel per model (wrapped when the models do not fit)."""
    frame = scores[scores["example_id"].isin(shown)].copy()
    frame["location"] = frame["location"].astype(int)
    several = frame["layer"].nunique() > 1
    frame["where"] = ((frame["layer"].astype(str) + " #" if several else "")
                      + frame["location"].astype(str))
    models = list(dict.fromkeys(frame["model"]))
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("where:N", title="layer #location" if several else "location",
                    sort=None),
            y=alt.Y("score:Q", title="score (dS/da . a)"),
            color=alt.condition("datum.score > 0", alt.value("#c0392b"), alt.value("#2c7fb8")),
            tooltip=["model", "example_id", "layer", "location",
                     alt.Tooltip("score:Q", format=".3g"),
                     "start", "end"],
        )
        .properties(height=120)
    )
    each = label_width(["-0.000"]) + 20  # every panel's own y axis: labels and title
    chart = alt.vconcat(*[
        wrap_by_model(bars, models, narrowest=150, widest=260, each=each, title=f"example {i}")
        .transform_filter(alt.datum.example_id == int(i))
        .resolve_scale(x="independent", y="independent")
        for i in dict.fromkeys(frame["example_id"])
    ])
    return ChartSpec("location-scores", "Score of every location, a few examples",
                     chart_spec(chart),
                     "Red: locations that push towards the predicted class; blue: away from it.")


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
    combine=combine,
    sampled=True,
    baselines=BASELINES,
    headline_label="top location's share of the positive location scores (dS/da . a)",
    reference="Yuan et al. 2019, Sec. 3.1",
)
