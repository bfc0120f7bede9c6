"""Chart layout: panels that fit their card for any number of models, and chart specs as data.

Used by every analysis's ``present`` (Altair charts -> ``ChartSpec``) and by the site's explorer.
Pure functions over Altair charts and numbers; nothing here runs a model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import altair as alt

CARD_WIDTH = 760  # px a chart may take inside its card (the page's usual width, less padding)
PANEL_GAP = 20  # px: Vega-Lite's default spacing between facet panels and concatenated views
LABEL_LIMIT = 180  # px: Vega-Lite's default limit on an axis label's length (longer ones end in …)


def label_width(labels: Iterable[object], px_per_char: float = 6.0) -> int:
    """Rough width in px of an axis whose tick labels are ``labels`` (10 px font), padding
    included; at most Vega-Lite's label limit."""
    longest = max((len(str(v)) for v in labels), default=0)
    return int(min(LABEL_LIMIT, longest * px_per_char) + 12)


def facet_columns(n_panels: int, panel_width: float, *, reserved: float = 0,
                  max_width: float = CARD_WIDTH) -> int:
    """How many panels ``panel_width`` px wide (with whatever each panel draws beside it, such as
    its own axis) fit side by side in ``max_width`` px, less ``reserved`` px drawn once per row (a
    shared axis, a legend): the ``columns`` of a wrapped facet or concat, between 1 and
    ``n_panels``, evened out over the rows (4 panels of which 3 fit: 2 + 2, not 3 + 1)."""
    n = max(n_panels, 1)
    fit = max(1, min(n, int((max_width - reserved + PANEL_GAP) // (panel_width + PANEL_GAP))))
    return math.ceil(n / math.ceil(n / fit))


def fit_panels(n_panels: int, *, narrowest: int, widest: int, each: float = 0, reserved: float = 0,
               max_width: float = CARD_WIDTH) -> tuple[int, int]:
    """(columns, plot width) for ``n_panels`` panels in rows that fit ``max_width``: as many
    columns as fit at ``narrowest`` px, then each plot as wide as the row allows, up to
    ``widest``. ``each``: px every panel draws beside its plot (its own axis); ``reserved``: px
    drawn once per row (a shared axis, a legend)."""
    columns = facet_columns(n_panels, narrowest + each, reserved=reserved, max_width=max_width)
    room = (max_width - reserved - (columns - 1) * PANEL_GAP) / columns - each
    return columns, int(max(narrowest, min(widest, room)))


def wrap_by_model(chart: alt.Chart | alt.LayerChart, models: list[str], *, narrowest: int,
                  widest: int,
                  each: float = 0, reserved: float = 0, title: str | None = None) -> alt.FacetChart:
    """``chart`` once per model (its data has a ``model`` column), in ``models`` order, wrapped into
    rows that fit the card (``fit_panels``); the panel header names the model."""
    import altair as alt

    columns, width = fit_panels(len(models), narrowest=narrowest, widest=widest, each=each,
                                reserved=reserved)
    faceted = chart.properties(width=width).facet(
        facet=alt.Facet("model:N", title=None, sort=list(models)), columns=columns)
    return faceted.properties(title=title) if title is not None else faceted


def chart_spec(chart) -> dict:
    """An Altair chart as a Vega-Lite dict, without Altair's 5,000-row guard.

    Analyses keep charts small on purpose (top-k, a few examples); the site builder decides what is
    too big for the browser and renders that as a PNG instead. Checking every spec against the
    Vega-Lite schema takes about a second per report, so it is done where a wrong spec can be
    caught and fixed: under the tests (``REPORTGEN_VALIDATE_CHARTS=1``, set in
    ``tests/conftest.py``), not in users' runs.
    """
    import altair as alt

    validate = os.environ.get("REPORTGEN_VALIDATE_CHARTS") == "1"
    with alt.data_transformers.disable_max_rows():
        return drawn_columns_only(chart.to_dict(validate=validate))


def drawn_columns_only(spec: dict) -> dict:
    """``spec`` with every column that the spec never names dropped from its inline datasets, so a
    page carries no data it does not draw (a chart of a per-token table does not ship its texts).

    A column is kept when its name is, or is part of, any string or key of the spec outside the
    data (an encoded field, a tooltip, a transform, an expression such as ``datum.share * 100``):
    possibly more than needed, never less. A spec whose tooltips show whole rows
    (``tooltip: true``) keeps everything."""
    datasets = spec.get("datasets")
    if not datasets:
        return spec
    words: set[str] = set()
    whole_rows = False

    def walk(node: object) -> None:
        nonlocal whole_rows
        if isinstance(node, dict):
            if node.get("tooltip") is True or node.get("content") == "data":
                whole_rows = True
            for key, value in node.items():
                words.add(str(key))
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            words.add(node)

    walk({k: v for k, v in spec.items() if k != "datasets"})
    if whole_rows:
        return spec
    text = "\x00".join(words)
    pruned = {}
    for name, rows in datasets.items():
        columns = (list(dict.fromkeys(c for row in rows for c in row))
                   if isinstance(rows, list) else [])
        keep = {c for c in columns if c in words or c in text}
        pruned[name] = ([{c: v for c, v in row.items() if c in keep} for row in rows]
                        if len(keep) < len(columns) else rows)
    return {**spec, "datasets": pruned}
