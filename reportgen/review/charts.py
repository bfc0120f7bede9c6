"""The compare page's charts, as data: Altair charts -> Vega-Lite specs (``chart_spec``).

Question: what should a reviewer see at a glance?

Method (each a pure function from the comparison's tables to a ``ChartSpec``):

- ``bump_chart``: the words whose dataset-level saliency rank moved most, one line per word from
  its old rank to its new one (rank 1 at the top), labelled at both ends;
- ``agreement_chart``: the distribution of the per-example rank correlation of old and new token
  attributions, one panel per model pair;
- ``sweep_chart``: the class probability as the best unit is clamped across its range, old
  (dashed) and new runs on one chart;
- ``flips_chart``: per model pair, the flipped examples by kind (fixed, broken, still wrong).

Outputs: ``ChartSpec`` records, which the page embeds inline (``site.charts.prepare_chart``).

Cost: one small Altair chart each.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from reportgen.chart_layout import chart_spec, label_width
from reportgen.records import ChartSpec

RUN_COLOURS = alt.Scale(domain=["old", "new"], range=["#9aa3ad", "#d6362a"])


def bump_chart(moves: pd.DataFrame, name: str, title: str) -> ChartSpec:
    """``moves``: word, old_rank, new_rank (``words.WordMoves.moves``)."""
    long = pd.concat([
        moves.assign(run="old", rank=moves["old_rank"]),
        moves.assign(run="new", rank=moves["new_rank"]),
    ], ignore_index=True)[["word", "run", "rank", "old_rank", "new_rank"]]
    width = label_width(long["word"]) + 12
    base = alt.Chart(long).encode(
        x=alt.X("run:N", sort=["old", "new"], title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("rank:Q", scale=alt.Scale(reverse=True, zero=False, nice=False),
                axis=alt.Axis(tickMinStep=1, format="d"),
                title="rank by mean share of saliency (1 = most salient)"),
        color=alt.Color("word:N", legend=None),
        detail="word:N",
        tooltip=["word:N", "old_rank:Q", "new_rank:Q"],
    )
    lines = base.mark_line(point=True)
    left = base.transform_filter("datum.run == 'old'").mark_text(align="right", dx=-8).encode(
        text="word:N")
    right = base.transform_filter("datum.run == 'new'").mark_text(align="left", dx=8).encode(
        text="word:N")
    chart = alt.layer(lines, left, right).properties(width=260, height=320, padding={
        "left": width, "right": width})
    return ChartSpec(name, title, chart_spec(chart),
                     "Each line is a word, from its rank in the old run to its rank in the new "
                     "one (the words that moved most).")


def agreement_chart(rows: pd.DataFrame, name: str, title: str) -> ChartSpec:
    """``rows``: model, spearman (one row per shared example)."""
    data = rows[["model", "spearman"]].dropna()
    chart = alt.Chart(data).mark_bar().encode(
        x=alt.X("spearman:Q", bin=alt.Bin(extent=[-1, 1], step=0.1),
                title="Spearman rank correlation of old and new attributions"),
        y=alt.Y("count():Q", title="examples"),
        color=alt.value("#4c78a8"),
        tooltip=[alt.Tooltip("count():Q", title="examples")],
    ).properties(width=300, height=160).facet(
        column=alt.Column("model:N", title=None))
    return ChartSpec(name, title, chart_spec(chart),
                     "1: the same order of tokens; 0: unrelated; -1: reversed.")


def sweep_chart(sweep: pd.DataFrame, name: str, title: str) -> ChartSpec:
    """``sweep``: run, value, class, probability (both runs' sweeps of their best unit); two
    classes: the second one's probability, more: one line per class and run."""
    classes = list(dict.fromkeys(sweep["class"].astype(str)))
    data = sweep[sweep["class"].astype(str) == classes[-1]] if len(classes) == 2 else sweep
    chart = alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("value:Q", title="value the best unit is clamped to"),
        y=alt.Y("probability:Q", title=f"p({classes[-1]})" if len(classes) == 2 else "probability",
                scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("run:N", scale=RUN_COLOURS, title="run"),
        strokeDash=alt.StrokeDash("run:N", scale=alt.Scale(domain=["old", "new"],
                                                           range=[[6, 3], [1, 0]]), legend=None),
        detail="class:N",
        tooltip=["run:N", "class:N", alt.Tooltip("value:Q", format=".3g"),
                 alt.Tooltip("probability:Q", format=".3f")],
    ).properties(width=420, height=220)
    return ChartSpec(name, title, chart_spec(chart),
                     "Each run's own best unit, clamped at every step to values across its range "
                     "(1st to 99th percentile): the class probability it then gives.")


def flips_chart(counts: pd.DataFrame, name: str, title: str) -> ChartSpec:
    """``counts``: model, kind, examples."""
    order = ["fixed", "broken", "still wrong", "changed"]
    chart = alt.Chart(counts).mark_bar().encode(
        y=alt.Y("model:N", title=None),
        x=alt.X("examples:Q", title="flipped predictions"),
        color=alt.Color("kind:N", sort=order, title=None, scale=alt.Scale(
            domain=order, range=["#1b9e77", "#d6362a", "#d95f02", "#7570b3"])),
        order=alt.Order("rank:Q"),
        tooltip=["model:N", "kind:N", "examples:Q"],
    ).transform_calculate(rank="indexof(['fixed', 'broken', 'still wrong', 'changed'], datum.kind)"
                          ).properties(width=420, height=alt.Step(22))
    return ChartSpec(name, title, chart_spec(chart),
                     "fixed: wrong before, right now; broken: right before, wrong now; still "
                     "wrong: a different wrong class; changed: no label to judge by.")
