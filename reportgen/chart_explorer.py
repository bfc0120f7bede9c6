"""An explorer: a searchable, paged table of thousands of rows as ONE Vega-Lite chart.

``explorer_chart(frame, columns, ...)`` returns a ``ChartSpec`` that the site embeds like any other
chart (inline spec, drawn by vega-embed, offline), for tables too long to print on a page: 4,096
convolutional filters with their width, firing share, best pattern and top words, say.

What the reader gets, all inside the Vega view (no HTML is built here):

- a search box (a ``search`` param bound to an ``<input type="search">``): rows where ANY of the
  ``search`` columns contains the typed text, ignoring case (on the text as shown, so ``12.5%``
  finds a formatted share); an empty box keeps every row;
- a page slider (a ``page`` param bound to a range input, 0-based): rows are ranked after the
  search by ``sort`` (``descending`` by default; missing values last, ties in frame order), so page
  0 of a search shows its first matches; a page past the last one of a search shows the last;
- a status line: ``N rows match · page p of P``;
- the table: a header row, then ``page_size`` rows, one text mark per cell (the shown columns
  folded into key/value), numbers formatted per ``formats`` (d3 format strings) before folding,
  text cut to ``MAX_CHARS`` characters; hovering a cell shows the whole row, uncut.

Only the needed columns travel in the spec (the shown and searched ones, under short internal
names ``c0``, ``c1``..., plus ``_o``, each row's place in the sort order), so 4,096 rows of six
short columns stay well under the site's 1.5 MB inline budget. Column names and data reach the
page only as JSON data, never inside an expression or HTML: the site marks hidden characters in them
(``visible_json``) and escapes the whole spec when it writes it into the page (Jinja ``tojson``).

The spec carries ``usermeta.reportgen.kind == "explorer"``: the browser draws only one page of cells
however many rows there are, so the site should keep it interactive rather than render a PNG.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from reportgen.chart_layout import chart_spec
from reportgen.records import ChartSpec

MAX_CHARS = 60  # longer cell text is cut (with "…"); the tooltip shows all of it
ROW_HEIGHT = 18  # pixels per table row
CHAR_WIDTH = 6.6  # pixels per character at FONT_SIZE, to size the columns
FONT_SIZE = 11
MIN_COLUMN = 36  # pixels
GAP = 14  # pixels between columns
STATUS_Y = 8  # pixel rows of the status line, the header, the first table row
HEADER_Y = 32
FIRST_ROW_Y = 52
DATASET = "explorer_rows"  # the name of the table's data in the spec's ``datasets``
# a d3-format specifier: [[fill]align][sign][symbol][0][width][,][.precision][~][type]
_D3_FORMAT = re.compile(
    r"^(?:(.)?([<>=^]))?([+\-( ])?([$#])?(0)?(\d+)?(,)?(\.\d+)?(~)?([a-z%])?$", re.IGNORECASE
)


def _literal(value: Any) -> str:
    """A Vega expression literal (JSON is valid expression syntax; ASCII only)."""
    return json.dumps(value, ensure_ascii=True)


def _cell_text(value: Any) -> str | None:
    """A non-numeric cell as text (lists joined with commas); missing stays missing (None)."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return value if isinstance(value, str) else str(value)


def _number(value: Any) -> int | float | None:
    """A numeric cell as a JSON number; missing or infinite: None."""
    if pd.isna(value):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def _records(frame: pd.DataFrame, needed: list[str], sort: str, descending: bool) -> list[dict]:
    """The needed columns under internal names ``c0``..., plus ``_o``: the row's sort position.

    Built here rather than by Altair's data sanitizer, which (pandas 3) writes a missing value of
    an object column as NaN, not JSON. Numbers stay numbers, anything else becomes text; missing
    values are None (null)."""
    ranked = frame[sort].reset_index(drop=True)
    ranked = ranked.sort_values(ascending=not descending, na_position="last", kind="stable")
    position = [0] * len(ranked)
    for place, row in enumerate(ranked.index):
        position[row] = place
    columns = {}
    for i, column in enumerate(needed):
        values = frame[column].tolist()
        convert = _number if _is_number(frame[column]) else _cell_text
        columns[f"c{i}"] = [convert(v) for v in values]
    columns["_o"] = position
    keys = list(columns)
    return [dict(zip(keys, row)) for row in zip(*columns.values())]


