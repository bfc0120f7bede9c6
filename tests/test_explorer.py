"""``reportgen.chart_explorer``: a searchable, paged table as one Vega-Lite chart.

Spec-level checks always run; the browser checks (Debian's Chromium through Playwright, offline,
from ``file://``) skip where either is missing, like ``test_site_browser``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reportgen.chart_explorer import explorer_chart
from reportgen.site.charts import MAX_SPEC_BYTES, data_rows, prepare_chart

FILTER_COLUMNS = ["filter", "width", "firing_share", "best_pattern", "top_words", "mean_act"]
WORDS = ["good", "bad", "film", "plot", "dull", "great", "not", "very", "cast", "fine", "zebra"]
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
RLO = "\u202e"


def filters(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` convolutional filters as an analysis would tabulate them, plus unshown columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "filter": np.arange(n),
            "width": rng.integers(1, 6, n),
            "firing_share": rng.random(n).round(4),
            "best_pattern": [" ".join(rng.choice(WORDS, 3)) for _ in range(n)],
            "top_words": [", ".join(rng.choice(WORDS, 5)) for _ in range(n)],
            "mean_act": rng.normal(size=n),
            "unshown_text": ["x" * 200] * n,
            "unshown_number": rng.random(n),
        }
    )


def explorer(frame: pd.DataFrame, **kwargs):
    options = {
        "name": "filters",
        "title": "Filters",
        "search": ["best_pattern", "top_words"],
        "sort": "firing_share",
        "formats": {"firing_share": ".1%"},
    }
    return explorer_chart(frame, FILTER_COLUMNS, **(options | kwargs))


def embedded(spec: dict) -> list[dict]:
    """The rows of the explorer's table: the data of the whole layer chart (once, not per layer)."""
    names = {spec["layer"][0]["data"]["name"], spec["layer"][-1]["data"]["name"]}
    assert names == {"explorer_rows"}
    return spec["datasets"]["explorer_rows"]


def params(spec: dict) -> dict[str, dict]:
    return {p["name"]: p for p in spec["params"]}


# -- the spec ------------------------------------------------------------------------------------
def test_params_are_bound() -> None:
    spec = explorer(filters(300), page_size=20).spec
    found = params(spec)
    assert found["search"]["bind"]["input"] == "search" and found["search"]["value"] == ""
    page = found["page"]
    assert page["value"] == 0
    assert page["bind"] == page["bind"] | {"input": "range", "min": 0, "max": 14, "step": 1}
    transforms = [t for layer in spec["layer"] for t in layer.get("transform", [])]
    filters_ = [t["filter"] for t in transforms if "filter" in t]
    assert any("indexof(datum._h, lower(trim(search)))" in f for f in filters_)
    assert any(t.get("window", [{}])[0].get("op") == "row_number" for t in transforms)
    fold = next(t for t in transforms if "fold" in t)
    assert fold["fold"] == [f"d{i}" for i in range(len(FILTER_COLUMNS))]
    shares = next(t["calculate"] for t in transforms if t.get("as") == "d2")
    assert 'format(datum["c2"], ".1%")' in shares  # formatted before the fold
    assert spec["usermeta"]["reportgen"]["kind"] == "explorer"


def test_only_needed_columns_are_embedded() -> None:
    frame = filters(50)
    rows = embedded(explorer(frame, search=["best_pattern", "unshown_text"]).spec)
    assert len(rows) == 50
    # six shown + one searched-only column, and each row's sort position
    assert set(rows[0]) == {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "_o"}
    assert rows[0]["c6"] == "x" * 200
    rows = embedded(explorer(frame).spec)
    assert set(rows[0]) == {"c0", "c1", "c2", "c3", "c4", "c5", "_o"}
    assert [r["c0"] for r in rows] == frame["filter"].tolist()
    json.dumps(rows, allow_nan=False)
    assert "unshown_number" not in json.dumps(explorer(frame).spec)


def test_sort_order_missing_last_ties_in_frame_order() -> None:
    frame = pd.DataFrame({"id": ["a", "b", "c", "d", "e"], "score": [0.5, np.nan, 0.9, 0.5, 0.1]})
    for descending, expected in ((True, "cadeb"), (False, "eadcb")):
        spec = explorer_chart(
            frame,
            ["id", "score"],
            name="x",
            title="x",
            search=["id"],
            sort="score",
            descending=descending,
        ).spec
        rows = sorted(embedded(spec), key=lambda r: r["_o"])
        assert "".join(r["c0"] for r in rows) == expected


def test_4096_rows_fit_the_inline_budget() -> None:
    chart = explorer(filters(4096))
    size = len(json.dumps(chart.spec, separators=(",", ":")))
    assert size < MAX_SPEC_BYTES, size
    prepared = prepare_chart(chart, "explorer")
    assert prepared.kind == "vega"  # drawn in the browser, never a PNG at this size
    assert data_rows(chart.spec) < 4096 + 50


