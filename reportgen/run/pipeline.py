"""The whole job of ``reportgen run`` (and ``render``), in named stages:

    guard --out -> load data -> load model(s) -> check them against the data -> plan the analyses
    and check their settings -> batch plan per model (probe) -> for each analysis: cached result
    or compute -> present (charts) -> render the site

``build(config)`` is the one place that strings the stages together: the output folder is checked
and locked here, once (``output_dir.guarded``), the seed set once per run (and once per
computation, by the runner), the batch plan made once. User errors (``BadInput``)
raised by any stage stop the run before the site is touched; an analysis that fails for another
reason is reported as ``failed`` with its reason, and the others still run.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from reportgen import __version__, analyses, cache, memory
from reportgen.batching import DEFAULT_BATCH, resolve_batch_sizes, resolve_precision
from reportgen.config import RunConfig
from reportgen.data.dataset import Example
from reportgen.device import describe_device, device_key, resolve_device
from reportgen.errors import BadInput
from reportgen.evaluation import data_card, describe_evaluation, measures, model_card, warn_overlap
from reportgen.models.facts import fingerprint
from reportgen.models.view import ModelView
from reportgen.records import RunRecord
from reportgen.run.analysis import RunSettings, represent, run_analysis
from reportgen.run.batch_plan import BatchPlan
from reportgen.run.inputs import (
    check_models,
    library_versions,
    load_dataset,
    load_models,
    select_examples,
)
from reportgen.run.plan import check_settings, plan, shared_gradients
from reportgen.seeding import seed_everything


def build(config: RunConfig) -> RunRecord | None:
    """Run every selected analysis and write the site to ``config.out``.

    ``--out`` is checked before any compute (a folder reportgen did not write, an unwritable
    place) and held for the whole run, so a second run into the same folder is refused. Under
    torchrun every process computes its share (``reportgen.distributed``) and rank 0 writes the
    site; the other ranks return None.
    """
    from reportgen import distributed
    from reportgen.site.output_dir import guarded

    out = Path(config.out)
    try:
        if distributed.worker():  # ranks 1.. compute their share; rank 0 writes the site
            return _build(config, out)
        with guarded(out):
            return _build(config, out)
    finally:
        distributed.stop()


def _build(config: RunConfig, out: Path) -> RunRecord:
    started = time.perf_counter()
    budget = memory.resolve_budget(config.memory_budget)  # before anything big is loaded
    with memory.guard(budget):
        return _build_within(config, out, started, budget)


def _build_within(config: RunConfig, out: Path, started: float,
                  budget: int | None) -> RunRecord:
    """``_build`` inside the run's memory guard (``reportgen.memory``)."""
    from reportgen import distributed
    from reportgen.records.json_form import save_record
    from reportgen.site.builder import build_site

    seed_everything(config.seed)
    device = distributed.start(resolve_device(config.device))
    main = distributed.is_main()
    progress = main and not config.quiet and sys.stderr.isatty()
    root = cache.cache_root(config.cache_dir)
    fp32_only = [spec.name for spec in analyses.specs() if spec.precision == "fp32"]
    resolve_precision(config.precision, device, fp32_only)  # a bad value stops before loading

    dataset = load_dataset(config)
    examples, total = select_examples(dataset, config)
    evaluated_split = dataset.evaluation_split() if config.split == "auto" else config.split
    evaluated = describe_evaluation(dataset, evaluated_split, examples, total)
    models = load_models(config, device, root, progress)
    check_models(models, examples)
    # auto on CPU: bf16 for Transformers models where the CPU multiplies bf16 natively
    precision, precision_reason = resolve_precision(config.precision, device, fp32_only, models)
    if main and not config.quiet:
        warn_overlap(models, examples)
    names = plan(config.selected_analyses(), config.skip)
    check_settings(names, config.params, examples=len(examples),
                   labelled=sum(ex.label is not None for ex in examples), classes=dataset.classes)
    # once per model: --batch-size auto probes memory on the longest texts (reportgen.batching)
    choices = resolve_batch_sizes(models, examples, config.batch_size, device, precision)
    fixed = config.batch_size if isinstance(config.batch_size, int) else DEFAULT_BATCH
    auto = config.batch_size == "auto" and not distributed.active()
    batches = BatchPlan.from_choices(choices, fixed, auto)
    run = RunSettings(examples, dataset, device, config.seed, fixed, root, precision=precision,
                      batches=batches, detail_examples=config.detail_examples,
                      no_cache=config.no_cache, progress=progress, quiet=config.quiet or not main,
                      memory_budget=budget)
    # before the analyses: every evaluated text goes through every model once here (or did in an
    # earlier run, cached), so a model that fails on one of them stops the run at once, naming the
    # text (exit 2)
    model_cards = [model_card(m, examples, choices[m.name].size, evaluated,
                              measured_on_texts(m, examples, choices[m.name].size, run))
                   for m in models]
    # saliency's backward pass gives hidden_saliency and faithfulness theirs (analyses.
    # gradient_pass); what only one analysis reads is dropped once it has run
    run.gradients = shared_gradients(names, config.params, models, run.sample)
    analysis_records = []
    for name in names:
        analysis_records.append(run_analysis(name, config.params[name], models, run))
        run.gradients.done(name)
    record = RunRecord(
        reportgen_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        seed=config.seed,
        device=describe_device(device),
        config={**config.to_dict(), "resolved": {
            "precision": precision, "precision_reason": precision_reason,
            "batch_sizes": dict(batches.sizes), "batch_size_reasons": dict(batches.reasons),
            "memory_budget": memory.describe(budget)}},
        versions=library_versions(),
        models=model_cards,
        data=data_card(dataset, evaluated_split, examples, total, config.label_map,
                       detail_examples=len(run.sample)),
        analyses=analysis_records,
    )
    record.total_seconds = round(time.perf_counter() - started, 3)
    if not main:
        return None
    build_site(
        record,
        out,
        single_file=config.single_file,
        page_budget_mb=config.page_budget_mb,
        site_budget_mb=config.site_budget_mb,
        table_cache=None if config.no_cache else root,
    )
    save_record(record, cache.run_folder(root, out))
    return record