def _is_number(values: pd.Series) -> bool:
    dtype = values.dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _display_expr(field: str, fmt: str | None) -> str:
    """The expression of one shown cell as a string: formatted number, or text; "" if missing."""
    value = f"datum[{_literal(field)}]"
    if fmt is not None:
        shown = f"(isFinite({value}) ? format({value}, {_literal(fmt)}) : '')"
    else:
        shown = f"toString({value})"
    return f"(isValid({value}) ? {shown} : '')"


def _default_format(values: pd.Series) -> str | None:
    """Integers as integers, other numbers to 4 significant digits, anything else as text."""
    if not _is_number(values):
        return None
    return "d" if pd.api.types.is_integer_dtype(values.dtype) else ".4~g"


def _width(values: pd.Series, header: str, fmt: str | None) -> int:
    """Pixels for one column: its longest shown text (at most MAX_CHARS) or its header."""
    if fmt is not None:
        chars = 12 if "%" in fmt or "e" in fmt or "g" in fmt else 10
    else:
        lengths = values.dropna().map(lambda v: len(str(v)))
        chars = int(lengths.max()) if len(lengths) else 0
    chars = max(min(chars, MAX_CHARS + 1), len(header))
    return max(MIN_COLUMN, math.ceil(chars * CHAR_WIDTH)) + GAP


