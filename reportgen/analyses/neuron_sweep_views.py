"""neuron_sweep's presentation: its tables -> charts and token views (no torch).

Per model: the L1 weight of every unit, the zero-shot accuracy of single units under each rule
(the top L1 unit, the best single unit, the units ranked 2-5, random units) beside all units, the
learning curve of the top unit against all units, the class probability as the unit is swept, its
oriented values over the tokens of test texts (shaded: red toward the class its L1 weight points
to), and, for language models, the text generated at the bounds of the sweep.

Cost: pandas over the tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from reportgen.chart_layout import chart_spec, wrap_by_model
from reportgen.records import AnalysisResult, ChartSpec, Presentation, TokenScores, TokenView

if TYPE_CHECKING:
    from reportgen.analyses.neuron_sweep import Params


# -- presentation ------------------------------------------------------------------------------
def _models(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["model"]))


def present(result: AnalysisResult, params: Params) -> Presentation:
    t = result.tables
    charts = []
    if not t["units"].empty:
        charts.append(
            ChartSpec(
                "weights",
                "L1 weight of every unit",
                chart_spec(
                    alt.Chart(t["units"])
                    .mark_bar()
                    .encode(
                        x=alt.X("unit:O", axis=alt.Axis(labels=False, ticks=False), sort=None),
                        y=alt.Y("weight:Q", title="|weight|"),
                        color=alt.condition(
                            "datum.rank == 1", alt.value("#c0392b"), alt.value("#4c78a8")
                        ),
                        tooltip=["model", "unit", alt.Tooltip("weight:Q", format=".3g"), "rank"],
                    )
                    .properties(width=600, height=120)
                    .facet(row=alt.Row("model:N", title=None))
                ),
                "Red: the top unit.",
            )
        )
    if not t["zero_shot"].empty:
        charts.append(_zero_shot(t["zero_shot"]))
    if not t["learning_curve"].empty:
        curve = t["learning_curve"]
        base = alt.Chart(curve).encode(
            x=alt.X("labelled:Q", scale=alt.Scale(type="symlog"), title="labelled training texts"),
            color=alt.Color("units:N", title=None),
        )
        band = base.mark_errorband(extent="ci").encode(y=alt.Y("accuracy:Q", title="test accuracy"))
        line = base.mark_line(point=True).encode(y="mean(accuracy):Q")
        charts.append(
            ChartSpec(
                "learning-curve",
                "Accuracy against labelled texts",
                chart_spec(
                    alt.layer(band, line)
                    .properties(width=420, height=220)
                    .facet(row=alt.Row("model:N", title=None))
                ),
                f"Mean over {params.seeds} seeds, band: 95% interval.",
            )
        )
    if not t["sweep"].empty:
        charts.append(
            ChartSpec(
                "sweep",
                "Class probability with the top unit held fixed",
                chart_spec(
                    wrap_by_model(
                        alt.Chart(t["sweep"])
                        .mark_line(point=True)
                        .encode(
                            x=alt.X("value:Q", title="unit value (clamped at every step)"),
                            y=alt.Y(
                                "probability:Q",
                                title="mean probability",
                                scale=alt.Scale(domain=[0, 1]),
                            ),
                            color="class:N",
                            tooltip=[
                                "model",
                                "value",
                                "class",
                                alt.Tooltip("probability:Q", format=".3f"),
                            ],
                        )
                        .properties(height=200),
                        _models(t["sweep"]),
                        narrowest=240,
                        widest=360,
                        each=50,
                        reserved=80,
                    )
                ),
                f"Mean over {params.sweep_texts} test texts.",
            )
        )
    if not t["moves"].empty:
        charts.append(
            ChartSpec(
                "moves",
                "Where the top unit moves",
                chart_spec(
                    alt.Chart(t["moves"])
                    .mark_bar()
                    .encode(
                        x=alt.X("mean_abs_change:Q", title="mean |change| from the previous token"),
                        y=alt.Y("token_kind:N", title=None),
                        tooltip=["model", "token_kind", "steps"],
                    )
                    .properties(width=300, height=alt.Step(18))
                    .facet(row=alt.Row("model:N", title=None))
                ),
                "By the kind of token just read.",
            )
        )
    if not t["lengths"].empty:
        charts.append(
            ChartSpec(
                "lengths",
                "Lengths of texts the top unit gets right and wrong",
                chart_spec(
                    wrap_by_model(
                        alt.Chart(t["lengths"])
                        .transform_joinaggregate(n="count()", groupby=["model", "outcome"])
                        .transform_calculate(share="1 / datum.n")
                        .mark_line(interpolate="step")
                        .encode(
                            x=alt.X("length:Q", bin=alt.Bin(maxbins=30), title="words per text"),
                            y=alt.Y(
                                "sum(share):Q",
                                title="share of the group",
                                axis=alt.Axis(format="%"),
                            ),
                            color=alt.Color("outcome:N", title=None),
                        )
                        .properties(height=180),
                        _models(t["lengths"]),
                        narrowest=240,
                        widest=360,
                        each=50,
                        reserved=80,
                    )
                ),
                "Distributions of text length: right and wrong (top unit, zero-shot) against all.",
            )
        )
    views = []
    traces = t["traces"]
    if not traces.empty:
        rows = []
        peaks = traces.groupby("model")["oriented"].apply(lambda v: float(v.abs().max()) or 1.0)
        for (model, example_id), cells in traces.groupby(["model", "example_id"], sort=False):
            cells = cells.sort_values("position")
            rows.append(
                TokenScores(
                    str(model),
                    int(example_id),
                    cells["token"].astype(str).tolist(),
                    (cells["oriented"] / peaks[model]).round(4).tolist(),
                    caption=f"top unit zero-shot: {cells['outcome'].iloc[0]}; red: toward "
                    f"{cells['toward'].iloc[0]}",
                )
            )
        views.append(
            TokenView(
                "traces",
                "The top unit at every token",
                rows,
                "The unit's value times the sign of its L1 weight, less the zero-shot rule's "
                "threshold (0 for the sentiment-neuron rule): red leans toward the class named "
                "in each caption, blue toward the other (scaled by the model's largest traced "
                "magnitude).",
                signed=True,
            )
        )
    return Presentation(charts=charts, token_views=views)


ORDER = ["top L1 unit", "best single unit (dev)", "unit ranked 2", "unit ranked 3",
         "unit ranked 4", "unit ranked 5", "random unit", "all units"]


def _zero_shot(zero: pd.DataFrame) -> ChartSpec:
    """Test accuracy of each classifier: one dot per unit and rule, random units as grey dots."""
    shown = [c for c in ORDER if c in set(zero["classifier"])]
    chart = (
        alt.Chart(zero)
        .mark_point(filled=True, size=60)
        .encode(
            x=alt.X("accuracy:Q", title="test accuracy", scale=alt.Scale(zero=False),
                    axis=alt.Axis(format="%")),
            y=alt.Y("classifier:N", sort=shown, title=None),
            color=alt.Color("rule:N", title="rule"),
            opacity=alt.condition("datum.classifier == 'random unit'", alt.value(0.45),
                                  alt.value(1.0)),
            tooltip=["model", "classifier", "unit", "rule",
                     alt.Tooltip("accuracy:Q", format=".1%")],
        )
        .properties(width=420, height=alt.Step(20))
        .facet(row=alt.Row("model:N", title=None, sort=_models(zero)))
    )
    return ChartSpec(
        "zero-shot",
        "Zero-shot accuracy of single units",
        chart_spec(chart),
        "Each unit alone, oriented by the sign of its L1 weight, no labels for its threshold: "
        "raw value vs 0 (the sentiment-neuron rule, bounded units only) and the 2-means "
        "midpoint; all units: the L1 probe. The units table names each unit.",
    )
