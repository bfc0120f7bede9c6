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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from reportgen.heap import release_free_memory
from reportgen.records import AnalysisResult

if TYPE_CHECKING:
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
