"""Near the limit: each analysis's seconds over the seconds of the bare model passes it makes.

    python benchmarks/limit.py --ckpt-dir DIR [--archs kim-cnn,yuan-cnn,bilstm] [--rounds 3]
        [--whole kim-cnn]

Question: how far above the model passes it cannot avoid does each analysis run? What an analysis
must cost is its forwards and backwards; the rest (tokenising, Python loops, tables, copies,
padding) is overhead.

Method, per reference model (``DIR/<arch>-mr.pt``) on MR's test split (1,066 reviews), in this one
process, every analysis at its defaults, in report order, as a run computes them (the shared
gradient pass included: ``saliency`` fills the store ``hidden_saliency`` and ``faithfulness`` read):

1. a recording round: every model pass an analysis makes through the adapter
   (``forward_from_embeddings``, ``forward``, ``hidden_states``; the outermost call only) is noted
   with its input shape, mask and whether it is differentiated; its results become the next
   analyses' inputs;
2. ``--rounds`` timed rounds, interleaved: the analysis's ``compute`` (its tables included; the
   charts are the site's stage and not counted), then the bare passes it made replayed: the same
   shapes and masks, random embeddings, a backward pass to the embeddings for each
   differentiated call, nothing else. Medians are kept; ratio = compute / bare passes;
3. one profiled round (cProfile, not timed): where the rest of the time goes, by library.

``optimization``'s Adam steps do not go through the adapter: they call the layer's window function
(the first-layer shortcut where one is proven). Its calls are recorded too (the windows' shape and
mask) and replayed as a forward and a backward to the windows, so its bare time is the passes of
every step; the objective's other terms and Adam's update are its overhead. Work that is no model
pass at all (the L1 fits of ``neuron_sweep``, scikit-learn's PCA in ``representations``) is not in
the bare time: the profile says what dominates there.

``--whole ARCH`` also times the whole default report for that model, cold (``reportgen run
--no-cache``, its own process). Results go to ``docs/benchmarks.md`` under "## Near the limit".
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Self

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc_section import write_section
from reportgen import analyses
from reportgen.analyses import optimization_solver
from reportgen.analyses.base import RunContext
from reportgen.data.loaders import load_data
from reportgen.device import resolve_device
from reportgen.models.checkpoint import load_checkpoint
from reportgen.models.common import _GRADIENTS, gradients
from reportgen.models.loading import adapter_from_checkpoint
from reportgen.run.analysis import RunSettings
from reportgen.run.plan import plan, shared_gradients
from reportgen.seeding import seed_everything

HEADING = "## Near the limit: each analysis over its bare model passes (MR test split)"
MR = ROOT.parent / "shared" / "data" / "mr"
GOAL = {"saliency", "variance_salience", "hidden_saliency", "faithfulness"}  # <= 1.3x


@dataclass
class Pass:
    method: str  # forward_from_embeddings | forward | hidden_states | window
    shape: tuple[int, ...] | None  # of the embeddings (None: ``forward`` of a batch)
    dtype: torch.dtype | None
    mask: torch.Tensor | None
    batch: object | None  # the EncodedBatch of a ``forward`` call
    differentiated: bool
    function: object = None  # the window function of a ``window`` call


class PassRecorder:
    """Wraps the adapter's pass methods while active, noting each outermost call; and the window
    functions ``optimization`` asks for (``optimization_solver.window_function``)."""

    METHODS = ("forward_from_embeddings", "forward", "hidden_states")

    def __init__(self, model) -> None:
        self.model, self.passes, self.depth = model, [], 0

    def __enter__(self) -> Self:
        for name in self.METHODS:
            original = getattr(self.model, name)
            setattr(self.model, name, self._wrapped(name, original))
        self._window_function = optimization_solver.window_function
        optimization_solver.window_function = self._windows
        return self

    def __exit__(self, *exc) -> None:
        for name in self.METHODS:
            delattr(self.model, name)  # back to the class's method
        optimization_solver.window_function = self._window_function

    def _windows(self, adapter, layer, *args, **kwargs):
        """The window function, each outermost call of it noted as a differentiated pass."""
        forward = self._window_function(adapter, layer, *args, **kwargs)

        def call(x, mask=None):
            if self.depth == 0:
                self.passes.append(Pass("window", tuple(x.shape), x.dtype,
                                        None if mask is None else mask.detach().clone(), None,
                                        True, forward))
            self.depth += 1
            try:
                return forward(x, mask)
            finally:
                self.depth -= 1
        return call

    def _wrapped(self, name: str, original):
        def call(*args, **kwargs):
            if self.depth == 0:
                grad = torch.is_grad_enabled() and id(self.model.module) in _GRADIENTS
                if name == "forward":
                    self.passes.append(Pass(name, None, None, None, args[0], grad))
                else:
                    emb, mask = args[0], args[1]
                    self.passes.append(Pass(name, tuple(emb.shape), emb.dtype,
                                            None if mask is None else mask.detach().clone(),
                                            None, grad or emb.requires_grad))
            self.depth += 1
            try:
                return original(*args, **kwargs)
            finally:
                self.depth -= 1
        return call


def replay(model, passes: list[Pass], device: torch.device) -> None:
    """The bare passes: the same shapes and masks, random embeddings, a backward to the
    embeddings for each differentiated call."""
    sizes = [torch.Size(p.shape).numel() for p in passes if p.shape is not None]
    pool = torch.randn(max(sizes, default=1), device=device) * 0.1  # (N,) shared storage
    for p in passes:
        if p.method == "forward":
            with gradients(model.module) if p.differentiated else torch.no_grad():
                out = model.forward(p.batch)
                if p.differentiated:
                    out.float().sum().backward()
            continue
        n = torch.Size(p.shape).numel()
        emb = pool[:n].view(p.shape).to(p.dtype).detach()
        fn = p.function if p.method == "window" else getattr(model, p.method)
        if p.differentiated:
            with gradients(model.module):
                emb.requires_grad_(True)
                torch.autograd.grad(fn(emb, p.mask).float().sum(), emb)
        else:
            with torch.no_grad():
                fn(emb, p.mask)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def library(entry: tuple) -> str:
    """Which library a profiled function belongs to."""
    filename, _, func = entry
    where = f"{filename} {func}"
    for key, name in (("torch", "torch kernels"), ("sklearn", "scikit-learn"),
                      ("captum", "captum"), ("pandas", "pandas"), ("numpy", "numpy"),
                      ("scipy", "scipy"), ("/reportgen/", "reportgen (Python)")):
        if key in where:
            return name
    return "Python (builtins, stdlib)"


def profile_shares(fn) -> list[tuple[str, float]]:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    by: Counter[str] = Counter()
    for entry, (_, _, tottime, _, _) in stats.items():
        by[library(entry)] += tottime
    total = sum(by.values()) or 1.0
    return [(name, t / total) for name, t in by.most_common(3)]


def measure(arch: str, path: Path, rounds: int, device: torch.device) -> list[dict]:
    data = load_data(f"mr:{MR}")
    examples = data.split("test")
    model = adapter_from_checkpoint(load_checkpoint(path), name=arch, source=arch, device=device)
    bs = 64 if model.pad_batches else 1
    run = RunSettings(examples, data, device, 0, bs, Path(tempfile.mkdtemp()), no_cache=True)
    names = [n for n in plan(list(analyses.REGISTRY))
             if analyses.spec(n).skip_reason(model) is None]
    params = {n: analyses.spec(n).params() for n in names}
    results: dict[str, object] = {}

    def context(name: str, store) -> RunContext:
        spec = analyses.spec(name)
        upstream = {n: results[n] for n in (*spec.needs, *spec.uses) if n in results}
        return RunContext(model, examples, data, device, 0, batch_size=bs, upstream=upstream,
                          sample=run.sample, gradients=store)

    def compute(name: str, store):
        seed_everything(0)
        return analyses.spec(name).compute(context(name, store), params[name])

    passes: dict[str, list[Pass]] = {}
    store = shared_gradients(names, params, [model], run.sample)
    for name in names:  # the recording round
        with PassRecorder(model) as recorder:
            results[name] = compute(name, store)
        store.done(name)
        passes[name] = recorder.passes
    times: dict[str, dict[str, list[float]]] = {n: {"compute": [], "bare": []} for n in names}
    for _ in range(rounds):
        store = shared_gradients(names, params, [model], run.sample)
        for name in names:
            start = time.perf_counter()
            compute(name, store)
            times[name]["compute"].append(time.perf_counter() - start)
            store.done(name)
            start = time.perf_counter()
            replay(model, passes[name], device)
            times[name]["bare"].append(time.perf_counter() - start)
    rows = []
    store = shared_gradients(names, params, [model], run.sample)
    for name in names:
        shares = profile_shares(lambda n=name, s=store: compute(n, s))
        store.done(name)
        c = statistics.median(times[name]["compute"])
        b = statistics.median(times[name]["bare"])
        rows.append({"analysis": name, "model": arch, "compute": c, "bare": b,
                     "forwards": len(passes[name]),
                     "backwards": sum(p.differentiated for p in passes[name]),
                     "shares": shares})
        print(f"{arch} {name}: {c:.2f} s over {b:.2f} s bare = "
              f"{c / b if b else float('inf'):.2f}x; {shares}", flush=True)
    return rows


def whole_report(arch: str, path: Path) -> float:
    out = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "reportgen", "run", "--model", str(path), "--data",
                    f"mr:{MR}", "--out", str(out / "site"), "--no-cache", "--quiet"], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - start


def cpu_model() -> str:
    """The CPU's model name (Linux), as machines of the same kind differ from session to session."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ckpt-dir", type=Path, required=True)
    parser.add_argument("--archs", default="kim-cnn,yuan-cnn,bilstm")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--whole", default="", help="architecture whose whole report is timed")
    parser.add_argument("--load", default="nothing else running")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = [row for arch in args.archs.split(",")
            for row in measure(arch, args.ckpt_dir / f"{arch}-mr.pt", args.rounds, device)]
    wholes = [whole_report(args.whole, args.ckpt_dir / f"{args.whole}-mr.pt")
              for _ in range(2)] if args.whole else []
    machine = (f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
               f"{os.cpu_count()} cores, {platform.machine()} ({cpu_model()})")

    def ratio(r: dict) -> str:
        if not r["bare"] or r["bare"] < 1e-3:
            return "no pass"
        return f"{r['compute'] / r['bare']:.2f}x" + (" (goal 1.3x)" if r["analysis"] in GOAL
                                                      else "")

    lines = [
        (f"`python benchmarks/limit.py` — {date.today().isoformat()}, MR test split (1,066 "
         f"reviews), batch size 64, {machine}, load: {args.load}; median of {args.rounds} "
         "interleaved rounds in one process. *compute*: the analysis's `compute` as a run calls "
         "it (defaults; the shared gradient pass in place), its tables included, its charts not. "
         "*bare passes*: the model passes it made, replayed alone (same shapes and masks, random "
         "embeddings, a backward to the embeddings for each differentiated call). *passes*: "
         "forward calls / of them differentiated. *where the rest goes*: cProfile's own time by "
         "library, the top three."),
        "",
        ("| analysis | model | compute (s) | bare passes (s) | ratio | passes | where the time "
         "goes |"),
        "|---|---|---:|---:|---:|---:|---|",
        *[f"| {r['analysis']} | {r['model']} | {r['compute']:.2f} | {r['bare']:.2f} | "
          f"{ratio(r)} | {r['forwards']:,} / {r['backwards']:,} | "
          + ", ".join(f"{name} {100 * s:.0f}%" for name, s in r["shares"]) + " |"
          for r in rows],
    ]
    if wholes:
        lines += ["", (f"Whole default report for {args.whole} (all analyses, cold, `reportgen "
                       f"run --no-cache`, its own process, twice): "
                       + ", ".join(f"{w:.1f} s" for w in wholes) + " (goal: 30 s).")]
    write_section(HEADING, "\n".join(lines))


if __name__ == "__main__":
    main()
