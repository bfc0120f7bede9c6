"""Each analysis beside its plain baseline: reportgen's batched ``compute`` against the same numbers
computed the plain way, side by side in one process, on a seeded sample of MR's test split.

    python benchmarks/analysis_baselines.py \\
        --models kim-cnn=DIR/kim.pt,bilstm=DIR/bilstm-mr.pt,yuan-cnn=DIR/yuan-mr.pt \\
        [--examples 300] [--repeats 3] [--analyses NAME,...] [--no-write | --doc PATH]

``--models``: comma-separated ``NAME=CHECKPOINT``, or bare architecture names found as
``--ckpt-dir/<NAME>-mr.pt`` (what ``benchmarks/train_accuracy.py --save-dir DIR`` writes).

Batched: ``module.compute(ctx, Params())`` with the default parameters and ``ctx.batch_size`` 64,
as ``reportgen run`` calls it. Baseline: "Captum where it has the method, a one-example-at-a-time
loop otherwise" (issue 13):

- saliency: ``captum.attr.Saliency`` of the predicted class (``li_attribution.captum``: a forward
  pass for the prediction, then Captum's forward and backward; per-token L2 norm), on the same
  texts (Li et al.'s sentences included), once in batches of 64 and once one text per call;
- faithfulness: the same analysis with ``ctx.batch_size = 1``: one text per forward pass, and
  Captum's ``InputXGradient`` and ``IntegratedGradients`` called per text (the analysis then asks
  IG for an internal batch of 1 x 20 steps, which is what Captum does by default, so this *is*
  the per-text call a user would write). A separate row times Captum's IG alone, as reportgen
  batches it against one text per call;
- every other analysis: the same ``compute`` with ``ctx.batch_size = 1`` and every other batching
  knob at one item: ``chunk = 1`` for optimization (one problem per Adam run) and
  filter_top_words (one text, or one word for character CNNs, per forward pass). Where the analysis
  batches without reading ``ctx.batch_size`` the baseline cuts that batching to one item by
  patching, and the output says so (``IGNORES_BATCH_SIZE``).

Upstream results (``NEEDS``, and ``USES`` where they apply) are computed once, batched, before
any clock starts and handed to both runs, so each row times its own analysis only. Each row runs
batched and baseline interleaved (alternating which goes first) ``--repeats`` times after an
untimed warm-up on a few texts; the median is kept. Equality: every metric and every numeric cell
of every table of the two results, |a - b| / max(1, |b|) (absolute below 1, relative above),
against ``--tolerance``; non-numeric cells (words, labels) must be equal. Results go to
``docs/benchmarks.md`` under ``HEADING`` (``--no-write`` to skip, ``--doc`` for another file).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc_section import DOC, write_section
from benchmarks.li_attribution import captum as captum_saliency
from reportgen import analyses
from reportgen.analyses import neuron_sweep, optimization_solver, representations
from reportgen.analyses.base import RunContext
from reportgen.data.encoding import EncodedBatch
from reportgen.data.loaders import load_data
from reportgen.device import resolve_device
from reportgen.models.adapter import ModelAdapter
from reportgen.models.checkpoint import load_checkpoint
from reportgen.models.common import gradients
from reportgen.models.loading import adapter_from_checkpoint
from reportgen.records import AnalysisResult
from reportgen.run.inputs import select_examples
from reportgen.seeding import seed_everything

HEADING = "## Each analysis beside its plain baseline (MR test split)"
DATA = f"mr:{ROOT.parent / 'shared' / 'data' / 'mr'}"
DEFAULT_MODELS = "kim-cnn,bilstm,yuan-cnn"
TOLERANCE = 1e-4
WARM_EXAMPLES = 16

# What each row's baseline is (the doc lists these under the table).
BASELINES = {
    "representations": "every probe phrase, random word and sentence prefix encoded alone",
    "saliency": "Captum `Saliency` of the predicted class, batches of 64, the same texts",
    "saliency (per text)": "Captum `Saliency` of the predicted class, one text per call",
    "variance_salience": "`ctx.batch_size = 1`",
    "hidden_saliency": "`ctx.batch_size = 1`",
    "optimization": "`ctx.batch_size = 1`, `chunk = 1`: one (text, location) problem per Adam run",
    "matching_rate": "`ctx.batch_size = 1` (its saliency pass and its four predictions)",
    "filter_top_words": "`ctx.batch_size = 1`, `chunk = 1`: one text (one word for character CNNs) "
                        "per forward pass",
    "neuron_sweep": "`ctx.batch_size = 1` (unit features of the train, dev and test texts), and "
                    "its trace and sweep passes cut to one text",
    "faithfulness": "`ctx.batch_size = 1`: one text per forward pass; Captum's InputXGradient and "
                    "IntegratedGradients called per text (20 steps in one pass, Captum's default)",
    "faithfulness: IG alone": "Captum `IntegratedGradients` (20 steps, zero baseline) called per "
                              "text with Captum's default internal batch; batched: as "
                              "faithfulness calls it, texts sorted by length (longest first), "
                              "64 texts x 20 steps in one pass",
}
# Where an analysis batches without reading ``ctx.batch_size`` (the baseline patches that batching).
IGNORES_BATCH_SIZE = {
    "representations": "never reads `ctx.batch_size`: `represent()` encodes all probe phrases (and "
                       "the 40 random words, the concessive prefixes) in one call each; the "
                       "baseline patches `representations.represent` to a one-text loop",
    "neuron_sweep": "`_traces` and `_sweep` read `ctx.batch_size` (the sweep of a convolutional "
                    "unit runs one text per pass anyway, so its clamp never reaches padding); the "
                    "baseline also patches `neuron_sweep._per_token` and `predict_proba` to one "
                    "text per pass",
    "optimization": "`optimise()` re-proves the window shortcut (`window_function`, 64 probe "
                    "windows) at every call, i.e. per chunk; with `chunk = 1` that would be once "
                    "per problem, so the baseline proves it once per model, as a plain loop would",
    "filter_top_words": "word CNNs: its batch is min(`ctx.batch_size`, `chunk` // 64); "
                        "character CNNs: `chunk` words per pass, `ctx.batch_size` unused (and a "
                        "fixed 64-word probe for its trimming shortcut)",
}


# Known causes of differences, by (analysis, where the largest one is): said beside them.
EXPLAINED = {
    ("neuron_sweep", "sweep."): (
        "`clamp_units` holds a conv layer's unit at every position, padding included, so in a "
        "padded batch a short text also sees the clamp at positions it does not have (one text "
        "alone: none); the clamped probabilities of CNN units then depend on the batch"),
}
# Tables whose rows come out in another order at another batch size (same rows): sorted first.
ROW_ORDER = {
    "faithfulness": {"texts": ["model", "method", "example_id"]},  # per batch, method by method
}
# Table columns left out of the equality check, with the reason (the doc says so).
NOT_COMPARED = {
    "representations": ({"tsne": ("x", "y")},
                        ("t-SNE coordinates are not compared: its gradient descent turns the 1e-7 "
                        "differences of the vectors it places (compared, in `phrases`) into a "
                        "different layout (the same vectors give the same layout)")),
}


# -- equality --------------------------------------------------------------------------------
@dataclass
class Check:
    """How far two runs' numbers are apart: the largest |a - b| / max(1, |b|), where it is, and
    every non-numeric difference (keys, shapes, words, labels)."""

    worst: float = 0.0
    where: str = ""
    mismatches: list[str] = field(default_factory=list)
    ties: list[str] = field(default_factory=list)  # differences only in the order of equal values
    compared: int = 0  # numbers compared

    def numbers(self, label: str, a: Any, b: Any) -> None:
        a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
        if a.shape != b.shape:
            self.mismatches.append(f"{label}: {a.size} vs {b.size} values")
            return
        self.compared += a.size
        if not a.size:
            return
        with np.errstate(invalid="ignore"):
            diff = np.abs(a - b) / np.maximum(1.0, np.abs(b))
        diff[(a == b) | (np.isnan(a) & np.isnan(b))] = 0.0  # equal infinities, NaN against NaN
        diff[np.isnan(diff)] = np.inf  # NaN against a number
        worst = float(diff.max())
        if not self.where or worst > self.worst:
            self.worst, self.where = worst, label

    def same(self, tolerance: float) -> bool:
        return not self.mismatches and self.worst <= tolerance

    def verdict(self, tolerance: float) -> str:
        if self.same(tolerance):
            return f"yes ({self.worst:.1e})" + ("; ties ordered differently" if self.ties else "")
        if self.mismatches:
            return f"no: {self.mismatches[0]}" + (f" (+{len(self.mismatches) - 1})"
                                                   if len(self.mismatches) > 1 else "")
        return f"no ({self.worst:.1e} at {self.where})"


def compare_results(a: AnalysisResult, b: AnalysisResult, check: Check | None = None,
                    skip: dict[str, tuple[str, ...]] | None = None,
                    order: dict[str, list[str]] | None = None) -> Check:
    """Every metric, and every cell of every table (but the ``skip`` columns of a table; rows
    sorted by the ``order`` columns first where given), of two results of the same analysis."""
    check = check or Check()
    skip, order = skip or {}, order or {}
    keys = set(a.metrics) | set(b.metrics)
    for key in sorted(keys):
        if key not in a.metrics or key not in b.metrics:
            check.mismatches.append(f"metric {key} in one run only")
        else:
            check.numbers(f"metric {key}", a.metrics[key], b.metrics[key])
    for name in sorted(set(a.tables) | set(b.tables)):
        if name not in a.tables or name not in b.tables:
            check.mismatches.append(f"table {name} in one run only")
            continue
        x, y = a.tables[name], b.tables[name]
        if name in order:
            x, y = (t.sort_values(order[name], kind="stable") for t in (x, y))
        left_out = [c for c in skip.get(name, ()) if c in x.columns]
        compare_tables(name, x.drop(columns=left_out), y.drop(columns=left_out), check)
    return check


def compare_filters(a: AnalysisResult, b: AnalysisResult, tolerance: float = TOLERANCE) -> Check:
    """filter_top_words: everything but what depends on the order of equal activations, strictly;
    that (top words and their texts among tied activations, Spearman pattern strengths over tied
    per-text activations) reported beside as ``ties``."""
    check = compare_results(a, b, skip={
        "filters": ("best_pattern", "pattern_strength", "interpretability_rank", "top_words"),
        "top_words": ("word", "example_id"), "patterns": ("pattern", "strength")})
    ta, tb = a.tables["top_words"], b.tables["top_words"]
    if ta.shape == tb.shape:
        def tie_groups(t: pd.DataFrame) -> dict:
            key = t.assign(tie=t["activation"].round(5))
            return {k: sorted(g["word"])
                    for k, g in key.groupby(["model", "layer", "filter", "tie"])}

        ga, gb = tie_groups(ta), tie_groups(tb)
        cut = sum(ga.get(k) != v for k, v in gb.items())
        moved = int((ta["word"].astype(str).to_numpy() != tb["word"].astype(str).to_numpy()).sum())
        texts = int((ta["example_id"].to_numpy() != tb["example_id"].to_numpy()).sum())
        if moved or texts or cut:
            check.ties.append(f"top_words: {moved} of {len(ta)} words and {texts} source texts in "
                              f"another order among equal activations; {cut} groups of equal "
                              "activations with other members (a tie cut at the last rank)")
    fa, fb = a.tables["filters"], b.tables["filters"]
    if fa.shape == fb.shape:
        d = (fa["pattern_strength"].to_numpy(float) - fb["pattern_strength"].to_numpy(float))
        d = np.abs(d)
        n, best = int((d > tolerance).sum()), int((fa["best_pattern"] != fb["best_pattern"]).sum())
        if n or best:
            check.ties.append(f"filters: the Spearman pattern strength of {n} of {len(fa)} filters "
                              f"differs, by up to {d.max():.2g}, and {best} best patterns "
                              "(ranks over tied per-text activations, broken by 1e-7 differences)")
    return check


def compare_tables(name: str, a: pd.DataFrame, b: pd.DataFrame, check: Check) -> None:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        check.mismatches.append(f"table {name}: {a.shape} vs {b.shape}")
        return
    for column in a.columns:
        x, y = a[column].reset_index(drop=True), b[column].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            check.numbers(f"{name}.{column}", x.to_numpy(dtype=float), y.to_numpy(dtype=float))
        else:
            differ = int((x.astype(str) != y.astype(str)).sum())
            if differ:
                check.mismatches.append(f"{name}.{column}: {differ} of {len(x)} cells differ")


def compare_token_scores(mine: list[np.ndarray], theirs: list[np.ndarray], label: str,
                         check: Check | None = None) -> Check:
    check = check or Check()
    if len(mine) != len(theirs):
        check.mismatches.append(f"{label}: {len(mine)} vs {len(theirs)} texts")
        return check
    for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        if len(a) != len(b):
            check.mismatches.append(f"{label}: text {i} has {len(a)} vs {len(b)} tokens")
            return check
    check.numbers(label, np.concatenate(mine) if mine else [],
                  np.concatenate(theirs) if theirs else [])
    return check


def saliency_against_captum(result: AnalysisResult, model: str, scores: list[np.ndarray]) -> Check:
    """The analysis's per-token saliency (the ``pieces`` table where it joined word pieces, else
    ``tokens``) and its top-token share, against the same from Captum's per-token norms."""
    tables = result.tables
    rows = tables["pieces"] if not tables["pieces"].empty else tables["tokens"]
    rows = rows[rows["model"] == model]
    by_text = {int(i): g.sort_values("position")["saliency"].to_numpy()
               for i, g in rows.groupby("example_id")}
    ids = sorted(by_text)
    check = compare_token_scores([by_text[i] for i in ids], [scores[i] for i in ids],
                                 "token saliency")
    if tables["pieces"].empty and "top_token_share" in result.metrics:  # tokens are the words
        n_data = int(result.metrics["examples"])
        top = [float(s.max() / s.sum()) if len(s) and s.sum() > 0 else 0.0 for s in scores[:n_data]]
        check.numbers("metric top_token_share", result.metrics["top_token_share"], np.mean(top))
    return check