def measured_on_texts(m: ModelView, examples: list[Example], batch_size: int,
                      run: RunSettings) -> dict:
    """The model card's ``measures``: from the cache when the same model ran on the same texts
    with the same batch size on the same kind of device, under the same measuring code, before
    (unless --no-cache). Every torchrun rank reads the cache, or none does."""
    from reportgen import distributed

    key = cache.digest("measures", fingerprint(m), m.name, run.data_key, batch_size,
                       device_key(run.device), __version__, torch.__version__, measuring_code())
    found = None if run.no_cache else cache.load_measures(run.root, key)
    if not distributed.all_agree(found is not None):
        found = None
    if found is None:
        found = measures(m, examples, batch_size)
        if distributed.is_main():
            cache.save_measures(run.root, key, found)
    return found


@functools.cache
def measuring_code() -> str:
    """Hash of the code the model cards' measures run through (besides the model's own, which its
    fingerprint covers): a change there measures again."""
    here = Path(__file__).resolve().parent.parent  # the package
    h = hashlib.sha256()
    paths = [here / "evaluation.py", *sorted((here / "models").glob("*.py")),
             here / "data" / "encoding.py", here / "data" / "tokenize.py"]
    for path in paths:
        h.update(path.relative_to(here).as_posix().encode() + path.read_bytes())
    return h.hexdigest()[:16]


def render(out: str, cache_dir: str | None, single_file: bool = False) -> RunRecord:
    """Rebuild the site of the last run that wrote ``out`` from the cache, with no model."""
    from reportgen.site.output_dir import guarded

    with guarded(Path(out)):
        return _render(out, cache_dir, single_file)


def _render(out: str, cache_dir: str | None, single_file: bool) -> RunRecord:
    from reportgen.records.json_form import load_record
    from reportgen.site.builder import build_site

    root = cache.cache_root(cache_dir)
    folder = cache.run_folder(root, Path(out))
    if not folder.exists():
        raise BadInput(f"no cached run for {out!r} in {str(root)!r}; "
                       f"run 'reportgen run --out {out}' first")
    record = load_record(folder)
    for analysis in record.analyses:  # charts are always rebuilt from the cached tables
        represent(analysis)
    budget = record.config
    build_site(
        record,
        Path(out),
        single_file=single_file,
        page_budget_mb=float(budget.get("page_budget_mb", 5.0)),
        site_budget_mb=float(budget.get("site_budget_mb", 50.0)),
        table_cache=root,
    )
    return record