def test_a_large_explorer_is_never_a_png() -> None:
    chart = explorer(filters(25_000))  # past the row and size limits that make other charts PNGs
    prepared = prepare_chart(chart, "explorer")
    assert prepared.kind == "vega" and prepared.renderer == "svg"


def test_bad_arguments() -> None:
    frame = filters(10)
    with pytest.raises(ValueError, match="not in the frame"):
        explorer(frame, sort="nope")
    with pytest.raises(ValueError, match="not in the frame"):
        explorer(frame, search=["nope"])
    with pytest.raises(ValueError, match="d3 format"):
        explorer(frame, formats={"firing_share": "{:.1%}"})
    with pytest.raises(ValueError, match="not a shown column"):
        explorer(frame, formats={"unshown_number": ".1f"})
    with pytest.raises(ValueError, match="does not hold numbers"):
        explorer(frame, formats={"best_pattern": ".1f"})
    with pytest.raises(ValueError, match="page_size"):
        explorer(frame, page_size=0)


def test_empty_and_odd_frames() -> None:
    empty = explorer(filters(0))
    assert embedded(empty.spec) == []
    odd = pd.DataFrame(
        {
            "name": ["a.b", None, "c"],
            "tags": [["x", "y"], [], None],
            "flag": [True, False, True],
            "v": [1.0, np.nan, 3.0],
        }
    )
    spec = explorer_chart(
        odd, ["name", "tags", "flag", "v"], name="o", title="o", search=["name", "tags"], sort="v"
    ).spec
    json.dumps(spec, allow_nan=False)  # no NaN in the JSON
    rows = sorted(embedded(spec), key=lambda r: r["_o"])
    assert [r["c0"] for r in rows] == ["c", "a.b", None]  # NaN v sorts last
    assert [r["c1"] for r in rows] == [None, "x, y", ""]
    assert [r["c2"] for r in rows] == ["True", "True", "False"]
    assert [r["c3"] for r in rows] == [3.0, 1.0, None]


# -- in a browser --------------------------------------------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="vega.js"></script></head>
<body><div id="chart"></div>
<script type="application/json" id="spec">{spec}</script>
<script>
  vegaEmbed("#chart", JSON.parse(document.getElementById("spec").textContent),
            {{actions: false, renderer: "svg"}})
    .then(function (result) {{ window.view = result.view; }})
    .catch(function (err) {{ console.error(err); }});