# -- one item at a time ------------------------------------------------------------------------
def baseline_params(name: str, params: Any) -> Any:
    """``params`` with every batching knob of the analysis at one item."""
    if name in ("optimization", "filter_top_words"):
        return dataclasses.replace(params, chunk=1)
    return params


@contextmanager
def one_at_a_time(name: str, model: ModelAdapter) -> Iterator[None]:
    """Cut the batching an analysis does without reading ``ctx.batch_size`` to one item, and make
    ``predict_proba`` run one text per pass whatever batch size it is asked for."""
    import sys

    from reportgen.models import facts

    undo: list[Callable[[], None]] = []
    plain = facts.predict_proba

    def predict_one(m, texts, batch_size: int = 1):  # the batch size asked for is ignored
        return plain(m, texts, batch_size=1 if m is model else batch_size)

    # every module that imported the function by name (the analyses) gets the one-at-a-time one
    holders = [mod for mod in list(sys.modules.values())
               if getattr(mod, "predict_proba", None) is plain]
    for mod in holders:
        mod.predict_proba = predict_one
    undo.append(lambda: [setattr(mod, "predict_proba", plain) for mod in holders])
    if name == "representations":
        represent = representations.represent

        def represent_one(m, texts):
            return (np.concatenate([represent(m, [t]) for t in texts]) if len(texts)
                    else represent(m, texts))

        representations.represent = represent_one
        undo.append(lambda: setattr(representations, "represent", represent))
    if name == "neuron_sweep":
        per_token = neuron_sweep._per_token

        def per_token_one(m, batch, layer, source):
            return _row_by_row(per_token, m, batch, layer, source)

        neuron_sweep._per_token = per_token_one
        undo.append(lambda: setattr(neuron_sweep, "_per_token", per_token))
    if name == "optimization":
        window_function = optimization_solver.window_function
        proven: dict[str, Any] = {}

        def window_once(adapter, layer, *args, **kwargs):
            if layer.name not in proven:
                proven[layer.name] = window_function(adapter, layer, *args, **kwargs)
            return proven[layer.name]

        optimization_solver.window_function = window_once
        undo.append(lambda: setattr(optimization_solver, "window_function", window_function))
    try:
        yield
    finally:
        for fn in reversed(undo):
            fn()


