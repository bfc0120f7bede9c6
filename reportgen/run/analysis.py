"""Running the selected analyses: dependency order, per-model cache, then one view across models.

``plan(selected)`` adds what each selected analysis needs (``NEEDS``) and orders the list so every
analysis comes after its needs, and after the analyses it can use when they run (``USES``: read if
present, never added), in report order otherwise. ``run_all`` then, for each analysis and
each model it applies to, reads the cached result or computes it, and hands the per-model results
to the module's ``combine`` and ``present``.

The cache key of one (analysis, model) result hashes everything the numbers depend on: the
analysis name and version, its parameters, the model's fingerprint (weights, code, vocabulary,
batching), the dataset's fingerprint and the evaluated examples, the seed, the batch size, the
device, the precision it computes in (bf16/fp16 only: fp32 keys are those from before precision
was an option), reportgen's and torch's versions, and the keys of the upstream results it read.
Any change recomputes; nothing else does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reportgen import __version__, analyses, batching, cache, distributed, memory
from reportgen.analyses.base import RunContext, progress_bar
from reportgen.analyses.gradient_pass import SharedGradients
from reportgen.analyses.sampling import DEFAULT_DETAIL_EXAMPLES, detail_sample
from reportgen.analyses.spec import AnalysisSpec
from reportgen.data.dataset import Dataset, Example
from reportgen.device import device_key
from reportgen.errors import BadInput
from reportgen.models.facts import fingerprint
from reportgen.models.user import UserCodeError
from reportgen.models.view import ModelView, NotApplicable
from reportgen.records import AnalysisRecord, AnalysisResult
from reportgen.run.batch_plan import BatchPlan
from reportgen.seeding import seed_everything


@dataclass
class RunSettings:
    """What every analysis run shares (from the run's config)."""

    examples: list[Example]
    dataset: Dataset
    device: torch.device
    seed: int
    batch_size: int
    root: Path
    detail_examples: int = DEFAULT_DETAIL_EXAMPLES  # 0: every example (see analyses.sampling)
    no_cache: bool = False
    progress: bool = False
    quiet: bool = False
    data_key: str = ""  # dataset fingerprint + evaluated examples, computed once
    results: dict[str, dict[str, tuple[str, AnalysisResult]]] = field(default_factory=dict)
    # reportgen.batching: the precision the analyses compute in (autocast unless fp32)
    precision: str = "fp32"
    # each model's batch size and how it was chosen (``batch_size`` is for models not listed)
    batches: BatchPlan | None = None
    memory_budget: int | None = None  # bytes (``reportgen.memory``); None: no budget
    # what saliency's gradient pass keeps for later analyses (``run.plan.shared_gradients``)
    gradients: SharedGradients | None = None

    def __post_init__(self) -> None:
        if self.batches is None:
            self.batches = BatchPlan(default=self.batch_size)
        if not self.data_key:
            h = hashlib.sha256(self.dataset.fingerprint().encode())
            for ex in self.examples:
                h.update(ex.text.encode("utf-8", "surrogatepass") + b"\x00")
                h.update((ex.label or "").encode() + b"\x01")
            self.data_key = h.hexdigest()[:20]

    def batch_for(self, model: ModelView) -> int:
        """The model's batch size: planned for this run, else ``batch_size`` (1 if never padded)."""
        return self.batches.size(model)

    @property
    def sample(self) -> np.ndarray:
        """Ids of the examples that keep per-token detail (every id in a small run)."""
        return detail_sample(len(self.examples), self.detail_examples, self.seed)


def result_key(name: str, spec: AnalysisSpec, params: Any, model: ModelView, run: RunSettings,
               upstream_keys: dict[str, str]) -> str:
    return cache.digest(
        name,
        spec.version,
        dataclasses.asdict(params),
        fingerprint(model),
        model.name,
        run.data_key,
        run.seed,
        # the detail sample follows from the seed and its size; only analyses that read it
        *([len(run.sample)] if spec.sampled else []),
        run.batch_for(model),
        device_key(run.device),
        __version__,
        torch.__version__,
        upstream_keys,
        # bf16/fp16 only: fp32 keys are those from before precision was an option
        *([p] if (p := analysis_precision(spec, run.precision)) != "fp32" else []),
    )


def run_analysis(name: str, params: Any, models: list[ModelView],
                 run: RunSettings) -> AnalysisRecord:
    """One analysis over every model it applies to: cached or computed per model, then combined."""
    spec = analyses.spec(name)
    record = AnalysisRecord(
        name=name, title=spec.title, status="ok", headline=spec.headline,
        headline_label=spec.headline_label, reference=spec.reference, method=spec.method,
        how_to_read=spec.how_to_read, citation=spec.citation,
        params=dataclasses.asdict(params), baselines=dict(spec.baselines),
    )
    reasons = {m.name: spec.skip_reason(m) or _upstream_gap(spec, m, run) for m in models}
    applicable = [m for m in models if reasons[m.name] is None]
    record.skipped_models = {n: r for n, r in reasons.items() if r}
    run.results[name] = {}
    if not applicable:
        record.status = "skipped"
        record.reason = "; ".join(dict.fromkeys(r for r in reasons.values() if r))
        return record
    record.notes += [f"Skipped: {r}" for r in reasons.values() if r]
    started = time.perf_counter()
    per_model: dict[str, AnalysisResult] = {}
    cached = []
    try:
        bar = progress_bar(applicable, total=len(applicable), desc=f"{name} (models)",
                           enabled=run.progress and len(applicable) > 1)
        for model in bar:
            upstream = {need: run.results[need][model.name] for need in spec.needs}
            upstream.update({use: run.results[use][model.name] for use in spec.uses
                             if model.name in run.results.get(use, {})})
            _adopt_earlier_halving(name, spec, params, model, run, record)
            keys = {n: k for n, (k, _) in upstream.items()}
            key = result_key(name, spec, params, model, run, keys)
            result = None if run.no_cache else cache.load_result(run.root, name, key)
            if not distributed.all_agree(result is not None):  # every rank computes, or none
                result = None
            if result is None:
                ctx = RunContext(model, run.examples, run.dataset, run.device, run.seed,
                                 run.progress, run.batch_for(model),
                                 upstream={n: r for n, (_, r) in upstream.items()},
                                 sample=run.sample, memory_budget=run.memory_budget,
                                 gradients=run.gradients)
                try:
                    with memory.working_on(name, model.name, spec.memory_setting):
                        result, key = _compute(name, spec, params, ctx, run, record, upstream,
                                               key)
                except NotApplicable as exc:  # found only while computing: skipped, not failed
                    why = str(exc) or f"{name} does not apply to {model.name}"
                    record.skipped_models[model.name] = why
                    record.notes.append(f"Skipped: {why}")
                    continue
                if distributed.is_main():
                    cache.save_result(run.root, name, key, result)
            else:
                cached.append(model.name)
            per_model[model.name] = result
            run.results[name][model.name] = (key, result)
        if not per_model:  # every model turned out not to apply
            record.status = "skipped"
            record.reason = "; ".join(dict.fromkeys(record.skipped_models.values()))
            record.notes = []
            return record
        result = spec.combine(per_model, params)
        # the charts too are kept: the same results, parameters and drawing code draw the
        # same page
        shown = cache.digest(name, spec.version, dataclasses.asdict(params), __version__,
                             [run.results[name][m][0] for m in per_model],
                             cache.presentation_code())
        presentation = None if run.no_cache else cache.load_presentation(run.root, name, shown)
        if presentation is None:
            presentation = spec.present(result, params)
            if distributed.is_main():
                cache.save_presentation(run.root, name, shown, presentation)
    # the model ran on every text at load; an analysis's input broke it
    except UserCodeError as exc:
        record.status, record.reason = "failed", exc.message
        record.seconds = round(time.perf_counter() - started, 3)
        run.results[name] = {}
        return record
    except BadInput:
        raise
    except Exception as exc:  # noqa: BLE001 - one failing analysis must not sink the report
        # no traceback on the terminal: the report keeps it (logs/<name>.txt) and the command
        # names the failure and exits non-zero once the report is written
        record.log = traceback.format_exc()
        record.status, record.reason = "failed", f"{type(exc).__name__}: {exc}"
        record.seconds = round(time.perf_counter() - started, 3)
        run.results[name] = {}
        return record
    if cached:
        record.notes.append(
            f"Read from the cache for {', '.join(cached)} (same model, code, data, parameters, "
            "seed and device)."
        )
    record.seconds = round(time.perf_counter() - started, 3)
    record.metrics = {k: float(v) for k, v in result.metrics.items()}
    record.labels = dict(result.labels)
    record.tables = result.tables
    record.notes += result.notes
    record.charts = presentation.charts
    record.token_views = presentation.token_views
    return record


# -- precision and running out of GPU memory (reportgen.batching) ----------------------------------
def _compute(name: str, spec: AnalysisSpec, params: Any, ctx: RunContext, run: RunSettings,
             record: AnalysisRecord, upstream: dict[str, tuple[str, AnalysisResult]], key: str
             ) -> tuple[AnalysisResult, str]:
    """``spec.compute`` for ``ctx.model`` under the run's precision, and its cache key (``key``
    unless the batch size changed). On ``torch.cuda.OutOfMemoryError`` the model's batch size is
    halved (down to 1; not under torchrun) and the computation starts again; the smaller size then
    holds for the rest of the run, and the page and the model's batch-size reason say so."""
    def attempt(batch_size: int) -> AnalysisResult:
        seed_everything(run.seed)  # the one seeding of this computation (and of each retry)
        with batching.autocast(analysis_precision(spec, run.precision), run.device):
            return spec.compute(dataclasses.replace(ctx, batch_size=batch_size), params)

    model = ctx.model
    result, used = batching.halve_on_oom(attempt, ctx.batch_size, retry=not distributed.active())
    if used == ctx.batch_size:
        return result, key
    if run.batches.is_auto(model.name):  # the next auto run starts this analysis at ``used``
        cache.save_halving(run.root, _halving_key(name, spec, params, model, run, ctx.batch_size),
                           {"size": used})
    run.batches.change(model.name, used,
                       f"halved to {used} in {name}, which ran out of GPU memory at "
                       f"{ctx.batch_size}")
    record.notes.append(f"{model.name}: ran out of GPU memory at batch size {ctx.batch_size}; "
                        f"computed with {used} texts per batch, as is the rest of the run.")
    return result, result_key(name, spec, params, model, run,
                              {n: k for n, (k, _) in upstream.items()})


def _halving_key(name: str, spec: AnalysisSpec, params: Any, model: ModelView, run: RunSettings,
                 size: int) -> str:
    """What running out of GPU memory in one analysis depends on: the analysis and its parameters,
    the model, the texts (and the sample), the GPU, the precision, the code, the size the probe
    chose (more free memory probes larger and tries afresh) and ``size``, the batch size the
    analysis started at."""
    gpu = ((torch.cuda.get_device_name(run.device),
            torch.cuda.get_device_properties(run.device).total_memory)
           if run.device.type == "cuda" else ())
    return cache.digest("halving", name, spec.version, dataclasses.asdict(params),
                        fingerprint(model), model.name, run.data_key, len(run.sample),
                        str(run.device), gpu, analysis_precision(spec, run.precision),
                        run.batches.probed[model.name], size, __version__, torch.__version__)


def _adopt_earlier_halving(name: str, spec: AnalysisSpec, params: Any, model: ModelView,
                           run: RunSettings, record: AnalysisRecord) -> None:
    """Start this analysis, and the rest of the run, at the batch size that an earlier auto run of
    it halved to after running out of GPU memory at the same point. That run cached its results
    under the smaller size: without this, every auto run would start at the probe's size, miss the
    cache, run out of memory again and recompute. Nothing under ``--no-cache`` or an explicit
    ``--batch-size``."""
    if not run.batches.is_auto(model.name) or run.no_cache:
        return
    size = run.batch_for(model)
    earlier = cache.load_halving(run.root, _halving_key(name, spec, params, model, run, size))
    if earlier is None or not 1 <= earlier["size"] < size:
        return
    run.batches.change(model.name, earlier["size"], f"{earlier['size']} from {name} on: an "
                       f"earlier run ran out of GPU memory there at {size}")
    record.notes.append(f"{model.name}: computed with {earlier['size']} texts per batch, as is the "
                        f"rest of the run: an earlier run of the same model and texts ran out of "
                        f"GPU memory here at {size}.")


def _upstream_gap(spec: AnalysisSpec, model: ModelView, run: RunSettings) -> str | None:
    for need in spec.needs:
        if model.name not in run.results.get(need, {}):
            return f"{model.name}: {spec.name} needs {need}, which did not run for this model"
    return None


def analysis_precision(spec: AnalysisSpec, precision: str) -> str:
    """The precision an analysis computes in: the run's, or fp32 when its spec says so."""
    return "fp32" if spec.precision == "fp32" else precision


def represent(record: AnalysisRecord) -> None:
    """Rebuild an analysis's charts and token views from its stored tables
    (``reportgen render``)."""
    if record.status != "ok" or record.name not in analyses.REGISTRY:
        return
    spec = analyses.spec(record.name)
    fields = {f.name for f in dataclasses.fields(spec.params)}
    params = spec.params(**{k: _as_field(v) for k, v in record.params.items() if k in fields})
    result = AnalysisResult(tables=record.tables, metrics=dict(record.metrics), notes=[],
                            labels=dict(record.labels))
    presentation = spec.present(result, params)
    record.charts = presentation.charts
    record.token_views = presentation.token_views


def _as_field(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
