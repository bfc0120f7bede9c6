"""The whole job of ``reportgen run``, in named stages:

    load data -> load model(s) -> check them against the data -> batch size per model (probe)
    -> for each analysis: cached result or compute -> present (charts) -> render the site

``build(config)`` is the one place that strings the stages together. User errors (``BadInput``)
raised by any stage stop the run before the site is touched; an analysis that fails for another
reason is reported as ``failed`` with its reason, and the others still run.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from reportgen import __version__, cache
from reportgen.analyses.runner import RunSettings, plan, represent, run_analysis
from reportgen.batching import DEFAULT_BATCH, resolve_batch_sizes, resolve_precision
from reportgen.config import RunConfig
from reportgen.data.dataset import Dataset, Example
from reportgen.device import describe_device, device_key, resolve_device
from reportgen.errors import BadInput
from reportgen.evaluation import data_card, describe_evaluation, measures, model_card, warn_overlap
from reportgen.models.adapter import ModelAdapter
from reportgen.records import RunRecord


def build(config: RunConfig) -> RunRecord | None:
    """Run every selected analysis and write the site to ``config.out``.

    ``--out`` is checked before any compute (a folder reportgen did not write, an unwritable
    place) and held for the whole run, so a second run into the same folder is refused. Under
    torchrun every process computes its share (``reportgen.distributed``) and rank 0 writes the
    site; the other ranks return None.
    """
    from reportgen import distributed
    from reportgen.site.output_dir import lock, preflight

    out = Path(config.out)
    if distributed.worker():
        try:
            return _build(config, out)
        finally:
            distributed.stop()
    preflight(out)
    try:
        with lock(out):
            return _build(config, out)
    finally:
        distributed.stop()


def _build(config: RunConfig, out: Path) -> RunRecord:
    from reportgen import distributed
    from reportgen.site.builder import build_site
    from reportgen.records.json_form import save_record

    started = time.perf_counter()
    seed_everything(config.seed)
    device = distributed.start(resolve_device(config.device))
    main = distributed.is_main()
    progress = main and not config.quiet and sys.stderr.isatty()
    root = cache.cache_root(config.cache_dir)
    precision, precision_reason = resolve_precision(config.precision, device)

    dataset = load_dataset(config)
    examples, total = select_examples(dataset, config)
    evaluated_split = dataset.evaluation_split() if config.split == "auto" else config.split
    evaluated = describe_evaluation(dataset, evaluated_split, examples, total)
    models = load_models(config, device, root, progress)
    check_models(models, examples)
    if main and not config.quiet:
        warn_overlap(models, examples)
    # once per model: --batch-size auto probes memory on the longest texts (reportgen.batching)
    batches = resolve_batch_sizes(models, examples, config.batch_size, device, precision)
    fixed = config.batch_size if isinstance(config.batch_size, int) else DEFAULT_BATCH
    run = RunSettings(examples, dataset, device, config.seed, fixed, root, precision=precision,
                      batch_sizes={n: c.size for n, c in batches.items()},
                      batch_reasons={n: c.reason for n, c in batches.items()},
                      auto_sizes={n: c.size for n, c in batches.items()}
                      if config.batch_size == "auto" and not distributed.active() else {},
                      detail_examples=config.detail_examples, no_cache=config.no_cache, progress=progress, quiet=config.quiet or not main)
    # before the analyses: every evaluated text goes through every model once here (or did in an
    # earlier run, cached), so a model that fails on one of them stops the run at once, naming the
    # text (exit 2)
    model_cards = [model_card(m, examples, batches[m.name].size, evaluated,
                              measured_on_texts(m, examples, batches[m.name].size, run))
                   for m in models]
    analysis_records = [
        run_analysis(name, config.params[name], models, run)
        for name in plan(config.selected_analyses(), config.skip)
    ]
    record = RunRecord(
        reportgen_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        seed=config.seed,
        device=describe_device(device),
        config={**config.to_dict(), "resolved": {
            "precision": precision, "precision_reason": precision_reason,
            "batch_sizes": dict(run.batch_sizes), "batch_size_reasons": dict(run.batch_reasons)}},
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


def measured_on_texts(m: ModelAdapter, examples: list[Example], batch_size: int, run: RunSettings) -> dict:
    """The model card's ``measures``: from the cache when the same model ran on the same texts
    with the same batch size on the same kind of device, under the same measuring code, before
    (unless --no-cache). Every torchrun rank reads the cache, or none does."""
    from reportgen import distributed

    key = cache.digest("measures", m.fingerprint(), m.name, run.data_key, batch_size,
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
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for rel in ("evaluation.py", "models/adapter.py", "models/internals.py", "models/hf.py",
                "data/encoding.py", "data/tokenize.py"):
        path = here / rel
        h.update(rel.encode() + (path.read_bytes() if path.exists() else b""))
    return h.hexdigest()[:16]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# -- data ---------------------------------------------------------------------------------------
def load_dataset(config: RunConfig) -> Dataset:
    from reportgen.data.loaders import load_data

    if config.data is None:
        if config.models and list(config.models) != ["demo"]:
            raise BadInput("--data is required when --model is given (or use --model demo)")
        return load_data("demo")
    if not config.models:
        raise BadInput("--model is required when --data is given (or use --model demo)")
    dataset = load_data(config.data, text_col=config.text_col, label_col=config.label_col)
    return relabel(dataset, config.label_map) if config.label_map else dataset


def relabel(dataset: Dataset, label_map: dict[str, str]) -> Dataset:
    """The dataset with its labels renamed by ``label_map`` (labels not in the map stay)."""
    known = {ex.label for exs in dataset.splits.values() for ex in exs if ex.label is not None}
    unused = sorted(set(label_map) - known)
    if unused:
        raise BadInput(f"--label-map names labels the data does not have: {', '.join(unused)}",
                       choices=sorted(known))
    splits = {name: [Example(ex.text, label_map.get(ex.label, ex.label) if ex.label is not None
                             else None) for ex in exs]
              for name, exs in dataset.splits.items()}
    classes = list(dict.fromkeys(label_map.get(c, c) for c in dataset.classes))
    return Dataset(dataset.spec, splits, classes, dataset.description + " (labels renamed)")


def select_examples(dataset: Dataset, config: RunConfig) -> tuple[list[Example], int]:
    """The evaluated split, sampled down to ``--max-examples`` with the run's seed (order kept)."""
    examples = dataset.split(config.split)
    if not examples:
        raise BadInput(f"split {config.split!r} of {dataset.spec!r} has no examples")
    total = len(examples)
    if config.max_examples is not None and total > config.max_examples:
        rng = np.random.default_rng(config.seed)
        keep = np.sort(rng.choice(total, size=config.max_examples, replace=False))
        examples = [examples[i] for i in keep]
    return examples, total