def _row_by_row(per_token, model: ModelAdapter, batch: EncodedBatch, layer: str, source: str):
    """``neuron_sweep._per_token`` on each text of ``batch`` alone (each cut to the width
    ``encode([text])`` gives it), zero-padded back to the batch's width."""
    assert batch.mask is not None
    width = batch.ids.size(1)
    rows = []
    for b, toks in enumerate(batch.tokens):
        n = max(len(toks), model.min_len, 1)
        one = EncodedBatch(batch.ids[b : b + 1, :n], [toks], batch.mask[b : b + 1, :n],
                           None if batch.flags is None else [batch.flags[b]])
        out = per_token(model, one, layer, source)
        if out is None:
            return None
        rows.append(torch.nn.functional.pad(out, (0, 0, 0, width - out.size(1))))
    return torch.cat(rows)


# -- the runs ------------------------------------------------------------------------------------
@dataclass
class Case:
    """One row: a batched run and its baseline, and how to compare their outputs."""

    label: str
    batched: Callable[[], Any]
    baseline: Callable[[], Any]
    compare: Callable[[Any, Any], Check]


@dataclass
class Setup:
    model: ModelAdapter
    examples: list
    dataset: Any
    device: torch.device
    seed: int
    batch_size: int
    params: dict[str, Any]  # analysis -> its Params
    upstream: dict[str, AnalysisResult] = field(default_factory=dict)

    def run(self, name: str, one: bool = False) -> AnalysisResult:
        module = analyses.spec(name)
        wanted = (*module.needs, *module.uses)
        ctx = RunContext(self.model, self.examples, self.dataset, self.device, self.seed,
                         batch_size=1 if one else self.batch_size,
                         upstream={n: self.upstream[n] for n in wanted if n in self.upstream})
        params = baseline_params(name, self.params[name]) if one else self.params[name]
        with one_at_a_time(name, self.model) if one else nullcontext():
            seed_everything(self.seed)
            return module.compute(ctx, params)

    def applies(self, name: str) -> str | None:
        """Why ``name`` does not run for this model (as the runner decides), or None."""
        module = analyses.spec(name)
        reason = module.skip_reason(self.model)
        if reason:
            return reason
        for need in module.needs:
            if self.applies(need):
                return f"needs {need}, which does not run for {self.model.name}"
        return None

    def prepare(self, names: list[str]) -> None:
        """The upstream results the selected analyses read, computed once (batched)."""
        wanted: list[str] = []

        def visit(name: str) -> None:
            module = analyses.spec(name)
            for before in (*module.needs, *module.uses):
                visit(before)
                if before not in wanted:
                    wanted.append(before)

        for name in names:
            visit(name)
        for name in [n for n in analyses.REGISTRY if n in wanted]:  # report order: needs first
            if self.applies(name) is None and name not in self.upstream:
                self.upstream[name] = self.run(name)