</script></body></html>
"""

# what the explorer draws: the status line and each cell with its row's rank and column key
DRAWN = """
() => {
  const out = {status: null, cells: []};
  const walk = (mark) => {
    for (const item of mark.items || []) {
      const d = item.datum || {};
      if (mark.marktype === 'text' && '_status' in d) out.status = item.text;
      if (mark.marktype === 'text' && '_key' in d) {
        out.cells.push({rank: d._rank, key: d._key, text: item.text, full: d._full});
      }
      (item.items || []).forEach(walk);
    }
  };
  walk(window.view.scenegraph().root);
  out.svgTexts = document.querySelectorAll('#chart svg text').length;
  return out;
}
"""


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import vl_convert

    folder = tmp_path_factory.mktemp("explorer")
    (folder / "vega.js").write_text(vl_convert.javascript_bundle(), encoding="utf-8")
    return folder


def open_page(browser, path: Path, problems: list[str], dialogs: list[str]):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)

    def route(r) -> None:
        if r.request.url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            problems.append(f"network request: {r.request.url}")
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri(), wait_until="load")
    return context, page


def browse_frame(n: int) -> pd.DataFrame:
    frame = filters(n, seed=1)
    frame.loc[7, "best_pattern"] = f"{SCRIPT} {IMG} {RLO}zebra"
    frame.loc[8, "top_words"] = "word " * 30  # 150 characters: cut on screen
    return frame


def expected_ids(frame: pd.DataFrame, term: str, page: int, size: int) -> list[int]:
    """Filter ids on ``page`` of the matches of ``term``, in rank order (what pandas says)."""
    hay = (frame["best_pattern"] + "\n" + frame["top_words"]).str.lower()
    kept = frame[hay.str.contains(term.lower(), regex=False)]
    ranked = kept.sort_values("firing_share", ascending=False, kind="stable")
    return ranked["filter"].iloc[page * size : (page + 1) * size].tolist()


def wait_status(page, text: str, *, start: bool = True, absent: bool = False) -> None:
    """Until the status line (the first text drawn) starts with (holds; lacks) ``text``."""
    test = "s.startsWith(t)" if start else "s.includes(t)"
    page.wait_for_function(
        f"t => {{ const s = document.querySelector('#chart svg text').textContent; "
        f"return {'!' if absent else ''}{test}; }}",
        arg=text,
        timeout=10_000,
    )


def shown_ids(drawn: dict) -> list[int]:
    cells = sorted((c for c in drawn["cells"] if c["key"] == "d0"), key=lambda c: c["rank"])
    return [int(c["text"]) for c in cells]


@pytest.mark.browser
@pytest.mark.slow
def test_explorer_in_the_browser(browser, bundle: Path) -> None:
    from reportgen.site.visible import visible_json

    frame = browse_frame(300)
    size = 20
    chart = explorer(frame, page_size=size)
    # as the site writes it: hidden characters marked, then HTML-safe JSON (Jinja's tojson)
    spec = json.dumps(visible_json(chart.spec))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        spec = spec.replace(char, escaped)
    path = bundle / "explorer.html"
    path.write_text(PAGE.format(spec=spec), encoding="utf-8")
    problems: list[str] = []
    dialogs: list[str] = []
    context, page = open_page(browser, path, problems, dialogs)
    try:
        page.wait_for_function("() => window.view !== undefined", timeout=30_000)
        drawn = page.evaluate(DRAWN)
        assert drawn["status"] == "300 rows match · showing 1–20 · 300 in all"
        assert shown_ids(drawn) == expected_ids(frame, "", 0, size)
        assert len(drawn["cells"]) == size * len(FILTER_COLUMNS)
        assert drawn["svgTexts"] >= size * len(FILTER_COLUMNS) + len(FILTER_COLUMNS)
        assert {c["key"] for c in drawn["cells"]} == {f"d{i}" for i in range(6)}
        shares = [c["text"] for c in drawn["cells"] if c["key"] == "d2"]
        assert all(s.endswith("%") for s in shares)

        search = page.locator('input[name="search"]')
        search.fill("ZEBRA")  # any case
        wait_status(page, "300 rows", absent=True)
        drawn = page.evaluate(DRAWN)
        want = expected_ids(frame, "zebra", 0, size)
        matches = len(expected_ids(frame, "zebra", 0, 10_000))
        assert 20 < matches < 300
        assert drawn["status"].startswith(f"{matches} rows match · showing 1–20")
        assert shown_ids(drawn) == want  # page 0 of a search: its first matches
        hay = (frame["best_pattern"] + frame["top_words"]).str.lower()
        assert all("zebra" in hay[frame["filter"] == i].iloc[0] for i in shown_ids(drawn))

        slider = page.locator('input[name="page"]')
        slider.evaluate("el => { el.value = 2; el.dispatchEvent(new Event('input')); }")
        wait_status(page, "showing 41–", start=False)
        drawn = page.evaluate(DRAWN)
        page2 = expected_ids(frame, "zebra", 2, size)
        assert shown_ids(drawn) == page2 and set(page2).isdisjoint(want)

        search.fill("")  # all rows again, still on page 2
        wait_status(page, "300 rows")
        assert shown_ids(page.evaluate(DRAWN)) == expected_ids(frame, "", 2, size)

        search.fill("no such text")
        wait_status(page, "0 rows")
        assert page.evaluate(DRAWN)["cells"] == []

        search.fill("<script>")  # hostile data is searchable text, drawn as text
        wait_status(page, "1 row matches")
        drawn = page.evaluate(DRAWN)
        assert shown_ids(drawn) == [7]
        pattern = next(c for c in drawn["cells"] if c["key"] == "d3")
        assert pattern["full"] == f"{SCRIPT} {IMG} ⟨U+202E⟩zebra"
        assert page.locator("#chart svg text", has_text=SCRIPT).count() == 1
        assert page.locator("img").count() == 0

        search.fill("word word")  # a long cell: cut to 60 characters, whole in the datum
        page.locator("#chart svg text", has_text="word word word").first.wait_for()
        words = next(c for c in page.evaluate(DRAWN)["cells"] if c["key"] == "d4")
        assert len(words["text"]) == 60 and words["text"].endswith("…")
        assert words["full"] == "word " * 30
        page.wait_for_timeout(200)
    finally:
        context.close()
    assert problems == [] and dialogs == []


@pytest.mark.browser
@pytest.mark.slow
def test_explorer_on_a_built_site(browser, tmp_path: Path) -> None:
    """Through the real site: kept as an inline SVG chart (explorers draw one page), no error."""
    from reportgen.site.builder import build_site
    from tests.site_fixtures import make_record

    record = make_record()
    analysis = next(a for a in record.analyses if a.name == "filter_top_words")
    analysis.charts.append(explorer(browse_frame(4096)))
    build_site(record, tmp_path / "site")
    problems: list[str] = []
    dialogs: list[str] = []
    context, page = open_page(
        browser, tmp_path / "site" / "analyses" / "filter_top_words.html", problems, dialogs
    )
    try:
        page.wait_for_function(
            "() => document.querySelector('.chart-vega[data-rendered=\"true\"] svg')",
            timeout=30_000,
        )
        assert page.locator(".chart-png").count() == 0
        assert page.locator('input[name="search"]').count() == 1
        assert page.locator('input[name="page"]').get_attribute("max") == "163"
        page.locator('input[name="search"]').fill("zebra")
        page.wait_for_timeout(300)
    finally:
        context.close()
    assert problems == [] and dialogs == []
