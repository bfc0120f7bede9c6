"""saliency's presentation: its tables -> heatmaps, the word ranking chart and token views.

Pure functions of the tables ``saliency.compute`` returns (no torch): a token x dimension heatmap
per example with the models side by side (Li et al. 2016's figures; wide embeddings show their most
salient dimensions, as the caption says), the words with the largest mean share of their
sentence's saliency, decoding heatmaps for autoencoders, and shaded sentences. ``heatmap`` is
shared with ``variance_salience``.

Cost: pandas over the tables; the charts hold at most the shown examples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from reportgen.analyses.examples import pick_examples, token_rows
from reportgen.chart_layout import chart_spec, facet_columns, label_width, wrap_by_model
from reportgen.records import AnalysisResult, ChartSpec, Presentation, TokenView

if TYPE_CHECKING:
    from reportgen.analyses.saliency import Params


def present(result: AnalysisResult, params: Params) -> Presentation:
    tokens, dims, words = (
        result.tables["tokens"],
        result.tables["dimensions"],
        result.tables["words"],
    )
    predictions = result.tables["predictions"]
    origins = sentence_origins(result.tables["examples"])
    charts: list[ChartSpec] = []
    for example_id, frame in dims.groupby("example_id", sort=True):
        charts.append(heatmap(int(example_id), frame, predictions, params.heatmap_dimensions,
                              origin=origins.get(int(example_id), "")))
    if not words.empty:
        top = words.groupby("model", sort=False).head(params.top_words)
        bars = (
            alt.Chart(top)
            .mark_bar()
            .encode(
                x=alt.X(
                    "mean_share:Q",
                    title="mean share of the sentence's saliency",
                    axis=alt.Axis(format="%"),
                ),
                y=alt.Y("word:N", sort="-x", title=None),
                color=alt.Color("model:N", legend=None),
                tooltip=[
                    "model",
                    "word",
                    alt.Tooltip("mean_share:Q", format=".1%"),
                    alt.Tooltip("mean_saliency:Q", format=".3g"),
                    "count",
                ],
            )
            .properties(height=alt.Step(14))
        )
        bars = wrap_by_model(
            bars,
            list(dict.fromkeys(top["model"])),
            narrowest=150,
            widest=220,
            each=label_width(top["word"]),
        ).resolve_scale(y="independent", x="independent")
        charts.append(
            ChartSpec(
                "top-words",
                "Most salient words over the data",
                chart_spec(bars),
                "Mean share of the sentence's saliency that falls on each word (word pieces "
                "joined, "
                "their saliencies summed), over texts of two or more words; words seen at least "
                f"{params.min_word_count} times, unknown words and special tokens left out.",
            )
        )
    decoding = result.tables.get("decoding")
    if decoding is not None and not decoding.empty:
        shown = sorted(decoding["example_id"].unique())[: max(params.heatmap_examples, 1)]
        for example_id in shown:
            charts.append(
                _decoding_heatmap(int(example_id), decoding[decoding["example_id"] == example_id])
            )
    views = (
        [_token_view(tokens, predictions, result.tables["examples"], params)]
        if not tokens.empty
        else []
    )
    return Presentation(charts=charts, token_views=views)


def _decoding_heatmap(example_id: int, frame: pd.DataFrame) -> ChartSpec:
    frame = pd.DataFrame(
        {
            "model": frame["model"],
            "output": frame["output_position"].map("{:02d}".format)
            + " "
            + frame["output_token"].astype(str),
            "input": frame["input_position"].map("{:02d}".format)
            + " "
            + frame["input_token"].astype(str),
            "saliency": frame["saliency"].map(lambda v: float(f"{v:.3g}")),
        }
    )
    chart = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("input:N", sort=sorted(frame["input"].unique()), title="input token"),
            y=alt.Y(
                "output:N",
                sort=sorted(frame["output"].unique()),
                title="decoding step (reconstructed token)",
            ),
            color=alt.Color("saliency:Q", scale=alt.Scale(scheme="oranges"), title="saliency"),
            tooltip=["output", "input", alt.Tooltip("saliency:Q", format=".3g")],
        )
        .properties(width=alt.Step(18), height=alt.Step(16))
    )
    models = list(dict.fromkeys(frame["model"]))
    panel = 18 * frame["input"].nunique() + label_width(frame["output"]) + 40  # cells, axis, title
    chart = chart.facet(
        facet=alt.Facet("model:N", title=None, sort=models),
        columns=facet_columns(len(models), panel, reserved=70),
    )  # 70: the legend
    return ChartSpec(
        f"decoding-{example_id}",
        f"Saliency of each input token for each decoding step, example {example_id}",
        chart_spec(chart),
        "Rows: decoding steps; columns: input tokens (Li et al. 2016's seq2seq heatmaps).",
    )


PAPER = "Li et al. (2016)'s sentence"
YOUR_SENTENCE = "your sentence"


def sentence_origins(examples: pd.DataFrame) -> dict[int, str]:
    """example_id -> where a shown sentence that is not from the data comes from: Li et al.'s
    sentences (``source`` "paper") and the user's own (``source`` "yours")."""
    if examples is None or examples.empty or "source" not in examples:
        return {}
    named = {"paper": PAPER, "yours": YOUR_SENTENCE}
    return {int(i): named[src] for i, src in zip(examples["example_id"], examples["source"],
                                                 strict=True) if src in named}


