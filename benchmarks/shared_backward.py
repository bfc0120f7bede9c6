"""One backward pass for every gradient attribution, beside Captum computing them one at a time.

    python benchmarks/shared_backward.py --ckpt-dir DIR [--archs kim-cnn,yuan-cnn,bilstm]
        [--repeats 5] [--batch-size 64]

Checkpoints ``DIR/<arch>-mr.pt`` from ``reportgen train ARCH --data mr:...``. Over MR's whole test
split (1,066 reviews), in the same batches, in this one process, interleaved rounds (median kept):

- *reportgen*: ``gradient_pass.gradient_batch`` per batch: one forward and one backward pass giving
  first-derivative saliency (per dimension and per token), gradient x input per token and the
  location scores of every layer ``hidden_saliency`` scores (Kim: the three banks; Yuan: the first
  layer; a BiLSTM has none);
- *Captum*: what a user writes with Captum for the same numbers: a forward pass for the predicted
  class, then ``Saliency``, ``InputXGradient`` and ``LayerGradientXActivation`` (all the layers in
  one call, Captum's cheapest way) for it, each its own forward and backward pass, reduced per
  token the same way.

The values are compared (largest difference relative to each array's largest magnitude).
Results go to ``docs/benchmarks.md`` under "## One backward for every gradient attribution".
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc_section import write_section
from reportgen.analyses import hidden_saliency
from reportgen.analyses.gradient_pass import gradient_batch
from reportgen.data.loaders import load_data
from reportgen.device import resolve_device
from reportgen.models.checkpoint import load_checkpoint
from reportgen.models.common import gradients
from reportgen.models.hooks import to_btc
from reportgen.models.loading import adapter_from_checkpoint

HEADING = "## One backward for every gradient attribution (MR test split)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def layers_of(model) -> list:
    return hidden_saliency.scored_layers(model) if hidden_saliency.skip_reason(model) is None \
        else []


def ours(model, batches: list[list[str]]) -> list[tuple]:
    """(saliency (B, T), gradient x input (B, T), [location scores (B, L)]) per batch."""
    layers = layers_of(model)
    out = []
    for texts in batches:
        g = gradient_batch(model, texts, layers=layers)
        out.append((g.vecs, g.gxi, g.layer_scores))
    return out


def captum(model, batches: list[list[str]], per_layer: bool = False) -> list[tuple]:
    """The same three from Captum, one method at a time (``per_layer``: also one layer at a
    time, as a user scoring Kim's banks one by one would)."""
    from captum.attr import InputXGradient, LayerGradientXActivation, Saliency

    layers = layers_of(model)
    modules = dict(model.module.named_modules())

    def forward(e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return model.forward_from_embeddings(e, mask)

    saliency, gxi = Saliency(forward), InputXGradient(forward)
    hidden = (LayerGradientXActivation(forward, [modules[lay.read_at] for lay in layers])
              if layers else None)
    one_by_one = [LayerGradientXActivation(forward, modules[lay.read_at]) for lay in layers]
    out = []
    for texts in batches:
        batch = model.encode(texts)
        n = [len(t) for t in batch.tokens]
        with gradients(model.module):
            emb = model.embed(batch.ids).detach()  # (B, T, E)
            with torch.no_grad():
                target = forward(emb, batch.mask).argmax(-1)  # (B,)
            args = (batch.mask,)
            sal = saliency.attribute(emb.clone().requires_grad_(True), target=target,
                                     additional_forward_args=args, abs=True)
            gx = gxi.attribute(emb.clone().requires_grad_(True), target=target,
                               additional_forward_args=args)
            if per_layer:
                acts = [h.attribute(emb.clone(), target=target, additional_forward_args=args)
                        for h in one_by_one]
            else:
                acts = (hidden.attribute(emb.clone(), target=target,
                                         additional_forward_args=args) if hidden else [])
        per_token = sal.detach().float().pow(2).flatten(2).sum(-1).sqrt().numpy()  # (B, T)
        signed = gx.detach().float().flatten(2).sum(-1).numpy()  # (B, T)
        scores = [to_btc(a.detach(), lay.layout).sum(-1).float().numpy()
                  for a, lay in zip(acts if isinstance(acts, list) else [acts], layers,
                                    strict=True)]
        out.append(([per_token[b, : n[b]] for b in range(len(n))],
                    [signed[b, : n[b]] for b in range(len(n))], scores))
    return out


def largest_difference(mine: list[tuple], theirs: list[tuple]) -> float:
    worst = 0.0
    for (v, g, s), (v2, g2, s2) in zip(mine, theirs, strict=True):
        pairs = list(zip(v, v2, strict=True)) + list(zip(g, g2, strict=True))
        pairs += [(a[~np.isnan(a)], b[~np.isnan(a)]) for a, b in zip(s, s2, strict=True)]
        for a, b in pairs:
            scale = max(float(np.abs(b).max(initial=0.0)), 1e-12)
            worst = max(worst, float(np.abs(a - b).max(initial=0.0)) / scale)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ckpt-dir", required=True)
    parser.add_argument("--archs", default="kim-cnn,yuan-cnn,bilstm")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--load", default="nothing else running")
    args = parser.parse_args()
    device = resolve_device(args.device)
    texts = [ex.text for ex in load_data(f"mr:{ROOT.parent / 'shared' / 'data' / 'mr'}")
             .split("test")]
    rows = []
    for arch in args.archs.split(","):
        model = adapter_from_checkpoint(load_checkpoint(Path(args.ckpt_dir) / f"{arch}-mr.pt"),
                                        name=arch, source=arch, device=device)
        bs = args.batch_size if model.pad_batches else 1
        batches = [texts[i : i + bs] for i in range(0, len(texts), bs)]
        ours(model, batches[:1]), captum(model, batches[:1])  # warm-up
        n_layers = len(layers_of(model))
        ways = {"ours": ours, "captum": captum}
        if n_layers > 1:
            ways["per_layer"] = lambda m, b: captum(m, b, per_layer=True)
        times: dict[str, list[float]] = {k: [] for k in ways}
        results = {}
        for _ in range(args.repeats):  # interleaved: a change of load hits every way alike
            for name, fn in ways.items():
                sync(device)
                start = time.perf_counter()
                results[name] = fn(model, batches)
                sync(device)
                times[name].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in times.items()}
        worst = max(largest_difference(results["ours"], results[k]) for k in ways if k != "ours")
        rows.append((arch, n_layers, med["ours"], med["captum"], med.get("per_layer"), worst))
        print(f"{arch}: ours {med['ours']:.2f} s, captum {med['captum']:.2f} s, "
              f"{med['captum'] / med['ours']:.2f}x, per layer {med.get('per_layer')}, "
              f"difference {worst:.1e}", flush=True)
    machine = (f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
               f"{platform.machine()}")
    write_section(HEADING, "\n".join([
        (f"`python benchmarks/shared_backward.py` — {date.today().isoformat()}, all {len(texts):,} "
         f"MR test reviews in batches of {args.batch_size}, {machine}, load: {args.load}; median "
         f"of {args.repeats} interleaved rounds in one process. *reportgen*: "
         "`gradient_pass.gradient_batch`, one forward and one backward pass per batch giving "
         "saliency (per dimension and per token), gradient x input and the location scores of "
         "every layer `hidden_saliency` scores; in a run, `saliency` makes this pass and "
         "`hidden_saliency` and `faithfulness` read it. *Captum*: a forward pass for the "
         "predicted class, then `Saliency`, `InputXGradient` and `LayerGradientXActivation` (all "
         "layers in one call), one method at a time, reduced per token the same way. Ratio: "
         "Captum's seconds over reportgen's."),
        "",
        ("| model | conv layers scored | reportgen (s) | Captum (s) | ratio | Captum, one layer "
         "per call (s) | ratio | largest difference |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {a} | {n} | {o:.2f} | {c:.2f} | {c / o:.2f}x | "
          + (f"{p:.2f} | {p / o:.2f}x" if p else "- | -") + f" | {w:.1e} |"
          for a, n, o, c, p, w in rows],
        "",
        ("Largest difference: the largest absolute difference over every array, over that "
         "array's largest magnitude (float32 rounding)."),
        "",
        ("Reading the ratios: reportgen's pass is one forward and one backward per batch, and "
         "costs what those two passes cost alone (`benchmarks/limit.py`: tokenising and the "
         "per-token reductions add a few per cent). Captum makes a forward pass for the "
         "prediction and a forward and backward per method, so against Captum's cheapest use "
         "(all layers in one `LayerGradientXActivation` call) the ratio cannot pass about "
         "(F + 3(F + B)) / (F + B) for a conv model and (F + 2(F + B)) / (F + B) for a model "
         "without conv layers (no location scores), F and B the forward and backward seconds. "
         "A backward pass costs 1.3 forwards for these CNNs and over 2 for the BiLSTM, which "
         "puts that bound near 3.4x and 2.3x: the 3x goal is reached where Captum is called one "
         "layer at a time (Kim's three banks), not against its multi-layer call."),
    ]))


if __name__ == "__main__":
    main()
