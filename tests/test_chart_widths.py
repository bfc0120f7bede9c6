"""Charts fit their card for any number of models (issue 12): panels per model wrap into rows.

Each analysis is computed once on a tiny untrained model; more models are copies of that result
under other names (chart layout depends on how many models there are, not on their numbers). Two
checks: the spec's own arithmetic (columns x panel width + gaps, from the Vega-Lite dict, for 1, 4
and 9 models) and the width of the chart as Vega draws it (vl-convert's SVG, axes and legends
included, for 4 models).
"""

from __future__ import annotations

import math
import re

import pytest
import torch

from reportgen import analyses
from reportgen.analyses.base import RunContext
from reportgen.chart_layout import CARD_WIDTH, PANEL_GAP, facet_columns, fit_panels
from reportgen.data.demo import demo_dataset
from reportgen.data.encoding import TextEncoder
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES
from reportgen.records import AnalysisResult, ChartSpec
from reportgen.run.plan import plan

# word CNN: every analysis applies; char CNN: character filters, wide representations
ARCHS = {"yuan-cnn": analyses.REGISTRY, "char-cnn": ("representations", "filter_top_words")}
MODEL_COUNTS = (1, 4, 9)
# Charts drawn in modules owned elsewhere; remove an entry once its charts wrap.
NOT_YET: dict[str, str] = {}  # analysis -> why its charts do not fit yet (an xfail)


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, AnalysisResult]]:
    """arch -> analysis -> one model's result, upstream analyses computed first."""
    data = demo_dataset(300)
    train = [ex.text for ex in data.split("train")]
    examples = data.split("test")[:24]
    out: dict[str, dict[str, AnalysisResult]] = {}
    for arch, names in ARCHS.items():
        cls = ARCHITECTURES[arch]
        encoder = TextEncoder.fit(cls.encoder_kind, train, max_len=40)
        torch.manual_seed(0)
        module = cls(cls.default_config(encoder.n_tokens, len(data.classes)))
        model = ModelAdapter(module, encoder, data.classes, name=arch, arch=arch, source=arch,
                             task=cls.task)
        done: dict[str, AnalysisResult] = {}
        for name in plan(list(names)):  # each after what it needs
            mod = analyses.spec(name)
            needs = mod.needs
            if mod.skip_reason(model) or any(n not in done for n in needs):
                continue
            upstream = {n: done[n] for n in (*needs, *mod.uses) if n in done}
            ctx = RunContext(model, examples, data, torch.device("cpu"), 0, batch_size=16,
                             upstream=upstream)
            done[name] = mod.compute(ctx, mod.params())
        out[arch] = {n: r for n, r in done.items() if n in names}
    return out


def charts_for(name: str, result: AnalysisResult, n_models: int) -> list[ChartSpec]:
    """``name``'s charts for ``n_models`` models that all gave ``result``."""
    module = analyses.spec(name)
    per_model = {}
    for i in range(n_models):
        model = f"model-{i + 1}"
        tables = {t: f.assign(model=model) if "model" in f.columns else f
                  for t, f in result.tables.items()}
        per_model[model] = AnalysisResult(tables, dict(result.metrics), list(result.notes))
    params = module.params()
    merged = module.combine(per_model, params)
    charts = module.present(merged, params).charts
    # an explorer is a table: its width follows its columns' text, not the models
    return [c for c in charts
            if c.spec.get("usermeta", {}).get("reportgen", {}).get("kind") != "explorer"]


# -- the spec's arithmetic ------------------------------------------------------------------
def _rows(spec: dict, datasets: dict, inherited: list) -> list:
    data = spec.get("data")
    if not data:
        return inherited
    return data["values"] if "values" in data else datasets.get(data.get("name"), inherited)


def _distinct(rows: list, field: str) -> int:
    return len({row.get(field) for row in rows}) or 1