def explorer_chart(
    frame: pd.DataFrame,
    columns: list[str],
    *,
    name: str,
    title: str,
    search: list[str],
    sort: str,
    descending: bool = True,
    page_size: int = 25,
    caption: str = "",
    formats: dict[str, str] | None = None,
) -> ChartSpec:
    """A searchable, paged table of ``frame[columns]`` as one Vega-Lite chart (see the module)."""
    formats = dict(formats or {})
    columns = list(columns)
    search = list(search)
    if not columns:
        raise ValueError("an explorer needs at least one column")
    if len(set(columns)) != len(columns):
        raise ValueError(f"columns repeat: {columns}")
    missing = [c for c in [*columns, *search, sort] if c not in frame.columns]
    if missing:
        raise ValueError(f"not in the frame: {sorted(set(missing))}")
    if not search:
        raise ValueError("an explorer needs at least one column to search")
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}")
    for column, fmt in formats.items():
        if column not in columns:
            raise ValueError(f"format for {column!r}, which is not a shown column")
        if not _is_number(frame[column]):
            raise ValueError(f"format for {column!r}, which does not hold numbers")
        if not _D3_FORMAT.match(fmt):
            raise ValueError(f"{fmt!r} (for {column!r}) is not a d3 format specifier")

    needed = list(dict.fromkeys([*columns, *search]))
    field_of = {column: f"c{i}" for i, column in enumerate(needed)}
    data = _records(frame, needed, sort, descending)
    shown_fmt = {c: formats[c] if c in formats else _default_format(frame[c]) for c in columns}
    keys = [f"d{i}" for i in range(len(columns))]  # the shown (formatted) text of each column
    widths = [_width(frame[c], str(c), shown_fmt[c]) for c in columns]
    offsets = [sum(widths[:i]) for i in range(len(columns))]
    rows = len(data)
    pages = max(1, math.ceil(rows / page_size))

    # the shown text of each column, then the haystack: searched columns as shown, lower case
    display = {key: _display_expr(field_of[c], shown_fmt[c]) for key, c in zip(keys, columns)}
    parts = []
    for column in search:
        if column in columns:
            parts.append(f"datum.{keys[columns.index(column)]}")
        else:
            parts.append(_display_expr(field_of[column], _default_format(frame[column])))
    haystack = "lower(" + " + '\\n' + ".join(parts) + ")"
    matches = "!search || indexof(datum._h, lower(trim(search))) >= 0"
    # the page shown: the slider's, or the last page of the matches when the slider is past it
    current = f"min(page, max(0, ceil(datum._n / {page_size}) - 1))"
    first = f"{current} * {page_size}"  # rows before the page shown
    last = f"({current} + 1) * {page_size}"

    search_param = alt.param(
        name="search",
        value="",
        bind=alt.binding(
            input="search", name="Search ", placeholder="text in " + ", ".join(search)
        ),
    )
    page_param = alt.param(
        name="page",
        value=0,
        bind=alt.binding_range(min=0, max=pages - 1, step=1, name="Page "),
    )
    base = (
        alt.Chart(alt.NamedData(name=DATASET))
        .transform_calculate(**display)
        .transform_calculate(_h=haystack)
    )

    cells = (
        base.transform_filter(matches)
        .transform_window(_rank="row_number()", sort=[alt.SortField("_o", order="ascending")])
        .transform_joinaggregate(_n="count()")
        .transform_calculate(_p=current)
        .transform_filter(
            f"datum._rank > datum._p * {page_size} && datum._rank <= (datum._p + 1) * {page_size}"
        )
        .transform_fold(keys, as_=["_key", "_full"])
        .transform_calculate(
            _x=f"{_literal(offsets)}[indexof({_literal(keys)}, datum._key)]",
            _y=f"{FIRST_ROW_Y} + (datum._rank - 1 - datum._p * {page_size}) * {ROW_HEIGHT}",
            _cell=f"truncate(datum._full, {MAX_CHARS})",
        )
        .mark_text(align="left", baseline="middle", fontSize=FONT_SIZE)
        .encode(
            x=alt.X("_x:Q", scale=None, axis=None),
            y=alt.Y("_y:Q", scale=None, axis=None),
            text=alt.Text("_cell:N"),
            tooltip=[alt.Tooltip(f"{key}:N", title=str(c)) for key, c in zip(keys, columns)],
        )
    )
    status = (
        base.transform_calculate(_m=f"({matches}) ? 1 : 0")  # not a filter: 0 matches, one row
        .transform_aggregate(_n="sum(_m)")
        .transform_calculate(
            _status=(
                "format(datum._n, ',d') + (datum._n == 1 ? ' row matches' : ' rows match')"
                f" + (datum._n ? ' · showing ' + ({first} + 1) + '–' + min(datum._n, {last})"
                " : '')"
                f" + ' · {rows:,} in all'"
            )
        )
        .mark_text(align="left", baseline="middle", fontSize=FONT_SIZE + 1, color="#333")
        .encode(x=alt.value(0), y=alt.value(STATUS_Y), text=alt.Text("_status:N"))
    )
    labels = [{"label": str(c), "_x": x} for c, x in zip(columns, offsets)]
    header = (
        alt.Chart(alt.Data(values=labels))
        .mark_text(align="left", baseline="middle", fontSize=FONT_SIZE, fontWeight="bold")
        .encode(
            x=alt.X("_x:Q", scale=None, axis=None),
            y=alt.value(HEADER_Y),
            text=alt.Text("label:N"),
        )
    )
    rule = (
        alt.Chart(alt.Data(values=[{"_x": 0, "_x2": sum(widths)}]))
        .mark_rule(color="#999")
        .encode(
            x=alt.X("_x:Q", scale=None, axis=None),
            x2="_x2:Q",
            y=alt.value((HEADER_Y + FIRST_ROW_Y) / 2 - 2),
        )
    )
    chart = (
        alt.layer(status, header, rule, cells)
        .add_params(search_param, page_param)
        .properties(width=sum(widths), height=FIRST_ROW_Y + page_size * ROW_HEIGHT)
        .configure_view(stroke=None)
    )
    spec = chart_spec(chart)
    spec["datasets"] = {**spec.get("datasets", {}), DATASET: data}  # once, for both layers
    spec["usermeta"] = {**spec.get("usermeta", {}), "reportgen": {"kind": "explorer"}}
    return ChartSpec(name=name, title=title, spec=spec, caption=caption)
