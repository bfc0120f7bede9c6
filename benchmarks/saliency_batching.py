"""saliency: batched gradients against one example at a time, on MR's held-out reviews.

    python benchmarks/saliency_batching.py --ckpt-dir DIR [--archs kim-cnn,bilstm,lstm] [--n 400]

Checkpoints ``DIR/<arch>-mr.pt`` come from ``benchmarks/train_accuracy.py --save-dir DIR``. For each
model, both ways run in this one process on the same examples: ``token_saliency`` over batches of 64
and the same function called per example (the baseline: what a loop over Captum-style single-input
calls costs). Results are checked to agree, and the speed-up (examples per second, batched over
unbatched) is written to ``docs/benchmarks.md`` under "## Saliency batching".
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reportgen.analyses.saliency_batch import token_saliency
from reportgen.data.loaders import load_data
from reportgen.device import resolve_device
from reportgen.models.checkpoint import load_checkpoint
from reportgen.models.loading import adapter_from_checkpoint

DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Saliency batching"


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def measure(adapter, texts: list[str], bs: int) -> tuple[float, float, float]:
    """Seconds batched, seconds one at a time, and the largest relative difference of the two."""
    token_saliency(adapter, texts[:8])  # warm-up
    t_batched, batched = timed(
        lambda: [v for i in range(0, len(texts), bs)
                 for v in token_saliency(adapter, texts[i : i + bs])[2]]
    )
    t_single, single = timed(lambda: [token_saliency(adapter, [t])[2][0] for t in texts])
    worst = max(float(np.abs(a - b).max() / max(b.max(), 1e-12))
                for a, b in zip(batched, single, strict=True))
    return t_batched, t_single, worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ckpt-dir", required=True)
    parser.add_argument("--archs", default="kim-cnn,yuan-cnn,lstm,bilstm")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    texts = [ex.text for ex in load_data(f"mr:{ROOT.parent / 'shared' / 'data' / 'mr'}")
             .split("test")][: args.n]
    rows = []
    for arch in args.archs.split(","):
        adapter = adapter_from_checkpoint(load_checkpoint(Path(args.ckpt_dir) / f"{arch}-mr.pt"),
                                          name=arch, source=arch, device=device)
        t_batched, t_single, worst = measure(adapter, texts, args.batch_size)
        rows.append((arch, len(texts) / t_batched, len(texts) / t_single, t_single / t_batched,
                     worst))
        print(f"{arch}: batched {rows[-1][1]:.0f}/s, one at a time {rows[-1][2]:.0f}/s, "
              f"x{rows[-1][3]:.1f}, max relative difference {worst:.1e}")
    table = [
        HEADING,
        "",
        (
            f"`python benchmarks/saliency_batching.py` — {len(texts)} MR test reviews, batch size "
            f"{args.batch_size}, device {device}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}. "
            "Both ways run in one process on the same examples; the results agree to the last "
            "column's relative difference."
        ),
        "",
        ("| model | batched (examples/s) | one at a time (examples/s) | speed-up "
         "| max rel. difference |"),
        "|---|---:|---:|---:|---:|",
        *[f"| {a} | {b:.0f} | {s:.0f} | {r:.1f}x | {w:.1e} |" for a, b, s, r, w in rows],
        "",
    ]
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if HEADING in text:
        before, _, rest = text.partition(HEADING)
        after = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        text = before.rstrip() + "\n\n" + "\n".join(table) + after
    else:
        text = text.rstrip() + "\n\n" + "\n".join(table)
    DOC.write_text(text)


if __name__ == "__main__":
    main()
