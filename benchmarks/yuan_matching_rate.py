"""Matching rate (Yuan et al. 2019, Table 4) under the paper's preset and the fast defaults.

    python benchmarks/yuan_matching_rate.py --model yuan-mr.pt --data mr:../shared/data/mr \\
        --max-examples 300 [--presets fast,paper] [--before-tree DIR] [--no-write]

Each preset is one ``reportgen run --model M --data D --only matching_rate --max-examples N``
(``[optimization] preset = ...`` in a config file, no cache), one after the other; the numbers are
read back from each report (``report.json`` and the optimisation's ``problems`` table).
``--before-tree DIR``: also run the code before issue 21's fixes, from an exported tree
(``git archive <commit> | tar -x -C DIR``), for before/after numbers on the same texts; its
term shares are computed from its ``problems`` table (it stored the raw terms).
The table goes to ``docs/benchmarks.md`` under "## Matching rate: presets and references" with a
line per (data, preset).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc_section import DOC

HEADING = "## Matching rate: presets and references"
HEADER = [
    ("| data | preset | matching rate (95% CI) | random words | most salient input words, one "
     "field's worth | receptive-field words | majority class | share of the objective: "
     "activation / norm / similarity | converged | mean steps | median window norm ratio | "
     "seconds |"),
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
]


def run(args: argparse.Namespace, preset: str, tree: Path | None) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"mr-{preset}-"))
    config = out.with_suffix(".toml")
    config.write_text(f'[optimization]\npreset = "{preset}"\n' if tree is None else "",
                      encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(tree or ROOT))
    cmd = [sys.executable, "-m", "reportgen", "run", "--model", args.model, "--data", args.data,
           "--only", "matching_rate", "--max-examples", str(args.max_examples), "--out",
           str(out / "site"), "--cache-dir", str(out / "cache"), "--quiet", "--no-cache",
           "--config", str(config)]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=str(tree or ROOT), capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    report = json.loads((out / "site" / "report.json").read_text(encoding="utf-8"))
    rates = _own(report["analyses"]["matching_rate"]["metrics"])
    opt = _own(report["analyses"]["optimization"]["metrics"])
    if tree is not None:  # the code before issue 21 stored the raw terms: shares from them
        opt.update(_shares(out / "site" / "data" / "optimization", args.data))
    return {"preset": "before (fast, old Sim, 15 salient tokens)" if tree else preset,
            "rates": rates, "opt": opt, "seconds": seconds,
            "accuracy": report["models"][0].get("accuracy")}


def _own(metrics: dict) -> dict:
    """The run's one model's metrics, without the model prefix."""
    return {k.rpartition(".")[2]: v for k, v in metrics.items() if "." in k}


def _shares(folder: Path, data: str) -> dict:
    full = folder / "problems.csv.gz"  # every row when the csv is a sample
    with (gzip.open(full, "rt", encoding="utf-8") if full.exists()
          else open(folder / "problems.csv", encoding="utf-8")) as f:
        rows = list(csv.DictReader(f))
    l1, l2 = (0.002, 0.01) if data.startswith("agnews") else (0.004, 0.02)
    parts = [(abs(float(r["activation_term"])), l1 * float(r["norm_term"]),
              l2 * abs(float(r["similarity_term"]))) for r in rows]
    totals = [sum(p) or 1.0 for p in parts]
    norms = sorted(float(r["norm_term"]) for r in rows)
    return {"median_norm_sq": norms[len(norms) // 2],
            **{f"{name}_share": sum(p[i] / t for p, t in zip(parts, totals, strict=True))
               / len(parts) for i, name in enumerate(("activation", "norm", "similarity"))}}


def row(data: str, r: dict) -> str:
    m, o = r["rates"], r["opt"]

    def rate(key: str) -> str:
        if key not in m:
            return "-"
        low, high = m.get(f"{key}_ci_low"), m.get(f"{key}_ci_high")
        return f"{m[key]:.3f}" + (f" ({low:.3f}-{high:.3f})" if low is not None else "")

    def share(key: str) -> str:
        return f"{o[key]:.1e}" if key in o and o[key] < 0.001 else (
            f"{o[key]:.3f}" if key in o else "-")

    return (f"| {data} | {r['preset']} | **{rate('matching_rate')}** | {rate('random_words_rate')} "
            f"| {rate('salient_words_rate')} | {rate('field_words_rate')} "
            f"| {m.get('majority_class_share', 0):.3f} "
            f"| {share('activation_share')} / {share('norm_share')} / {share('similarity_share')} "
            f"| {o.get('converged_share', 0):.1%} | {o.get('mean_steps', float('nan')):.0f} "
            f"| {o.get('median_window_norm_ratio', float('nan')):.1f} | {r['seconds']:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--max-examples", type=int, default=300)
    ap.add_argument("--presets", default="fast,paper")
    ap.add_argument("--before-tree", type=Path)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    results = [run(args, "fast", args.before_tree)] if args.before_tree else []
    results += [run(args, preset, None) for preset in args.presets.split(",")]
    name = args.data.split(":")[0]
    label = {"mr": "MR", "agnews": "AG News"}.get(name, name)
    lines = [row(f"{label}, {args.max_examples:,} texts", r) for r in results]
    facts = (f"{label}: `reportgen run --model {Path(args.model).name} --data {args.data} --only "
             f"matching_rate --max-examples {args.max_examples}` per preset; {platform.machine()}, "
             f"{os.cpu_count()} CPUs, load average {load:.1f} at the start; model accuracy on the "
             f"sample {results[-1]['accuracy']:.2%}.")
    print("\n".join([facts, *lines]))
    for r in results:
        extra = {k: r["opt"][k] for k in ("median_norm_sq", "mean_activation_match",
                                          "mean_activation_cosine") if k in r["opt"]}
        print(r["preset"], {k: round(v, 6) for k, v in {**extra, **r["rates"]}.items()})
    if not args.no_write:
        _write(facts, lines)


def _write(facts: str, lines: list[str]) -> None:
    """Put this run's rows in the section's table (replacing earlier rows of the same data and
    preset) and its facts in the section's list (replacing the same data's); the section's other
    text is left as it is."""
    content = DOC.read_text(encoding="utf-8")
    if HEADING not in content:
        content = content.rstrip() + f"\n\n{HEADING}\n\n" + "\n".join(HEADER) + "\n"
    head, _, rest = content.partition(HEADING)
    section, sep, after = rest.partition("\n## ")
    body = section.split("\n")
    table = [t for t in body if t.startswith("|")]
    first = body.index(table[0]) if table else len(body)
    rows = [t for t in table[2:] if not any(t.split("|")[1:3] == ln.split("|")[1:3]
                                            for ln in lines)]
    data = facts.split(":", 1)[0]
    rest_lines = [t for t in body[first + len(table):] if not t.startswith(f"- {data}:")]
    before = [t for t in body[:first]]
    new = before + (table[:2] or HEADER) + rows + lines + [""] + [f"- {facts}"] + [
        t for t in rest_lines if t.strip() or t is not rest_lines[0]]
    DOC.write_text(head + HEADING + "\n".join(new).rstrip("\n") + "\n" + sep + after,
                   encoding="utf-8")


if __name__ == "__main__":
    main()
