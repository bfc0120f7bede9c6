"""The run's memory budget: how much resident memory a report may use, and a guard that stops it
cleanly before the system's out-of-memory killer would.

Question: a model users bring (a BERT-base classifier, 3,072 MLP units in each of 12 layers) can
make an analysis hold more than the machine has; the kernel then kills the process with no word.
How does a run stay within the machine's memory, and say which setting to lower when it cannot?

Method: ``--memory-budget`` (``auto`` by default) is the resident memory the whole process may
reach: with ``auto``, what it holds when the run starts plus 80% of the memory available then
(``MemAvailable`` of ``/proc/meminfo``, lowered to a cgroup's limit less its usage); ``none`` sets
no budget. Two parts use it:

- analyses that hold data growing with the texts plan within their share of it
  (``RunContext.memory_budget``; e.g. ``neuron_sweep`` fits its probe on fewer training texts,
  with a note, when their unit values would not fit);
- ``guard`` watches the resident memory from a thread (every 50 ms, ``/proc/self/statm``); past
  the budget it interrupts the run's main thread, which stops with ``MemoryBudgetExceeded``: exit
  2, one message naming the analysis, the model and the setting to lower (``working_on``), and
  the previous report left as it was. A single allocation that jumps past the machine's memory
  between two reads is not caught; Linux only (elsewhere there is no guard).

Outputs: ``parse_budget``, ``resolve_budget`` (bytes, or None), ``guard``, ``working_on``.
Cost: one read of a small /proc file per 50 ms while a run computes.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reportgen.errors import BadInput

AUTO_SHARE = 0.8  # of the memory available when the run starts
POLL_SECONDS = 0.05
_NO_LIMIT = 1 << 60  # cgroup v1 writes "no limit" as a huge number
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20,
          "mib": 2**20, "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40,
          "tib": 2**40}
CHOICES = ("auto", "none", "SIZE such as 6GB or 512MB")


class MemoryBudgetExceeded(BadInput):
    """The run reached its memory budget: exit 2, the setting to lower named."""


def parse_budget(value: object) -> int | str | None:
    """``"auto"`` -> "auto"; ``"none"`` -> None; ``"6GB"``, ``"512 MiB"``, ``"2.5g"`` or a number
    of bytes -> bytes. Anything else is ``BadInput`` with the valid forms."""
    if value is None:
        return "auto"
    text = str(value).strip().lower()
    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    match = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*([a-z]*)", text)
    if not match or match.group(2) not in _UNITS or float(match.group(1)) <= 0:
        raise BadInput(f"--memory-budget: {value!r} is not a size", choices=CHOICES)
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def resolve_budget(value: object) -> int | None:
    """The run's budget in bytes (None: no budget, or ``auto`` where memory cannot be read)."""
    parsed = parse_budget(value)
    if parsed != "auto":
        return parsed  # type: ignore[return-value]
    available = available_bytes()
    if available is None:
        return None
    return resident_bytes() + int(AUTO_SHARE * available)


def describe(budget: int | None) -> str:
    return "none" if budget is None else f"{budget / 2**30:.1f} GiB"


def resident_bytes() -> int:
    """This process's resident memory in bytes (0 where ``/proc`` cannot be read)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def available_bytes() -> int | None:
    """Bytes the system could give now: ``MemAvailable``, lowered to a cgroup's headroom."""
    found = [n for n in (meminfo_available(), cgroup_headroom()) if n is not None]
    return min(found) if found else None


def meminfo_available(path: Path = Path("/proc/meminfo")) -> int | None:
    """``MemAvailable`` in bytes (Linux); None elsewhere."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cgroup_headroom(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """A cgroup's memory limit less its usage, in bytes (v2, else v1); None without a limit."""
    for limit_file, usage_file in ((root / "memory.max", root / "memory.current"),
                                   (root / "memory" / "memory.limit_in_bytes",
                                    root / "memory" / "memory.usage_in_bytes")):
        try:
            limit = limit_file.read_text().strip()
            if limit == "max" or int(limit) >= _NO_LIMIT:
                return None
            return max(0, int(limit) - int(usage_file.read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


# -- what the run is doing, for the message --------------------------------------------------------
_doing: dict[str, str] = {}


@contextmanager
def working_on(analysis: str, model: str, setting: str) -> Iterator[None]:
    """Inside the block, a budget stop names ``analysis`` on ``model`` and ``setting``."""
    before = dict(_doing)
    _doing.update(analysis=analysis, model=model, setting=setting)
    try:
        yield
    finally:
        _doing.clear()
        _doing.update(before)


def _message(budget: int, seen: int) -> str:
    where = (f" while {_doing['analysis']} ran for {_doing['model']}"
             if _doing.get("analysis") else "")
    lower = _doing.get("setting") or "--max-examples or --batch-size"
    return (f"the run reached its memory budget ({seen / 2**30:.1f} GiB resident, budget "
            f"{describe(budget)}){where}; lower {lower}, or raise --memory-budget "
            "(nothing was written)")


@contextmanager
def guard(budget: int | None) -> Iterator[None]:
    """Stop the block with ``MemoryBudgetExceeded`` once resident memory passes ``budget``.

    A watcher thread reads the resident memory every ``POLL_SECONDS``; past the budget it sends
    SIGUSR1 to this (the main) thread, whose handler raises. Nothing is watched without a budget,
    off the main thread, or where ``/proc`` or ``pthread_kill`` is missing."""
    usable = (budget is not None and resident_bytes() > 0 and hasattr(signal, "pthread_kill")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return
    assert budget is not None
    stop, seen = threading.Event(), [0]
    main_id = threading.get_ident()

    def handler(_signum: int, _frame: object) -> None:
        stop.set()
        raise MemoryBudgetExceeded(_message(budget, seen[0]))

    def watch() -> None:
        while not stop.wait(POLL_SECONDS):
            rss = resident_bytes()
            if rss > budget:
                seen[0] = rss
                stop.set()
                signal.pthread_kill(main_id, signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, handler)
    watcher = threading.Thread(target=watch, name="reportgen-memory-guard", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        signal.signal(signal.SIGUSR1, previous)