# -- models -------------------------------------------------------------------------------------
def load_models(config: RunConfig, device: torch.device, root: Path, progress: bool) -> list[ModelAdapter]:
    from reportgen.models.loading import adapter_from_checkpoint, load_model, unique_names

    specs = list(config.models) or ["demo"]
    adapters: list[ModelAdapter] = []
    for spec in specs:
        if spec == "demo":
            from reportgen import distributed
            from reportgen.data.loaders import load_data
            from reportgen.models.checkpoint import load_checkpoint
            from reportgen.models.demo_models import train_demo_models

            # rank 0 trains (or finds) the demo models in the cache; the other ranks read them
            paths = distributed.broadcast(
                train_demo_models(load_data("demo"), root, device=device, progress=progress, seed=0)
                if distributed.is_main() else None)
            for path in paths:
                ckpt = load_checkpoint(path)
                adapters.append(adapter_from_checkpoint(ckpt, name=ckpt.arch, source=f"demo:{ckpt.arch}", device=device))
        else:
            adapters.append(load_model(spec, device=device))
    unique_names(adapters)
    return adapters


def check_models(models: list[ModelAdapter], examples: list[Example]) -> None:
    """Every model must reproduce its own forward through the adapter and know the data's labels.

    Checked on the first 16 texts plus the shortest and the longest ones, where models that need
    a minimum length or have a maximum one fail."""
    by_length = sorted(range(len(examples)), key=lambda i: (len(examples[i].text), i))
    chosen = dict.fromkeys([*range(min(16, len(examples))), *by_length[:4], *by_length[-2:]])
    texts = [examples[i].text for i in chosen]
    labels = [ex.label for ex in examples]
    for m in models:
        m.verify(texts)
        if m.is_classifier:
            m.class_index(labels)


# -- analyses: see reportgen.analyses.runner ---------------------------------------------


def library_versions() -> dict[str, str]:
    """Versions of the libraries the numbers depend on, read from the installed packages' metadata
    (importing scikit-learn only to ask would cost a second)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": installed("pandas"),
        "altair": installed("altair"),
        "scikit-learn": installed("scikit-learn"),
        "platform": platform.platform(terse=True),
    }


def render(out: str, cache_dir: str | None, single_file: bool = False) -> RunRecord:
    """Rebuild the site of the last run that wrote ``out`` from the cache, with no model."""
    from reportgen.site.builder import build_site
    from reportgen.records.json_form import load_record

    root = cache.cache_root(cache_dir)
    folder = cache.run_folder(root, Path(out))
    if not folder.exists():
        raise BadInput(f"no cached run for {out!r} in {str(root)!r}; run 'reportgen run --out {out}' first")
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
