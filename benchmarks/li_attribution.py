"""Li et al. (2016) attributions on MR's test split: saliency beside Captum, and faithfulness's
cost.

    python benchmarks/li_attribution.py --ckpt-dir DIR [--archs rnn,lstm,bilstm] [--repeats 3]

Checkpoints ``DIR/<arch>-mr.pt`` come from ``reportgen train ARCH --data mr:DIR --out ...``. Two
sections of ``docs/benchmarks.md`` are written:

1. "Saliency beside Captum": per model, over the whole test split (1,066 reviews) with the same
   batches, in this one process and interleaved (``--repeats`` rounds, median kept): reportgen's
   ``token_saliency`` (one forward and one backward pass per batch, differentiating the predicted
   class), the whole ``saliency`` analysis (the same plus its tables), and Captum's ``Saliency``
   as a user would call it for the predicted class (a forward for the prediction, then Captum's
   forward and backward; the per-token L2 norm taken the same way). The token scores of the two are
   checked to agree.
2. "Faithfulness cost": per model, the ``faithfulness`` analysis over the test split (its
   ``saliency`` input computed first, not counted), the seconds, the number of model forward calls
   and the share of the time spent inside them (Captum's integrated gradients calls the same
   forward, so its passes count; backward passes do not).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Self

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc_section import write_section
from reportgen.analyses import faithfulness, saliency
from reportgen.analyses.base import RunContext
from reportgen.analyses.saliency_batch import token_saliency
from reportgen.data.loaders import load_data
from reportgen.device import resolve_device
from reportgen.models.checkpoint import load_checkpoint
from reportgen.models.common import gradients
from reportgen.models.loading import adapter_from_checkpoint
from reportgen.seeding import seed_everything


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ours(model, texts: list[str], bs: int) -> list[np.ndarray]:
    return [v for i in range(0, len(texts), bs)
            for v in token_saliency(model, texts[i : i + bs])[2]]


def captum(model, texts: list[str], bs: int) -> list[np.ndarray]:
    """Captum's Saliency of the predicted class, per token the L2 norm over dimensions."""
    from captum.attr import Saliency

    method = Saliency(lambda e, m: model.forward_from_embeddings(e, m))
    out: list[np.ndarray] = []
    for i in range(0, len(texts), bs):
        batch = model.encode(texts[i : i + bs])
        with gradients(model.module):
            emb = model.embed(batch.ids).detach()  # (B, T, E)
            with torch.no_grad():
                target = model.forward_from_embeddings(emb, batch.mask).argmax(-1)  # (B,)
            grad = method.attribute(emb.requires_grad_(True), target=target,
                                    additional_forward_args=(batch.mask,), abs=True)
        per_token = grad.float().pow(2).flatten(2).sum(-1).sqrt().cpu().numpy()  # (B, T)
        out += [per_token[b, : len(toks)] for b, toks in enumerate(batch.tokens)]
    return out


def analysis(model, ctx: RunContext) -> None:
    saliency.compute(ctx, saliency.Params(paper_sentences=False))


def timed(fn, device: torch.device) -> tuple[float, object]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