def layout_width(spec: dict, datasets: dict, inherited: list | None = None) -> float:
    """Width in px of the plots and the gaps between them (axes, titles and legends left out):
    the least a card must hold."""
    rows = _rows(spec, datasets, inherited or [])
    if "vconcat" in spec:
        return max(layout_width(s, datasets, rows) for s in spec["vconcat"])
    if "hconcat" in spec or "concat" in spec:
        parts = [layout_width(s, datasets, rows) for s in spec.get("hconcat") or spec["concat"]]
        step = spec.get("columns") or len(parts)
        return max(sum(parts[i : i + step]) + PANEL_GAP * (len(parts[i : i + step]) - 1)
                   for i in range(0, len(parts), step))
    if "facet" in spec:
        inner, facet = layout_width(spec["spec"], datasets, rows), spec["facet"]
        if "field" in facet:  # wrapped: facet=..., columns=N
            n = min(spec.get("columns") or math.inf, _distinct(rows, facet["field"]))
        else:
            n = _distinct(rows, facet["column"]["field"]) if "column" in facet else 1
        return n * inner + PANEL_GAP * (n - 1)
    encoding = spec.get("encoding", {})
    width = spec.get("width")
    if width is None and "layer" in spec:
        width = max(layout_width(s, datasets, rows) for s in spec["layer"])
    elif isinstance(width, dict):  # {"step": px} per category of x
        width = width["step"] * _distinct(rows, encoding["x"]["field"])
    elif width is None:  # Vega-Lite's defaults
        x = encoding.get("x", {})
        width = 20 * _distinct(rows, x["field"]) if x.get("type") in ("nominal", "ordinal") else 300
    n = _distinct(rows, encoding["column"]["field"]) if "column" in encoding else 1
    return n * width + PANEL_GAP * (n - 1)


def _xfail_elsewhere(name: str, request: pytest.FixtureRequest) -> None:
    if name in NOT_YET:
        request.applymarker(pytest.mark.xfail(reason=NOT_YET[name], strict=False))


@pytest.mark.parametrize("n_models", MODEL_COUNTS)
@pytest.mark.parametrize("name", analyses.REGISTRY)
def test_panels_times_width_fit_the_card(name: str, n_models: int, results: dict,
                                         request: pytest.FixtureRequest) -> None:
    _xfail_elsewhere(name, request)
    checked = 0
    for arch, done in results.items():
        if name not in done:
            continue
        for chart in charts_for(name, done[name], n_models):
            width = layout_width(chart.spec, chart.spec.get("datasets", {}))
            assert width <= CARD_WIDTH, f"{arch} {chart.name}, {n_models} models: {width:.0f} px"
            checked += 1
    assert checked


@pytest.mark.parametrize("name", analyses.REGISTRY)
def test_four_models_drawn_within_the_card(name: str, results: dict,
                                           request: pytest.FixtureRequest) -> None:
    vl_convert = pytest.importorskip("vl_convert")
    _xfail_elsewhere(name, request)
    for arch, done in results.items():
        if name not in done:
            continue
        for chart in charts_for(name, done[name], 4):
            svg = vl_convert.vegalite_to_svg(chart.spec)
            width = float(re.search(r'<svg[^>]*\swidth="([\d.]+)"', svg).group(1))
            assert width <= CARD_WIDTH, f"{arch} {chart.name}: drawn {width:.0f} px wide"


def test_facet_columns() -> None:
    assert facet_columns(4, 300) == 2  # 2 x 300 + 20 <= 760 < 3 x 300 + 40
    assert facet_columns(1, 300) == 1
    assert facet_columns(9, 100, reserved=100) == 5  # 5 x 100 + 4 x 20 + 100 = 680: rows of 5 + 4
    assert facet_columns(4, 230) == 2  # 3 fit, but 2 + 2 beats 3 + 1
    assert facet_columns(7, 230) == 3  # 3 + 3 + 1 is the fewest rows
    assert facet_columns(3, 2000) == 1  # never fewer than one
    assert facet_columns(0, 100) == 1


def test_fit_panels_fills_the_row_up_to_the_widest() -> None:
    assert fit_panels(1, narrowest=200, widest=300) == (1, 300)
    assert fit_panels(4, narrowest=200, widest=300, reserved=100) == (2, 300)
    columns, width = fit_panels(5, narrowest=200, widest=300, reserved=100)
    assert columns == 3 and width == (760 - 100 - 2 * 20) // 3
    columns, width = fit_panels(4, narrowest=150, widest=260, each=60)
    assert columns * (width + 60) + (columns - 1) * 20 <= CARD_WIDTH


def test_layout_width_reads_facets_and_concats() -> None:
    rows = [{"model": m, "x": i} for m in "abcd" for i in range(5)]
    unit = {"mark": "bar", "width": 200, "encoding": {"x": {"field": "x", "type": "ordinal"}}}
    assert layout_width({"data": {"values": rows}, "facet": {"column": {"field": "model"}},
                         "spec": unit}, {}) == 4 * 200 + 3 * 20
    assert layout_width({"data": {"values": rows}, "facet": {"field": "model"}, "columns": 2,
                         "spec": unit}, {}) == 2 * 200 + 20
    stepped = {**unit, "width": {"step": 10}}
    assert layout_width({"data": {"values": rows}, "concat": [stepped] * 3, "columns": 2},
                        {}) == 50 + 20 + 50
    assert layout_width({"data": {"name": "d"}, "vconcat": [unit, {**unit, "width": 90}]},
                        {"d": rows}) == 200