def cases(setup: Setup, names: list[str], tolerance: float = TOLERANCE) -> list[Case]:
    model = setup.model
    out = []
    for name in names:
        if setup.applies(name):
            continue
        if name == "saliency":  # the texts the analysis reads: the data, then "your" sentences
            from reportgen.analyses.saliency import paper_sentences

            p = setup.params["saliency"]
            texts = [ex.text for ex in setup.examples] + [
                *p.sentences, *(paper_sentences(model) if p.paper_sentences else [])]
            bs = setup.batch_size

            def check(result, scores):
                return saliency_against_captum(result, model.name, scores)

            out.append(Case("saliency", lambda: setup.run("saliency"),
                            lambda t=texts, b=bs: captum_saliency(model, t, b), check))
            out.append(Case("saliency (per text)", lambda: setup.run("saliency"),
                            lambda t=texts: captum_saliency(model, t, 1), check))
            continue
        skip, order = NOT_COMPARED.get(name, ({}, ""))[0], ROW_ORDER.get(name, {})
        compare = ((lambda a, b: compare_filters(a, b, tolerance))
                   if name == "filter_top_words"
                   else (lambda a, b, s=skip, o=order: compare_results(a, b, skip=s, order=o)))
        out.append(Case(name, lambda n=name: setup.run(n), lambda n=name: setup.run(n, one=True),
                        compare))
        if name == "faithfulness":
            texts = [ex.text for ex in setup.examples]
            steps = setup.params["faithfulness"].ig_steps
            out.append(Case("faithfulness: IG alone",
                            lambda t=texts, s=steps: integrated_gradients(model, t,
                                                                          setup.batch_size, s),
                            lambda t=texts, s=steps: integrated_gradients(model, t, 1, s,
                                                                          per_text=True),
                            lambda a, b: compare_token_scores(a, b, "IG per token")))
    return out


