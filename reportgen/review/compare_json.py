"""``compare.json``: the machine-readable review, versioned (``FORMAT``, ``VERSION``).

Question: what does a CI job read to gate a merge or post a summary?

Method: the ``Comparison`` as plain JSON (strict: NaN and infinities become null; the fields are
documented in ``docs/compare.md``). ``old`` and ``new`` name the reports as ``reportgen publish``
links them (``run_id``, ``created``, ``report_sha256``); every model pair has ``flips`` (the count
of examples whose prediction changed) beside the counts by kind and direction and up to
``flips.KEPT`` flipped examples; ``metrics`` has every metric of every analysis with its
interval and verdict; ``fail_on`` the rules, their results and the exit code.

Outputs: ``compare_json(comparison) -> dict``.

Cost: none to speak of.
"""

from __future__ import annotations

from typing import Any

from reportgen import __version__
from reportgen.publish.source import run_id_from
from reportgen.review import stats
from reportgen.review.attributions import TOP_K
from reportgen.review.compare import Comparison
from reportgen.review.flips import KEPT, FlipSummary
from reportgen.review.metrics import MetricDiff
from reportgen.review.reports import Report
from reportgen.review.rules import REGRESSION
from reportgen.site.report_json import plain

FORMAT = "reportgen-compare"
VERSION = 1


def _side(r: Report) -> dict[str, Any]:
    d = r.data
    return {
        "dir": str(r.path), "created": r.created, "reportgen_version": r.version,
        "report_sha256": r.sha256, "run_id": run_id_from(r.created, r.sha256),
        "models": list(r.models),
        "data": {"spec": d.get("spec"), "split": d.get("split"), "examples": r.examples,
                 "fingerprint": r.fingerprint},
        "predictions": r.predictions() is not None,
    }


def metric_json(m: MetricDiff) -> dict[str, Any]:
    return {"analysis": m.analysis, "metric": m.metric, "name": m.name, "model": m.model,
            "headline": m.headline, "what": m.what or None, "old": m.old, "new": m.new,
            "diff": m.diff,
            "interval": [m.lo, m.hi] if m.has_interval else None, "p_value": m.p_value,
            "verdict": m.verdict, "method": m.method, "examples": m.examples}


def _flips(f: FlipSummary) -> dict[str, Any]:
    return {
        "flips": f.count, "flips_by_kind": f.by_kind(), "flips_by_direction": f.by_direction(),
        "examples": f.examples, "note": f.note or None,
        "flipped": [{
            "example_id": x.example_id, "kind": x.kind, "label": x.label,
            "old_predicted": x.old_predicted, "new_predicted": x.new_predicted,
            "old_probability": {"of_old_prediction": x.old_p_old, "of_new_prediction": x.old_p_new},
            "new_probability": {"of_old_prediction": x.new_p_old, "of_new_prediction": x.new_p_new},
            "text": x.text,
        } for x in f.flips[:KEPT]],
    }


def compare_json(c: Comparison) -> dict[str, Any]:
    models = []
    for pair, flips in zip(c.pairs, c.flips, strict=True):
        accuracy = next((m for m in c.metrics if m.analysis == "model" and m.model == pair.label
                         and m.metric == "accuracy"), None)
        models.append({"old": pair.old, "new": pair.new, "label": pair.label,
                       "accuracy": metric_json(accuracy) if accuracy else None, **_flips(flips)})
    failed = bool(c.failed)
    out = {
        "format": FORMAT, "version": VERSION, "reportgen_version": __version__,
        "created": c.created, "seconds": c.seconds,
        "old": _side(c.old), "new": _side(c.new),
        "same_data": c.same_data,
        "fingerprint_source": {"old": c.old.fingerprint_source, "new": c.new.fingerprint_source},
        "compared": "everything" if c.same_data else "aggregate metrics only (different data)",
        "bootstrap": {"samples": stats.SAMPLES, "seed": stats.SEED, "level": stats.LEVEL},
        "models": models,
        "unmatched": {"old": c.only_old, "new": c.only_new},
        "pairing": c.pairing or None,
        "analyses": {a.name: {"title": a.title, "old": a.old, "new": a.new,
                              "old_reason": a.old_reason or None,
                              "new_reason": a.new_reason or None}
                     for a in c.analyses},
        "metrics": [metric_json(m) for m in c.metrics],
        "explanations": {
            "agreement": [{
                "source": a.source.analysis, "table": a.source.table, "model": a.pair.label,
                "layer": a.layer, "examples": a.examples, "read_differently": a.read_differently,
                "not_comparable": a.reason or None,
                "spearman": a.mean("spearman"), "top_k_overlap": a.mean("top_k_overlap"),
                "top_k": TOP_K,
                "sign_agreement": a.mean("sign_agreement") if a.source.signed else None,
                "most_different": [v.rows[0].example_id for v in a.views],
            } for a in c.agreements],
            "words": [{
                "model": w.pair.label, "shared_words": w.shared,
                "rank_correlation": w.rank_correlation,
                "moved": w.moves.to_dict(orient="records"), "entered_top": w.entered,
                "left_top": w.left,
            } for w in c.words],
            "filters": [{
                "model": f.pair.label, "old_filters": f.old_filters, "new_filters": f.new_filters,
                "matched": len(f.matched), "mean_jaccard": f.mean_jaccard,
                "appeared": f.appeared.to_dict(orient="records"),
                "vanished": f.vanished.to_dict(orient="records"),
                "new_patterns": f.new_patterns(), "vanished_patterns": f.vanished_patterns(),
            } for f in c.filters],
            "units": [{
                "model": u.pair.label, "old_unit": u.old_unit, "new_unit": u.new_unit,
                "same_unit": u.same_unit, "old_zero_shot_accuracy": u.old_zero_shot,
                "new_zero_shot_accuracy": u.new_zero_shot,
                "old_all_units_accuracy": u.old_all_units,
                "new_all_units_accuracy": u.new_all_units,
            } for u in c.units],
        },
        "fail_on": {
            "rules": [r.text for r in c.rules],
            "results": [{"rule": r.rule.text, "model": r.model, "diff": r.diff,
                         "significant": r.significant, "failed": r.failed, "detail": r.detail}
                        for r in c.rule_results],
            "failed": failed, "exit_code": REGRESSION if failed else 0,
        },
        "notes": c.notes,
    }
    return plain(out)