def heatmap(example_id: int, frame: pd.DataFrame, predictions: pd.DataFrame, top: int, *,
            measure: str = "saliency", colour: str = "|dS/de|", origin: str = "") -> ChartSpec:
    """Token x dimension heatmap, one panel per model; colour relative to each panel's maximum.

    Embeddings wider than ``top`` show their ``top`` dimensions with the most ``measure`` in this
    sentence (per model), so each cell stays wide enough to read; the caption says, per model,
    how many of how many dimensions are shown and what share they hold. ``colour`` names the value
    ("|dS/de|"); ``origin`` says where a sentence not from the data comes from (shown instead of
    a gold label it does not have)."""
    frame, kept = _top_dimensions(frame, top, measure)
    peak = frame.groupby("model", sort=False)["saliency"].transform("max")
    frame = frame.assign(relative=frame["saliency"] / peak.where(peak > 0, 1.0))
    # one row per (model, token) holding its dimensions as arrays, expanded in the browser by a
    # flatten transform: a 300-d heatmap ships as ~15x fewer bytes than one object per cell
    packed = pd.DataFrame(
        [
            {
                "model": model,
                "row": f"{position:02d} {cells['token'].iloc[0]}",
                "relative": cells.sort_values("dimension")["relative"].round(3).tolist(),
                "saliency": [float(f"{v:.3g}") for v in cells.sort_values("dimension")["saliency"]],
                "dims": cells.sort_values("dimension")["dimension"].astype(int).tolist(),
            }
            for (model, position), cells in frame.groupby(["model", "position"], sort=False)
        ]
    )
    models = list(dict.fromkeys(frame["model"]))
    chart = (
        alt.Chart(packed)
        .transform_flatten(["relative", "saliency", "dims"])
        .transform_calculate(dimension="datum.dims")
        .mark_rect()
        .encode(
            x=alt.X(
                "dimension:O",
                title="embedding dimension",
                axis=alt.Axis(labels=bool(kept), ticks=False, labelFontSize=8),
            ),
            y=alt.Y("row:N", sort=sorted(packed["row"].unique()), title=None),
            color=alt.Color(
                "relative:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="relative"
            ),
            tooltip=[
                "model",
                alt.Tooltip("row:N", title="token"),
                "dimension:O",
                alt.Tooltip("saliency:Q", format=".3g"),
            ],
        )
        .properties(height=alt.Step(16))
    )
    chart = wrap_by_model(
        chart, models, narrowest=110, widest=260, each=label_width(packed["row"]), reserved=70
    ).resolve_scale(x="independent")  # 70: the colour legend
    sample = predictions[predictions["example_id"] == example_id]
    label = sample["label"].iloc[0] if not sample.empty else None
    if label is not None and (pd.isna(label) or not str(label).strip()):
        label = None  # an unlabelled text: no gold label to show
    caption = (f"Colour: {colour} relative to the largest value in the same panel; hover for raw "
               "values.")
    if kept:
        caption += f" {kept}"
    if origin:
        caption = f"{origin[0].upper()}{origin[1:]} (no gold label). {caption}"
    elif label is not None:
        caption = f"Gold label: {label}. {caption}"
    title = f"Token x dimension {measure}, example {example_id}"
    if origin:
        title = f"Token x dimension {measure}, {origin}"
    return ChartSpec(f"heatmap-{example_id}", title, chart_spec(chart), caption)


def _top_dimensions(frame: pd.DataFrame, top: int,
                    measure: str = "saliency") -> tuple[pd.DataFrame, str]:
    """Keep each model's ``top`` dimensions with the most ``measure`` in this sentence, in index
    order; also say (for the caption), per model, how many of its dimensions are shown and how
    much of the total they hold."""
    dims = frame.groupby("model", sort=False)["dimension"].nunique()
    if top <= 0 or int(dims.max()) <= top:
        return frame, ""
    totals = frame.groupby(["model", "dimension"], sort=False)["saliency"].sum().reset_index()
    best = (
        totals.sort_values(
            ["model", "saliency", "dimension"], ascending=[True, False, True], kind="stable"
        )
        .groupby("model", sort=False)
        .head(top)
    )
    held = (best.groupby("model", sort=False)["saliency"].sum()
            / totals.groupby("model", sort=False)["saliency"].sum())
    kept = frame.merge(best[["model", "dimension"]], on=["model", "dimension"])
    parts = []
    for model, n in dims.items():
        if n <= top:
            parts.append(f"{model} all {n}")
        else:
            parts.append(f"{model} {top} of {n} (holding {held.get(model, 0.0):.0%} of it)")
    return kept, (
        f"Shown, per model, the embedding dimensions with the most {measure} in this sentence: "
        f"{'; '.join(parts)}."
    )


def _token_view(
    tokens: pd.DataFrame, predictions: pd.DataFrame, examples: pd.DataFrame, params: Params
) -> TokenView:
    yours = [*params.example_ids, *examples.loc[examples["source"] == "yours", "example_id"]]
    paper = [(int(i), PAPER) for i in examples.loc[examples["source"] == "paper", "example_id"]]
    kept = predictions[predictions["example_id"].isin(tokens["example_id"].unique())]  # the sample
    picked = pick_examples(kept, params.token_view_examples + len(yours) + len(paper), yours,
                           named=paper)
    return TokenView(
        "tokens",
        "Saliency of each token, on examples chosen to be worth reading",
        token_rows(tokens, predictions, picked, "saliency"),
        "Shading: token saliency relative to the most salient token of the same sentence and "
        "model. Shown: your own sentences and ids (config), Li et al. (2016)'s sentences (where "
        "the model knows every word; no gold label), texts the models disagree on, each "
        "model's most confident errors, then confident right answers.",
    )
