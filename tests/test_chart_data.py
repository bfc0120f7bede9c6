"""A page embeds only the data its charts draw: unused columns leave the inline datasets."""

from __future__ import annotations

import altair as alt
import pandas as pd
import vl_convert

from reportgen.chart_layout import chart_spec, drawn_columns_only

FRAME = pd.DataFrame({"model": ["a", "a", "b"], "word": ["good", "bad", "fine"],
                      "share": [0.5, 0.25, 0.125], "raw": [1.0, 2.0, 3.0],
                      "text": ["<long review one>", "<long review two>", "<three>"],
                      "unused_column": ["x" * 200] * 3})


def _columns(spec: dict) -> set[str]:
    (rows,) = spec["datasets"].values()
    return {c for row in rows for c in row}


def _chart() -> alt.Chart:
    return (alt.Chart(FRAME).mark_bar()
            .transform_calculate(doubled="datum.raw * 2")
            .encode(x="share:Q", y=alt.Y("word:N", sort="-x"), color="model:N",
                    tooltip=["word", alt.Tooltip("doubled:Q")]))


def test_unused_columns_are_dropped_and_used_ones_kept() -> None:
    spec = chart_spec(_chart())
    # 'raw' is only read by an expression; 'text' and 'unused_column' are never named
    assert _columns(spec) == {"model", "word", "share", "raw"}


def test_the_drawing_does_not_change() -> None:
    with alt.data_transformers.disable_max_rows():
        full = _chart().to_dict()
    assert "unused_column" in _columns(full)
    assert vl_convert.vegalite_to_svg(drawn_columns_only(full)) == vl_convert.vegalite_to_svg(full)


def test_whole_row_tooltips_keep_every_column() -> None:
    chart = alt.Chart(FRAME).mark_point().encode(x="share:Q", y="word:N", tooltip=alt.value(None))
    assert "unused_column" not in _columns(chart_spec(chart))
    spec = chart_spec(alt.Chart(FRAME).mark_point(tooltip=True).encode(x="share:Q", y="word:N"))
    assert "unused_column" in _columns(spec)
