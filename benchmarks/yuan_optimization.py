"""optimization: every (text, location) problem in one tensor against one problem at a time.

    python benchmarks/yuan_optimization.py --ckpt yuan-mr.pt --data mr:../shared/data/mr
                                           [--steps 300] [--loop-problems 60] [--device auto]

Both ways run in this one process, on the same problems (the top 3 locations of layer 1 of every
MR test text, found by ``hidden_saliency``), with the same code path (``optimization.optimise``):
batched = all problems in chunks of ``--chunk``; the baseline = a plain Python loop that solves one
problem at a time. The loop is timed on the first ``--loop-problems`` problems and its per-problem
time scaled to all of them (stated in the output); the two runs' results on those problems are
checked to agree. The numbers go to ``docs/benchmarks.md`` under "## Input optimisation".
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc_section import write_section
from reportgen.analyses import hidden_saliency, optimization
from reportgen.analyses.base import RunContext
from reportgen.data.loaders import load_data
from reportgen.device import resolve_device
from reportgen.models.checkpoint import load_checkpoint
from reportgen.models.internals import conv_layer
from reportgen.models.loading import adapter_from_checkpoint

HEADING = "## Input optimisation"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--loop-problems", type=int, default=60)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    device = resolve_device(args.device)
    ckpt = load_checkpoint(args.ckpt)
    model = adapter_from_checkpoint(ckpt, name="yuan", source=args.ckpt, device=device)
    data = load_data(args.data)
    examples = data.split("auto")
    ctx = RunContext(model, examples, data, device, 0, batch_size=128)
    t0 = time.perf_counter()
    ctx.upstream = {"hidden_saliency": hidden_saliency.compute(ctx, hidden_saliency.Params())}
    t_hs = time.perf_counter() - t0
    layer = conv_layer(model)
    locations = ctx.upstream["hidden_saliency"].tables["locations"]
    found = optimization._problems(model, layer, ctx, locations)
    targets, masks, keys = found["targets"], found["masks"], found["keys"]
    params = optimization.Params(steps=args.steps, chunk=args.chunk, tolerance=0.0)  # all steps
    l1, l2 = optimization.weights(params, data.spec)
    dim = model.module.config["emb_dim"]
    start = optimization.xavier_start(keys, 0, layer.field.size, dim)

    def batched() -> torch.Tensor:
        out = []
        for lo in range(0, len(keys), args.chunk):
            part = slice(lo, lo + args.chunk)
            out.append(optimization.optimise(model, layer, start[part], masks[part], targets[part],
                                             l1, l2, params)[0])
        return torch.cat(out)

    def loop(n: int) -> torch.Tensor:
        return torch.cat([optimization.optimise(model, layer, start[i : i + 1], masks[i : i + 1],
                                                targets[i : i + 1], l1, l2, params)[0]
                          for i in range(n)])

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    loop(2)  # warm-up
    sync()
    t0 = time.perf_counter()
    x_batched = batched()
    sync()
    t_batched = time.perf_counter() - t0
    n = min(args.loop_problems, len(keys))
    t0 = time.perf_counter()
    x_loop = loop(n)
    sync()
    t_loop_n = time.perf_counter() - t0
    t_loop = t_loop_n / n * len(keys)
    diff = float((x_batched[:n] - x_loop).abs().max() / x_loop.abs().max())
    threads = torch.get_num_threads()
    device_name = str(device) if device.type == "cpu" else torch.cuda.get_device_name(device)
    lines = [
        (f"`python benchmarks/yuan_optimization.py --ckpt {Path(args.ckpt).name} "
        f"--data {args.data} --steps {args.steps}`; machine: {platform.machine()}, "
        f"{device_name}, torch "
        f"{torch.__version__} ({threads} threads)."),
        "",
        (f"{len(examples):,} texts x top 3 locations of layer 1 ({layer.name}, receptive field "
        f"{layer.field.size} tokens) = {len(keys):,} problems, {args.steps} Adam steps each, "
        f"{dim}-d inputs."),
        "",
        "| way | seconds | problems per second |",
        "|---|---|---|",
        f"| batched (chunks of {args.chunk}) | {t_batched:.1f} | {len(keys) / t_batched:,.0f} |",
        (f"| one problem at a time (timed on {n}, scaled to {len(keys):,}) | {t_loop:.1f} | "
        f"{len(keys) / t_loop:,.1f} |"),
        "",
        (f"Speed-up: **{t_loop / t_batched:.0f}x**. The two agree to {diff:.1e} "
        f"(largest difference relative to the largest value) on the {n} problems both solved. "
        f"hidden_saliency over the same texts took {t_hs:.1f} s."),
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        _write(text, device.type)


def _write(text: str, kind: str) -> None:
    write_section(f"{HEADING} ({'GPU' if kind == 'cuda' else 'CPU'})", text)


if __name__ == "__main__":
    main()
