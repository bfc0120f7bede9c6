"""Resident memory of a streaming loop: free heap pages go back to the system (reportgen.heap)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from reportgen import heap
from reportgen.analyses import base

MB = 2**20


# Run in a fresh interpreter: in a long test session the heap is full of small holes, and where
# the test's blocks land would depend on every test before it.
FREED_BLOCKS = """
import ctypes, json
from reportgen import heap
MB = 2**20
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
# 200 MB in 100 kB blocks (below glibc's mmap threshold: they come from the heap), then small
# blocks until one lies above them all: it stays in use, so glibc cannot give the freed space back
# from the top of the heap when the big blocks are freed
before = heap.resident_bytes()
blocks, pins = [], []
for _ in range(2000):
    block = libc.malloc(100_000)
    ctypes.memset(block, 1, 100_000)  # touch every page: now it is resident
    blocks.append(block)
while not pins or pins[-1] < max(blocks):
    pins.append(libc.malloc(64))
for block in blocks:
    libc.free(block)
freed = heap.resident_bytes()
heap._last_trim[0] = freed - 150 * MB  # grown by more than allowed
first = heap.release_free_memory()
released = heap.resident_bytes()
print(json.dumps({"before": before, "freed": freed, "first": first, "released": released,
                  "last_trim": heap._last_trim[0], "second": heap.release_free_memory()}))
"""


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
                    reason="malloc_trim is glibc's")
def test_freed_heap_blocks_are_given_back():
    out = subprocess.run([sys.executable, "-c", FREED_BLOCKS], capture_output=True, text=True,
                         check=True, timeout=120)
    seen = json.loads(out.stdout)
    assert seen["freed"] - seen["before"] > 150 * MB  # freed, but still resident
    assert seen["first"] is True
    assert seen["freed"] - seen["released"] > 150 * MB  # the freed 200 MB left the process
    assert abs(seen["last_trim"] - seen["released"]) < 8 * MB  # the next trim waits for 64 MB more
    assert seen["second"] is False


def test_trims_only_after_growth_beyond_the_allowance(monkeypatch):
    resident, trims = [500 * MB], []

    def trim(pad: int) -> int:
        trims.append(pad)
        resident[0] -= 30 * MB  # what the trim gave back
        return 1

    monkeypatch.setattr(heap, "_malloc_trim", lambda: trim)
    monkeypatch.setattr(heap, "resident_bytes", lambda: resident[0])
    monkeypatch.setattr(heap, "_last_trim", [500 * MB])
    resident[0] += heap.GROWTH_ALLOWED - 1
    assert heap.release_free_memory() is False and trims == []
    resident[0] += 1  # exactly the allowance
    assert heap.release_free_memory() is True and trims == [0]
    assert heap._last_trim == [500 * MB + heap.GROWTH_ALLOWED - 30 * MB]
    resident[0] += heap.GROWTH_ALLOWED - 1  # measured from after the last trim
    assert heap.release_free_memory() is False and trims == [0]


def test_the_allowance_counts_from_the_lowest_point_since_the_last_trim(monkeypatch):
    resident, trims = [900 * MB], []
    monkeypatch.setattr(heap, "_malloc_trim", lambda: lambda pad: trims.append(pad) or 1)
    monkeypatch.setattr(heap, "resident_bytes", lambda: resident[0])
    monkeypatch.setattr(heap, "_last_trim", [900 * MB])
    resident[0] = 300 * MB  # a large table was freed and went back to the system
    assert heap.release_free_memory() is False and heap._last_trim == [300 * MB]
    resident[0] = 300 * MB + heap.GROWTH_ALLOWED  # 64 MB of growth since then, far below 900 MB
    assert heap.release_free_memory() is True and trims == [0]


def test_a_slow_trim_spaces_out_the_next_ones(monkeypatch):
    # a trim that takes 1 s (a large heap): the next one waits 19 s, so trims stay under 5%
    now, resident, trims = [100.0], [900 * MB], []

    def trim(pad: int) -> int:
        trims.append(now[0])
        now[0] += 1.0
        return 1

    monkeypatch.setattr(heap, "_malloc_trim", lambda: trim)
    monkeypatch.setattr(heap, "resident_bytes", lambda: resident[0])
    monkeypatch.setattr(heap, "_clock", lambda: now[0])
    monkeypatch.setattr(heap, "_last_trim", [900 * MB - heap.GROWTH_ALLOWED])
    monkeypatch.setattr(heap, "_next_trim", [0.0])
    assert heap.release_free_memory() is True and trims == [100.0]
    assert heap._next_trim == [101.0 + heap.TRIM_SPACING]
    resident[0] += heap.GROWTH_ALLOWED  # grown again at once: not yet
    now[0] = 101.0 + heap.TRIM_SPACING - 0.5
    assert heap.release_free_memory() is False and len(trims) == 1
    now[0] = 101.0 + heap.TRIM_SPACING
    assert heap.release_free_memory() is True and len(trims) == 2


def test_without_malloc_trim_nothing_is_done(monkeypatch):
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    monkeypatch.setattr(heap, "_last_trim", [0])
    assert heap.release_free_memory() is False


def test_each_batch_releases_after_every_batch(monkeypatch):
    seen: list[tuple[str, int]] = []
    monkeypatch.setattr(base, "release_free_memory", lambda: seen.append(("release", -1)) or False)
    for start in base.each_batch([0, 64, 128], total=3, desc="test", enabled=False):
        seen.append(("batch", start))
    assert seen == [("batch", 0), ("release", -1), ("batch", 64), ("release", -1),
                    ("batch", 128), ("release", -1)]
