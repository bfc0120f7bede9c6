"""What each template sees: records turned into display-ready pieces (no HTML here).

Numbers are formatted (one format, ``templating.format_value``), metric names made readable
(``kim-sst2.top_token_share`` -> model ``kim-sst2``, metric "top token share") and paired with
their baselines, tables cut to their first rows (empty tables left out), charts decided (inline or
PNG), colours computed; every string that comes from the data stays a plain string for the
template to escape and mark (``reportgen.site.visible``).
"""

from __future__ import annotations

import base64
import json
import math
import numbers
import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reportgen.records import AnalysisRecord, ChartSpec, DataCard, ModelCard, RunRecord
from reportgen.site.charts import PreparedChart, prepare_chart
from reportgen.site.coverage import coverage_table
from reportgen.site.metrics import (
    MetricView,
    headline_rows,
    metric_views,
    overlap_warning,
    per_model_label,
)
from reportgen.site.templating import format_value
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
    if isinstance(value, numbers.Real):  # whole numbers stay plain: ids and positions, not amounts
        x = float(value)
        whole = math.isfinite(x) and x == int(x) and abs(x) < 1e15
        return str(int(x)) if whole else format_value(x)
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
    # a table over ``LARGE_TABLE_ROWS``: the CSV holds a seeded sample of ``csv_rows`` rows and
    # ``full_href`` the whole table, gzip-compressed
    csv_rows: int = 0
    full_href: str = ""
    full_filename: str = ""
    full_size: str = ""


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


def shown_tables(a: AnalysisRecord) -> dict[str, pd.DataFrame]:
    """The tables a page shows and links (and the site writes as CSV): those with rows."""
    return {name: frame for name, frame in a.tables.items() if len(frame)}


@dataclass
class AnalysisPage:
    record: AnalysisRecord
    slug: str
    charts: list[PreparedChart] = field(default_factory=list)
    token_views: list[PreparedTokenView] = field(default_factory=list)
    tables: list[PreparedTable] = field(default_factory=list)
    metrics: list[MetricView] = field(default_factory=list)  # headline first, then the rest
    headline: MetricView | None = None  # overall headline, with its baseline
    headline_models: list[MetricView] = field(default_factory=list)  # the headline per model
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
            "headline": self.headline,
            "headline_models": self.headline_models,
            "any_baseline": any(v.baseline_key for v in self.metrics),
            "params_text": params,
        }


def prepare_analysis(a: AnalysisRecord, page_slug: str, models: Sequence[str] = ()) -> AnalysisPage:
    """``a``'s page; ``models``: the run's model names, to tell ``<model>.<metric>`` apart."""
    overall, per_model = headline_rows(a, models)
    page = AnalysisPage(
        record=a,
        slug=page_slug,
        metrics=metric_views(a, models),
        headline=overall,
        headline_models=per_model,
    )
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
    for name, frame in shown_tables(a).items():
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
                    "title": (
                        f"true {label}, predicted {predicted}: {format_value(count)} "
                        f"({format_value(share, percent=True)} of row)"
                    ),
                }
            )
        rows.append({"label": label, "cells": cells})
    classes = [card.classes[j] if j < len(card.classes) else str(j) for j in range(len(rows))]
    return {"classes": classes, "rows": rows}


def model_card_context(card: ModelCard, data: DataCard) -> dict[str, Any]:
    """A model card: what it was evaluated on, trained on, and whether the two overlap."""
    evaluated_on = card.evaluated_on or (
        f"{data.spec}, split {data.split}, {format_value(data.examples)} texts"
    )
    test_part = next((p.strip() for p in (card.trained_on or "").split(";")
                      if p.strip().split(":")[-1].strip().startswith("test ")), "")
    held_out = (f"on the held-out {test_part.split(':')[-1].strip()} of its training data"
                if test_part else "on the held-out split of its training data")
    return {
        "card": card,
        "labelled": card.labelled,
        "accuracy": format_value(card.accuracy, percent=True) if card.labelled else "no labels",
        "evaluated_on": evaluated_on,
        "trained_on": card.trained_on or "not recorded",
        "vectors": card.vectors,
        # where the checkpoint's own accuracy comes from: 'reportgen train' measured it
        "checkpoint_label": held_out,
        "checkpoint": format_value(card.checkpoint_accuracy, percent=True),
        "overlap_warning": overlap_warning(card, data.examples),
        "confusion": confusion_context(card) if card.labelled else None,
    }


def labelled_examples(d: DataCard) -> int:
    """Evaluated examples with a label (records from before ``DataCard.labelled``: the class
    counts, which count labelled examples only)."""
    return d.labelled or sum(d.class_counts.values())


def index_context(
    record: RunRecord, length_spec: dict[str, Any], href: Callable[[str], str]
) -> dict[str, Any]:
    models = [m.name for m in record.models]
    cards = []
    for a in record.analyses:
        overall, per_model = headline_rows(a, models)
        first = ([overall] if overall else []) + per_model
        shown = {v.key for v in first} | {v.baseline_key for v in first}
        # a headline pooled over the models is no number for a card: it hides the model that differs
        headline = first[0].metric if first else None
        others = [v for v in metric_views(a, models)
                  if v.model is None and v.key not in shown and v.metric != headline]
        status_class = a.status if a.status in ("ok", "skipped", "failed") else "unknown"
        cards.append(
            {
                "a": a,
                "href": href(a.name),
                "headline": overall,
                "headline_models": per_model,
                "headline_models_label": per_model_label(a, per_model),
                "others": others[:CARD_METRICS],
                # as before, for a user's own index.html: the overall headline's key and value
                "headline_name": overall.key if overall else "",
                "headline_value": overall.raw if overall else None,
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
        "model_cards": [model_card_context(m, d) for m in record.models],
        "data_labelled": labelled_examples(d),
        "label_map": list(d.label_map.items()),
        "class_bars": class_bars,
        "length_chart": length_chart,
        "timings": timings,
        "config_text": pretty_json(record.config),
        "coverage": coverage_table(record, href),
    }
