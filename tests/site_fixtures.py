"""A ``RunRecord`` built in code for the site tests:
two models, every kind of content, hostile text.

``make_record()`` has: a CNN and a BiLSTM card (layers, receptive fields, confusion matrices); a
data card; ``saliency`` (Altair bar chart, small heatmap, signed token views incl. a long text, a
table with hostile strings), ``variance_salience`` (a heatmap too large for the browser -> PNG),
``filter_top_words`` (character token view), ``optimization`` (skipped) and ``neuron_sweep``
(failed). The three hostile strings of ``XSS`` appear in the data spec (shown on every page), in
table cells, tokens, class names, notes, a chart title and the failure reason.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from reportgen.records import (
    AnalysisRecord,
    ChartSpec,
    DataCard,
    LayerCard,
    ModelCard,
    RunRecord,
    TokenScores,
    TokenView,
)

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{7*7}}"
XSS = (SCRIPT, IMG, TEMPLATE)
CLASSES = ["negative", IMG]
BIG_HEATMAP = (160, 150)  # rows x columns = 24,000 cells: over the PNG threshold


def _models() -> list[ModelCard]:
    cnn = ModelCard(
        name="cnn",
        arch="text_cnn",
        source="checkpoints/cnn.pt",
        task="classify",
        parameters=1_234_567,
        classes=CLASSES,
        vocab_size=20_000,
        encoder_kind="word",
        accuracy=0.8125,
        checkpoint_accuracy=0.7996,
        layers=[
            LayerCard("embedding", "embedding", 300, 1),
            LayerCard("convs.0", "conv", 100, 3),
            LayerCard("convs.1", "conv", 100, 7),
            LayerCard("pool", "pool", 100, None),
            LayerCard("fc", "linear", 2, None),
        ],
        confusion=[[50, 10], [5, 15]],
    )
    lstm = ModelCard(
        name="bilstm",
        arch="bilstm",
        source="checkpoints/bilstm.pt",
        task="classify",
        parameters=654_321,
        classes=CLASSES,
        vocab_size=20_000,
        encoder_kind="word",
        accuracy=0.775,
        checkpoint_accuracy=None,
        layers=[
            LayerCard("embedding", "embedding", 300, 1),
            LayerCard("rnn", "recurrent", 256, None),
            LayerCard("fc", "linear", 2, None),
        ],
        confusion=[[45, 15], [3, 17]],
    )
    return [cnn, lstm]


def _bar_chart() -> ChartSpec:
    frame = pd.DataFrame(
        {
            "token": ["good", "bad", SCRIPT, IMG, TEMPLATE, "movie"],
            "share": [0.3, 0.25, 0.1, 0.1, 0.05, 0.2],
        }
    )
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(x=alt.X("share:Q"), y=alt.Y("token:N", sort="-x"), tooltip=["token", "share"])
        .properties(width=400, height=180)
    )
    return ChartSpec("top_tokens", f"Top tokens {SCRIPT}", chart.to_dict(), caption=IMG)


def _heatmap(rows: int, cols: int, name: str, title: str) -> ChartSpec:
    rng = np.random.default_rng(rows * cols)
    values = [
        {"token": f"t{i:03d}", "dim": j, "score": float(rng.random())}
        for i in range(rows)
        for j in range(cols)
    ]
    spec = {
        "$schema": alt.SCHEMA_URL,
        "data": {"values": values},
        "mark": "rect",
        "encoding": {
            "x": {"field": "dim", "type": "ordinal", "axis": {"labels": False, "ticks": False}},
            "y": {"field": "token", "type": "ordinal"},
            "color": {"field": "score", "type": "quantitative"},
        },
        "width": min(600, cols * 12),
        "height": min(600, rows * 12),
    }
    return ChartSpec(name, title, spec, caption="Embedding dimensions across, tokens down.")


def _token_views() -> list[TokenView]:
    words = ["this", "movie", "is", "not", "good", SCRIPT, IMG, TEMPLATE]
    short = TokenScores(
        "cnn", 3, words, [0.1, 0.4, -0.05, -0.9, 0.8, 0.3, -0.3, 0.0], "negative", IMG
    )
    long_tokens = [f"word{i}" for i in range(400)]
    long_scores = [math.sin(i / 7) for i in range(400)]
    long = TokenScores("bilstm", 7, long_tokens, long_scores, IMG, IMG, caption="a long review")
    return [
        TokenView(
            "gradients", "Signed gradient x input", [short, long], caption=TEMPLATE, signed=True
        ),
        TokenView(
            "magnitude",
            "Saliency |dS/de|",
            [TokenScores("cnn", 3, words, [abs(s) for s in short.scores])],
        ),
    ]


def _saliency() -> AnalysisRecord:
    n = 120
    tokens = pd.DataFrame(
        {
            "model": ["cnn", "bilstm"] * (n // 2),
            "example_id": np.arange(n),
            "token": [XSS[i % 3] for i in range(n)],
            "score": np.linspace(0.0, 1.0, n),
        }
    )
    return AnalysisRecord(
        name="saliency",
        title="First-derivative saliency",
        status="ok",
        seconds=1.25,
        metrics={"examples": 120, "top_token_share": 0.4125},
        headline="top_token_share",
        tables={
            "tokens": tokens,
            "by_model": pd.DataFrame({"model": ["cnn", "bilstm"], "mean": [0.5, 0.25]}),
        },
        charts=[_bar_chart(), _heatmap(12, 20, "heatmap", "Token x dimension saliency")],
        token_views=_token_views(),
        notes=[f"Texts may contain {SCRIPT}", IMG],
        method=f"Li et al. (2016): S(e) = |dS_c/de|.\n\nTemplates are not evaluated: {TEMPLATE}.",
        how_to_read="Darker tokens moved the class score more.\n\nBlue lowers it, red raises it.",
        citation="Li, Chen, Hovy, Jurafsky (2016). "
        "Visualizing and understanding neural models in NLP.",
        params={"top_k": 5, "examples": 120},
    )


def _variance() -> AnalysisRecord:
    rows, cols = BIG_HEATMAP
    cells = pd.DataFrame(
        {
            "token": np.repeat(np.arange(rows), cols),
            "dim": np.tile(np.arange(cols), rows),
            "value": 0.5,
        }
    )
    return AnalysisRecord(
        name="variance_salience",
        title="Variance salience",
        status="ok",
        seconds=0.5,
        metrics={"examples": 40},
        tables={"cells": cells},
        charts=[_heatmap(rows, cols, "big", "Variance salience, all tokens")],
        method="(e_ij - mean_j)^2 for each word i and dimension j.",
    )


def _filters() -> AnalysisRecord:
    chars = list("the cat sat\non the mat")
    view = TokenView(
        "chars",
        "Characters",
        [TokenScores("cnn", 1, chars, [i / len(chars) for i in range(len(chars))])],
    )
    return AnalysisRecord(
        name="filter_top_words",
        title="Filter top words",
        status="ok",
        seconds=3.0,
        metrics={"filters": 300, "dead_filters": 4, "median_activation_frequency": 0.14},
        headline="dead_filters",
        token_views=[view],
    )


def make_record() -> RunRecord:
    return RunRecord(
        reportgen_version="0.1.0",
        created="2024-05-01T12:00:00+00:00",
        seed=13,
        device="cpu",
        config={"run": {"max_examples": 120}, "saliency": {"top_k": 5}},
        versions={"python": "3.11.9", "torch": "2.3.0", "altair": alt.__version__},
        models=_models(),
        data=DataCard(
            spec=f"csv:texts/{SCRIPT}{IMG}{TEMPLATE}.csv",
            split="test",
            examples=80,
            total_examples=1066,
            classes=CLASSES,
            class_counts={"negative": 60, IMG: 20},
            length_counts={i: (i * 7) % 13 + 1 for i in range(3, 60)},
        ),
        analyses=[
            _saliency(),
            _variance(),
            _filters(),
            AnalysisRecord(
                name="optimization",
                title="Input optimization",
                status="skipped",
                reason="model 'bilstm' has no convolutional layer",
            ),
            AnalysisRecord(
                name="neuron_sweep",
                title="Sentiment neuron",
                status="failed",
                seconds=0.2,
                reason=f"RuntimeError: {SCRIPT} {IMG} {TEMPLATE}",
            ),
        ],
        total_seconds=5.2,
    )


# Every page the fixture record's site has, index first.
PAGES = [
    "index.html",
    "analyses/saliency.html",
    "analyses/variance_salience.html",
    "analyses/filter_top_words.html",
    "analyses/optimization.html",
    "analyses/neuron_sweep.html",
]


# -- a record for the display checks: hidden characters, right-to-left text, token marks, baselines,
# model provenance, an empty table -------------------------------------------------------------
RLO = "\u202e"  # right-to-left override: reverses what follows it on screen
ZWSP = "\u200b"  # zero-width space: an invisible token
BOM = "\ufeff"  # zero-width no-break space
ARABIC = "هذا الفيلم رائع"  # "this film is great", right to left
HIDDEN = (RLO, ZWSP, BOM, "\u2066", "\u00ad", "\x07")
DISPLAY_TEXTS = [f"a good {RLO}film{RLO} indeed", f"zero{ZWSP}width", f"{BOM}start", ARABIC, SCRIPT]
HYPHENATED = "kim-sst2"  # a model name with a hyphen (and a dot in the other one)
DOTTED = "lstm.v2"


def _display_models() -> list[ModelCard]:
    kim = ModelCard(
        name=HYPHENATED,
        arch="text_cnn",
        source=f"checkpoints/kim{RLO}.pt",
        task="classify",
        parameters=1_234_567,
        classes=["negative", "positive"],
        vocab_size=16_185,
        encoder_kind="word",
        accuracy=0.8125,
        checkpoint_accuracy=0.7996,
        confusion=[[300, 100], [63, 409]],
        evaluated_on="sst2:dev.tsv, split dev, 872 texts",
        trained_on="sst2:train.tsv: train 6,920 (train.tsv); dev 872 (dev.tsv)",
        vectors="glove.6B.300d.txt (300-d; 15,000 of 16,183 vocabulary words found, 92.7%)",
        overlap=120 / 872,
        overlap_count=120,
        labelled=True,
    )
    lstm = ModelCard(
        name=DOTTED,
        arch="bilstm",
        source="checkpoints/lstm.pt",
        task="classify",
        parameters=654_321,
        classes=["negative", "positive"],
        vocab_size=20_000,
        encoder_kind="word",
        accuracy=None,
        checkpoint_accuracy=None,
        evaluated_on=f"csv:unlabelled.csv, split all, 872 texts {ARABIC}",
        labelled=False,
    )
    return [kim, lstm]


def _display_views() -> list[TokenView]:
    rows = [
        TokenScores(  # wrong, with an <unk>, special tokens and a truncated tail
            HYPHENATED,
            0,
            ["[CLS]", "a", "good", f"{RLO}film", "zorbly", f"{RLO}indeed", "[SEP]"],
            [0.9, 0.1, 0.8, -0.4, 5.0, 0.2, 0.7],
            label="negative",
            predicted="positive",
            flags=["special", "", "", "", "unk", "", "special"],
            truncated=17,
            correct=False,
        ),
        TokenScores(  # right, in Arabic, among Latin tokens
            HYPHENATED, 3, ["great", *ARABIC.split(), "!"], [0.5, 0.3, -0.2, 0.9, 0.1],
            label="positive", predicted="positive", correct=True,
        ),
        TokenScores(  # no label; invisible tokens and a script tag
            DOTTED, 1, ["zero", ZWSP, "width", f"{BOM}start", SCRIPT], [0.1, 0.2, 0.3, 0.4, 0.5],
            predicted="negative", caption=f"caption {RLO}reversed",
        ),
    ]
    return [TokenView("tokens", "Saliency of each token", rows, caption=f"view {ZWSP}caption")]


def _display_chart() -> ChartSpec:
    frame = pd.DataFrame({"token": [f"{RLO}film", ARABIC, f"zero{ZWSP}"], "share": [0.5, 0.3, 0.2]})
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(x=alt.X("share:Q"), y=alt.Y("token:N"), tooltip=["token", "share"])
        .properties(width=300, height=90)
    )
    return ChartSpec("shares", f"Top tokens {RLO}reversed", chart.to_dict(),
                     caption=f"{BOM}caption")


def make_display_record() -> RunRecord:
    """Two models (``kim-sst2`` with provenance and training overlap, ``lstm.v2`` with no labels), a
    data card with a label map, and ``saliency`` with baselines, token marks, hidden characters and
    right-to-left text in tokens, tables, labels and notes, and an empty table."""
    texts = DISPLAY_TEXTS
    tokens = pd.DataFrame(
        {
            "model": [HYPHENATED, DOTTED] * len(texts),
            "example_id": np.repeat(np.arange(len(texts)), 2),
            "text": np.repeat(texts, 2),
            "share": np.linspace(0.1, 0.9, 2 * len(texts)),
        }
    )
    saliency = AnalysisRecord(
        name="saliency",
        title="First-derivative saliency",
        status="ok",
        seconds=1.25,
        metrics={
            "examples": 872.0,
            "top_token_share": 0.4125,
            "uniform_top_token_share": 0.237,
            f"{HYPHENATED}.top_token_share": 0.45,
            f"{HYPHENATED}.uniform_top_token_share": 0.2,
            f"{DOTTED}.top_token_share": 0.375,
            f"{DOTTED}.uniform_top_token_share": 0.274,
            f"{HYPHENATED}.mean_gradient": 12345.678,
            f"{HYPHENATED}.tokens_read": 16185.0,
            "mean_score": 0.0123456,
        },
        headline="top_token_share",
        baselines={"top_token_share": "uniform_top_token_share"},
        tables={
            "tokens": tokens,
            "decoding": pd.DataFrame({"model": [], "step": [], "saliency": []}),
            f"by{RLO}model": pd.DataFrame({"model": [HYPHENATED, DOTTED], ARABIC: [0.5, 0.25]}),
        },
        charts=[_display_chart()],
        token_views=_display_views(),
        notes=[f"note with {RLO}reversed text", f"{ZWSP}{BOM}", ARABIC],
        method="The gradient of the class score.",
    )
    return RunRecord(
        reportgen_version="0.1.0",
        created="2024-05-01T12:00:00+00:00",
        seed=13,
        device="cpu",
        config={"data": f"sst2:{RLO}dev.tsv"},
        versions={"python": "3.11.9"},
        models=_display_models(),
        data=DataCard(
            spec=f"sst2:dev{RLO}.tsv",
            split="dev",
            examples=872,
            total_examples=872,
            classes=["negative", "positive"],
            class_counts={"negative": 400, f"posi{ZWSP}tive": 300},
            length_counts={5: 100, 10: 500, 20: 272},
            labelled=700,
            label_map={"0": "negative", f"1{RLO}": "positive"},
        ),
        analyses=[saliency],
        total_seconds=2.0,
    )


DISPLAY_PAGES = ["index.html", "analyses/saliency.html"]
