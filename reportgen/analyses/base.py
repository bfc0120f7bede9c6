"""The contract of an analysis module, and what ``compute`` receives and returns.

Each analysis is one module in this package, registered by name in ``reportgen.analyses.REGISTRY``,
with:

- ``NAME``, ``VERSION`` (bump when results change), ``TITLE``, ``HEADLINE`` (metric on the index),
  ``METHOD``, ``HOW_TO_READ``, ``CITATION`` (text for the page);
- ``NEEDS`` (optional): names of the analyses whose results it reads (``ctx.upstream``);
- ``USES`` (optional): analyses whose results it reads when they ran for the model (in
  ``ctx.upstream`` then; never added to a run, but ordered before it);
- ``Params``: a frozen dataclass of its settings (the ``[NAME]`` section of the TOML config);
- ``TABLES``: table name -> declared columns;
- ``skip_reason(model) -> str | None``: why it does not apply to a model;
- ``compute(ctx, params) -> AnalysisResult``: the only place torch runs, for ONE model
  (``ctx.model``); each model's result is cached on its own, so adding a model to a run computes
  only the new one;
- ``combine(results, params) -> AnalysisResult`` (optional): the per-model results (in report
  order) -> one result for the page and ``report.json``; default ``combine_per_model``;
- ``present(result, params) -> Presentation``: pure tables -> charts and token views. Views that
  compare models are built here, never in ``compute``. A chart with a panel per model wraps the
  panels into rows that fit the page's card (``wrap_by_model``, ``fit_panels``, ``facet_columns``),
  however many models the run compares.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from reportgen.heap import release_free_memory
from reportgen.site.record import ChartSpec, TokenView

if TYPE_CHECKING:
    import altair as alt
    import torch

    from reportgen.data.dataset import Dataset, Example
    from reportgen.models.adapter import ModelAdapter


@dataclass
class RunContext:
    model: ModelAdapter  # the one model this computation is about
    examples: list[Example]  # the evaluated examples (after --split and --max-examples)
    dataset: Dataset
    device: torch.device
    seed: int
    progress: bool = False
    batch_size: int = 64  # already 1 for a model that must never be padded
    upstream: dict[str, AnalysisResult] = field(default_factory=dict)  # NEEDS, USES -> this model's result
    # sorted ids of the examples that keep per-token detail and that costly analyses run on
    # (``analyses.sampling``); None: every example
    sample: np.ndarray | None = None

    def detail_ids(self) -> np.ndarray:
        """The sample as sorted example ids (every id when the run did not sample)."""
        return np.arange(len(self.examples)) if self.sample is None else self.sample


@dataclass
class AnalysisResult:
    tables: dict[str, pd.DataFrame]
    metrics: dict[str, float]
    notes: list[str] = field(default_factory=list)


@dataclass
class Presentation:
    charts: list[ChartSpec] = field(default_factory=list)
    token_views: list[TokenView] = field(default_factory=list)


def combine_per_model(results: dict[str, AnalysisResult]) -> AnalysisResult:
    """Default ``combine``: tables concatenated in model order (each already has a ``model``
    column), metrics prefixed ``<model>.``, notes prefixed with the model name (a note every model
    has, such as how the run sampled its examples, once and plain)."""
    names = list(results)
    tables: dict[str, pd.DataFrame] = {}
    for table in dict.fromkeys(t for r in results.values() for t in r.tables):
        frames = [results[n].tables[table] for n in names if table in results[n].tables]
        tables[table] = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    metrics = {f"{n}.{k}": v for n in names for k, v in results[n].metrics.items()}
    shared = set.intersection(*(set(results[n].notes) for n in names)) if len(names) > 1 else set()
    notes = list(dict.fromkeys(note for n in names for note in results[n].notes if note in shared))
    notes += [f"{n}: {note}" for n in names for note in results[n].notes if note not in shared]
    return AnalysisResult(tables=tables, metrics=metrics, notes=notes)


def progress_bar(iterable, *, total: int | None, desc: str, enabled: bool):
    """tqdm over ``iterable`` when enabled (a terminal and not --quiet), else the iterable itself."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def each_batch(starts: Iterable[int], *, total: int, desc: str, enabled: bool) -> Iterator[int]:
    """The loop of a streaming analysis over its batches: ``progress_bar`` over ``starts``, and after
    each batch ``reportgen.heap.release_free_memory`` (the heap's free pages go back to the system
    once resident memory has grown by 64 MB), so memory the analysis does not keep does not pile up
    with the number of batches."""
    for start in progress_bar(starts, total=total, desc=desc, enabled=enabled):
        yield start
        release_free_memory()


# -- chart layout: panels that fit their card for any number of models --------------------------
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


def wrap_by_model(chart: alt.Chart | alt.LayerChart, models: list[str], *, narrowest: int, widest: int,
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
        columns = list(dict.fromkeys(c for row in rows for c in row)) if isinstance(rows, list) else []
        keep = {c for c in columns if c in words or c in text}
        pruned[name] = ([{c: v for c, v in row.items() if c in keep} for row in rows]
                        if len(keep) < len(columns) else rows)
    return {**spec, "datasets": pruned}
