"""A report at scale: 100,000 AG News texts and four models, within the memory and site budgets?

    python benchmarks/scale.py --models DIR [--examples 100000] [--doc docs/benchmarks.md]

The texts: AG News's test split and training pool (title + description, 22,285 texts), repeated in
seeded shuffles up to ``--examples`` and written as one CSV (``text,label``). The models:
``kim-cnn``, ``yuan-cnn``, ``rnn`` and ``bilstm`` trained on AG News's training pool
(``DIR/<arch>-ag.pt``; trained here for 3 epochs when missing). One cold ``reportgen run`` with
every analysis at its defaults, in its own process with a fresh cache folder; the parent measures
its wall time and peak resident memory (``wait4``). Then: the site's size (largest page, largest
file, the data folder), the seconds of each analysis, and what the run sampled (``report.json``'s
``detail_examples``). Repeated texts are also in the models' training data: the accuracies are not
test accuracies (the run warns; they do not matter here). Results go to ``docs/benchmarks.md`` under
"## A report at scale (CPU)". Load: nothing else running.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc_section import write_section

AG = ROOT.parent / "shared" / "data" / "ag_news"
ARCHS = ("kim-cnn", "yuan-cnn", "rnn", "bilstm")
HEADING = "## A report at scale (CPU)"


def write_texts(path: Path, n: int, seed: int = 0) -> None:
    """AG News texts repeated in seeded shuffles up to ``n`` rows, as ``text,label``."""
    classes = [line.strip() for line in (AG / "classes.txt").read_text().splitlines()
               if line.strip()]
    rows = []
    for name in ("test.csv", "train.csv"):
        with (AG / name).open(encoding="utf-8", newline="") as fh:
            for label, title, description in csv.reader(fh):
                text = f"{title} {description}".strip().replace("\\", " ")
                rows.append((text, classes[int(label) - 1]))
    rng, out = random.Random(seed), []
    while len(out) < n:
        batch = rows[:]
        rng.shuffle(batch)
        out += batch
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(out[:n])


def checkpoint(models: Path, arch: str) -> Path:
    path = models / f"{arch}-ag.pt"
    if not path.exists():
        subprocess.run([sys.executable, "-m", "reportgen", "train", arch, "--data", f"agnews:{AG}",
                        "--epochs", "3", "--out", str(path), "--quiet"], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    return path


def measured(
    cmd: list[str], every: float = 2.0
) -> tuple[float, float, float, list[tuple[float, float]]]:
    """(wall seconds, peak resident MB, start as a Unix time, [(seconds since start, resident
    MB)] every ``every`` s) of one command."""
    began, start = time.time(), time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    trace: list[tuple[float, float]] = []
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(proc.pid, start, every, trace, done),
                               daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)  # the only wait: the watcher never reaps the child
    done.set()
    watcher.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()[-3000:]}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, began, trace


def _watch(pid: int, start: float, every: float, trace: list, done: threading.Event) -> None:
    """Append (seconds, VmRSS MB) of process ``pid`` to ``trace`` until ``done``."""
    status = Path(f"/proc/{pid}/status")
    while not done.is_set():
        try:
            rss = next(line for line in status.read_text().splitlines() if line.startswith("VmRSS"))
            trace.append((time.perf_counter() - start, int(rss.split()[1]) / 1024))
        except (OSError, StopIteration, ValueError):
            pass
        done.wait(every)


def phase_peaks(trace: list[tuple[float, float]], report: dict, wall: float,
                began: float) -> list[tuple[str, float]]:
    """(phase, largest resident MB sampled in it): before the analyses, each analysis, the site.
    Anchor: ``report.json``'s ``created`` is when the analyses ended (to the second); they ran
    one after another for the seconds it lists, after ``total_seconds`` less those of loading."""
    end = datetime.fromisoformat(report["created"]).timestamp() - began  # seconds since start
    begin = end - sum(a["seconds"] for a in report["analyses"].values())
    windows = [("loading, predicting, model cards", 0.0, begin)]
    for name, a in report["analyses"].items():
        windows.append((name, begin, begin + a["seconds"]))
        begin += a["seconds"]
    windows.append(("writing the site", end, wall))
    return [(name, max((mb for t, mb in trace if lo <= t < hi), default=float("nan")))
            for name, lo, hi in windows]


def site_sizes(site: Path) -> dict[str, float]:
    files = [p for p in site.rglob("*") if p.is_file()]
    pages = [p for p in files if p.suffix == ".html"]
    mb = 1_000_000
    largest = max(files, key=lambda p: p.stat().st_size)
    return {"site_mb": sum(p.stat().st_size for p in files) / mb,
            "data_mb": sum(p.stat().st_size for p in files
                           if "data" in p.relative_to(site).parts) / mb,
            "largest_page_mb": max(p.stat().st_size for p in pages) / mb,
            "largest_file": f"{largest.relative_to(site)} ({largest.stat().st_size / mb:.1f} MB)"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, required=True,
                        help="folder of <arch>-ag.pt checkpoints")
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the CSV, cache and site")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--load", default="nothing else running", help="what else ran, for the doc")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="scale-"))
    work.mkdir(parents=True, exist_ok=True)
    texts = work / f"ag{args.examples}.csv"
    if not texts.exists():
        write_texts(texts, args.examples)
    paths = [checkpoint(args.models, arch) for arch in ARCHS]
    # budgets raised so that an over-budget site is measured rather than refused; the table below
    # compares what was written with the default budgets
    config = work / "budgets.toml"
    config.write_text("[run]\nsite_budget_mb = 1000.0\npage_budget_mb = 100.0\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "reportgen", "run",
           *[a for p in paths for a in ("--model", str(p))],
           "--data", f"csv:{texts}", "--out", str(work / "site"),
           "--cache-dir", str(work / "cache"),
           "--config", str(config), "--quiet"]
    wall, peak, began, trace = measured(cmd)
    report = json.loads((work / "site" / "report.json").read_text())
    peaks = dict(phase_peaks(trace, report, wall, began))
    sizes = site_sizes(work / "site")
    lines = [
        (f"{args.examples:,} AG News texts (the 22,285 of the test split and training pool, "
        f"repeated in seeded shuffles) and four models trained on AG News ({', '.join(ARCHS)}), "
        "every analysis at its defaults, one cold `reportgen run` (`benchmarks/scale.py`). "
        "Machine: "
        f"{os.cpu_count()} CPU cores, {platform.machine()}, torch {_torch()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; {args.load}."),
        "",
        "| | measured | budget |",
        "|---|---:|---:|",
        f"| peak resident memory | {peak / 1024:.2f} GB | 4 GB |",
        f"| site | {sizes['site_mb']:.1f} MB | 50 MB |",
        f"| of which `data/` (CSV samples and gzipped full tables) | {sizes['data_mb']:.1f} MB | |",
        f"| largest page | {sizes['largest_page_mb']:.2f} MB | 5 MB |",
        f"| largest file | {sizes['largest_file']} | |",
        f"| wall time | {wall / 60:.1f} min | |",
        "",
        ("Per-token detail and the costly analyses: "
         f"{report['data']['detail_examples']['examples']:,} "
         f"of {report['data']['detail_examples']['of']:,} examples (seed "
         f"{report['data']['detail_examples']['seed']})."),
        "",
        ("Resident memory sampled every 2 s (VmRSS); the largest sample in each phase, placed by "
         "the seconds in `report.json`:"),
        "",
        "| phase | status | seconds | examples | largest resident MB |",
        "|---|---|---:|---:|---:|",
        ("| loading, predicting, model cards | | | | "
         f"{peaks['loading, predicting, model cards']:.0f} |"),
    ]
    for name, a in report["analyses"].items():
        examples = a["metrics"].get("examples")
        lines.append(f"| {name} | {a['status']} | {a['seconds']:.1f} | "
                     f"{'' if examples is None else f'{examples:,.0f}'} | {peaks[name]:.0f} |")
    site_seconds = began + wall - datetime.fromisoformat(report["created"]).timestamp()
    lines.append(f"| writing the site | | {site_seconds:.1f} | | "
                 f"{peaks['writing the site']:.0f} |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(HEADING, text)


def _torch() -> str:
    import torch

    return torch.__version__


if __name__ == "__main__":
    main()
