"""``report.json``: the machine-readable results of a run.

The schema of the spec, extended with what else a reader may want to check in CI::

    {"reportgen_version", "created", "seed", "device",          # spec
     "total_seconds", "config", "versions", "batch_sizes",      # extensions
     "models": [{"name", "arch", "parameters", "accuracy", "classes",              # spec
                 "source", "task", "vocab_size", "encoder_kind",
                 "checkpoint_accuracy", "accuracy_metric", "batching",
                 "evaluated_on", "trained_on", "vectors", "overlap", "overlap_count", "labelled",
                 "embedding", "tokenizer", "unknown_share", "reading",
                 "layers": [{...}], "confusion"}],
     "data": {"spec", "examples", "classes",                                        # spec
              "split", "total_examples", "class_counts", "labelled", "label_map",
              "detail_examples": {"examples", "of", "seed"}, "fingerprint"},
     "predictions": {"csv", "rows", "columns", "examples"} | null,
     "analyses": {"<name>": {"status", "reason", "seconds", "metrics",              # spec
                             "title", "headline", "baselines": {"<metric>": "<baseline metric>"},
                             "skipped_models": {"<model>": "<why>"}, "log": str | null,
                             "labels": {"<metric>": "what it is, where the name does not say"},
                             "tables": {"<t>": {"rows", "columns", "csv", "csv_rows",
                                                "full_csv"}}}}}

``accuracy`` is on ``evaluated_on``; ``overlap``/``overlap_count`` say how many of those texts were
in the model's training data. ``baselines`` pairs a metric with the one to compare it with, overall
and per model (``<model>.<metric>`` beside ``<model>.<baseline>``). A table with no rows is listed
with ``"csv": null``: the site writes no file for it and the page does not show it. A table of
more than 10,000 rows (``site.table_files``) has a CSV of a seeded sample of ``csv_rows`` rows and
every row in ``full_csv`` (gzip); ``detail_examples`` says which examples kept per-token detail
(``analyses.sampling``). ``data.fingerprint`` hashes the evaluated examples' texts and labels, in
order (two reports with the same one evaluated the same examples); ``predictions`` names the gzipped
CSV of every evaluated example's prediction per classifier (``model``, ``example_id``, ``label``,
``predicted``, ``p0``.. the probability of each of the model's ``classes``, in order, to 4
decimals) for ``examples`` examples: every evaluated one, or the detail sample when that would be
over 250,000 rows; null in a single-file report or without classifiers. A failed analysis names its
traceback's file in ``log`` (``logs/<name>.txt``; null otherwise).

Numbers that are not finite (NaN, inf) become ``null``: the file is strict JSON. The same record
gives the same file, byte for byte.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict
from typing import Any

from reportgen.records import RunRecord


def log_path(name: str) -> str:
    """Where a failed analysis's traceback is written, relative to the site."""
    return f"logs/{name}.txt"


def plain(value: Any) -> Any:
    """Numpy scalars, tuples, non-finite floats... -> strict-JSON Python values."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        x = float(value)
        return x if math.isfinite(x) else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [plain(v) for v in items]
    if hasattr(value, "tolist"):  # numpy arrays
        return plain(value.tolist())
    return str(value)


def report_json(record: RunRecord, csv_paths: dict[str, dict[str, str]] | None = None,
                full_tables: dict[str, dict[str, Any]] | None = None,
                predictions: dict[str, Any] | None = None) -> dict:
    """The report as a dict. ``csv_paths[analysis][table]`` is the table's CSV path in the site;
    ``full_tables[analysis][csv file name]`` (``path``, ``csv_rows``) the gzipped whole of a long
    table whose CSV holds a sample."""
    csv_paths, full_tables = csv_paths or {}, full_tables or {}

    def full(analysis: str, table: str) -> Any:
        csv = csv_paths.get(analysis, {}).get(table)
        return full_tables.get(analysis, {}).get(csv.rsplit("/", 1)[-1]) if csv else None

    models = []
    for m in record.models:
        models.append(
            {
                "name": m.name,
                "arch": m.arch,
                "parameters": m.parameters,
                "accuracy": m.accuracy,
                "classes": list(m.classes),
                "source": m.source,
                "task": m.task,
                "vocab_size": m.vocab_size,
                "encoder_kind": m.encoder_kind,
                "checkpoint_accuracy": m.checkpoint_accuracy,
                "accuracy_metric": m.accuracy_metric,
                "batching": m.batching,
                "evaluated_on": m.evaluated_on,
                "trained_on": m.trained_on,
                "vectors": m.vectors,
                "overlap": m.overlap,
                "overlap_count": m.overlap_count,
                "labelled": m.labelled,
                "embedding": m.embedding,
                "tokenizer": m.tokenizer,
                "unknown_share": m.unknown_share,
                "reading": list(m.reading),
                "layers": [asdict(layer) for layer in m.layers],
                "confusion": m.confusion,
            }
        )
    d = record.data
    analyses = {}
    for a in record.analyses:
        tables = {
            name: {
                "rows": len(frame),
                "columns": [str(c) for c in frame.columns],
                "csv": csv_paths.get(a.name, {}).get(name),
                # a long table: the CSV holds a seeded sample of csv_rows rows, full_csv every row
                "csv_rows": full(a.name, name).csv_rows if full(a.name, name) else len(frame),
                "full_csv": full(a.name, name).path if full(a.name, name) else None,
            }
            for name, frame in a.tables.items()
        }
        analyses[a.name] = {
            "status": a.status,
            "reason": a.reason,
            "seconds": float(a.seconds),
            "metrics": dict(a.metrics),
            "title": a.title,
            "headline": a.headline,
            "baselines": dict(a.baselines),
            "skipped_models": dict(a.skipped_models),
            "labels": dict(a.labels),
            "log": log_path(a.name) if a.status == "failed" and a.log else None,
            "tables": tables,
        }
    report = {
        "reportgen_version": record.reportgen_version,
        "created": record.created,
        "seed": record.seed,
        "device": record.device,
        "total_seconds": record.total_seconds,
        "config": record.config,
        "versions": record.versions,
        # model -> texts per batch (reportgen.batching; why: config.resolved.batch_size_reasons)
        "batch_sizes": dict((record.config.get("resolved") or {}).get("batch_sizes") or {}),
        "models": models,
        "data": {
            "spec": d.spec,
            "examples": d.examples,
            "classes": list(d.classes),
            "split": d.split,
            "total_examples": d.total_examples,
            "class_counts": dict(d.class_counts),
            "labelled": d.labelled or sum(d.class_counts.values()),  # older records: class counts
            "label_map": dict(d.label_map),
            # per-token tables and the costly analyses cover this seeded sample of the examples
            "detail_examples": {"examples": d.detail_examples or d.examples, "of": d.examples,
                                "seed": record.seed},
            "fingerprint": d.fingerprint or None,  # null in records from before it
        },
        "predictions": predictions,
        "analyses": analyses,
    }
    return plain(report)


def dumps(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
