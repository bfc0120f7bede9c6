"""What the pages show of the data, without a browser: hidden and right-to-left characters made
visible and isolated, token marks (<unk>, special, truncated, right/wrong), readable metric labels,
one number format, baselines beside headlines (index, report.json, summary.md), model provenance
and the training-overlap warning, no section for an empty table."""

from __future__ import annotations

import html.parser
import json
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from markupsafe import Markup

from reportgen.records import RunRecord, TokenBox, TokenScores, TokenView
from reportgen.site.builder import build_site
from reportgen.site.metrics import metric_label, split_metric
from reportgen.site.summary import summary_markdown
from reportgen.site.templating import format_value
from reportgen.site.tokens import box_colour, prepare_token_view
from reportgen.site.visible import visible_html, visible_text
from tests.site_fixtures import (
    ARABIC,
    BOM,
    DISPLAY_PAGES,
    DOTTED,
    HIDDEN,
    HYPHENATED,
    RLO,
    SCRIPT,
    ZWSP,
    make_display_record,
)

OVERLAP = (
    "120 of 872 evaluated texts (13.8%) were in this model's training data: accuracy on them is "
    "not a test accuracy"
)


@pytest.fixture(scope="module")
def record() -> RunRecord:
    return make_display_record()


@pytest.fixture(scope="module")
def site(record: RunRecord, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("display") / "report"
    build_site(record, out)
    return out


@pytest.fixture(scope="module")
def single(record: RunRecord, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("display-single") / "report"
    build_site(record, out, single_file=True)
    return out


BLOCKS = {"div", "p", "li", "tr", "td", "th", "dt", "dd", "h1", "h2", "h3", "h4", "table", "br"}


class _Page(html.parser.HTMLParser):
    """A page's visible text (no script or style), and every element with its attributes and own
    text: ``(tag, attrs, text)``; block elements and table cells are apart by a space."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.elements: list[tuple[str, dict[str, str], list[str]]] = []
        self._open: list[tuple[str, dict[str, str], list[str]]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._apart(tag)
        element = (tag, {k: v or "" for k, v in attrs}, [])
        self.elements.append(element)
        if tag in ("script", "style"):
            self._skip += 1
        if tag not in ("br", "img", "meta", "link", "input", "hr"):
            self._open.append(element)

    def _apart(self, tag: str) -> None:
        if tag in BLOCKS and not self._skip:
            self.text.append(" ")
            for _, _, text in self._open:
                text.append(" ")

    def handle_endtag(self, tag: str) -> None:
        self._apart(tag)
        if tag in ("script", "style"):
            self._skip -= 1
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        for _, _, text in self._open:
            text.append(data)

    def with_class(self, name: str) -> list[tuple[dict[str, str], str]]:
        """``(attributes, text)`` of each element with class ``name``, spaces collapsed."""
        return [
            (attrs, " ".join("".join(text).split()))
            for _, attrs, text in self.elements
            if name in attrs.get("class", "").split()
        ]


def _page(path: Path) -> _Page:
    parser = _Page()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _text(path: Path) -> str:
    return " ".join("".join(_page(path).text).split())


def _hidden_in(text: str) -> list[str]:
    return sorted(
        {
            f"U+{ord(c):04X}"
            for c in text
            if c not in "\t\n" and unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")
        }
    )


# hidden characters, right-to-left text, escaping -------------------------------------------------
def test_visible_functions() -> None:
    for c in HIDDEN:
        assert visible_text(f"a{c}b") == f"a⟨U+{ord(c):04X}⟩b"
        marked = visible_html(f"a{c}b")
        assert c not in marked and f"⟨U+{ord(c):04X}⟩" in marked
    assert visible_text("tab\tand\nnewline") == "tab\tand\nnewline"
    assert visible_text("\ud800") == "⟨U+D800⟩"  # a lone surrogate would break the UTF-8 page
    assert visible_html(f"{RLO}x") == Markup(
        '<bdi><span class="cc" title="U+202E RIGHT-TO-LEFT OVERRIDE">⟨U+202E⟩</span>x</bdi>'
    )
    assert visible_html(SCRIPT, isolate=False) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert visible_html('"><img src=x>') == "<bdi>&#34;&gt;&lt;img src=x&gt;</bdi>"
    assert visible_html(ARABIC) == f"<bdi>{ARABIC}</bdi>"


@pytest.mark.parametrize("page", DISPLAY_PAGES)
def test_no_hidden_character_reaches_a_page(site: Path, page: str) -> None:
    raw = (site / page).read_text(encoding="utf-8")
    assert _hidden_in(raw) == []
    text = _text(site / page)
    assert "⟨U+202E⟩" in text  # the data spec, on every page
    assert SCRIPT not in raw and "<img src=x" not in raw


def test_single_file_has_no_hidden_character_outside_the_bundle(single: Path) -> None:
    raw = (single / "index.html").read_text(encoding="utf-8")
    parts = raw.split("<script")
    outside = parts[0] + "".join(p.split("</script>", 1)[-1] for p in parts[1:])
    assert _hidden_in(outside) == []
    assert "⟨U+202E⟩" in _text(single / "index.html")


def test_markers_on_the_analysis_page(site: Path) -> None:
    raw = (site / "analyses/saliency.html").read_text(encoding="utf-8")
    page = _page(site / "analyses/saliency.html")
    markers = {attrs["title"]: text for attrs, text in page.with_class("cc") if "title" in attrs}
    assert markers["U+202E RIGHT-TO-LEFT OVERRIDE"] == "⟨U+202E⟩"
    assert markers["U+200B ZERO WIDTH SPACE"] == "⟨U+200B⟩"
    assert markers["U+FEFF ZERO WIDTH NO-BREAK SPACE"] == "⟨U+FEFF⟩"
    text = _text(site / "analyses/saliency.html")
    for shown in (
        "⟨U+202E⟩film",  # a token
        "a good ⟨U+202E⟩film⟨U+202E⟩ indeed",  # a table cell
        "caption ⟨U+202E⟩reversed",  # a token row's caption
        "note with ⟨U+202E⟩reversed text",  # a note
        "⟨U+200B⟩⟨U+FEFF⟩",  # a note of nothing but invisible characters
        "by⟨U+202E⟩model",  # a table's title
        "Top tokens ⟨U+202E⟩reversed",  # a chart's title
        SCRIPT,  # as text
    ):
        assert shown in text, shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    spec = raw[raw.index('<script type="application/json"') :]
    spec = json.loads(spec[spec.index(">") + 1 : spec.index("</script>")])
    labels = [row["token"] for rows in spec["datasets"].values() for row in rows]
    assert labels == ["⟨U+202E⟩film", ARABIC, "zero⟨U+200B⟩"]  # chart labels: plain markers


def test_right_to_left_text_is_isolated(site: Path) -> None:
    page = _page(site / "analyses/saliency.html")
    tokens = page.with_class("tok")
    assert all(attrs.get("dir") == "auto" for attrs, _ in tokens if "title" in attrs)
    arabic = [text for _, text in tokens if text in ARABIC.split()]
    assert arabic == ARABIC.split()  # in source order, each in its own direction box
    texts = [attrs for tag, attrs, _ in page.elements if "token-text" in attrs.get("class", "")]
    assert texts and all(attrs.get("dir") == "ltr" for attrs in texts)
    raw = (site / "analyses/saliency.html").read_text(encoding="utf-8")
    assert f"<td><bdi>{ARABIC}</bdi></td>" in raw  # a table cell
    assert f"<th class=\"num\"><bdi>{ARABIC}</bdi></th>" in raw  # a column name
    assert "unicode-bidi: isolate" in (site / "assets/style.css").read_text(encoding="utf-8")


def test_csv_downloads_keep_the_raw_text(site: Path, record: RunRecord) -> None:
    frame = pd.read_csv(site / "data/saliency/tokens.csv", keep_default_na=False)
    assert list(frame["text"]) == list(record.analyses[0].tables["tokens"]["text"])
    assert any(RLO in t for t in frame["text"]) and any(ZWSP in t for t in frame["text"])
    assert any(t.startswith(BOM) for t in frame["text"])


# token marks -------------------------------------------------------------------------------------
def test_unknown_special_and_truncated_tokens(site: Path) -> None:
    page = _page(site / "analyses/saliency.html")
    unk = page.with_class("tok-unk")
    shown_unk = [(a, t) for a, t in unk if t == "zorbly"]
    assert len(shown_unk) == 1
    attrs, _ = shown_unk[0]
    assert attrs["title"].startswith("not in the model's vocabulary (<unk>)")
    assert "style" not in attrs  # no saliency shading
    special = [t for a, t in page.with_class("tok-special") if a.get("title", "").startswith(
        "special token"
    )]
    assert special == ["[CLS]", "[SEP]"]
    truncated = [t for _, t in page.with_class("tok-truncated")]
    assert "… 17 more tokens not read by the model (max length)" in truncated
    known = [a for a, t in page.with_class("tok") if t == "good"]
    assert known and known[0]["style"].startswith("background-color: rgba(214, 54, 40")


def test_right_wrong_and_no_label(site: Path) -> None:
    page = _page(site / "analyses/saliency.html")
    verdicts = [t for a, t in page.with_class("verdict") if "title" in a]
    assert verdicts == ["✗ wrong", "✓ right", "no label"]
    rows = [t for _, t in page.with_class("token-meta")]
    assert "predicted positive" in rows[0] and "label negative" in rows[0]
    assert "label" not in rows[2].replace("no label", "")
    legend = " ".join(t for _, t in page.with_class("token-marks"))
    for explained in (
        "the model's prediction against the example's label",
        "not in the model's vocabulary: the model read <unk> instead",
        "special token added by the model's tokenizer",
        "cut at the model's maximum length",
        "an invisible or control character in the text",
    ):
        assert explained in legend, explained


def test_unknown_tokens_are_off_the_colour_scale() -> None:
    flags = ["", "unk", "special"]
    row = TokenScores("m", 0, ["a", "zorbly", "[CLS]"], [0.5, 9.0, 4.0], flags=flags)
    view = prepare_token_view(TokenView("v", "V", [row]))
    assert view.scale_max == 0.5
    assert [t.kind for t in view.rows[0].tokens] == ["", "unk", "special"]
    assert view.marks == {"unk", "special"}
    with pytest.raises(ValueError, match="flags"):
        prepare_token_view(TokenView("v", "V", [TokenScores("m", 0, ["a"], [1.0], flags=["", ""])]))


def test_boxes_nest_where_they_overlap() -> None:
    # boxes: #1 over tokens 0-2, #2 over 2-4 (overlaps #1 at token 2: nested inside it), #3 over 5
    boxes = [TokenBox(2, 4, 2, "second"), TokenBox(0, 2, 1, "first"), TokenBox(5, 5, 3)]
    row = TokenScores("m", 0, list("abcdef"), [0.0] * 6, boxes=boxes)
    view = prepare_token_view(TokenView("v", "V", [row], shaded=False))
    one, two, three = box_colour(1), box_colour(2), box_colour(3)
    assert len({one, two, three}) == 3
    assert view.marks == {"boxes"} and view.box_ranks == [(1, one), (2, two), (3, three)]
    tokens = view.rows[0].tokens
    assert all(t.style == "" for t in tokens)  # shaded=False: no background scale
    # token 0 opens box #1 (2 px): top, bottom, left; the gap after it continues top and bottom
    assert tokens[0].box == (f"box-shadow: inset 0 2px 0 0 {one}, inset 0 -2px 0 0 {one}, "
                             f"inset 2px 0 0 0 {one}")
    assert tokens[0].gap == f"box-shadow: inset 0 2px 0 0 {one}, inset 0 -2px 0 0 {one}"
    # token 2 closes #1 and opens #2 one level in: #2's bands are 2-4 px from the edge, with a
    # blank band at level 0 where #1 draws nothing (its left side)
    white = "rgb(255, 255, 255)"
    assert tokens[2].box == (
        f"box-shadow: inset 0 2px 0 0 {one}, inset 0 -2px 0 0 {one}, inset 2px 0 0 0 {white}, "
        f"inset -2px 0 0 0 {one}, inset 0 4px 0 0 {two}, inset 0 -4px 0 0 {two}, "
        f"inset 4px 0 0 0 {two}")
    assert tokens[2].gap == (f"box-shadow: inset 0 2px 0 0 {white}, inset 0 -2px 0 0 {white}, "
                             f"inset 0 4px 0 0 {two}, inset 0 -4px 0 0 {two}")
    assert tokens[4].gap == ""  # #2 ends at token 4
    # #3 does not overlap: level 0
    assert tokens[5].box.count(three) == 4 and "2px" in tokens[5].box
    assert tokens[2].title == "box #1: first · box #2: second"
    with pytest.raises(ValueError, match="outside its 6 tokens"):
        prepare_token_view(TokenView("v", "V", [TokenScores("m", 0, list("abcdef"), [0.0] * 6,
                                                            boxes=[TokenBox(4, 6, 1)])]))


def test_boxes_on_the_page(tmp_path: Path) -> None:
    record = make_display_record()
    boxes = [TokenBox(0, 1, 1, "location 0"), TokenBox(1, 2, 2, "location 1")]
    record.analyses[0].token_views.append(TokenView(
        "fields", "Fields", [TokenScores("m", 0, ["good", "<b>", "film"], [0.0] * 3, boxes=boxes)],
        shaded=False))
    build_site(record, tmp_path / "site")
    raw = (tmp_path / "site/analyses/saliency.html").read_text(encoding="utf-8")
    figure = raw[raw.index('-fields"'):]
    figure = figure[: figure.index("</figure>")]
    assert "token-legend-bar" not in figure  # no colour scale for a view of boxes only
    assert "boxes by rank, #1 first" in figure
    assert (f'<span class="tok tok-boxed" dir="auto" style="box-shadow: inset 0 2px 0 0 '
            f'{box_colour(1)}, inset 0 -2px 0 0 {box_colour(1)}, '
            f'inset 2px 0 0 0 {box_colour(1)}" '
            f'title="box #1: location 0">good</span><span class="tok-gap" style="box-shadow: '
            f'inset 0 2px 0 0 {box_colour(1)}, inset 0 -2px 0 0 {box_colour(1)}"> </span>'
            ) in figure
    assert "&lt;b&gt;" in figure and "<b>" not in figure.replace("<b>m</b>", "")


# labels and numbers ------------------------------------------------------------------------------
def test_metric_labels() -> None:
    models = [HYPHENATED, DOTTED]
    assert split_metric("kim-sst2.top_token_share", models) == ("kim-sst2", "top_token_share")
    assert split_metric("lstm.v2.top_token_share", models) == ("lstm.v2", "top_token_share")
    assert split_metric("kim-sst2.top_token_share") == ("kim-sst2", "top_token_share")
    assert split_metric("top_token_share", models) == (None, "top_token_share")
    assert metric_label("top_token_share") == "top token share"


@pytest.mark.parametrize("page", DISPLAY_PAGES)
def test_hyphenated_model_names_stay(site: Path, page: str) -> None:
    text = _text(site / page)
    assert "kim sst2" not in text and "lstm v2" not in text
    assert "kim-sst2" in text


def test_one_number_format() -> None:
    assert format_value(0.4125, "top_token_share") == "41.2%"
    assert format_value(0.4125, "kim-sst2.top_token_share") == "41.2%"
    assert format_value(0.934, "matching_rate") == "93.4%"
    assert format_value(0.9, "top_unit_zero_shot_accuracy") == "90.0%"
    assert format_value(0.8125, percent=True) == "81.2%"
    assert format_value(0.4125, "comprehensiveness") == "0.412"
    assert format_value(12345.678) == "12,346"
    assert format_value(0.0123456) == "0.0123"
    assert format_value(1234567) == "1,234,567"
    assert format_value(872.0, "examples") == "872"
    assert format_value(3.5, "share") == "3.5"  # not in [0, 1]: not a share after all
    assert format_value(None) == "–" and format_value(float("nan"), "share") == "–"


def test_numbers_on_the_pages(site: Path) -> None:
    index = _text(site / "index.html")
    for shown in ("45.0%", "uniform: 20.0%", "81.2%", "1,234,567", "872", "0.0123"):
        assert shown in index, shown
    page = _text(site / "analyses/saliency.html")
    for shown in ("41.2%", "45.0%", "37.5%", "12,346", "16,185", "0.0123"):
        assert shown in page, shown
    assert "0.4125" not in index + page and "0.412 " not in index + page


# baselines beside headlines ----------------------------------------------------------------------
def test_index_card_has_one_row_per_model_with_its_baseline(site: Path) -> None:
    page = _page(site / "index.html")
    (card,) = [t for _, t in page.with_class("analysis-card")]
    card = " ".join(card.split())
    assert "top token share, per model" in card
    assert "41.2%" not in card  # the value pooled over the models is no headline (issue 21)
    assert "kim-sst2 45.0% uniform: 20.0%" in card
    assert "lstm.v2 37.5% uniform: 27.4%" in card
    assert card.index("kim-sst2") < card.index("lstm.v2")


def test_analysis_metrics_table_pairs_baselines(site: Path) -> None:
    page = _page(site / "analyses/saliency.html")
    (table,) = [t for _, t in page.with_class("metrics-table")]
    table = " ".join(table.split())
    assert "all models top token share 41.2% uniform: 23.7%" in table
    assert "kim-sst2 top token share 45.0% uniform: 20.0%" in table
    assert "lstm.v2 top token share 37.5% uniform: 27.4%" in table
    assert "kim-sst2 mean gradient 12,346" in table
    assert "uniform top token share" not in table  # the baselines are beside, not rows


def test_report_json_baselines_and_provenance(site: Path, record: RunRecord) -> None:
    report = json.loads((site / "report.json").read_text(encoding="utf-8"))
    saliency = report["analyses"]["saliency"]
    assert saliency["baselines"] == {"top_token_share": "uniform_top_token_share"}
    assert saliency["metrics"]["kim-sst2.uniform_top_token_share"] == 0.2
    for key in ("status", "reason", "seconds", "metrics", "title", "headline", "tables"):
        assert key in saliency
    kim, lstm = report["models"]
    assert kim["evaluated_on"] == "sst2:dev.tsv, split dev, 872 texts"
    assert kim["trained_on"].startswith("sst2:train.tsv")
    assert kim["vectors"].startswith("glove.6B.300d.txt")
    assert kim["overlap_count"] == 120 and kim["overlap"] == pytest.approx(120 / 872)
    assert kim["labelled"] is True and lstm["labelled"] is False and lstm["accuracy"] is None
    for model in report["models"]:
        assert {"name", "arch", "parameters", "accuracy", "classes"} <= set(model)
    assert report["data"]["labelled"] == 700
    assert report["data"]["label_map"] == {"0": "negative", f"1{RLO}": "positive"}  # raw: data


def test_summary_per_model_with_baseline(site: Path, record: RunRecord) -> None:
    text = (site / "summary.md").read_text(encoding="utf-8")
    assert text == summary_markdown(record)
    assert "| saliency | ok | top token share, per model: |" in text  # no pooled headline
    assert "| ↳ kim-sst2 | | top token share = 45.0% (uniform: 20.0%) | |" in text
    assert "| ↳ lstm.v2 | | top token share = 37.5% (uniform: 27.4%) | |" in text
    assert "| lstm.v2 | bilstm | 654,321 | no labels |" in text
    assert f"**warning**: {OVERLAP}" in text
    assert "accuracy 81.2% on sst2:dev.tsv, split dev, 872 texts" in text
    assert ": 872 examples (700 labelled), 2 classes" in text
    assert RLO not in text and "⟨U+202E⟩" in text
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.replace("\\|", "").count("|") == 5, line


# model and data cards ----------------------------------------------------------------------------
def test_model_card_says_where_the_numbers_come_from(site: Path) -> None:
    page = _page(site / "index.html")
    kim, lstm = (t for _, t in page.with_class("model-card"))
    assert "accuracy 81.2% on sst2:dev.tsv, split dev, 872 texts" in kim
    assert "trained on sst2:train.tsv: train 6,920 (train.tsv); dev 872 (dev.tsv)" in kim
    assert "vectors glove.6B.300d.txt (300-d; 15,000 of 16,183 vocabulary words found" in kim
    # no test part in the training record: the split is named generically
    assert "test accuracy at training 80.0% (on the held-out split of its training data)" in kim
    (warning,) = [t for _, t in page.with_class("overlap-warning")]
    assert OVERLAP in warning and OVERLAP in kim
    assert "no labels" in lstm and "no accuracy, no confusion matrix" in lstm
    assert "trained on not recorded" in lstm and "training data" not in lstm
    assert "confusion" not in lstm.lower().replace("no confusion matrix", "")
    assert len(page.with_class("confusion")) == 1  # kim-sst2's only


def test_data_card_labels(site: Path) -> None:
    index = _text(site / "index.html")
    assert "700 of 872 examples labelled" in index
    page = _page(site / "index.html")
    (label_map,) = [t for _, t in page.with_class("label-map")]
    assert label_map == "data label model class 0 negative 1⟨U+202E⟩ positive"


def test_no_overlap_no_warning(record: RunRecord, tmp_path: Path) -> None:
    import dataclasses

    clean = dataclasses.replace(
        record, models=[dataclasses.replace(m, overlap=0.0, overlap_count=0) for m in record.models]
    )
    build_site(clean, tmp_path / "clean")
    assert "overlap-warning" not in (tmp_path / "clean" / "index.html").read_text(encoding="utf-8")


# empty tables ------------------------------------------------------------------------------------
def test_empty_table_is_not_shown(site: Path) -> None:
    raw = (site / "analyses/saliency.html").read_text(encoding="utf-8")
    assert "decoding" not in raw
    assert not (site / "data/saliency/decoding.csv").exists()
    page = _page(site / "analyses/saliency.html")
    downloads = [attrs["download"] for attrs, _ in page.with_class("download")]
    assert downloads == ["tokens.csv", "by-model.csv"]
    report = json.loads((site / "report.json").read_text(encoding="utf-8"))
    tables = report["analyses"]["saliency"]["tables"]
    assert tables["decoding"] == {"rows": 0, "columns": ["model", "step", "saliency"], "csv": None,
                                  "csv_rows": 0, "full_csv": None}
    assert tables["tokens"]["csv"] == "data/saliency/tokens.csv"


def test_empty_table_single_file(single: Path) -> None:
    raw = (single / "index.html").read_text(encoding="utf-8")
    assert 'download="decoding.csv"' not in raw and "table-saliency-decoding" not in raw


def test_baseline_labels_are_short_when_names_differ() -> None:
    from reportgen.site.metrics import baseline_label

    assert baseline_label("top_location_share", "uniform_location_share") == "uniform"
    assert baseline_label("top_unit_zero_shot_accuracy",
                          "random_unit_zero_shot_accuracy") == "random"
    assert baseline_label("matching_rate", "random_words_rate") == "random words"
    assert baseline_label("top_token_share", "uniform_top_token_share") == "uniform"
