"""``compare(OLD, NEW)``: the whole model review of two report folders, stage by stage.

Question: what changed between two runs of ``reportgen run``, and is any of it a regression?

Method, in order:

1. read both folders (``reports``) and refuse reports on different data (their
   ``data.fingerprint`` differs) unless ``allow_different_data``: then only the metrics are
   compared, as numbers;
2. match the models by name (``--pair OLD=NEW`` to pair others; two reports of one model each
   are paired whatever the names, which the page says); unmatched models are listed;
3. per model pair: prediction flips and the McNemar input (``flips``), every metric of every
   analysis with paired bootstrap intervals (``metrics``), the agreement of token attributions
   (``attributions``), the words whose saliency rank moved (``words``), matched conv filters
   (``filters``) and the best sweep units (``neurons``);
4. the ``--fail-on`` rules against the metric differences (``rules``).

Outputs: a ``Comparison``, which ``compare_json``, ``markdown`` and ``page`` write out.

Cost: seconds: reading the tables, one bootstrap, one pass over the shared examples' tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from reportgen.errors import BadInput
from reportgen.review.attributions import SOURCES, Agreement, agreements
from reportgen.review.filters import FilterMatch, match_filters
from reportgen.review.flips import FlipSummary, prediction_flips
from reportgen.review.metrics import (
    MetricDiff,
    ModelPair,
    accuracy_diff,
    analysis_diffs,
    run_bootstrap,
)
from reportgen.review.neurons import UnitSummary, unit_summary
from reportgen.review.reports import Report, load_report
from reportgen.review.rules import Rule, RuleResult, check_names, evaluate
from reportgen.review.words import WordMoves, word_moves


@dataclass
class AnalysisStatus:
    name: str
    title: str
    old: str  # ok | skipped | failed | absent
    new: str
    old_reason: str = ""
    new_reason: str = ""


@dataclass
class Comparison:
    old: Report
    new: Report
    same_data: bool
    pairs: list[ModelPair]
    only_old: list[str]
    only_new: list[str]
    pairing: str = ""  # how models were paired, where not by name
    metrics: list[MetricDiff] = field(default_factory=list)
    flips: list[FlipSummary] = field(default_factory=list)
    agreements: list[Agreement] = field(default_factory=list)
    words: list[WordMoves] = field(default_factory=list)
    filters: list[FilterMatch] = field(default_factory=list)
    units: list[UnitSummary] = field(default_factory=list)
    analyses: list[AnalysisStatus] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    rule_results: list[RuleResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    created: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.rule_results if r.failed]

    def headlines(self) -> list[MetricDiff]:
        return [m for m in self.metrics if m.headline and m.model is not None]


def different_data(old: Report, new: Report) -> BadInput:
    def side(name: str, r: Report) -> str:
        d = r.data
        return (f"{name} {r.fingerprint} ({d.get('spec')}, split {d.get('split')}, "
                f"{r.examples:,} examples)")

    return BadInput(
        "OLD and NEW evaluated different data: data fingerprints "
        f"{side('OLD', old)} and {side('NEW', new)}. A paired comparison needs the same examples; "
        "run both on the same --data, --split and --max-examples, or pass --allow-different-data "
        "to compare only the aggregate metrics")


def match_models(old: Report, new: Report, explicit: list[tuple[str, str]]
                 ) -> tuple[list[ModelPair], list[str], list[str], str]:
    """Pairs (explicit ones first, then by name), the unmatched names of each side, and a note."""
    old_names, new_names = list(old.models), list(new.models)
    pairs: list[ModelPair] = []
    for a, b in explicit:
        if a not in old_names:
            raise BadInput(f"--pair {a}={b}: OLD has no model {a!r} (it has "
                           f"{', '.join(old_names) or 'none'})")
        if b not in new_names:
            raise BadInput(f"--pair {a}={b}: NEW has no model {b!r} (it has "
                           f"{', '.join(new_names) or 'none'})")
        pairs.append(ModelPair(a, b))
    used_old, used_new = {p.old for p in pairs}, {p.new for p in pairs}
    pairs += [ModelPair(n, n) for n in old_names
              if n in new_names and n not in used_old and n not in used_new]
    note = ""
    if not pairs and len(old_names) == 1 and len(new_names) == 1:
        pairs = [ModelPair(old_names[0], new_names[0])]
        note = (f"Each report has one model, so {old_names[0]!r} (OLD) is compared with "
                f"{new_names[0]!r} (NEW) although their names differ.")
    used_old, used_new = {p.old for p in pairs}, {p.new for p in pairs}
    return (pairs, [n for n in old_names if n not in used_old],
            [n for n in new_names if n not in used_new], note)


def _statuses(old: Report, new: Report) -> list[AnalysisStatus]:
    names = list(old.analyses()) + [n for n in new.analyses() if n not in old.analyses()]
    out = []
    for name in names:
        a, b = old.analyses().get(name) or {}, new.analyses().get(name) or {}
        out.append(AnalysisStatus(name, str(a.get("title") or b.get("title") or name),
                                  str(a.get("status") or "absent"),
                                  str(b.get("status") or "absent"),
                                  str(a.get("reason") or ""), str(b.get("reason") or "")))
    return out


def _model_predictions(report: Report, model: str):
    frame = report.predictions()
    return None if frame is None else frame[frame["model"] == model]


def compare(old_dir: str | Path, new_dir: str | Path, *, rules: list[Rule] | None = None,
            allow_different_data: bool = False,
            pairs: list[tuple[str, str]] | None = None) -> Comparison:
    """Compare the reports in two folders (see the module docstring)."""
    started = time.perf_counter()
    old, new = load_report(old_dir, "OLD"), load_report(new_dir, "NEW")
    if old.path == new.path:
        raise BadInput(f"OLD and NEW are the same folder ({str(old.path)!r}); give two reports")
    same = old.fingerprint == new.fingerprint
    if not same and not allow_different_data:
        raise different_data(old, new)
    matched, only_old, only_new, note = match_models(old, new, pairs or [])
    result = Comparison(old, new, same, matched, only_old, only_new, note,
                        analyses=_statuses(old, new), rules=list(rules or []),
                        created=datetime.now(UTC).isoformat(timespec="seconds"))
    if not matched:
        result.notes.append("No model of OLD has the name of a model of NEW: nothing is paired "
                            "(pass --pair OLD_NAME=NEW_NAME).")
    if not same:
        result.notes.append(
            f"The reports evaluated different data (fingerprints {old.fingerprint} and "
            f"{new.fingerprint}): only the aggregate metrics are compared, as numbers, with no "
            "interval; predictions, attributions, filters and units are not compared.")
    pending: list = []
    texts = {**new.texts(), **old.texts()} if same else {}
    for pair in matched:
        flips = prediction_flips(old, new, pair, texts) if same else FlipSummary(pair, 0)
        result.flips.append(flips)
        if flips.note:
            result.notes.append(f"{pair.label}: {flips.note}.")
        elif same and flips.examples < min(old.examples, new.examples):
            result.notes.append(
                f"{pair.label}: the reports stored predictions for {flips.examples:,} of the "
                f"{old.examples:,} examples (the run's detail sample, as for a long run): flips "
                "and McNemar's test cover those.")
        row, pend = accuracy_diff(pair, old.models[pair.old], new.models[pair.new],
                                  flips.correct if same else None)
        result.metrics.append(row)
        if pend is not None:
            pending.append(pend)
    for status in result.analyses:
        result.metrics += analysis_diffs(old, new, matched, status.name, paired=same,
                                         pending=pending)
    run_bootstrap(pending, min(old.examples, new.examples))
    if same:
        for pair in matched:
            preds = {"old": _model_predictions(old, pair.old),
                     "new": _model_predictions(new, pair.new)}
            result.agreements += [a for s in SOURCES for a in agreements(old, new, s, pair, preds)]
            result.words += [w for w in [word_moves(old, new, pair)] if w is not None]
            result.filters += [f for f in [match_filters(old, new, pair)] if f is not None]
            result.units += [u for u in [unit_summary(old, new, pair)] if u is not None]
    if result.rules:
        check_names(result.rules, result.metrics)
        result.rule_results = evaluate(result.rules, result.metrics)
    result.seconds = round(time.perf_counter() - started, 3)
    return result