def integrated_gradients(model: ModelAdapter, texts: list[str], bs: int, steps: int,
                         per_text: bool = False) -> list[np.ndarray]:
    """Captum's IG of the predicted class from the zero embedding, summed over dimensions per
    token: as faithfulness calls it (texts sorted by length into batches, longest first,
    ``internal_batch_size`` = texts x steps), or, ``per_text``, one text per call with Captum's
    default internal batch (all steps at once). Returned in the order of ``texts``."""
    from captum.attr import IntegratedGradients

    from reportgen.analyses.faithfulness import _lengths

    method = IntegratedGradients(lambda e, m: model.forward_from_embeddings(e, m))
    order = (np.arange(len(texts)) if per_text
             else np.argsort(-_lengths(model, texts, bs), kind="stable"))
    ordered = [texts[i] for i in order]
    out: list[np.ndarray] = []
    for lo in range(0, len(ordered), bs):
        batch = model.encode(ordered[lo : lo + bs])
        emb = model.embed(batch.ids).detach()
        with torch.no_grad():
            target = model.forward_from_embeddings(emb, batch.mask).argmax(-1)
        extra = {} if per_text else {"internal_batch_size": emb.size(0) * steps}
        with gradients(model.module):
            attr = method.attribute(emb.clone(), baselines=torch.zeros_like(emb), target=target,
                                    additional_forward_args=(batch.mask,), n_steps=steps, **extra)
        per_token = attr.detach().float().flatten(2).sum(-1).cpu().numpy()  # (B, T)
        out += [per_token[b, : len(toks)] for b, toks in enumerate(batch.tokens)]
    back = np.empty(len(order), dtype=np.int64)
    back[order] = np.arange(len(order))
    return [out[j] for j in back]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def race(case: Case, repeats: int, device: torch.device) -> tuple[float, float, Any, Any]:
    """Median seconds of the batched run and of the baseline, interleaved (alternating which goes
    first), and the last output of each."""
    times: dict[str, list[float]] = {"batched": [], "baseline": []}
    outs: dict[str, Any] = {}
    for r in range(repeats):
        order = ["batched", "baseline"] if r % 2 == 0 else ["baseline", "batched"]
        for way in order:
            t, outs[way] = timed(getattr(case, way), device)
            times[way].append(t)
    return (statistics.median(times["batched"]), statistics.median(times["baseline"]),
            outs["batched"], outs["baseline"])


