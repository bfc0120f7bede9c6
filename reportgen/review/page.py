"""``compare.html``: the review as one page in the report's style, offline.

Question: what does a reviewer read, top to bottom?

Method: the ``Comparison`` turned into display-ready pieces (formatted numbers, verdicts, token
views, chart specs; every string from the reports left plain for the template to escape and mark,
``site.visible``), rendered with the report's own Jinja environment (autoescape on) from
``templates/compare.html``: the reports and their data, the ``--fail-on`` results, the headline
deltas, flipped predictions, every metric by analysis, then the explanations (attribution
agreement with the most disagreeing texts side by side, the words' rank bump chart, matched
filters, best units with both sweep curves). Charts carry their spec and data inline; the page
loads ``assets/vega.js`` and ``assets/style.css`` from its own folder, nothing from the network.

Outputs: ``render_page(comparison) -> (html, has_charts)``.

Cost: rendering one page; the charts are small (tens of rows).
"""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from reportgen import __version__
from reportgen.records import ChartSpec
from reportgen.review import charts, filters, stats
from reportgen.review import formatting as f
from reportgen.review.attributions import TOP_K
from reportgen.review.compare import Comparison
from reportgen.review.metrics import MetricDiff
from reportgen.review.reports import Report
from reportgen.review.rules import REGRESSION
from reportgen.review.words import TOP
from reportgen.site.charts import PreparedChart, prepare_chart
from reportgen.site.templating import format_seconds, make_environment, read_static
from reportgen.site.tokens import prepare_token_view

FLIPS_SHOWN = 25  # flips listed per model pair on the page


class _Charts:
    def __init__(self) -> None:
        self.prepared: list[PreparedChart] = []

    def add(self, chart: ChartSpec) -> PreparedChart:
        prepared = prepare_chart(chart, f"chart-{len(self.prepared) + 1}")
        self.prepared.append(prepared)
        return prepared


def _css(m: MetricDiff) -> str:
    return {"no change": "no", "higher": "higher", "lower": "lower", "changed": "changed"}.get(
        m.verdict, "only")


def metric_row(m: MetricDiff, titles: dict[str, str] | None = None) -> dict:
    """One table row; ``titles`` (analysis -> title) puts the analysis before the metric."""
    label = "accuracy" if m.analysis == "model" else f.metric_label(m)
    if titles is not None and m.analysis != "model":
        label = f"{titles.get(m.analysis, m.analysis)}: {label}"
    return {"model": m.model if m.model is not None else "pooled", "label": label,
            "name": m.name, "old": f.value(m, "old"), "new": f.value(m, "new"),
            "delta": f.delta(m), "raw": f.raw_delta(m), "interval": f.interval(m),
            "verdict": m.verdict, "css": _css(m), "method": m.method, "what": m.what}


def _side(r: Report, which: str) -> dict:
    return {"which": which, "name": r.path.name, "dir": str(r.path), "created": r.created,
            "models": list(r.models), "spec": str(r.data.get("spec")),
            "examples": f"{r.examples:,}", "fingerprint": r.fingerprint}


def _flips(c: Comparison, made: _Charts) -> tuple[list[dict], list[PreparedChart]]:
    out, counts = [], []
    for s in c.flips:
        for kind, n in s.by_kind().items():
            if n:
                counts.append({"model": s.pair.label, "kind": kind, "examples": n})
        rows = [{
            "example_id": x.example_id, "kind": x.kind, "label": x.label or "–",
            "old_predicted": x.old_predicted, "new_predicted": x.new_predicted,
            "old_p": f.probability(x.old_p_old), "new_p": f.probability(x.new_p_new),
            "moved": f"{f.probability(x.old_p_new)} → {f.probability(x.new_p_new)}",
            "text": x.text,
        } for x in s.flips[:FLIPS_SHOWN]]
        out.append({"label": s.pair.label, "count": f"{s.count:,}", "examples": f"{s.examples:,}",
                    "note": s.note, "rows": rows, "more": max(0, s.count - FLIPS_SHOWN),
                    "ways": [{"direction": k, "count": f"{v:,}"} for k, v in
                             s.by_direction().items()]})
    chart = [made.add(charts.flips_chart(pd.DataFrame(counts), "flips", "Flipped predictions"))] \
        if counts else []
    return out, chart


