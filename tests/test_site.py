"""The static site without a browser: files, report.json, summary.md, escaping, links,
CSV downloads, budgets, atomic replacement, the record round trip, template overrides,
templates from a wheel."""

from __future__ import annotations

import base64
import dataclasses
import html.parser
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from reportgen.atomic import STAGING_TAG, remove_stale_staging
from reportgen.errors import BadInput
from reportgen.records import ChartSpec, RunRecord
from reportgen.records.json_form import load_record, save_record
from reportgen.site import builder
from reportgen.site.budget import SiteTooLarge
from reportgen.site.builder import FullTable, build_site
from reportgen.site.charts import MAX_ROWS, data_rows, prepare_chart
from reportgen.site.report_json import report_json
from reportgen.site.summary import md_escape, summary_markdown
from reportgen.site.table_files import LARGE_TABLE_ROWS, table_files, to_csv_bytes
from tests.site_fixtures import PAGES, SCRIPT, TEMPLATE, XSS, make_record

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def record() -> RunRecord:
    return make_record()


@pytest.fixture(scope="module")
def site(record: RunRecord, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "report"
    assert build_site(record, out).index == out / "index.html"
    return out


@pytest.fixture(scope="module")
def single(record: RunRecord, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("single") / "report"
    build_site(record, out, single_file=True)
    return out


class _Links(html.parser.HTMLParser):
    """Every src/href of a page, and the download links with their file names."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.downloads: list[tuple[str, str]] = []  # (href, download name)
        self.scripts_src: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for key in ("src", "href", "xlink:href", "srcset", "poster", "data"):
            if key in a:
                self.urls.append((tag, key, a[key]))
        if tag == "a" and "download" in a:
            self.downloads.append((a.get("href", ""), a["download"]))
        if tag == "script" and "src" in a:
            self.scripts_src.append(a["src"])


def _links(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# layout ----------------------------------------------------------------------------------------
def test_site_layout(site: Path) -> None:
    files = set(_snapshot(site))
    for page in PAGES:
        assert page in files
    assert {"assets/vega.js", "assets/style.css", "report.json", "summary.md"} <= files
    assert {"data/saliency/tokens.csv", "data/saliency/by_model.csv"} <= files
    assert "data/variance_salience/cells.csv" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle"))]


def test_single_file_layout(single: Path) -> None:
    names = sorted(p.name for p in single.iterdir())
    assert names == [".reportgen-manifest.json", "index.html", "report.json", "summary.md"]
    text = (single / "index.html").read_text(encoding="utf-8")
    for name in ("saliency", "variance_salience", "filter_top_words", "optimization"):
        assert f'id="analysis-{name}"' in text
    assert "window.vegaEmbed" in text  # the bundle is inline
    assert text.count("window.vegaEmbed=") == 1


def test_bundle_loaded_once_per_page(site: Path) -> None:
    for page in PAGES:
        scripts = _links(site / page).scripts_src
        assert len(scripts) <= 1, page
        assert all(s.endswith("assets/vega.js") for s in scripts)
    assert _links(site / "analyses/saliency.html").scripts_src == ["../assets/vega.js"]
    assert _links(site / "analyses/optimization.html").scripts_src == []  # no charts, no bundle


# report.json and summary.md ---------------------------------------------------------------------
def test_report_json_schema(site: Path, record: RunRecord) -> None:
    report = json.loads((site / "report.json").read_text(encoding="utf-8"))
    assert report == report_json(
        record,
        {
            "saliency": {
                "tokens": "data/saliency/tokens.csv",
                "by_model": "data/saliency/by_model.csv",
            },
            "variance_salience": {"cells": "data/variance_salience/cells.csv"},
        },
        {"variance_salience": {"cells.csv": FullTable("data/variance_salience/cells.csv.gz", 0,
                                                      LARGE_TABLE_ROWS)}},
    )
    assert isinstance(report["reportgen_version"], str)
    assert report["created"] == record.created
    assert isinstance(report["seed"], int) and isinstance(report["device"], str)
    for model in report["models"]:
        assert {"name", "arch", "parameters", "accuracy", "classes"} <= set(model)
        assert isinstance(model["parameters"], int) and isinstance(model["classes"], list)
    assert {"spec", "examples", "classes"} <= set(report["data"])
    assert list(report["analyses"]) == [a.name for a in record.analyses]
    for entry in report["analyses"].values():
        assert {"status", "reason", "seconds", "metrics"} <= set(entry)
        assert entry["status"] in ("ok", "skipped", "failed")
        assert all(isinstance(v, (int, float)) for v in entry["metrics"].values())
    assert report["analyses"]["optimization"]["reason"]
    assert report["analyses"]["saliency"]["reason"] is None
    assert report["analyses"]["saliency"]["metrics"]["top_token_share"] == 0.4125


def test_a_long_table_is_a_sampled_csv_beside_every_row_gzipped(site: Path,
                                                                record: RunRecord) -> None:
    frame = next(a for a in record.analyses if a.name == "variance_salience").tables["cells"]
    assert len(frame) == 24_000 > LARGE_TABLE_ROWS
    sample = pd.read_csv(site / "data/variance_salience/cells.csv")
    full = pd.read_csv(site / "data/variance_salience/cells.csv.gz")
    assert len(sample) == LARGE_TABLE_ROWS and len(full) == 24_000
    pd.testing.assert_frame_equal(full, pd.read_csv(io.BytesIO(to_csv_bytes(frame))))
    # the sample: rows of the table, in the table's order, the same every build (seeded)
    merged = sample.reset_index().merge(full.reset_index(), on=list(frame.columns), how="left")
    assert merged["index_y"].notna().all() and merged["index_y"].is_monotonic_increasing
    again = table_files(frame, record.seed)
    assert again.csv == (site / "data/variance_salience/cells.csv").read_bytes()
    assert again.full_gz == (site / "data/variance_salience/cells.csv.gz").read_bytes()
    report = json.loads((site / "report.json").read_text(encoding="utf-8"))
    entry = report["analyses"]["variance_salience"]["tables"]["cells"]
    assert entry == {"rows": 24_000, "columns": ["token", "dim", "value"],
                     "csv": "data/variance_salience/cells.csv", "csv_rows": LARGE_TABLE_ROWS,
                     "full_csv": "data/variance_salience/cells.csv.gz"}
    page = (site / "analyses/variance_salience.html").read_text(encoding="utf-8")
    assert 'href="../data/variance_salience/cells.csv.gz"' in page and "Download all rows" in page
    assert "a seeded sample of 10,000 rows" in page
    small = report["analyses"]["saliency"]["tables"]["tokens"]
    assert small["full_csv"] is None and small["csv_rows"] == small["rows"]


def test_report_json_is_strict(record: RunRecord) -> None:
    broken = dataclasses.replace(record, analyses=list(record.analyses))
    broken.analyses[0] = dataclasses.replace(
        record.analyses[0], metrics={"nan": float("nan"), "inf": float("inf"), "n": 3}
    )
    report = report_json(broken)
    assert report["analyses"]["saliency"]["metrics"] == {"nan": None, "inf": None, "n": 3}
    json.dumps(report, allow_nan=False)


def test_summary_markdown(site: Path, record: RunRecord) -> None:
    text = (site / "summary.md").read_text(encoding="utf-8")
    assert text == summary_markdown(record)
    assert "| cnn | text\\_cnn | 1,234,567 | 81.2% |" in text
    assert "top token share = 41.2%" in text
    assert "no convolutional layer" in text
    for raw in ("<script", "<img", "{{"):
        assert raw not in text
    rows = [line for line in text.splitlines() if line.startswith("|")]
    for line in rows:  # no cell content adds a column
        cells = line.replace("\\|", "").count("|")
        assert cells in (5,), line


def test_md_escape() -> None:
    assert md_escape("a|b") == "a\\|b"
    assert md_escape("<b>**x**</b>") == "&lt;b&gt;\\*\\*x\\*\\*&lt;/b&gt;"
    assert md_escape("line\nbreak") == "line break"
    assert md_escape("@octocat") == "@\u200boctocat"
    assert md_escape("x" * 500).endswith("…")


# escaping and links -----------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_hostile_text_is_escaped(site: Path, page: str) -> None:
    text = (site / page).read_text(encoding="utf-8")
    assert SCRIPT not in text
    assert "<img src=x" not in text
    assert "onerror=alert(1)>" not in text.replace("&gt;", "")  # only the escaped form
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # the data spec, in the sidebar
    assert TEMPLATE in text and "{{" not in text.replace(TEMPLATE, "")


def test_hostile_text_in_single_file(single: Path) -> None:
    text = (single / "index.html").read_text(encoding="utf-8")
    assert SCRIPT not in text and "<img src=x" not in text
    assert TEMPLATE in text


def test_chart_specs_cannot_close_their_script(site: Path) -> None:
    text = (site / "analyses/saliency.html").read_text(encoding="utf-8")
    start = text.index('<script type="application/json"')
    block = text[start : text.index("</script>", start)]
    assert "\\u003cscript\\u003ealert(1)" in block  # the hostile label, JSON-escaped
    assert "vegaEmbed" in text and "actions: false" in text


@pytest.mark.parametrize("which", ["site", "single"])
def test_no_remote_urls_in_src_or_href(which: str, request: pytest.FixtureRequest) -> None:
    root: Path = request.getfixturevalue(which)
    for page in root.rglob("*.html"):
        for tag, attr, value in _links(page).urls:
            low = value.strip().lower()
            assert not low.startswith(("http:", "https:", "//", "javascript:")), (page, tag, value)


def test_internal_links_resolve(site: Path) -> None:
    for page in PAGES:
        for _tag, _attr, value in _links(site / page).urls:
            if value.startswith(("#", "data:")):
                continue
            target = (site / page).parent / value.split("#")[0]
            assert target.is_file(), (page, value)


# tables and CSV downloads -----------------------------------------------------------------------
def test_csv_downloads_parse(site: Path, record: RunRecord) -> None:
    downloads = _links(site / "analyses/saliency.html").downloads
    assert [name for _, name in downloads] == ["tokens.csv", "by_model.csv"]
    tokens = pd.read_csv(site / "analyses" / downloads[0][0], keep_default_na=False)
    expected = record.analyses[0].tables["tokens"]
    assert len(tokens) == len(expected) == 120
    assert list(tokens["token"]) == list(expected["token"])
    assert set(tokens["token"]) == set(XSS)


def test_tables_show_first_rows(site: Path) -> None:
    text = (site / "analyses/saliency.html").read_text(encoding="utf-8")
    assert "first 50 of 120 rows" in text
    table = text[text.index('id="table-saliency-tokens"') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == 51  # header + 50 rows


def test_single_file_csv_data_uris(single: Path, record: RunRecord) -> None:
    downloads = _links(single / "index.html").downloads
    by_name = {name: href for href, name in downloads}
    assert set(by_name) >= {"tokens.csv", "by_model.csv", "cells.csv"}
    href = by_name["tokens.csv"]
    assert href.startswith("data:text/csv;charset=utf-8;base64,")
    frame = pd.read_csv(io.BytesIO(base64.b64decode(href.split(",", 1)[1])), keep_default_na=False)
    assert list(frame["token"]) == list(record.analyses[0].tables["tokens"]["token"])


def test_single_file_leaves_out_tables_too_large(
    record: RunRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builder, "SINGLE_FILE_CSV_SHARE", 0.02)  # 100 kB of the 5 MB page budget
    out = tmp_path / "one"
    build_site(record, out, single_file=True)
    text = (out / "index.html").read_text(encoding="utf-8")
    names = [name for _, name in _links(out / "index.html").downloads]
    assert "cells.csv" not in names and "tokens.csv" in names  # 254 kB and 6 kB
    assert "too large to embed in a single file" in text


# charts ------------------------------------------------------------------------------------------
def test_large_heatmap_becomes_png(site: Path) -> None:
    page = site / "analyses/variance_salience.html"
    text = page.read_text(encoding="utf-8")
    assert 'type="application/json"' not in text  # no inline spec for it
    images = [v for tag, attr, v in _links(page).urls if tag == "img"]
    assert images == ["../assets/charts/variance_salience/01-big.png"]
    assert (site / "assets/charts/variance_salience/01-big.png").read_bytes()[
        :8
    ] == b"\x89PNG\r\n\x1a\n"
    assert _links(page).scripts_src == []


def test_chart_thresholds(record: RunRecord) -> None:
    small = record.analyses[0].charts[1]
    assert data_rows(small.spec) == 12 * 20
    assert prepare_chart(small, "x").kind == "vega"
    big = record.analyses[1].charts[0]
    assert data_rows(big.spec) > MAX_ROWS
    assert prepare_chart(big, "x", max_rows=10**9).kind == "vega"
    bar = record.analyses[0].charts[0]
    assert data_rows(bar.spec) == 6  # Altair's named datasets count too


def test_chart_with_data_url_is_refused() -> None:
    spec = {"data": {"url": "data/x.csv"}, "mark": "bar"}
    with pytest.raises(ValueError, match="inline"):
        prepare_chart(ChartSpec("c", "C", spec), "x")


def test_character_tokens_keep_their_spacing(site: Path) -> None:
    text = (site / "analyses/filter_top_words.html").read_text(encoding="utf-8")
    assert 'class="token-text token-chars"' in text
    assert "</span><span" in text  # characters are joined with nothing between them


# budget ------------------------------------------------------------------------------------------
def test_page_budget(record: RunRecord, site: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(site, out)
    before = _snapshot(out)
    with pytest.raises(SiteTooLarge, match=r"page_budget_mb") as info:
        build_site(record, out, page_budget_mb=0.05)
    assert "analyses/saliency.html" in str(info.value)
    assert isinstance(info.value, BadInput)
    assert _snapshot(out) == before
    with pytest.raises(SiteTooLarge, match=r"site_budget_mb"):
        build_site(record, out, site_budget_mb=1)
    assert _snapshot(out) == before


def test_single_file_is_one_page_for_the_budget(record: RunRecord, tmp_path: Path) -> None:
    with pytest.raises(SiteTooLarge, match="index.html"):
        build_site(record, tmp_path / "one", single_file=True, page_budget_mb=1)
    assert not (tmp_path / "one").exists()


# atomic replacement ------------------------------------------------------------------------------
def test_failure_midway_leaves_old_site(
    record: RunRecord, site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report"
    shutil.copytree(site, out)
    before = _snapshot(out)

    def boom(_record: RunRecord) -> str:
        raise RuntimeError("killed while writing")

    monkeypatch.setattr(builder, "summary_markdown", boom)  # after pages, CSVs, report.json
    with pytest.raises(RuntimeError, match="killed"):
        build_site(record, out)
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging left behind


def test_failure_when_out_is_new(
    record: RunRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builder, "summary_markdown", lambda r: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        build_site(record, tmp_path / "new")
    assert list(tmp_path.iterdir()) == []


def test_failed_swap_restores_old_site(
    record: RunRecord, site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report"
    shutil.copytree(site, out)
    before = _snapshot(out)
    real_replace = os.replace
    calls: list[tuple[str, str]] = []

    def flaky(src: str | Path, dst: str | Path) -> None:
        calls.append((str(src), str(dst)))
        if len(calls) == 2:  # old -> backup went through; staged -> out fails
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr("reportgen.atomic.exchange", lambda a, b: False)  # two-rename path
    monkeypatch.setattr("reportgen.atomic.os.replace", flaky)
    with pytest.raises(OSError, match="disk full"):
        build_site(record, out)
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_rebuild_replaces_old_site(record: RunRecord, tmp_path: Path) -> None:
    out = tmp_path / "report"
    build_site(record, out)
    (out / "stale.html").write_text("old", encoding="utf-8")  # the user's: kept
    build_site(record, out, single_file=True)
    assert (out / "stale.html").read_text(encoding="utf-8") == "old"
    assert not (out / "analyses").exists()  # reportgen's own, not written again: gone


def test_refuses_to_replace_a_foreign_directory(record: RunRecord, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious", encoding="utf-8")
    with pytest.raises(BadInput, match="holds no reportgen report"):
        build_site(record, out)
    assert (out / "thesis.tex").read_text(encoding="utf-8") == "precious"
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(BadInput, match="not a directory"):
        build_site(record, tmp_path / "file")


def test_stale_staging_of_dead_process_is_removed(tmp_path: Path) -> None:
    out = tmp_path / "report"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / f".report{STAGING_TAG}{dead.stdout.strip()}-abc"
    alive = tmp_path / f".report{STAGING_TAG}{os.getpid()}-abc"
    other = tmp_path / "unrelated"
    for d in (stale, alive, other):
        d.mkdir()
    remove_stale_staging(out)
    assert not stale.exists() and alive.exists() and other.exists()


# the cached record -------------------------------------------------------------------------------
def _assert_same(a: object, b: object) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    elif dataclasses.is_dataclass(a):
        assert type(a) is type(b)
        for f in dataclasses.fields(a):
            _assert_same(getattr(a, f.name), getattr(b, f.name))
    elif isinstance(a, dict):
        assert list(a) == list(b)
        assert [type(k) for k in a] == [type(k) for k in b]
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        assert a == b and type(a) is type(b), (a, b)


def test_record_round_trip(record: RunRecord, tmp_path: Path) -> None:
    save_record(record, tmp_path / "cache")
    assert sorted(p.suffix for p in (tmp_path / "cache" / "tables").iterdir()) == [".parquet"] * 3
    loaded = load_record(tmp_path / "cache")
    _assert_same(record, loaded)
    assert report_json(loaded) == report_json(record)


def test_record_round_trip_odd_values(record: RunRecord, tmp_path: Path) -> None:
    odd = dataclasses.replace(
        record,
        config={"$weird": {"nested": [1, 2.5, None, "x"]}, "by_int": {1: "a"}},
        data=dataclasses.replace(record.data, length_counts={5: 1, 12: 3}),
    )
    save_record(odd, tmp_path / "c")
    loaded = load_record(tmp_path / "c")
    assert loaded.config == odd.config and loaded.data.length_counts == {5: 1, 12: 3}


def test_render_from_loaded_record_is_identical(
    record: RunRecord, site: Path, tmp_path: Path
) -> None:
    save_record(record, tmp_path / "cache")
    build_site(load_record(tmp_path / "cache"), tmp_path / "again")
    assert _snapshot(tmp_path / "again") == _snapshot(site)


def test_load_record_errors(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no cached run"):
        load_record(tmp_path)
    (tmp_path / "record.json").write_text('{"format": 99}', encoding="utf-8")
    with pytest.raises(BadInput, match="format"):
        load_record(tmp_path)


# templates ---------------------------------------------------------------------------------------
def test_user_templates_override(record: RunRecord, tmp_path: Path) -> None:
    user = tmp_path / "templates"
    (user / "analyses").mkdir(parents=True)
    (user / "analyses" / "saliency.html").write_text(
        '{% extends "analysis.html" %}{% block extra %}<p id="mine">custom {{ a.title }}</p>'
        "{% endblock %}",
        encoding="utf-8",
    )
    (user / "style.css").write_text("body { color: #123456; }", encoding="utf-8")
    out = tmp_path / "site"
    build_site(record, out, template_dir=user)
    assert '<p id="mine">custom First-derivative saliency</p>' in (
        out / "analyses/saliency.html"
    ).read_text(encoding="utf-8")
    assert 'id="mine"' not in (out / "analyses/optimization.html").read_text(encoding="utf-8")
    assert (out / "assets/style.css").read_text(encoding="utf-8") == "body { color: #123456; }"
    single = tmp_path / "single"
    build_site(record, single, single_file=True, template_dir=user)
    assert 'id="mine"' in (single / "index.html").read_text(encoding="utf-8")


def test_missing_template_dir(record: RunRecord, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        build_site(record, tmp_path / "x", template_dir=tmp_path / "nope")


def test_templates_from_built_wheel(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="needs hatchling to build the wheel")
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "reportgen", src / "reportgen", ignore=ignore)
    shutil.copytree(REPO / "templates", src / "templates", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", src)
    readme = REPO / "README.md"
    (src / "README.md").write_text(readme.read_text(encoding="utf-8") if readme.exists() else "x")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
        cwd=src,
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("reportgen-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("base.html", "index.html", "analysis.html", "style.css", "render.js"):
        assert f"reportgen/templates/{name}" in names
    installed = tmp_path / "installed"
    zipfile.ZipFile(wheel).extractall(installed)
    shutil.copy(REPO / "tests" / "site_fixtures.py", installed / "site_fixtures.py")
    script = (
        "import sys; from pathlib import Path\n"
        "import reportgen.site.templating as t\n"
        "from reportgen.site.builder import build_site\n"
        "from site_fixtures import make_record\n"
        "assert Path(t.__file__).is_relative_to(Path.cwd()), t.__file__\n"
        "assert t.template_dir() == Path.cwd() / 'reportgen' / 'templates', t.template_dir()\n"
        "print(build_site(make_record(), Path(sys.argv[1])))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(installed)
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "out")],
        check=False,
        cwd=installed,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "analyses" / "saliency.html").is_file()


def test_minimal_record(record: RunRecord, tmp_path: Path) -> None:
    """No analyses, an autoencoder without accuracy or confusion, no length counts."""
    model = dataclasses.replace(
        record.models[0], task="autoencode", accuracy=None, confusion=None, layers=[], classes=[]
    )
    data = dataclasses.replace(record.data, length_counts={}, class_counts={}, classes=[])
    bare = dataclasses.replace(record, models=[model], data=data, analyses=[], config={})
    build_site(bare, tmp_path / "bare")
    names = sorted(p.name for p in (tmp_path / "bare").iterdir())
    assert names == [
        ".reportgen-manifest.json", "analyses", "assets", "index.html", "report.json", "summary.md"
    ]
    report = json.loads((tmp_path / "bare" / "report.json").read_text(encoding="utf-8"))
    assert report["analyses"] == {} and report["models"][0]["accuracy"] is None


def test_exchange_swaps_two_folders_atomically(tmp_path: Path) -> None:
    from reportgen.atomic import exchange

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("from a")
    (b / "x").write_text("from b")
    if not exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not supported here")
    assert (a / "x").read_text() == "from b" and (b / "x").read_text() == "from a"


def test_a_backup_orphaned_between_two_renames_is_restored(record: RunRecord,
                                                           tmp_path: Path) -> None:
    from reportgen.atomic import BACKUP_TAG

    out = tmp_path / "report"
    build_site(record, out)
    before = _snapshot(out)
    out.rename(tmp_path / f".report{BACKUP_TAG}abc")  # as if killed after old -> backup
    build_site(record, tmp_path / "elsewhere")  # unrelated builds do not touch it
    assert not out.exists()
    from reportgen.atomic import restore_orphaned_backup

    restore_orphaned_backup(out)
    assert _snapshot(out) == before