# -- command line ------------------------------------------------------------------------------
def model_paths(spec: str, ckpt_dir: str | None) -> list[tuple[str, Path]]:
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, sep, path = item.partition("=")
        if not sep:
            if ckpt_dir is None:
                raise SystemExit(f"--models {item}: give NAME=CHECKPOINT, or --ckpt-dir holding "
                                 f"{item}-mr.pt")
            path = str(Path(ckpt_dir) / f"{item}-mr.pt")
        out.append((name, Path(path)))
    return out


def params_for(names: list[str], args: argparse.Namespace, warm: bool = False) -> dict[str, Any]:
    """Default parameters (``--neuron-max-train`` aside); ``warm``: small ones for the warm-up."""
    params = {n: analyses.spec(n).params() for n in analyses.REGISTRY}
    if args.neuron_max_train is not None:
        params["neuron_sweep"] = dataclasses.replace(params["neuron_sweep"],
                                                     max_train=args.neuron_max_train)
    if warm:
        params["optimization"] = dataclasses.replace(params["optimization"], steps=3)
        params["neuron_sweep"] = dataclasses.replace(params["neuron_sweep"], max_train=60, seeds=1,
                                                     sweep_texts=4, sweep_values=2)
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=DEFAULT_MODELS,
                        help="NAME=CHECKPOINT or NAME, comma-separated")
    parser.add_argument("--ckpt-dir", default=None,
                        help="where bare NAMEs are found, as NAME-mr.pt")
    parser.add_argument("--examples", type=int, default=300,
                        help="seeded sample of MR's test split")
    parser.add_argument("--analyses", default=",".join(analyses.REGISTRY))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    parser.add_argument("--neuron-max-train", type=int, default=None,
                        help="neuron_sweep's max_train (default: its own, 5000); for quick checks")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--doc", default=str(DOC))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    names = [n.strip() for n in args.analyses.split(",") if n.strip()]
    unknown = [n for n in names if n not in analyses.REGISTRY]
    if unknown:
        raise SystemExit(f"unknown analyses {unknown}; choose from {', '.join(analyses.REGISTRY)}")
    names = [n for n in analyses.REGISTRY if n in names]  # report order
    device = resolve_device(args.device)
    dataset = load_data(args.data)
    examples, total = select_examples(dataset, SimpleNamespace(split="test",
                                                               max_examples=args.examples,
                                                               seed=args.seed))
    started = time.perf_counter()
    rows, skipped, details = [], [], []
    for name, path in model_paths(args.models, args.ckpt_dir):
        model = adapter_from_checkpoint(load_checkpoint(path), name=name, source=str(path),
                                        device=device)
        bs = args.batch_size if model.pad_batches else 1
        warm = Setup(model, examples[:WARM_EXAMPLES], dataset, device, args.seed, bs,
                     params_for(names, args, warm=True))
        warm.prepare(names)
        for case in cases(warm, names):  # first calls: imports, kernels, caches
            case.batched(), case.baseline()
        setup = Setup(model, examples, dataset, device, args.seed, bs, params_for(names, args))
        t0 = time.perf_counter()
        setup.prepare(names)
        print(f"{name}: upstream ({', '.join(setup.upstream) or 'none'}) in "
              f"{time.perf_counter() - t0:.1f} s, not timed", flush=True)
        skipped += [(n, name, setup.applies(n)) for n in names if setup.applies(n)]
        for case in cases(setup, names, args.tolerance):
            t_batched, t_base, a, b = race(case, args.repeats, device)
            check = case.compare(a, b)
            rows.append((case.label, name, t_batched, t_base, check))
            print(f"{case.label} | {name} | batched {t_batched:.2f} s | baseline {t_base:.2f} s | "
                  f"x{t_base / t_batched:.1f} | {check.verdict(args.tolerance)} "
                  f"({check.compared:,} numbers; worst at {check.where or '-'})", flush=True)
            if check.mismatches or check.ties or not check.same(args.tolerance):
                why = [text for (a, where), text in EXPLAINED.items()
                       if a == case.label and check.where.startswith(where)]
                worst = [] if check.same(args.tolerance) or check.mismatches else \
                    [f"largest difference {check.worst:.1e} at {check.where}"]
                details.append(f"{case.label}, {name}: " + "; ".join(
                    [*check.mismatches[:5], *worst, *check.ties, *why]))
                print("  " + details[-1], flush=True)
    elapsed = time.perf_counter() - started
    text = report(rows, skipped, details, names, args, len(examples), total, device, elapsed)
    print("\n" + text)
    if not args.no_write:
        write_section(HEADING, text, doc=Path(args.doc))
        print(f"\nwritten to {args.doc} under {HEADING!r}")