def _metric_groups(c: Comparison) -> list[dict]:
    groups = []
    accuracy = [metric_row(m) for m in c.metrics if m.analysis == "model"]
    if accuracy:
        groups.append({"title": "Model cards", "status": "", "rows": accuracy})
    for a in c.analyses:
        rows = [metric_row(m) for m in c.metrics if m.analysis == a.name]
        status = ""
        if a.old != "ok" or a.new != "ok":
            status = f"OLD: {a.old}{': ' + a.old_reason if a.old_reason else ''}; " \
                     f"NEW: {a.new}{': ' + a.new_reason if a.new_reason else ''}"
        if rows or status:
            groups.append({"title": a.title, "status": status, "rows": rows})
    return groups


def _explanations(c: Comparison, made: _Charts) -> dict:
    agreements = [{
        "model": a.pair.label, "title": a.title, "examples": f"{a.examples:,}",
        "spearman": f.number(a.mean("spearman")), "overlap": f.rate(a.mean("top_k_overlap")),
        "sign": f.rate(a.mean("sign_agreement")) if a.source.signed else "n/a (unsigned)",
        "differently": f"{a.read_differently:,}" + (
            "" if a.examples else f" (not comparable: {a.reason})" if a.reason
            else " (all: not comparable)"),
        "views": [prepare_token_view(v) for v in a.views],
    } for a in c.agreements]
    frames = [a.rows.assign(model=a.pair.label) for a in c.agreements
              if a.source.analysis == "saliency" and not a.rows.empty]
    agreement_charts = [made.add(charts.agreement_chart(
        pd.concat(frames, ignore_index=True), "agreement",
        "Per example: rank correlation of old and new saliency"))] if frames else []
    words = [{
        "model": w.pair.label, "rho": f.number(w.rank_correlation), "shared": f"{w.shared:,}",
        "entered": w.entered, "left": w.left,
        "chart": made.add(charts.bump_chart(w.moves, f"bump-{i}", f"{w.pair.label}: rank moves"))
        if len(w.moves) else None,
    } for i, w in enumerate(c.words)]
    filter_views = []
    for m in c.filters:
        old_n, new_n = dict(zip(m.patterns["pattern"], m.patterns["old_filters"], strict=True)), \
            dict(zip(m.patterns["pattern"], m.patterns["new_filters"], strict=True))
        patterns = [{"pattern": p, "old": old_n[p], "new": new_n[p],
                     "note": "new" if not old_n[p] else "vanished" if not new_n[p] else ""}
                    for p in list(m.patterns["pattern"])[: filters.SHOWN * 2]]
        head = ["layer", "filter", "top n-grams"]
        filter_views.append({
            "model": m.pair.label, "matched": f"{len(m.matched):,}",
            "old_filters": f"{m.old_filters:,}", "new_filters": f"{m.new_filters:,}",
            "mean": f.number(m.mean_jaccard), "appeared_count": f"{len(m.appeared):,}",
            "vanished_count": f"{len(m.vanished):,}", "patterns": patterns,
            "tables": [
                {"title": "New filters (no old filter detects the same words)", "head": head,
                 "rows": [[r.layer, str(r.filter), r.top] for r in
                          m.appeared.head(filters.SHOWN).itertuples()]},
                {"title": "Vanished filters (no new filter detects the same words)", "head": head,
                 "rows": [[r.layer, str(r.filter), r.top] for r in
                          m.vanished.head(filters.SHOWN).itertuples()]},
                {"title": "Matched filters that changed most (lowest Jaccard)",
                 "head": ["old filter", "new filter", "Jaccard", "old top n-grams",
                          "new top n-grams"],
                 "rows": [[f"{r.old_layer} #{r.old_filter}", f"{r.new_layer} #{r.new_filter}",
                           f"{r.jaccard:.2f}", r.old_top, r.new_top]
                          for r in m.matched.iloc[::-1].head(filters.SHOWN).itertuples()]},
            ]})
    units = [{
        "model": u.pair.label, "old_unit": "–" if u.old_unit is None else u.old_unit,
        "new_unit": "–" if u.new_unit is None else u.new_unit,
        "old_zero": f.rate(u.old_zero_shot), "new_zero": f.rate(u.new_zero_shot),
        "old_all": f.rate(u.old_all_units), "new_all": f.rate(u.new_all_units),
        "same": {True: "The same unit index in both.", False: "Another unit index.",
                 None: "Unit indices are not comparable (different layers)."}[u.same_unit],
        "chart": made.add(charts.sweep_chart(u.sweep, f"sweep-{i}", f"{u.pair.label}: sweep of "
                                             "each run's best unit")) if len(u.sweep) else None,
    } for i, u in enumerate(c.units)]
    return {"agreements": agreements, "agreement_charts": agreement_charts, "words": words,
            "filters": filter_views, "units": units, "top_words": TOP, "match": filters.MATCH,
            "top_k": TOP_K}


