"""The ground floor: plain records of a run that every layer shares (no torch, no site code).

- ``AnalysisResult``: what one analysis computed for one model (tidy tables, metrics, notes);
- ``Presentation``: the charts and token views drawn from a result;
- ``LayerCard``, ``ModelCard``, ``DataCard``: what the report says of a model and of the data;
- ``ChartSpec``, ``TokenView`` (``TokenScores``, ``TokenBox``): what a page shows;
- ``AnalysisRecord``, ``RunRecord``: one analysis over every model, and the whole run.

``RunRecord`` is built by the pipeline; the site turns it into pages, ``report.json`` and
``summary.md``. Every record has a public, versioned JSON form (``reportgen.records.json_form``)
that the cache, ``reportgen render`` and any later reader of a report (``reportgen compare``) share.
This module imports nothing of reportgen's: anything may import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# what --precision accepts (reportgen.batching resolves it; the run's record states it)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class AnalysisResult:
    """One analysis's result for one model (or, combined, for every model of a run)."""

    tables: dict[str, pd.DataFrame]  # tidy: one row per observation, snake_case columns
    metrics: dict[str, float]
    notes: list[str] = field(default_factory=list)
    # metric key -> what that number is, where its name alone does not say (the method a
    # model's headline comes from: "comprehensiveness of gradient x input")
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class LayerCard:
    name: str  # dotted module name
    # embedding | conv | pool | recurrent | linear | highway | attention | transformer | mlp | other
    kind: str
    units: int | None  # channels / hidden size / features
    receptive_field: int | None  # in input tokens (or characters, see ``axis``); None = unbounded
    axis: str = "tokens"  # what the receptive field counts: tokens | chars


@dataclass
class ModelCard:
    name: str  # unique short name in this report
    arch: str
    source: str  # the model SPEC
    task: str  # classify | autoencode | lm
    parameters: int
    classes: list[str]
    vocab_size: int
    encoder_kind: str
    accuracy: float | None  # on the evaluated data: class accuracy, or see ``accuracy_metric``
    checkpoint_accuracy: float | None  # test accuracy stored by 'reportgen train'
    layers: list[LayerCard] = field(default_factory=list)
    confusion: list[list[int]] | None = None  # rows: true class, columns: predicted
    accuracy_metric: str = "accuracy"  # or "token reconstruction" / "next-token accuracy"
    batching: str = "padded batches"  # or "one text per batch": the model reads padding
    # where the numbers come from (honest evaluation)
    evaluated_on: str = ""  # e.g. "sst2:dev.tsv, split dev, 872 texts"; accuracy is on these
    trained_on: str | None = None  # data SPEC and split of training, from the checkpoint
    vectors: str | None = None  # pretrained vectors at training, with vocabulary coverage
    overlap: float | None = None  # share of evaluated texts that were in the training data
    overlap_count: int | None = None  # how many evaluated texts were in the training data
    labelled: bool = True  # False: the evaluated data has no labels (no accuracy)
    embedding: str = ""  # the embedding the analyses differentiate, with its size
    unknown_share: float | None = None  # share of evaluated tokens the model read as unknown
    tokenizer: str = ""  # "reportgen word tokens", or the model's own tokenizer by name
    # how reportgen reads this model where it is not plain: logits from a tuple, a sigmoid
    # output, a minimum length
    reading: list[str] = field(default_factory=list)
    # every evaluated example's prediction, in order: example_id, label, predicted, p0.. (the
    # probability of each of ``classes``); the site writes it to data/predictions.csv.gz
    predictions: pd.DataFrame | None = None


@dataclass
class DataCard:
    spec: str
    split: str
    examples: int  # evaluated examples (after --max-examples)
    total_examples: int  # in the split before sampling
    classes: list[str]
    class_counts: dict[str, int]
    length_counts: dict[int, int]  # tokens per text -> number of texts (word tokens)
    labelled: int = 0  # evaluated examples that have a label
    label_map: dict[str, str] = field(default_factory=dict)  # data label -> model class, if given
    # examples that keep per-token detail and that the costly analyses run on (analyses.sampling);
    # 0 in records from before sampling: every example
    detail_examples: int = 0
    # hash of the evaluated examples' texts and labels, in order (reportgen compare pairs
    # reports by it); "" in records from before it
    fingerprint: str = ""


@dataclass
class ChartSpec:
    """One chart: a Vega-Lite spec, rendered in the page; PNG when too large for the browser."""

    name: str  # slug, unique within the page
    title: str
    spec: dict[str, Any]  # Vega-Lite JSON (Altair ``to_dict()``)
    caption: str = ""


@dataclass
class TokenBox:
    """A run of tokens drawn inside a box coloured by its rank (a receptive field, a span)."""

    start: int  # first token, inclusive
    end: int  # last token, inclusive
    rank: int  # 1 = the first; sets the colour
    label: str = ""  # what the box is, for its tooltip ("location 4 · score 0.31")


@dataclass
class TokenScores:
    """One text with a score per token, shown as shaded tokens."""

    model: str
    example_id: int
    tokens: list[str]
    scores: list[float]  # one per token, same scale within a view
    label: str | None = None
    predicted: str | None = None
    caption: str = ""
    # per token: "" (a known token), "unk" (out of vocabulary), "special" ([CLS], <pad>...)
    flags: list[str] = field(default_factory=list)
    truncated: int = 0  # tokens cut off the end of the text (the model's max length)
    correct: bool | None = None  # predicted == label; None without a label
    boxes: list[TokenBox] = field(default_factory=list)  # may overlap; drawn nested


@dataclass
class TokenView:
    name: str
    title: str
    rows: list[TokenScores]
    caption: str = ""
    signed: bool = False  # scores can be negative (diverging colours) or not
    # what goes between tokens on the page; None: "" when every token is one character (char and
    # byte models, whose tokens include the spaces), else " "
    joiner: str | None = None
    shaded: bool = True  # False: the scores carry nothing to show (a view of boxes only)


@dataclass
class Presentation:
    """What ``present`` draws from a result: charts and token views."""

    charts: list[ChartSpec] = field(default_factory=list)
    token_views: list[TokenView] = field(default_factory=list)


@dataclass
class AnalysisRecord:
    name: str  # registry name: page URL, cache folder, config section
    title: str
    status: str  # ok | skipped | failed
    reason: str | None = None
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    headline: str | None = None  # metric name to show on the index card
    headline_label: str = ""  # what the headline is, named for its method ("" = the metric's name)
    labels: dict[str, str] = field(default_factory=dict)  # metric key -> what it is (per model)
    reference: str = ""  # the source the headline reproduces, short ("Li et al. 2016, Sec. 5")
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    charts: list[ChartSpec] = field(default_factory=list)
    token_views: list[TokenView] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    method: str = ""  # what the method is, where it comes from (plain text, paragraphs by \n\n)
    how_to_read: str = ""
    citation: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    # headline metric -> the metric a reader compares it with (per model too, as
    # "<model>.<metric>" beside "<model>.<baseline>"),
    # e.g. top_token_share -> uniform_top_token_share
    baselines: dict[str, str] = field(default_factory=dict)
    # model -> why it did not run for it
    skipped_models: dict[str, str] = field(default_factory=dict)
    log: str = ""  # a failed analysis's traceback (the site writes it to logs/<name>.txt)


@dataclass
class RunRecord:
    reportgen_version: str
    created: str  # ISO-8601
    seed: int
    device: str
    config: dict[str, Any]
    versions: dict[str, str]  # python, torch, altair, ...
    models: list[ModelCard]
    data: DataCard
    analyses: list[AnalysisRecord]
    total_seconds: float = 0.0
