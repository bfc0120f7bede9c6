"""What each template sees: records turned into display-ready pieces (no HTML here).

Numbers are formatted, tables cut to their first rows, charts decided (inline or PNG), colours
computed; every string that comes from the data stays a plain string for the template to escape.
"""

from __future__ import annotations

import base64
import json
import math
import numbers
import re
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reportgen.site.charts import PreparedChart, prepare_chart
from reportgen.site.record import AnalysisRecord, ChartSpec, ModelCard, RunRecord
from reportgen.site.summary import headline
from reportgen.site.tokens import PreparedTokenView, prepare_token_view

TABLE_ROWS = 50  # rows of a table shown on its page; the CSV has them all
CELL_CHARS = 300  # longer cells are cut on the page
CARD_METRICS = 3  # metrics shown under the headline on an index card
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def slug(name: str) -> str:
    """A file- and id-safe version of a name."""
    return _UNSAFE.sub("-", str(name)).strip("-.") or "item"


def csv_filename(name: str, taken: Container[str]) -> str:
    base = slug(name)
    filename, n = f"{base}.csv", 2
    while filename in taken:
        filename, n = f"{base}-{n}.csv", n + 1
    return filename


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    text = str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


@dataclass
class PreparedTable:
    name: str
    slug: str
    title: str
    filename: str
    columns: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    shown: int
    total: int
    href: str = ""  # CSV download: a file path or a data: URI; empty = not downloadable
    note: str = ""  # why there is no download


def prepare_table(name: str, frame: pd.DataFrame, filename: str, page_slug: str) -> PreparedTable:
    head = frame.head(TABLE_ROWS)
    return PreparedTable(
        name=name,
        slug=f"{page_slug}-{filename.removesuffix('.csv')}",
        title=name.replace("_", " "),
        filename=filename,
        columns=[str(c) for c in frame.columns],
        numeric=[
            pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
            for t in frame.dtypes
        ],
        rows=[[_cell(v) for v in row] for row in head.itertuples(index=False, name=None)],
        shown=len(head),
        total=len(frame),
    )


@dataclass
class AnalysisPage:
    record: AnalysisRecord
    slug: str
    charts: list[PreparedChart] = field(default_factory=list)
    token_views: list[PreparedTokenView] = field(default_factory=list)
    tables: list[PreparedTable] = field(default_factory=list)
    metrics: list[tuple[str, Any]] = field(default_factory=list)  # headline first
    image_bytes: int = 0  # PNG charts written beside the page

    @property
    def has_vega(self) -> bool:
        """Whether the page draws a chart in the browser (and so loads the Vega bundle)."""
        return any(c.kind == "vega" for c in self.charts)

    def context(self) -> dict[str, Any]:
        params = pretty_json(self.record.params) if self.record.params else ""
        return {
            "a": self.record,
            "charts": self.charts,
            "token_views": self.token_views,
            "tables": self.tables,
            "metrics": self.metrics,
            "params_text": params,
        }


def ordered_metrics(a: AnalysisRecord) -> list[tuple[str, Any]]:
    first, _ = headline(a)
    items = list(a.metrics.items())
    return sorted(items, key=lambda kv: kv[0] != first)  # stable: headline, then as given


def prepare_analysis(a: AnalysisRecord, page_slug: str) -> AnalysisPage:
    page = AnalysisPage(record=a, slug=page_slug, metrics=ordered_metrics(a))
    for i, chart in enumerate(a.charts):
        name = f"{i + 1:02d}-{slug(chart.name)}"
        prepared = prepare_chart(chart, f"chart-{page_slug}-{name}")
        prepared.name = name
        page.charts.append(prepared)
    for i, view in enumerate(a.token_views):
        prepared_view = prepare_token_view(view)
        prepared_view.name = f"{page_slug}-{i + 1:02d}-{slug(view.name)}"
        page.token_views.append(prepared_view)
    taken: list[str] = []
    for name, frame in a.tables.items():
        filename = csv_filename(name, taken)
        taken.append(filename)
        page.tables.append(prepare_table(name, frame, filename, page_slug))
    return page


# the index ---------------------------------------------------------------------------------
def confusion_context(card: ModelCard) -> dict[str, Any] | None:
    if not card.confusion:
        return None
    rows = []
    for i, counts in enumerate(card.confusion):
        total = sum(counts) or 1
        label = card.classes[i] if i < len(card.classes) else str(i)
        cells = []
        for j, count in enumerate(counts):
            share = count / total
            colour = "37, 99, 205" if i == j else "214, 54, 40"
            alpha = 0.06 + 0.74 * share if count else 0.0
            predicted = card.classes[j] if j < len(card.classes) else str(j)
            cells.append(
                {
                    "count": count,
                    "diagonal": i == j,
                    "style": f"background-color: rgba({colour}, {alpha:.3f})",
                    "title": f"true {label}, predicted {predicted}: {count} ({share:.1%} of row)",
                }
            )
        rows.append({"label": label, "cells": cells})
    classes = [card.classes[j] if j < len(card.classes) else str(j) for j in range(len(rows))]
    return {"classes": classes, "rows": rows}


def index_context(
    record: RunRecord, length_spec: dict[str, Any], href: Callable[[str], str]
) -> dict[str, Any]:
    cards = []
    for a in record.analyses:
        name, value = headline(a)
        others = [(k, v) for k, v in a.metrics.items() if k != name][:CARD_METRICS]
        status_class = a.status if a.status in ("ok", "skipped", "failed") else "unknown"
        cards.append(
            {
                "a": a,
                "href": href(a.name),
                "headline_name": name,
                "headline_value": value,
                "others": others,
                "status_class": status_class,
            }
        )
    d = record.data
    total = sum(d.class_counts.values()) or 1
    biggest = max(d.class_counts.values(), default=0) or 1
    class_bars = [
        {"name": k, "count": v, "share": v / total, "width": 100 * v / biggest}
        for k, v in d.class_counts.items()
    ]
    slowest = max((a.seconds for a in record.analyses), default=0.0) or 1.0
    timings = [
        {
            "name": a.name,
            "seconds": a.seconds,
            "width": 100 * a.seconds / slowest,
            "status_class": a.status if a.status in ("ok", "skipped", "failed") else "unknown",
        }
        for a in record.analyses
    ]
    length_chart = prepare_chart(
        ChartSpec(name="lengths", title="Texts by length", spec=length_spec),
        "chart-overview-lengths",
    )
    names = ", ".join(m.name for m in record.models)
    return {
        "headline_title": f"{names} on {d.spec}" if names else f"Report on {d.spec}",
        "ok_count": sum(a.status == "ok" for a in record.analyses),
        "analysis_cards": cards,
        "model_cards": [{"card": m, "confusion": confusion_context(m)} for m in record.models],
        "class_bars": class_bars,
        "length_chart": length_chart,
        "timings": timings,
        "config_text": pretty_json(record.config),
    }
