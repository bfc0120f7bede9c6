"""optimization's page and the words around its numbers: the method text, the metric labels,
the ``terms`` table (each term of the objective with its weight, mean value and mean share of the
objective's magnitude) and the charts (nearest words, PCA scatter, the terms' shares). Pure:
tables in, charts out; no torch.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from reportgen.analyses.examples import pick_examples
from reportgen.chart_layout import chart_spec
from reportgen.records import AnalysisResult, ChartSpec, Presentation

METHOD = (
    "For each of the most salient hidden locations of each text, an input window is optimised "
    "from a random start to maximise the paper's objective: the location's activation along its "
    "activation on the real text (a . a'), minus an L2 penalty l1 |X|^2 that keeps the vectors "
    "small, plus a similarity bonus l2 Sim(X), Sim = 1/N times the sum of the cosines of all N^2 "
    "pairs of the window's vectors (Eq. 7), that keeps them close to each other. The mean of the "
    "optimised vectors, x_overall, is then read as words: its nearest neighbours in the model's "
    "vocabulary by cosine similarity.\n\n"
    "Two presets: fast (Adam lr 0.05, at most 300 steps; the default) and paper (lr 2e-4 as in "
    "the paper, run until the objective stops changing, capped at 5,000 steps). Only the "
    "receptive field of the location is optimised: nothing else reaches the location, so this is "
    "the same problem as optimising the whole input, and every problem is solved at once in one "
    "tensor."
)
HOW_TO_READ = (
    "Table: for each shown text and top location, the words closest to what the location "
    "responds to. Scatter: a 2-D PCA of those words (dots) and the optimised point (triangle). "
    "Bars: the share of the objective's magnitude each of its three terms holds: a term with a "
    "share near 0 does not shape the result. Headline: the cosine between the location's "
    "activation on the optimised input and on the real text (1 = the same direction), beside the "
    "same cosine at the random start. 'Converged' counts the problems that passed the convergence "
    "test before the step cap; the activation match says how many times the real text's "
    "activation the optimised input reaches, and the window norm ratio how many times longer than "
    "the real words its vectors are (large values: the input grew instead of turning into words)."
)

TERMS = ("activation", "norm", "similarity")
TERM_NAMES = {"activation": "activation a . a'", "norm": "norm penalty -l1 |X|^2",
              "similarity": "similarity bonus l2 Sim(X), Eq. 7"}


def labels(params: Any, l1: float, l2: float) -> dict[str, str]:
    """What each metric is, for the page (metric -> text)."""
    lr, cap = params.resolved()
    return {
        "mean_activation_cosine": "cosine of a(X0^) with the real text's a', mean over problems",
        "start_activation_cosine": "the same cosine at the random (Xavier) start",
        "activation_share": "share of |objective| held by the activation term a . a'",
        "norm_share": f"share of |objective| held by the norm penalty l1 |X|^2 (l1 = {l1:g})",
        "similarity_share": (f"share of |objective| held by the similarity bonus l2 Sim(X) "
                             f"(Eq. 7, l2 = {l2:g})"),
        "converged_share": (f"problems that passed the convergence test (objective changing by "
                            f"< {params.tolerance:g} for {params.patience} steps) before the "
                            f"{cap}-step cap"),
        "mean_steps": f"Adam steps run per problem (lr {lr:g}, cap {cap})",
        "mean_activation_match": ("a(X0^) . a' / |a'|^2: times the real text's activation along "
                                  "a' that the optimised input reaches (1 = as strong)"),
        "median_window_norm_ratio": ("|X0^| / |real window|: times longer than the real words' "
                                     "vectors the optimised ones are (median)"),
        "problems": "(text, top location) problems optimised",
    }


def terms_table(frame: pd.DataFrame, model: str, l1: float, l2: float) -> pd.DataFrame:
    """Per layer and term: its weight, mean signed value in the objective and mean share."""
    rows = []
    weights = {"activation": 1.0, "norm": l1, "similarity": l2}
    for layer, part in frame.groupby("layer", sort=True):
        for term in TERMS:
            rows.append((model, str(layer), term, weights[term],
                         float(part[f"{term}_term"].mean()), float(part[f"{term}_share"].mean())))
    return pd.DataFrame(rows, columns=["model", "layer", "term", "weight", "mean_value",
                                       "mean_share"])


def present(result: AnalysisResult, params: Any) -> Presentation:
    problems, neighbours = result.tables["problems"], result.tables["neighbours"]
    if problems.empty:
        return Presentation()
    shown = _shown(problems, params.shown_examples)
    words = (neighbours[neighbours["example_id"].isin(shown)]
             .groupby(["model", "example_id", "rank"], sort=False)["word"]
             .agg(lambda w: ", ".join(w)).reset_index())
    table = alt.Chart(words).mark_text(align="left", fontSize=11).encode(
        y=alt.Y("label:N", title=None, sort=None), x=alt.value(4), text="word:N",
    ).transform_calculate(
        label="datum.model + ' · example ' + datum.example_id + ' · location ' + datum.rank"
    ).properties(width=520, height=alt.Step(16))
    charts = [ChartSpec("neighbour-words", "Nearest words of x_overall", chart_spec(table),
                        "Per text and top location: the vocabulary words closest to the optimised "
                        "input, most similar first.")]
    projection = result.tables["projection"]
    points = projection[projection["example_id"].isin(shown[:2]) & (projection["rank"] == 1)]
    if not points.empty:
        scatter = alt.Chart(points).mark_point(filled=True).encode(
            x=alt.X("x:Q", title="PC 1"), y=alt.Y("y:Q", title="PC 2"),
            shape=alt.condition("datum.point == 0", alt.value("triangle-up"), alt.value("circle")),
            color=alt.condition("datum.point == 0", alt.value("#c0392b"), alt.value("#4c78a8")),
            tooltip=["word", "point"],
        )
        # the labels: their own chart, so no point shape is handed to a text mark (Vega warns)
        text = alt.Chart(points).mark_text(dx=6, align="left", fontSize=10).encode(
            x="x:Q", y="y:Q", text="word:N", tooltip=["word", "point"])
        chart = alt.layer(scatter, text, data=points).properties(width=240, height=200).facet(
            column=alt.Column("example_id:N", title="example"), row=alt.Row("model:N", title=None))
        charts.append(ChartSpec("projection", "x_overall (triangle) among its nearest words",
                                chart_spec(chart), "2-D PCA of the top location's optimised point "
                                "and its nearest vocabulary words."))
    if "terms" in result.tables and not result.tables["terms"].empty:
        charts.append(_terms_chart(result.tables["terms"]))
    return Presentation(charts=charts)


def _terms_chart(terms: pd.DataFrame) -> ChartSpec:
    frame = terms.assign(name=terms["term"].map(TERM_NAMES),
                         row=terms["model"].astype(str) + " · " + terms["layer"].astype(str))
    order = [TERM_NAMES[t] for t in TERMS]
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("mean_share:Q", title="mean share of |objective|", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        y=alt.Y("name:N", sort=order, title=None),
        color=alt.Color("name:N", sort=order, legend=None),
        row=alt.Row("row:N", title=None),
        tooltip=["model", "layer", "term", "weight", alt.Tooltip("mean_value:Q", format=".3g"),
                 alt.Tooltip("mean_share:Q", format=".2%")],
    ).properties(width=360, height=alt.Step(18))
    return ChartSpec("terms", "What shapes the optimised input: each term's share of the objective",
                     chart_spec(bars),
                     "For each problem, |term| / (|a . a'| + l1 |X|^2 + l2 |Sim|) after "
                     "optimisation, averaged; a share near 0 means that term barely shapes "
                     "the result. The terms table (download) has each term's weight and value.")


def _shown(problems: pd.DataFrame, k: int) -> list[int]:
    """The most confident text of each predicted class first (so that every class has an
    interpretation on the page), then the shared picker's order."""
    first = problems[problems["rank"] == 1]
    best = (first.sort_values("confidence", ascending=False, kind="stable")
            .groupby("predicted", sort=True).head(1)["example_id"].tolist())
    predictions = first[["model", "example_id", "label", "predicted", "confidence"]]
    rest = [i for i, _ in pick_examples(predictions, k + len(best))]
    return list(dict.fromkeys([*best, *rest]))[:k]
