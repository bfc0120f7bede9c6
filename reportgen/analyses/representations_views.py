"""representations' presentation: its tables -> charts (no torch).

Per model: phrase x dimension heatmaps of each probe group (Li et al. 2016, Figure 1), each
negation pair's flip and each intensity step's growth as bars (never averaged), the t-SNE of the
probes among random words (Figure 2; only probe phrases are labelled, each label placed where it
overlaps no other label and no point, or left off: its point keeps a tooltip), and Figure 3: the
|difference| of two same-length sentences' hidden states, dimension x step.

Cost: pandas over the tables; the label placement is greedy over ~60 points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import numpy as np
import pandas as pd

from reportgen.chart_layout import chart_spec, label_width, wrap_by_model
from reportgen.records import AnalysisResult, ChartSpec, Presentation

if TYPE_CHECKING:
    from reportgen.analyses.representations import Params

TSNE_SIZE = 260  # px, width and height of each model's t-SNE panel (labels are placed for it)
LABEL_FONT = 9  # px
CHAR_PX = 5.2  # rough width of one character at LABEL_FONT
LABEL_HEIGHT = 11  # px
POINT_RADIUS = 3  # px, a filled point's half-size (points are obstacles for labels)
MARGIN = 0.04  # of the panel, kept empty around the points
STACKED = 7  # px: probes closer than this are drawn on top of each other and share one label
STEP_PX = 18  # px per step in Figure 3


def present(result: AnalysisResult, params: Params) -> Presentation:
    t = result.tables
    models = list(dict.fromkeys(m for frame in t.values() if "model" in frame
                                for m in frame["model"]))
    charts = _phrase_heatmaps(t["phrases"], models, params)
    charts += _pair_bars(t, models)
    if not t["tsne"].empty:
        charts.append(_tsne_chart(t["tsne"], models, _pair_phrases(t)))
    if not t["over_time"].empty:
        charts += _figure3(t["over_time"], models, params)
    return Presentation(charts=charts)


def _phrase_heatmaps(phrases: pd.DataFrame, models: list[str], params: Params) -> list[ChartSpec]:
    charts = []
    for group, frame in phrases.groupby("group", sort=False):
        top = (frame.assign(mag=frame["value"].abs()).groupby(["model", "dimension"])["mag"].sum()
               .reset_index().sort_values("mag", ascending=False).groupby("model")
               .head(params.heatmap_dimensions))
        frame = frame.merge(top[["model", "dimension"]], on=["model", "dimension"])
        chart = alt.Chart(frame).mark_rect().encode(
            x=alt.X("dimension:O", axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("phrase:N", sort=None, title=None),
            color=alt.Color("value:Q", scale=alt.Scale(scheme="redblue", domainMid=0,
                                                       reverse=True)),
            tooltip=["model", "phrase", "dimension", alt.Tooltip("value:Q", format=".3f")],
        ).properties(height=alt.Step(14))
        chart = _by_model(chart, models, frame, "phrase", step=6).resolve_scale(x="independent")
        charts.append(ChartSpec(f"phrases-{group}", f"Representations: {group}", chart_spec(chart),
                                f"The {params.heatmap_dimensions} dimensions with the largest "
                                "values over these phrases, per model."))
    return charts


def _pair_bars(t: dict[str, pd.DataFrame], models: list[str]) -> list[ChartSpec]:
    """Each negation pair's flip and each intensity step's growth, one bar each per model."""
    charts = []
    negation = t.get("negation", pd.DataFrame())
    if not negation.empty:
        frame = negation.assign(pair=negation["phrase"] + " (vs " + negation["opposite"] + ")")
        bars = alt.Chart(frame).mark_bar().encode(
            x=alt.X("flip:Q", title="cos(to opposite) - cos(to own word)"),
            y=alt.Y("pair:N", sort=None, title=None),
            color=alt.condition(alt.datum.flip > 0, alt.value("#4c78a8"), alt.value("#e45756")),
            tooltip=["model", "phrase", "word", "opposite",
                     alt.Tooltip("cos_to_word:Q", format=".3f"),
                     alt.Tooltip("cos_to_opposite:Q", format=".3f"),
                     alt.Tooltip("flip:Q", format=".3f")])
        rule = alt.Chart(frame).mark_rule(color="#888").encode(x=alt.datum(0))
        chart = wrap_by_model(alt.layer(bars, rule, data=frame).properties(height=alt.Step(16)),
                              models, narrowest=160, widest=220,
                              reserved=label_width(frame["pair"].unique()))
        charts.append(ChartSpec("negation-pairs", "Negation, pair by pair", chart_spec(chart),
                                "Each negated phrase on its own: > 0 (blue) it reads like the "
                                "opposite word, < 0 (red) like its own word. The paper's finding "
                                "is the difference between 'not good' and 'not bad' (the "
                                "negation asymmetry), which a mean of the two would hide."))
    intensity = t.get("intensity", pd.DataFrame())
    if not intensity.empty:
        frame = intensity.assign(step=intensity["from_phrase"] + " -> " + intensity["to_phrase"])
        bars = alt.Chart(frame).mark_bar().encode(
            x=alt.X("growth:Q", title="|h(to)| / |h(from)|"),
            y=alt.Y("step:N", sort=None, title=None),
            tooltip=["model", "step", alt.Tooltip("growth:Q", format=".3f"),
                     alt.Tooltip("cosine:Q", format=".3f")])
        rule = alt.Chart(frame).mark_rule(color="#888").encode(x=alt.datum(1))
        chart = wrap_by_model(alt.layer(bars, rule, data=frame).properties(height=alt.Step(16)),
                              models, narrowest=160, widest=220,
                              reserved=label_width(frame["step"].unique()))
        charts.append(ChartSpec("intensity-steps", "Intensification, step by step",
                                chart_spec(chart),
                                "Each step on its own: > 1 the intensifier lengthens the "
                                "representation (the line marks 1)."))
    return charts


# -- t-SNE with labels that do not overlap ------------------------------------------------
def place_labels(frame: pd.DataFrame, size: float = TSNE_SIZE,
                 first: tuple[str, ...] = ()) -> pd.DataFrame:
    """One model's t-SNE points scaled into the unit square (one scale for both axes, t-SNE
    distances are isotropic) with a label for the probe phrases. Probes drawn on top of each other
    (within ``STACKED`` px) share one label ("good, very good +1") at the first of them; each label
    goes to the first of right, left, above, below and the four diagonals where its box stays in
    the panel and overlaps no label placed before and no point but its own (the phrases in
    ``first`` are placed first, in that order); a label with no such place is left off. Columns
    added: ``px``, ``py`` (the point, 0-1), ``label`` (its text, on the row that carries it),
    ``label_x``, ``label_y`` (the label's left middle, 0-1), ``labelled``."""
    out = frame.reset_index(drop=True).copy()
    xy = out[["x", "y"]].to_numpy(float)
    span = float(np.ptp(xy, axis=0).max()) if len(xy) else 0.0
    centre = (xy.max(0) + xy.min(0)) / 2 if len(xy) else np.zeros(2)
    unit = (xy - centre) / (span if span > 0 else 1.0) * (1 - 2 * MARGIN) + 0.5
    out["px"], out["py"] = unit[:, 0], unit[:, 1]
    points = np.column_stack([unit[:, 0] * size, (1 - unit[:, 1]) * size])  # pixels, y down
    rank = {p: r for r, p in enumerate(first)}
    probes = sorted(np.flatnonzero(out["kind"].to_numpy() == "probe"),
                    key=lambda i: rank.get(str(out.at[i, "phrase"]), len(rank)))
    groups: list[list[int]] = []  # probes drawn on top of each other, the first carries the label
    for i in probes:
        near = [g for g in groups if np.abs(points[g[0]] - points[i]).max() <= STACKED]
        near[0].append(i) if near else groups.append([i])
    boxes: list[tuple[float, float, float, float]] = []
    n = len(out)
    label, label_x, label_y = [""] * n, np.zeros(n), np.zeros(n)
    labelled = np.zeros(n, bool)
    for group in groups:
        i = group[0]
        names = list(dict.fromkeys(str(out.at[j, "phrase"]) for j in group))
        others = np.delete(points, group, axis=0)
        for text in _label_texts(names):  # the longest that fits
            box = _free_box(points[i], len(text) * CHAR_PX, others, boxes, size)
            if box is not None:
                boxes.append(box)
                label[i], labelled[i] = text, True
                label_x[i], label_y[i] = box[0] / size, 1 - (box[1] + LABEL_HEIGHT / 2) / size
                break
    out["label"], out["label_x"], out["label_y"], out["labelled"] = (label, label_x, label_y,
                                                                     labelled)
    return out


def _label_texts(names: list[str]) -> list[str]:
    """A stack's label, longest first: "a, b +2", "a +3", "a"."""
    texts = [", ".join(names[:2]) + (f" +{len(names) - 2}" if len(names) > 2 else "")]
    if len(names) > 1:
        texts.append(f"{names[0]} +{len(names) - 1}")
    return [*texts, names[0]] if len(names) > 1 else texts


def _free_box(point: np.ndarray, w: float, others: np.ndarray,
              boxes: list[tuple[float, float, float, float]],
              size: float) -> tuple[float, float, float, float] | None:
    """The first place around ``point`` for a ``w`` px wide label inside the panel that overlaps
    no box and no point of ``others`` (pixels, y down); None when there is none."""
    px, py, h, gap = point[0], point[1], LABEL_HEIGHT, POINT_RADIUS + 2
    candidates = [(px + gap, py - h / 2), (px - gap - w, py - h / 2),
                  (px - w / 2, py - gap - h), (px - w / 2, py + gap),
                  (px + gap, py - gap - h), (px - gap - w, py - gap - h),
                  (px + gap, py + gap), (px - gap - w, py + gap)]
    r = POINT_RADIUS
    for left, top in candidates:
        box = (left, top, left + w, top + h)
        if not (0 <= box[0] and box[2] <= size and 0 <= box[1] and box[3] <= size):
            continue
        if any(_overlap(box, b) for b in boxes):
            continue
        if len(others) and ((others[:, 0] + r > box[0]) & (others[:, 0] - r < box[2])
                            & (others[:, 1] + r > box[1]) & (others[:, 1] - r < box[3])).any():
            continue
        return box
    return None


def _pair_phrases(t: dict[str, pd.DataFrame]) -> tuple[str, ...]:
    """The phrases the negation pairs and intensity steps compare, in table order: labelled
    first in the t-SNE."""
    found: list[str] = []
    for table, columns in (("negation", ("phrase", "word", "opposite")),
                           ("intensity", ("from_phrase", "to_phrase"))):
        frame = t.get(table, pd.DataFrame())
        if not frame.empty:
            found += [str(p) for row in frame[list(columns)].itertuples(index=False) for p in row]
    return tuple(dict.fromkeys(found))


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _tsne_chart(tsne: pd.DataFrame, models: list[str], first: tuple[str, ...]) -> ChartSpec:
    frame = pd.concat([place_labels(f, first=first) for _, f in tsne.groupby("model", sort=False)],
                      ignore_index=True)
    unit = alt.Scale(domain=[0, 1], nice=False, zero=False)
    hidden = alt.Axis(labels=False, ticks=False, grid=False, title=None)
    points = alt.Chart().mark_point(filled=True, size=30).encode(
        x=alt.X("px:Q", scale=unit, axis=hidden), y=alt.Y("py:Q", scale=unit, axis=hidden),
        color=alt.Color("kind:N", title=None), tooltip=["model", "phrase", "kind"])
    text = alt.Chart().mark_text(align="left", baseline="middle", fontSize=LABEL_FONT).encode(
        x=alt.X("label_x:Q", scale=unit), y=alt.Y("label_y:Q", scale=unit), text="label:N",
    ).transform_filter(alt.datum.labelled)
    legend = 40 + label_width(frame["kind"].unique())
    chart = wrap_by_model(alt.layer(points, text, data=frame).properties(height=TSNE_SIZE),
                          models, narrowest=TSNE_SIZE, widest=TSNE_SIZE, reserved=legend)
    return ChartSpec("tsne", "t-SNE of the probes among random words", chart_spec(chart),
                     "Figure 2 of the paper, per model. Only probe phrases are labelled, probes "
                     "drawn on top of each other with one label ('good, very good +1'); a label "
                     "that would overlap another or a point is left off. Hover any point for its "
                     "phrase.")


# -- Figure 3 ---------------------------------------------------------------------------------
def _figure3(over_time: pd.DataFrame, models: list[str], params: Params) -> list[ChartSpec]:
    """Per pair: |h_t(a) - h_t(b)| as a dimension x step heatmap, once per model."""
    diff = over_time[over_time["row"] == "|a - b|"]
    diff = diff.assign(step=diff["position"].map("{:02d}".format) + " " + diff["token"])
    top = (diff.groupby(["model", "dimension"])["value"].sum().reset_index()
           .sort_values(["value", "dimension"], ascending=[False, True], kind="stable")
           .groupby("model").head(params.heatmap_dimensions))
    diff = diff.merge(top[["model", "dimension"]], on=["model", "dimension"])
    # one row per shown dimension, in dimension order, so the models share the y scale
    diff = diff.assign(row_no=diff.groupby("model")["dimension"].rank(method="dense").astype(int))
    charts = []
    for i, (pair, frame) in enumerate(diff.groupby("pair", sort=False)):
        steps = int(frame["position"].max()) + 1
        chart = alt.Chart(frame).mark_rect().encode(
            x=alt.X("step:O", sort=None, title=None, axis=alt.Axis(labelAngle=-50)),
            y=alt.Y("row_no:O", title="dimension", axis=alt.Axis(labels=False, ticks=False)),
            color=alt.Color("value:Q", title="|a - b|",
                            scale=alt.Scale(scheme="greys", domainMin=0)),
            tooltip=["model", "step", "dimension", "direction",
                     alt.Tooltip("value:Q", format=".3f")],
        ).properties(height=alt.Step(4))
        present_models = [m for m in models if m in set(frame["model"])]
        chart = wrap_by_model(chart, present_models, narrowest=steps * STEP_PX,
                              widest=steps * STEP_PX, reserved=60)
        a, _, b = pair.partition(" / ")
        charts.append(ChartSpec(
            f"concessive-{i}", f"Figure 3: {a.removeprefix('a: ')} vs {b.removeprefix('b: ')}",
            chart_spec(chart),
            "The absolute difference of the two sentences' hidden states at every step (columns) "
            f"and dimension (rows; the {params.heatmap_dimensions} that differ most, per model), "
            "each sentence read once (a BiLSTM: both directions' states of that pass). The "
            "sentences have the same length and differ in one word."))
    return charts


def _by_model(chart: alt.Chart, models: list[str], frame: pd.DataFrame, labels: str, step: int,
              title: str | None = None) -> alt.FacetChart:
    """A heatmap of dimensions once per model: ``step`` px per dimension, narrowed so that the
    panels wrap into rows that fit the card; the ``labels`` axis and the colour legend are drawn
    once per row."""
    dims = int(frame.groupby("model")["dimension"].nunique().max())
    return wrap_by_model(chart, models, narrowest=min(step * dims, 160), widest=step * dims,
                         reserved=label_width(frame[labels].unique()) + 60, title=title)
