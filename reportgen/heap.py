"""Keep a long run's resident memory from growing with the number of batches.

Question: a report over 100,000 texts streams ~1,500 batches per analysis and model, each making
and freeing tensors, numpy arrays and pandas frames of a few hundred kilobytes to a few megabytes,
of sizes that change with the batch's longest text. With glibc's malloc the process grew by about
1.5 MB per batch although Python held nothing more: freed blocks stay inside the heap, below blocks
still in use, and glibc gives heap memory back to the system only from its top.

Method: after each batch (``reportgen.analyses.base.each_batch`` and the adapter's inference loops),
once resident memory has grown by ``GROWTH_ALLOWED`` (64 MB) since the last time, call glibc's
``malloc_trim(0)``, which hands every free page inside the heap back to the system. Trimming after
every batch instead made the pages fault in again at every batch (kim-cnn's MR report: 20% slower
in one pair of runs).
Measured on AG News texts, saliency of kim-cnn, peak resident memory at 2,500 vs 10,000 texts
(``benchmarks/heap_growth.py``, docs/benchmarks.md "Memory per batch (CPU)"): 11.8 MB more per
1,000 texts without it, 2.6 MB with it; kim-cnn's whole MR report within 5% of the time.

A trim walks the whole heap: in a report over 100,000 texts (a heap of about 2 GB, its pages
faulting in again after each trim) it took 16% of ``variance_salience``'s time. So a trim also
waits until the time since the last one is ``TRIM_SPACING`` (19) times what that one took: trims
then take at most 5% of the run, however large the heap.

Not done: fixing glibc's mmap threshold (``mallopt``), which also stops the growth but makes every
large tensor a fresh mapping whose pages fault in again: kim-cnn's whole MR report took 1.89x as
long that way (optimization's Adam steps 2.6x). Only on Linux with glibc; elsewhere nothing is done.

Cost: a read of ``/proc/self/statm`` per batch; a trim (about 0.1 ms on a small heap, tens of ms on
a large one, plus the pages it returns, which fault in again when used) at most once per 64 MB of
growth and at most 5% of the time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time
from collections.abc import Callable
from functools import cache

GROWTH_ALLOWED = 64 * 2**20  # bytes of resident growth between two trims
TRIM_SPACING = 19.0  # the next trim waits this many times the last one's duration (<= 5%)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # musl and others: no malloc_trim
        return None


def resident_bytes() -> int | None:
    """This process's resident memory now (Linux), else None."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


_last_trim: list[int] = [0]  # resident bytes right after the last trim, or the lowest since
_next_trim: list[float] = [0.0]  # perf_counter time before which no trim runs (TRIM_SPACING)
_clock = time.perf_counter


def release_free_memory() -> bool:
    """Once resident memory has grown by ``GROWTH_ALLOWED`` since the last trim (or since it last
    fell, whichever is lower), and ``TRIM_SPACING`` times the last trim's duration has passed since
    it, give the heap's free pages back to the system. True when it trimmed."""
    trim = _malloc_trim()
    resident = resident_bytes()
    if trim is None or resident is None:
        return False
    _last_trim[0] = min(_last_trim[0], resident)  # after a large table is freed: measure from here
    if resident - _last_trim[0] < GROWTH_ALLOWED:
        return False
    start = _clock()
    if start < _next_trim[0]:
        return False
    trim(0)
    end = _clock()
    _next_trim[0] = end + TRIM_SPACING * (end - start)
    _last_trim[0] = resident_bytes() or resident
    return True