def report(rows, skipped, details, names, args, n, total, device, elapsed) -> str:
    threads = torch.get_num_threads()
    machine = (f"device {device}, torch {torch.__version__} "
               f"({threads} thread{'s' * (threads > 1)}), "
               f"{platform.processor() or platform.machine()}")
    extra = (f" --neuron-max-train {args.neuron_max_train}"
             if args.neuron_max_train is not None else "")
    labels = list(dict.fromkeys(r[0] for r in rows))
    models = ", ".join(f"{name} (`{path.name}`)"
                       for name, path in model_paths(args.models, args.ckpt_dir))
    rounds = f"{args.repeats} round{'s' * (args.repeats != 1)}"
    lines = [
        (f"`python benchmarks/analysis_baselines.py --examples {n} --repeats {args.repeats}"
         f"{extra}` — "
         f"a seeded sample (seed {args.seed}) of {n:,} of MR's {total:,} test reviews; models "
         f"{models}; {machine}; {elapsed / 60:.1f} min in all. Per row, reportgen's `compute` with "
         f"default parameters and batch size {args.batch_size} (*batched*) and a plain baseline "
         f"giving the same numbers run interleaved in one process, {rounds} after a warm-up; "
         "medians. Upstream "
         "results (`NEEDS`, and `hidden_saliency` for faithfulness where it runs) are computed "
         "once before the clocks, so each row times its own analysis. Ratio: baseline over "
         "batched (above 1: batched is faster). *Same numbers*: every metric and every numeric "
         "table cell of the two runs within |a - b| / max(1, |b|) <= "
         f"{args.tolerance:g} (the largest is shown), words and labels identical."),
        "",
        "| analysis | model | batched (s) | baseline (s) | ratio | same numbers (max difference) |",
        "|---|---|---:|---:|---:|---|",
        *[f"| {a} | {m} | {tb:.2f} | {tl:.2f} | {tl / tb:.1f}x | {c.verdict(args.tolerance)} |"
          for a, m, tb, tl, c in rows],
        "",
        "Baselines:",
        "",
        *[f"- *{a}*: {BASELINES.get(a, '')}." for a in labels],
    ]
    ignoring = [n for n in names if n in IGNORES_BATCH_SIZE]
    if ignoring:
        lines += ["", ("Batching that `ctx.batch_size = 1` alone does not reach (the baseline "
                       "sets or patches it as said):"), "",
                  *[f"- *{n}*: {IGNORES_BATCH_SIZE[n]}." for n in ignoring]]
    excluded = [n for n in names if n in NOT_COMPARED]
    if excluded:
        lines += ["", *[f"*{n}*: {NOT_COMPARED[n][1]}." for n in excluded]]
    if skipped:
        lines += ["", "Not applicable: "
                  + "; ".join(f"{a} for {m} ({why})" for a, m, why in skipped) + "."]
    if details:
        lines += ["", "Differences:", "", *[f"- {d}" for d in details]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
