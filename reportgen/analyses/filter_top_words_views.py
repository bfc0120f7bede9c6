"""filter_top_words's presentation: its tables -> charts (no torch).

The most interpretable filters with their best pattern, firing shares by layer, effective weights
of the shown filters, and a searchable, paged explorer of every filter.

Cost: pandas over the filters table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import numpy as np
import pandas as pd

from reportgen.chart_layout import chart_spec, facet_columns, label_width
from reportgen.records import AnalysisResult, ChartSpec, Presentation

if TYPE_CHECKING:
    from reportgen.analyses.filter_top_words import Params


def present(result: AnalysisResult, params: Params) -> Presentation:
    filters = result.tables["filters"]
    if filters.empty:
        return Presentation()
    charts = [_most_interpretable(filters), _shares(filters)]
    weights = result.tables["weights"]
    if not weights.empty:
        charts.append(_weights(weights, filters))
    charts.append(_explorer(filters))
    return Presentation(charts=charts)


def _most_interpretable(filters: pd.DataFrame) -> ChartSpec:
    best = (
        filters[~filters["dead"]]
        .sort_values(["model", "interpretability_rank"])
        .groupby("model")
        .head(12)
    )
    frame = best.assign(
        label=best["layer"] + " #" + best["filter"].astype(str),
        text=best["best_pattern"]
        + " (ρ = "
        + best["pattern_strength"].round(2).astype(str)
        + "): "
        + best["top_words"].str.slice(0, 70),
    )
    chart = (
        alt.Chart(frame)
        .mark_text(align="left", fontSize=11)
        .encode(
            y=alt.Y("label:N", sort=None, title=None),
            x=alt.value(4),
            text="text:N",
            tooltip=[
                "model",
                "layer",
                "filter",
                "best_pattern",
                alt.Tooltip("pattern_strength:Q", format=".2f"),
                alt.Tooltip("firing_share:Q", format=".1%"),
                "top_words",
            ],
        )
        .properties(width=620, height=alt.Step(16))
    )
    chart = _per_model_rows(chart, frame)
    return ChartSpec(
        "interpretable",
        "The most interpretable filters and what they detect",
        chart_spec(chart),
        "Best feature by rank correlation with the filter's "
        "activation; then its top words or n-grams.",
    )


def _shares(filters: pd.DataFrame) -> ChartSpec:
    frame = filters[["model", "layer", "width", "firing_share"]].assign(
        group=lambda f: np.where(
            f["layer"].str.contains("convs")
            & (f.groupby("model")["width"].transform("nunique") > 1),
            "width " + f["width"].astype(str),
            f["layer"],
        )
    )
    chart = (
        alt.Chart(frame)
        .mark_boxplot(extent="min-max")
        .encode(
            x=alt.X(
                "firing_share:Q",
                title="share of words (or locations) the filter fires on",
                axis=alt.Axis(format="%"),
            ),
            y=alt.Y("group:N", title=None, sort=None),
        )
        .properties(width=420, height=alt.Step(18))
    )
    chart = _per_model_rows(chart, frame)
    return ChartSpec(
        "firing-shares",
        "How often filters fire, by width or layer",
        chart_spec(chart),
        "lm_1b's filters mostly fire on 10-20% of words, narrower ones less often.",
    )


def _per_model_rows(chart: alt.Chart, frame: pd.DataFrame) -> alt.VConcatChart:
    """``chart`` once per model, one under the other, each on its own rows of data (a facet with
    independent y scales makes Vega-Lite union the domains and warn in the browser)."""
    rows = [chart.properties(data=frame[frame["model"] == model], title=str(model))
            for model in dict.fromkeys(frame["model"])]
    return alt.vconcat(*rows)


def weight_scale(values: pd.Series) -> alt.Scale:
    """A colour scale whose white is at weight 0: diverging and symmetric when the weights take
    both signs, sequential from 0 when they take one (weights 0.35 to 1.34 are all strong, none
    looks like zero)."""
    low, high = float(values.min()), float(values.max())
    if low >= 0:
        return alt.Scale(scheme="blues", domain=[0, max(high, 1e-12)])
    if high <= 0:
        return alt.Scale(scheme="reds", domain=[min(low, -1e-12), 0], reverse=True)
    bound = max(-low, high)
    return alt.Scale(scheme="redblue", domain=[-bound, bound], reverse=True)


def _weights(weights: pd.DataFrame, filters: pd.DataFrame) -> ChartSpec:
    frame = weights.assign(
        panel=weights["model"] + " " + weights["layer"] + " #" + weights["filter"].astype(str)
    )
    panels = []
    for panel in dict.fromkeys(
        frame["panel"]
    ):  # one chart per filter: its own tokens on the y axis
        panels.append(
            alt.Chart(frame[frame["panel"] == panel])
            .mark_rect()
            .encode(
                x=alt.X("position:O", title="window position"),
                y=alt.Y(
                    "token:N",
                    title=None,
                    sort=alt.EncodingSortField("weight", op="max", order="descending"),
                ),
                color=alt.Color(
                    "weight:Q",
                    title="weight",
                    scale=weight_scale(frame.loc[frame["panel"] == panel, "weight"]),
                ),
                tooltip=["panel", "position", "token", alt.Tooltip("weight:Q", format=".3f")],
            )
            .properties(width=alt.Step(22), height=alt.Step(9), title=panel)
        )
    # each panel: its window positions and its own token axis (or its title, if wider), then its
    # own colour legend
    plot = int(frame.groupby("panel")["position"].nunique().max()) * 22 + label_width(
        frame["token"].unique()
    )
    title = 7.5 * max(len(panel) for panel in frame["panel"].unique())  # 13 px bold
    columns = facet_columns(len(panels), max(plot, title) + 60)
    chart = alt.concat(*panels, columns=columns).resolve_scale(color="independent")
    return ChartSpec(
        "weights",
        "Effective weights of the most interpretable filters",
        chart_spec(chart),
        "Character (or word) embedding dotted with the filter's weights at each window "
        "position; impossible cells (markers out of place, padding) left out.",
    )


def _explorer(filters: pd.DataFrame) -> ChartSpec:
    from reportgen.chart_explorer import explorer_chart

    frame = filters.assign(filter_id=filters["layer"] + " #" + filters["filter"].astype(str))
    return explorer_chart(
        frame,
        [
            "model",
            "filter_id",
            "width",
            "firing_share",
            "best_pattern",
            "pattern_strength",
            "top_words",
        ],
        name="explorer",
        title="Every filter",
        search=["model", "filter_id", "best_pattern", "top_words"],
        sort="interpretability_rank",
        descending=False,
        caption="Search by filter id (e.g. 'convs.3 #12'), word or pattern; page with the slider.",
        formats={"firing_share": ".1%", "pattern_strength": ".2f"},
    )
