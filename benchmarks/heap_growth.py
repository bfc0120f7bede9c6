"""Does resident memory grow with the number of batches, and what does keeping it flat cost?

    python benchmarks/heap_growth.py --models DIR [--checkpoint kim-cnn=DIR/kim.pt] [--no-write]

Three ways to run the same code (``reportgen.heap``), each in its own ``reportgen run`` process
whose peak resident memory the parent measures (``wait4``):

- ``trim`` (what reportgen does): ``malloc_trim(0)`` after a batch once resident memory has grown by
  64 MB since the last trim;
- ``glibc default``: no trimming;
- ``fixed mmap threshold``: no trimming, glibc's mmap threshold fixed at 256 KiB (``mallopt``), the
  previous fix, so that every block of 256 KiB or more is mapped and unmapped on its own.

1. Growth: each streaming analysis alone (``--only``, ``--no-cache``) on 2,500 and on 10,000 AG News
   texts (``benchmarks/scale.py``'s seeded CSV) with kim-cnn trained on AG News
   (``DIR/kim-cnn-ag.pt``); the peak's growth per 1,000 more texts. The per-token detail sample
   is 2,000 texts in both runs, so what the tables keep grows only by one row of metrics per text.
2. Speed: the whole default report on the MR test split (``--checkpoint``), two rounds with the
   three ways interleaved; seconds per analysis and in all (the faster round), peak memory.

Results go to ``docs/benchmarks.md`` under "## Memory per batch (CPU)". Load: nothing else running.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc_section import write_section

HEADING = "## Memory per batch (CPU)"
MODES = ("trim", "glibc default", "fixed mmap threshold")
MR = f"mr:{ROOT.parent / 'shared' / 'data' / 'mr'}"
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def child(mode: str, args: list[str]) -> None:
    """Run ``reportgen`` with ``args`` in this process, its heap handled the ``mode`` way."""
    from reportgen import heap
    from reportgen.cli import main

    if mode != "trim":
        heap._malloc_trim = lambda: None
    if mode == "fixed mmap threshold":
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 256 * 1024)
    main(args, standalone_mode=True)


def measured(mode: str, args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one ``reportgen`` command run the ``mode`` way."""
    cmd = [sys.executable, __file__, "--child", mode, "--", *args]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()[-3000:]}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def growth(work: Path, model: Path, analyses: list[str]) -> list[str]:
    from benchmarks.scale import write_texts

    texts = work / "ag10000.csv"
    if not texts.exists():
        write_texts(texts, 10_000)
    sizes = (2_500, 10_000)
    lines = [("| analysis | heap | peak MB at 2,500 texts | at 10,000 | MB per 1,000 more texts | "
             "seconds at 10,000 |"), "|---|---|---:|---:|---:|---:|"]
    for name in analyses:
        for mode in MODES:
            peaks, seconds = [], 0.0
            for n in sizes:
                out = work / "site"
                shutil.rmtree(out, ignore_errors=True)
                _wall, peak = measured(mode, ["run", "--model", str(model),
                                             "--data", f"csv:{texts}",
                                             "--out", str(out), "--only", name,
                                             "--no-cache", "--quiet",
                                             "--max-examples", str(n)])
                peaks.append(peak)
                seconds = json.loads((out / "report.json").read_text())["analyses"][name]["seconds"]
            per_1000 = (peaks[1] - peaks[0]) / ((sizes[1] - sizes[0]) / 1000)
            lines.append(f"| {name} | {mode} | {peaks[0]:.0f} | {peaks[1]:.0f} | {per_1000:.1f} | "
                         f"{seconds:.1f} |")
            print(lines[-1], flush=True)
    return lines


def speed(work: Path, checkpoint: str, rounds: int = 2) -> list[str]:
    name, path = checkpoint.split("=", 1)
    best: dict[str, tuple[float, float, dict[str, float]]] = {}
    for _ in range(rounds):
        for mode in MODES:
            out = work / "mr-site"
            shutil.rmtree(out, ignore_errors=True)
            wall, peak = measured(mode, ["run", "--model", path, "--data", MR, "--out", str(out),
                                         "--no-cache", "--quiet"])
            report = json.loads((out / "report.json").read_text())
            per = {a: r["seconds"] for a, r in report["analyses"].items()}
            print(mode, round(wall, 1), per, flush=True)
            if mode not in best or wall < best[mode][0]:
                best[mode] = (wall, peak, per)
    analyses = list(best["trim"][2])
    lines = ["| heap | " + " | ".join(analyses) + " | whole run (s) | / trim | peak MB |",
             "|---|" + "---:|" * (len(analyses) + 3)]
    for mode in MODES:
        wall, peak, per = best[mode]
        lines.append(f"| {mode} | " + " | ".join(f"{per[a]:.1f}" for a in analyses)
                     + f" | {wall:.1f} | {wall / best['trim'][0]:.2f}x | {peak:.0f} |")
    return [(f"`{name}`, whole default report on the MR test split, `--no-cache`, the faster of "
            f"{rounds} interleaved rounds (seconds per analysis from `report.json`):"), "", *lines]


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return child(sys.argv[2], sys.argv[4:])
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, required=True, help="folder with kim-cnn-ag.pt")
    parser.add_argument("--checkpoint", default=None,
                        help="NAME=CHECKPOINT trained on MR (speed part)")
    parser.add_argument("--analyses", default="saliency,filter_top_words,neuron_sweep")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from benchmarks.scale import checkpoint

    work = Path(tempfile.mkdtemp(prefix="heap-growth-"))
    lines = [
        (f"`python benchmarks/heap_growth.py`: {os.cpu_count()} CPU cores, {platform.machine()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, nothing else running. "
        "*trim*: what reportgen does (`reportgen/heap.py`: glibc's `malloc_trim(0)` after a batch "
        "once resident memory has grown by 64 MB since the last trim). *glibc default*: no "
        "trimming. *fixed mmap threshold*: the previous fix (`mallopt(M_MMAP_THRESHOLD, 256 KiB)`, "
        "no trimming)."),
        "",
        ("Growth: each analysis alone on 2,500 and on 10,000 AG News texts (kim-cnn trained on AG "
        "News, `--no-cache`, a per-token detail sample of 2,000 texts in both); peak resident "
        "memory of the process."),
        "",
        *growth(work, checkpoint(args.models, "kim-cnn"), args.analyses.split(",")),
    ]
    if args.checkpoint:
        lines += ["", *speed(work, args.checkpoint)]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(HEADING, text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
