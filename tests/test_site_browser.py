"""The report in a real browser: Debian's Chromium through Playwright, from ``file://``, offline.

Every page of a site and the single-file report must load with no console error or warning, page
error or failed request, draw every chart, load nothing from the network, show the hostile strings
of the fixture as text and never open an ``alert``. Skipped only where Chromium or Playwright is
missing (CI installs both: ``apt-get install chromium``, ``pip install playwright``; never
``playwright install``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reportgen.site.builder import build_site
from tests.site_fixtures import (
    ARABIC,
    DISPLAY_PAGES,
    PAGES,
    RLO,
    SCRIPT,
    XSS,
    make_display_record,
    make_record,
)

CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")

ALL_CHARTS_DRAWN = """
() => {
  const charts = [...document.querySelectorAll('.chart')];
  return charts.every(el => {
    if (el.classList.contains('chart-error')) return true;  // reported below
    const img = el.querySelector('img');
    if (el.classList.contains('chart-png')) return img && img.complete && img.naturalWidth > 0;
    return el.getAttribute('data-rendered') === 'true' && el.querySelector('svg, canvas');
  });
}
"""

REMOTE_ATTRIBUTES = ("""
() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const name of ['src', 'href', 'xlink:href', 'srcset', 'poster', 'action']) {
      const value = el.getAttribute(name);
      if (value && /^\\s*(https?:)?\\/\\//i.test(value)) """
                     """found.push(el.tagName + ' ' + name + '=' + value);
    }
  }
  return found;
}
""")


@dataclass
class Visit:
    """What happened while a page was open."""

    url: str
    problems: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    text: str = ""
    charts: int = 0
    drawn: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("browser")
    record = make_record()
    build_site(record, root / "site")
    build_site(record, root / "single", single_file=True)
    return {"site": root / "site", "single": root / "single"}


def visit(browser, path: Path) -> Visit:
    seen = Visit(path.as_uri())
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)

    def route(r) -> None:
        if r.request.url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            seen.problems.append(f"network request: {r.request.url}")
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    # errors and warnings alike: a Vega-Lite "WARN" is a chart that does not draw what it says
    page.on("console", lambda m: m.type in ("error", "warning")
            and seen.problems.append(f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda e: seen.problems.append(f"page error: {e}"))
    page.on(
        "requestfailed",
        lambda r: seen.problems.append(f"failed request: {r.url} {r.failure}"),
    )

    def on_dialog(d) -> None:
        seen.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    page.on("dialog", on_dialog)
    try:
        page.goto(seen.url, wait_until="load")
        page.wait_for_function(ALL_CHARTS_DRAWN, timeout=30_000)
        page.wait_for_timeout(200)  # late errors and dialogs
        errors = page.eval_on_selector_all(".chart-error", "els => els.map(e => e.textContent)")
        seen.problems += [f"chart error: {e}" for e in errors]
        seen.problems += [f"remote URL: {u}" for u in page.evaluate(REMOTE_ATTRIBUTES)]
        seen.charts = page.locator(".chart").count()
        seen.drawn = {
            "svg": page.locator(".chart svg").count(),
            "canvas": page.locator(".chart canvas").count(),
            "img": page.locator(".chart img").count(),
            "svg_script_label": page.locator("svg text", has_text=SCRIPT).count(),
            "img_x": page.locator('img[src="x"]').count(),
        }
        seen.text = page.inner_text("body")
    finally:
        context.close()
    return seen


def _check(seen: Visit) -> None:
    assert seen.problems == [], seen.url
    assert seen.dialogs == [], seen.url
    assert seen.drawn["img_x"] == 0
    assert seen.drawn["svg"] + seen.drawn["canvas"] + seen.drawn["img"] >= seen.charts
    for s in XSS:  # the data spec is on every page, in the navigation
        assert s in seen.text, (seen.url, s)




def test_every_page_is_listed(sites: dict[str, Path]) -> None:
    found = sorted(p.relative_to(sites["site"]).as_posix() for p in sites["site"].rglob("*.html"))
    assert found == sorted(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_page_offline(browser, sites: dict[str, Path], page: str) -> None:
    seen = visit(browser, sites["site"] / page)
    _check(seen)
    expected_charts = {
        "index.html": 1,
        "analyses/saliency.html": 2,
        "analyses/variance_salience.html": 1,
    }
    assert seen.charts == expected_charts.get(page, 0)
    if page == "analyses/saliency.html":
        assert seen.drawn["svg_script_label"] > 0  # a chart label, drawn as SVG text
        assert "{{7*7}}" in seen.text and "Download CSV" in seen.text
    if page == "analyses/variance_salience.html":
        assert seen.drawn["img"] == 1


def test_single_file_offline(browser, sites: dict[str, Path]) -> None:
    seen = visit(browser, sites["single"] / "index.html")
    _check(seen)
    assert seen.charts == 4 and seen.drawn["img"] == 1
    for title in ("First-derivative saliency", "Variance salience", "Sentiment neuron"):
        assert title in seen.text


def test_harness_catches_what_it_should(browser, tmp_path: Path) -> None:
    """A deliberately broken page (unescaped text, a remote image, a JS error) is caught."""
    user = tmp_path / "templates" / "analyses"
    user.mkdir(parents=True)
    (user / "saliency.html").write_text(
        '{% extends "analysis.html" %}{% block extra %}{{ a.notes[0]|safe }}'
        '<img src="https://example.com/x.png"><script>undefinedFunction()</script>{% endblock %}',
        encoding="utf-8",
    )
    build_site(make_record(), tmp_path / "bad", template_dir=tmp_path / "templates")
    seen = visit(browser, tmp_path / "bad" / "analyses" / "saliency.html")
    assert seen.dialogs == ["alert: 1"]
    joined = "\n".join(seen.problems)
    assert "network request: https://example.com/x.png" in joined
    assert "remote URL: IMG src=https://example.com/x.png" in joined
    assert "undefinedFunction" in joined


TOKEN_ROWS = """
() => [...document.querySelectorAll('.token-text')].map(p => {
  const toks = [...p.querySelectorAll('.tok')];
  return {
    text: p.innerText,
    tokens: toks.map(t => t.innerText),
    lefts: toks.map(t => t.getBoundingClientRect().left),
    tops: toks.map(t => t.getBoundingClientRect().top),
    bidi: toks.map(t => getComputedStyle(t).unicodeBidi),
  };
})
"""


def test_bidi_and_hidden_characters_in_the_browser(browser, tmp_path: Path) -> None:
    """Right-to-left and hidden characters from the data: the pages load cleanly, every token is
    its own direction box, and tokens keep their source order, in the DOM and on screen."""
    build_site(make_display_record(), tmp_path / "display")
    for page in DISPLAY_PAGES:
        seen = visit(browser, tmp_path / "display" / page)
        assert seen.problems == [] and seen.dialogs == [], page
        assert RLO not in seen.text and "⟨U+202E⟩" in seen.text
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    try:
        view = context.new_page()
        view.goto((tmp_path / "display" / "analyses" / "saliency.html").as_uri())
        rows = view.evaluate(TOKEN_ROWS)
    finally:
        context.close()
    words = ["great", *ARABIC.split(), "!"]
    arabic = next(r for r in rows if r["tokens"] == words)  # DOM order = source order
    assert arabic["text"].split() == words
    assert len(set(arabic["tops"])) == 1  # one line, so left to right is the order on screen
    assert arabic["lefts"] == sorted(arabic["lefts"])  # RTL words do not swap places
    reversed_row = next(r for r in rows if "⟨U+202E⟩film" in r["tokens"])
    assert reversed_row["text"].startswith("[CLS] a good ⟨U+202E⟩film zorbly ⟨U+202E⟩indeed [SEP]")
    assert reversed_row["lefts"] == sorted(reversed_row["lefts"])  # nothing reversed after it
    assert all(b == "isolate" for r in rows for b in r["bidi"])


# -- a real run of the pipeline on hostile data -------------------------------------------------
HOSTILE_TEXTS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "{{7*7}}"]


@pytest.fixture(scope="module")
def hostile_sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`reportgen run` (multi-page and --single-file) on a CSV whose texts attack the page."""
    import csv

    import torch
    from click.testing import CliRunner

    from reportgen.cli import main
    from reportgen.data.encoding import TextEncoder
    from reportgen.models.architectures import ARCHITECTURES
    from reportgen.models.checkpoint import Checkpoint, save_checkpoint

    root = tmp_path_factory.mktemp("hostile")
    texts = [*HOSTILE_TEXTS, "a good film", "a dull film , though the cast is fine"]
    with open(root / "hostile.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([t, ["neg", "pos"][i % 2]] for i, t in enumerate(texts))
    encoder = TextEncoder.fit("word", texts, max_len=32)
    cls = ARCHITECTURES["bilstm"]
    torch.manual_seed(0)
    module = cls(cls.default_config(encoder.n_tokens, 2))
    save_checkpoint(Checkpoint("bilstm", module.config, encoder, ["neg", "pos"],
                               module.state_dict()),
                    root / "m.pt")
    sites = {}
    for name, extra in (("site", []), ("single", ["--single-file"])):
        args = ["run", "--model", str(root / "m.pt"), "--data", f"csv:{root / 'hostile.csv'}",
                "--out", str(root / name), "--cache-dir", str(root / "cache"), "--quiet", *extra]
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        sites[name] = root / name
    return sites


def test_real_report_offline_with_hostile_texts(browser, hostile_sites: dict[str, Path]) -> None:
    from reportgen import analyses

    pages = sorted(hostile_sites["site"].rglob("*.html"))
    assert [p.name for p in pages] == [*sorted(f"{n}.html" for n in analyses.REGISTRY),
                                       "index.html"]
    drawn = [hostile_sites["site"] / "analyses" / "saliency.html",
             hostile_sites["site"] / "index.html"]
    for page in pages:  # the others are skipped for a BiLSTM: no charts, but no errors either
        assert visit(browser, page).problems == [], page
    for page in [*drawn, hostile_sites["single"] / "index.html"]:
        seen = visit(browser, page)
        assert seen.problems == [], page
        assert seen.dialogs == [], page
        assert seen.drawn["img_x"] == 0
        assert seen.drawn["svg"] + seen.drawn["canvas"] + seen.drawn["img"] >= seen.charts > 0
        if page.name != "index.html" or page.parent.name == "single":
            for text in HOSTILE_TEXTS:
                assert text in seen.text, (page, text)


def test_the_shipped_demo_report_has_no_console_warning_on_any_page(browser) -> None:
    """The committed ``site/`` (the demo report, every view of every analysis): each page draws
    every chart with no console error or warning (Vega-Lite's WARN lines included)."""
    shipped = Path(__file__).resolve().parents[1] / "site"
    pages = sorted(shipped.rglob("*.html"))
    assert len(pages) >= 10
    for page in pages:
        seen = visit(browser, page)
        assert seen.problems == [], (page.name, seen.problems)
        assert seen.drawn["svg"] + seen.drawn["canvas"] + seen.drawn["img"] >= seen.charts
