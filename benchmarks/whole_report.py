"""The whole default report on the MR test split: seconds per analysis, peak memory, cold against
cached, one process against two (torchrun, gloo).

    python benchmarks/whole_report.py --model kim-cnn=DIR/kim.pt --model bilstm=DIR/bilstm.pt ...

For each model, run in this order with a fresh cache folder, each as its own ``reportgen run``
process (its wall time and peak resident memory measured by the parent through ``wait4``):

1. cold, one process: every analysis computed;
2. cached, one process: the same command again (every result read from the cache);
3. cold, two processes under ``torchrun --nproc-per-node 2`` with one thread each, beside
4. cold, one process with one thread (the fair baseline for 3: the same two cores in total).

Results go to ``docs/benchmarks.md`` under "## Whole report (CPU)". Load: nothing else running.
"""

from __future__ import annotations

import argparse
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

DATA = f"mr:{ROOT.parent / 'shared' / 'data' / 'mr'}"


def measured(cmd: list[str], threads: int) -> tuple[float, float]:
    """(wall seconds, peak resident MB of the largest process) of one command."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # Linux: kB


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", action="append", required=True, help="NAME=CHECKPOINT")
    args = parser.parse_args()
    rows, analyses = [], {}
    for spec in args.model:
        name, path = spec.split("=", 1)
        work = Path(tempfile.mkdtemp(prefix="whole-report-"))
        base = ["-m", "reportgen", "run", "--model", path, "--data", DATA, "--quiet"]
        run = [sys.executable, *base]
        cold, cold_mb = measured(
            [*run, "--out", str(work / "a"), "--cache-dir", str(work / "c1")], 2)
        report = json.loads((work / "a" / "report.json").read_text())
        analyses[name] = {n: a["seconds"] for n, a in report["analyses"].items()}
        cached, cached_mb = measured(
            [*run, "--out", str(work / "a"), "--cache-dir", str(work / "c1")], 2)
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                    "--master-addr", "127.0.0.1", "--master-port", "29533", *base]
        two, _ = measured([*torchrun, "--out", str(work / "b"), "--cache-dir", str(work / "c2")], 1)
        one, _ = measured([*run, "--out", str(work / "d"), "--cache-dir", str(work / "c3")], 1)
        # against the one-process run with the same one thread per process: a different thread
        # count changes the order of CPU float reductions, hence the last bits of some numbers
        two_procs = json.loads((work / "b" / "report.json").read_text())["analyses"]
        one_proc = json.loads((work / "d" / "report.json").read_text())["analyses"]
        equal = all(two_procs[n]["metrics"] == a["metrics"] for n, a in one_proc.items())
        rows.append((name, cold, cold_mb, cached, cached_mb, one, two, equal))
        print(rows[-1], flush=True)
        shutil.rmtree(work, ignore_errors=True)
    names = list(next(iter(analyses.values())))
    text = "\n".join([
        ("`python benchmarks/whole_report.py` — the default report (all nine analyses) on the "
        f"whole MR test split (1,066 reviews), {platform.processor() or platform.machine()}, "
        "2 cores, "
        "no GPU, nothing else running. Each run is its own `reportgen run` process; wall time and "
        "peak resident memory (the largest process) are measured by the parent. *Cached*: the "
        "same command again. *1 vs 2 processes*: one thread per process, so both use the same two "
        "cores; the two-process run is `torchrun --nproc-per-node 2` (gloo), whose metrics are "
        "compared with those of the one-process, one-thread run (a different thread count "
        "changes the order of float reductions in CPU kernels, so compare like with like)."),
        "",
        ("| model | cold (s) | peak MB | cached (s) | cached / cold | peak MB "
         "| 1 process, 1 thread (s) "
         "| 2 processes (s) | speed-up | same metrics |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *[f"| {n} | {c:.1f} | {cm:.0f} | {k:.1f} | {100 * k / c:.1f}% | {km:.0f} | {o:.1f} "
          f"| {t:.1f} "
          f"| {o / t:.2f}x | {'yes' if e else 'NO'} |" for n, c, cm, k, km, o, t, e in rows],
        "",
        "Seconds per analysis in the cold one-process run (from `report.json`):",
        "",
        "| analysis | " + " | ".join(analyses) + " |",
        "|---|" + "---:|" * len(analyses),
        *[f"| {a} | " + " | ".join(f"{analyses[m].get(a, 0):.1f}" for m in analyses) + " |"
          for a in names],
    ])
    write_section("## Whole report (CPU)", text)


if __name__ == "__main__":
    main()