class ForwardClock:
    """Wraps a model's ``forward_from_embeddings``: counts the calls and the seconds inside them."""

    def __init__(self, model, device: torch.device) -> None:
        self.model, self.device, self.calls, self.seconds = model, device, 0, 0.0
        self.original = model.forward_from_embeddings

    def __enter__(self) -> Self:
        def clocked(*args, **kwargs):
            sync(self.device)
            start = time.perf_counter()
            out = self.original(*args, **kwargs)
            sync(self.device)
            self.seconds += time.perf_counter() - start
            self.calls += 1
            return out

        self.model.forward_from_embeddings = clocked
        return self

    def __exit__(self, *exc) -> None:
        del self.model.forward_from_embeddings  # back to the class's method


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ckpt-dir", required=True)
    parser.add_argument("--archs", default="rnn,lstm,bilstm")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-faithfulness", action="store_true")
    args = parser.parse_args()
    device = resolve_device(args.device)
    data = load_data(f"mr:{ROOT.parent / 'shared' / 'data' / 'mr'}")
    examples = data.split("test")
    texts = [ex.text for ex in examples]
    machine = (f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
               f"{platform.processor() or platform.machine()}")
    saliency_rows, faith_rows = [], []
    for arch in args.archs.split(","):
        model = adapter_from_checkpoint(load_checkpoint(Path(args.ckpt_dir) / f"{arch}-mr.pt"),
                                        name=arch, source=arch, device=device)
        bs = args.batch_size if model.pad_batches else 1
        ctx = RunContext(model, examples, data, device, 0, batch_size=bs)
        ours(model, texts[:bs], bs), captum(model, texts[:bs], bs)  # warm-up
        times: dict[str, list[float]] = {"ours": [], "analysis": [], "captum": []}
        for _ in range(args.repeats):  # interleaved, so load changes hit all three alike
            t, mine = timed(lambda m=model, b=bs: ours(m, texts, b), device)
            times["ours"].append(t)
            t, theirs = timed(lambda m=model, b=bs: captum(m, texts, b), device)
            times["captum"].append(t)
            t, _ = timed(lambda m=model, c=ctx: analysis(m, c), device)
            times["analysis"].append(t)
        worst = max(float(np.abs(a - b).max() / max(float(b.max()), 1e-12))
                    for a, b in zip(mine, theirs, strict=True))
        med = {k: statistics.median(v) for k, v in times.items()}
        saliency_rows.append((arch, med["ours"], med["analysis"], med["captum"], worst))
        print(f"{arch}: ours {med['ours']:.2f} s, analysis {med['analysis']:.2f} s, captum "
              f"{med['captum']:.2f} s, ratio {med['captum'] / med['ours']:.2f}, diff {worst:.1e}",
              flush=True)
        if args.skip_faithfulness:
            continue
        seed_everything(0)
        ctx.upstream = {"saliency": saliency.compute(ctx, saliency.Params(paper_sentences=False))}
        with ForwardClock(model, device) as clock:
            t, result = timed(lambda c=ctx: faithfulness.compute(c, faithfulness.Params()), device)
        m = result.metrics
        faith_rows.append((arch, t, clock.calls, clock.seconds / t,
                           m["integrated_gradients_comprehensiveness"],
                           m["random_comprehensiveness"]))
        print(f"{arch}: faithfulness {t:.1f} s, {clock.calls} forward calls, "
              f"{100 * clock.seconds / t:.0f}% in forward", flush=True)

    write_section("## Saliency beside Captum (MR test split)", "\n".join([
        (f"`python benchmarks/li_attribution.py` — all {len(texts)} MR test reviews, batch size "
        f"{args.batch_size}, {machine}; median of {args.repeats} interleaved rounds in one "
        "process, on an otherwise idle machine. Models trained on MR by `reportgen train ARCH` "
        "with learned embeddings. *reportgen kernel*: `token_saliency` (one forward and one "
        "backward pass per batch, for the predicted class). *saliency analysis*: the whole "
        "`compute`, tables included. *Captum*: `captum.attr.Saliency` as a user calls it for the "
        "predicted class (a forward pass for the prediction, then Captum's forward and backward), "
        "the same per-token L2 norm. Ratio: Captum's seconds over the kernel's (above 1: reportgen "
        "is faster)."),
        "",
        ("| model | reportgen kernel (s) | saliency analysis (s) | Captum Saliency (s) | ratio | "
         "max rel. difference |"),
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {a} | {o:.2f} | {an:.2f} | {c:.2f} | {c / o:.2f} | {w:.1e} |"
          for a, o, an, c, w in saliency_rows],
    ]))
    if faith_rows:
        write_section("## Faithfulness cost (MR test split)", "\n".join([
            (f"`python benchmarks/li_attribution.py` — `faithfulness` over all {len(texts)} "
            f"MR test reviews per model (batch size {args.batch_size}, integrated gradients with "
            "20 steps, "
            f"five fractions, six token orders at most), {machine}. The `saliency` input is "
            "computed before the clock starts. Forward share: time inside the model's forward "
            "calls (those Captum makes included; backward passes are not) over the whole."),
            "",
            ("| model | seconds | forward calls | share in forward | IG comprehensiveness | "
             "random |"),
            "|---|---:|---:|---:|---:|---:|",
            *[f"| {a} | {t:.1f} | {c} | {100 * s:.0f}% | {ig:.3f} | {r:.3f} |"
              for a, t, c, s, ig, r in faith_rows],
            "",
            f"All three models: {sum(r[1] for r in faith_rows):.1f} s.",
        ]))


if __name__ == "__main__":
    main()
