"""Chart specs -> what a page embeds: an inline Vega-Lite spec, or a PNG when it is too large.

A chart stays interactive (vega-embed, spec and data inline in the page, never a URL: Chrome blocks
fetches on ``file://``) while its data is small; past ``max_rows`` data rows (a heatmap's cells) or
``max_spec_bytes`` of JSON, vl-convert renders it to a PNG here instead, so no browser has to draw
tens of thousands of marks. Also builds the data card's length histogram.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd
import vl_convert

from reportgen.records import ChartSpec
from reportgen.site.visible import visible_json

MAX_ROWS = 20_000  # data rows (heatmap cells) above which a chart becomes a PNG
MAX_SPEC_BYTES = 1_500_000  # same, for the JSON size of the spec
SVG_MAX_ROWS = 3_000  # above this, vega draws on a canvas (faster than thousands of SVG nodes)
PNG_SCALE = 1.0


@dataclass
class PreparedChart:
    """A chart as a template sees it."""

    name: str
    title: str
    caption: str
    dom_id: str  # unique within the page (and within a single-file report)
    kind: str  # "vega" | "png"
    rows: int  # data rows in the spec
    spec: dict[str, Any] | None = None  # for "vega"
    renderer: str = "svg"  # for "vega": svg | canvas
    png: bytes | None = None  # for "png"
    src: str = ""  # for "png": relative file path or data: URI, set by the builder


def _walk(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every mapping in a JSON tree."""
    if isinstance(node, Mapping):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def data_rows(spec: Mapping[str, Any]) -> int:
    """Rows of inline data in a Vega-Lite spec: named ``datasets`` plus any ``data.values``.

    A row holding arrays (expanded in the browser by a ``flatten`` transform, the compact way to
    ship a heatmap) counts as as many rows as its longest array.
    """
    rows = sum(_expanded(v) for v in spec.get("datasets", {}).values() if isinstance(v, list))
    for node in _walk({k: v for k, v in spec.items() if k != "datasets"}):
        data = node.get("data")
        if isinstance(data, Mapping) and isinstance(data.get("values"), list):
            rows += _expanded(data["values"])
    return rows


def _expanded(values: list[Any]) -> int:
    total = 0
    for row in values:
        lengths = ([len(v) for v in row.values() if isinstance(v, list)]
                   if isinstance(row, Mapping) else [])
        total += max(lengths, default=1)
    return total


def data_urls(spec: Mapping[str, Any]) -> list[str]:
    """Data sources given as URLs (they cannot load from ``file://``)."""
    found = []
    for node in _walk(spec):
        data = node.get("data")
        if isinstance(data, Mapping) and isinstance(data.get("url"), str):
            found.append(data["url"])
    return found


@functools.lru_cache(maxsize=16)
def _png(spec_json: str, scale: float) -> bytes:
    return vl_convert.vegalite_to_png(json.loads(spec_json), scale=scale)


def to_png(spec: Mapping[str, Any], scale: float = PNG_SCALE) -> bytes:
    """Render a Vega-Lite spec to PNG bytes, offline (the same spec is drawn once per process)."""
    return _png(json.dumps(spec, sort_keys=True, default=str), scale)


def prepare_chart(
    chart: ChartSpec,
    dom_id: str,
    *,
    max_rows: int = MAX_ROWS,
    max_spec_bytes: int = MAX_SPEC_BYTES,
) -> PreparedChart:
    """Decide how ``chart`` is embedded, rendering a PNG when it is too large for the browser.
    Strings in the spec (labels, tooltips, data) get their hidden characters as markers."""
    spec = visible_json(chart.spec)
    urls = data_urls(spec)
    if urls:
        raise ValueError(
            f"chart {chart.name!r} loads its data from {urls[0]!r}; charts must carry their data "
            "inline (Altair: keep the default data transformer)"
        )
    rows = data_rows(spec)
    size = len(json.dumps(spec, separators=(",", ":"), default=str))
    common = {"name": chart.name, "title": chart.title, "caption": chart.caption, "rows": rows}
    if _is_explorer(spec):  # draws one page of cells: never a PNG, always crisp SVG
        if size > EXPLORER_MAX_BYTES:
            raise ValueError(f"explorer {chart.name!r} is {size / 1e6:.1f} MB; page the data first")
        return PreparedChart(dom_id=dom_id, kind="vega", spec=spec, renderer="svg", **common)
    if rows > max_rows or size > max_spec_bytes:
        return PreparedChart(dom_id=dom_id, kind="png", png=to_png(spec), **common)
    renderer = "svg" if rows <= SVG_MAX_ROWS else "canvas"
    return PreparedChart(dom_id=dom_id, kind="vega", spec=spec, renderer=renderer, **common)


EXPLORER_MAX_BYTES = 8_000_000  # an explorer embeds all its rows; beyond this, a page is too heavy


def _is_explorer(spec: dict[str, Any]) -> bool:
    """Explorers (``reportgen.chart_explorer``) mark themselves in ``usermeta``."""
    meta = spec.get("usermeta") or {}
    return isinstance(meta, dict) and (meta.get("reportgen") or {}).get("kind") == "explorer"


def length_histogram(length_counts: Mapping[int, int], *, max_bins: int = 40) -> dict[str, Any]:
    """Vega-Lite spec: how many texts have each length (in word tokens), binned when wide."""
    frame = pd.DataFrame(
        {
            "length": [int(k) for k in length_counts],
            "texts": [int(v) for v in length_counts.values()],
        }
    )
    if frame.empty:
        frame = pd.DataFrame({"length": [0], "texts": [0]})
    span = int(frame["length"].max()) - int(frame["length"].min()) + 1
    step = max(1, -(-span // max_bins))  # ceil
    frame["start"] = (frame["length"] // step) * step
    binned = frame.groupby("start", as_index=False)["texts"].sum()
    binned["end"] = binned["start"] + step
    x_title = "tokens per text" if step == 1 else f"tokens per text (bins of {step})"
    chart = (
        alt.Chart(binned)
        .mark_bar(color="#4c78a8")
        .encode(
            x=alt.X("start:Q", title=x_title, bin="binned"),
            x2="end:Q",
            y=alt.Y("texts:Q", title="texts"),
            tooltip=[
                alt.Tooltip("start:Q", title="from"),
                alt.Tooltip("end:Q", title="to (excl.)"),
                alt.Tooltip("texts:Q", title="texts"),
            ],
        )
        .properties(width=420, height=160)
    )
    return chart.to_dict()
