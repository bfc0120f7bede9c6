"""faithfulness's page: which attribution to trust per model, and the deletion / insertion curves.

Pure tables -> Altair charts (no torch). ``METHODS`` (in the order the page lists them),
``METHOD_LABELS`` (how the page and the headline's label name each) and ``CURVES`` are shared with
``faithfulness`` and ``faithfulness_scores``.
"""

from __future__ import annotations

from typing import Any

import altair as alt

from reportgen.chart_layout import chart_spec, label_width, wrap_by_model
from reportgen.records import AnalysisResult, ChartSpec, Presentation

METHODS = ("saliency", "gradient_x_input", "integrated_gradients", "variance_salience",
           "hidden_fields", "random")
METHOD_LABELS = {
    "saliency": "first-derivative saliency",
    "gradient_x_input": "gradient x input",
    "integrated_gradients": "integrated gradients",
    "variance_salience": "variance salience",
    "hidden_fields": "top hidden receptive fields",
    "random": "a random order",
}
CURVES = ("deletion", "insertion")


def present(result: AnalysisResult, params: Any) -> Presentation:
    scores, curves = result.tables["scores"], result.tables["curves"]
    if scores.empty:
        return Presentation()
    base = alt.Chart().encode(y=alt.Y("method:N", sort=list(METHODS), title=None))
    bars = base.mark_bar().encode(
        x=alt.X("comprehensiveness:Q", title="comprehensiveness (AOPC; higher = more faithful)"),
        color=alt.condition("datum.method == 'random'", alt.value("#9aa3ad"),
                            alt.value("#4c78a8")),
        tooltip=["model", "method", alt.Tooltip("comprehensiveness:Q", format=".3f"),
                 alt.Tooltip("comprehensiveness_ci_low:Q", format=".3f", title="95% CI from"),
                 alt.Tooltip("comprehensiveness_ci_high:Q", format=".3f", title="95% CI to"),
                 alt.Tooltip("comprehensiveness_sd:Q", format=".3f", title="spread (sd)"),
                 alt.Tooltip("sufficiency:Q", format=".3f"), "texts"],
    )
    interval = base.mark_rule(color="#222", strokeWidth=1.5).encode(
        x="comprehensiveness_ci_low:Q", x2="comprehensiveness_ci_high:Q")
    # one chart per model, one under the other: each lists only the attributions it has (a facet
    # with independent scales makes Vega-Lite warn in the browser)
    trust = alt.vconcat(*[
        alt.layer(bars, interval, data=scores[scores["model"] == model])
        .properties(width=360, height=alt.Step(18), title=str(model))
        for model in dict.fromkeys(scores["model"])])
    lines = alt.Chart(curves).mark_line(point=True).encode(
        x=alt.X("fraction:Q", title="share of tokens deleted / kept", axis=alt.Axis(format="%")),
        y=alt.Y("probability:Q", title="p(predicted class)", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("method:N", sort=list(METHODS)),
        # deletion and insertion differ in the legend as on the lines: solid with circles, dashed
        # with triangles (a dash alone shows as two identical dots beside the points)
        strokeDash=alt.StrokeDash("curve:N", title="curve", scale=alt.Scale(
            domain=list(CURVES), range=[[1, 0], [6, 3]])),
        shape=alt.Shape("curve:N", title="curve", scale=alt.Scale(
            domain=list(CURVES), range=["circle", "triangle-up"])),
        tooltip=["model", "method", "curve", "fraction",
                 alt.Tooltip("probability:Q", format=".3f")],
    ).properties(height=200)
    axis = label_width(["0.0"]) + 20  # the y axis's labels and title, once per row
    legend = 40 + label_width([*METHODS, "deletion"])
    lines = wrap_by_model(lines, list(dict.fromkeys(curves["model"])), narrowest=240, widest=300,
                          reserved=axis + legend)
    return Presentation(charts=[
        ChartSpec("trust", "Which explanation should I trust for this model?", chart_spec(trust),
                  "Comprehensiveness of each attribution against a random order of the tokens "
                  "(grey: the mean of several random orders); the black line is its 95% "
                  "bootstrap interval over the texts."),
        ChartSpec("curves", "Deletion and insertion curves", chart_spec(lines),
                  "Solid with circles: deleting the top tokens; dashed with triangles: keeping "
                  "only them."),
    ])
