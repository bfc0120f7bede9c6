"""What an analysis's ``compute`` receives (``RunContext``) and the loops it runs its batches in.

The contract an analysis module fulfils is its ``AnalysisSpec`` (``reportgen.analyses.spec``):
``compute(ctx, params)`` is the only place torch runs, for ONE model (``ctx.model``); each model's
result is cached on its own, so adding a model to a run computes only the new one. ``ctx`` holds
the model, the evaluated examples, the device, the seed, the batch size, the upstream results
(``needs``/``uses``) and the run's detail sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

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
