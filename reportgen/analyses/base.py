"""What an analysis's ``compute`` receives (``RunContext``) and the loops it runs its batches in.

The contract an analysis module fulfils is its ``AnalysisSpec`` (``reportgen.analyses.spec``):
``compute(ctx, params)`` is the only place torch runs, for ONE model (``ctx.model``); each model's
result is cached on its own, so adding a model to a run computes only the new one. ``ctx`` holds
the model, the evaluated examples, the device, the seed, the batch size, the upstream results
(``needs``/``uses``), the run's detail sample and its store of shared gradient passes.

``ctx.map_batches(n, fn, desc=...)`` is the loop of a streaming analysis: it owns sharding across
torchrun ranks (``reportgen.distributed``), the progress bar, the release of freed memory after
each batch (``reportgen.heap``) and gathering the results back in one-process order, so that an
analysis only says what one batch computes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd

from reportgen.distributed import gather_batches, my_batches
from reportgen.heap import release_free_memory
from reportgen.records import AnalysisResult

if TYPE_CHECKING:
    import torch

    from reportgen.analyses.gradient_pass import SharedGradients
    from reportgen.data.dataset import Dataset, Example
    from reportgen.models.view import ModelView

T = TypeVar("T")


@dataclass
class RunContext:
    model: ModelView  # the one model this computation is about
    examples: list[Example]  # the evaluated examples (after --split and --max-examples)
    dataset: Dataset
    device: torch.device
    seed: int
    progress: bool = False
    batch_size: int = 64  # already 1 for a model that must never be padded
    # needs, uses -> this model's result
    upstream: dict[str, AnalysisResult] = field(default_factory=dict)
    # sorted ids of the examples that keep per-token detail and that costly analyses run on
    # (``analyses.sampling``); None: every example
    sample: np.ndarray | None = None
    # the run's memory budget in bytes (``reportgen.memory``; None: none): the resident memory
    # the whole process may reach, which analyses holding data that grows with the texts plan in
    memory_budget: int | None = None
    # the run's store of gradient-pass results that later analyses read (``analyses.
    # gradient_pass``: saliency's pass gives hidden_saliency and faithfulness theirs); None: none
    gradients: SharedGradients | None = None

    def detail_ids(self) -> np.ndarray:
        """The sample as sorted example ids (every id when the run did not sample)."""
        return np.arange(len(self.examples)) if self.sample is None else self.sample

    def map_batches(self, n: int, fn: Callable[[int, int], T], *, desc: str,
                    size: int | None = None) -> list[T]:
        """``fn(lo, hi)`` for every batch [lo, hi) of ``range(n)`` (``size`` items, default
        ``batch_size``), every batch's result in one-process order (``map_batches``); the progress
        bar reads "<desc> <model>"."""
        return map_batches(n, fn, size=size or self.batch_size, desc=f"{desc} {self.model.name}",
                           enabled=self.progress)

    def map_in_order(self, order: Sequence[int], fn: Callable[[list[int]], T], *, desc: str,
                     size: int | None = None) -> list[T]:
        """``fn(positions)`` for every batch of ``order`` (consecutive runs of ``size`` of it, such
        as ``longest_first``'s), each result in batch order (``map_batches``)."""
        return self.map_batches(len(order), lambda lo, hi: fn([int(i) for i in order[lo:hi]]),
                                desc=desc, size=size)


def longest_first(lengths: Sequence[int]) -> np.ndarray:
    """(N,) positions by decreasing length, ties in their order: batches of texts of about the
    same length. A padded batch pays for its longest text at every position: MR's test reviews in
    batches of 64 make 47,720 positions in example order and 25,340 sorted, for 23,437 tokens. An
    analysis that batches this way puts its rows back in example order (``in_example_order``), so
    its tables do not show it; a text's values can move by float rounding with its batch's width."""
    return np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")


def in_example_order(frame: pd.DataFrame, rank: dict[int, int] | None = None) -> pd.DataFrame:
    """``frame``'s rows by the place of their ``example_id`` (``rank``: id -> place; default the
    id itself), the rows of one example in the order they came (a stable sort). A column that a
    batch of its own left untyped (the labels of a batch of unlabelled sentences, all None) gets
    the type of its values back, as one batch mixing them would have given it."""
    ids = frame["example_id"].to_numpy()
    key = ids if rank is None else np.array([rank[int(i)] for i in ids], dtype=np.int64)
    return frame.iloc[np.argsort(key, kind="stable")].reset_index(drop=True).infer_objects()


def progress_bar(iterable, *, total: int | None, desc: str, enabled: bool):
    """tqdm over ``iterable`` when enabled (a terminal, not --quiet), else the iterable itself."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def each_batch(starts: Iterable[int], *, total: int, desc: str, enabled: bool) -> Iterator[int]:
    """The loop of a streaming analysis over its batches: ``progress_bar`` over ``starts``, and
    after each batch ``reportgen.heap.release_free_memory`` (the heap's free pages go back to the
    system once resident memory has grown by 64 MB), so memory the analysis does not keep does
    not pile up with the number of batches."""
    for start in progress_bar(starts, total=total, desc=desc, enabled=enabled):
        yield start
        release_free_memory()


def map_batches(n: int, fn: Callable[[int, int], T], *, size: int, desc: str,
                enabled: bool) -> list[T]:
    """``fn(lo, hi)`` for every batch [lo, hi) of ``range(n)`` in batches of ``size``, the results
    in batch order, the same in one process as under torchrun: each rank computes batches rank,
    rank + N, ... (``distributed.my_batches``) and every rank receives every batch's result
    (``distributed.gather_batches``). A progress bar over this rank's batches when ``enabled``;
    after each batch, the heap's free memory is released (``each_batch``)."""
    starts = my_batches(range(0, n, size))
    parts: dict[int, T] = {}
    for lo in each_batch(starts, total=len(starts), desc=desc, enabled=enabled):
        parts[lo] = fn(lo, min(lo + size, n))
    return gather_batches(parts)