def page_context(c: Comparison) -> tuple[dict, bool]:
    made = _Charts()
    flips, flip_charts = _flips(c, made) if c.same_data else ([], [])
    explanations = _explanations(c, made)
    rules = [{"rule": r.rule.text, "model": r.model, "diff": f.signed(r.diff, False),
              "significant": "yes" if r.significant else "no", "failed": r.failed,
              "detail": r.detail} for r in c.rule_results]
    sections = [("headlines", "Headline deltas"), ("predictions", "Predictions"),
                ("metrics", "Every metric"), ("explanations", "Explanations")]
    if c.rules:
        sections.insert(0, ("fail-on", "--fail-on"))
    if not flips:
        sections = [s for s in sections if s[0] != "predictions"]
    if not any(explanations[k] for k in ("agreements", "words", "filters", "units")):
        sections = [s for s in sections if s[0] != "explanations"]
    notes = ([c.pairing] if c.pairing else []) + list(c.notes)
    if c.only_old or c.only_new:
        notes.append("Unmatched models: only in OLD: " + (", ".join(c.only_old) or "none")
                     + "; only in NEW: " + (", ".join(c.only_new) or "none") + ".")
    ctx = {
        "version": __version__, "created": c.created, "seconds": format_seconds(c.seconds),
        "old": _side(c.old, "OLD"), "new": _side(c.new, "NEW"), "same_data": c.same_data,
        "pairs": c.pairs, "examples": f"{c.new.examples:,}", "spec": str(c.new.data.get("spec")),
        "split": str(c.new.data.get("split")), "fingerprint": c.new.fingerprint, "notes": notes,
        "rules": rules, "failed": len(c.failed), "exit_code": REGRESSION,
        "headlines": [metric_row(m, {a.name: a.title for a in c.analyses})
                      for m in c.headlines()],
        "flips": flips, "flip_charts": flip_charts, "metric_groups": _metric_groups(c),
        "bootstrap": f"{stats.SAMPLES:,} resamples, seed {stats.SEED}",
        "sections": [{"id": i, "title": t} for i, t in sections], **explanations,
    }
    return ctx, bool(made.prepared)


def render_page(c: Comparison) -> tuple[str, bool]:
    env = make_environment()
    ctx, has_charts = page_context(c)
    html = env.get_template("compare.html").render(
        **ctx, has_charts=has_charts, render_js=Markup(read_static(env, "render.js")))
    return html, has_charts
