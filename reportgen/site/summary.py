"""``summary.md``: a short Markdown summary of a run, to paste into a pull-request comment.

Two tables, models and analyses, with each analysis's headline metric overall and per model,
beside its baseline (or why it was skipped or failed), and where each model's accuracy comes from.
Numbers use the site's one format (``templating.format_value``). Every string that comes from the
run (names, specs, reasons) is escaped, so it shows as text on GitHub: no HTML, no Markdown markup,
no broken table, no @-mention, no hidden or direction-changing character (``visible_text``).
"""

from __future__ import annotations

import re

from reportgen.records import AnalysisRecord, ModelCard, RunRecord
from reportgen.site.metrics import MetricView, headline_rows, overlap_warning, per_model_label
from reportgen.site.templating import format_seconds, format_value
from reportgen.site.visible import visible_text

_PUNCTUATION = re.compile(r"([\\`*_{}\[\]|~])")  # special in a table cell; braces for templaters


def md_escape(text: object, max_chars: int = 160) -> str:
    """``text`` as literal Markdown table-cell text, on one line, at most ``max_chars`` long."""
    s = " ".join(visible_text(text).split())
    if len(s) > max_chars:
        s = s[: max_chars - 1] + "…"
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _PUNCTUATION.sub(r"\\\1", s)
    return s.replace("@", "@\u200b")  # no mentions


def headline(analysis: AnalysisRecord) -> tuple[str, float | None]:
    """The metric shown first for an analysis: its declared headline, else its first metric."""
    if analysis.headline and analysis.headline in analysis.metrics:
        return analysis.headline, analysis.metrics[analysis.headline]
    for name, value in analysis.metrics.items():
        return name, value
    return "", None


def _metric(view: MetricView) -> str:
    shown = f"{md_escape(view.label)} = {view.value}"
    if view.interval:
        shown += f" ({md_escape(view.interval)})"
    if view.baseline_key:
        shown += f" ({md_escape(view.baseline_text)})"
    return f"{shown}, **{md_escape(view.verdict)}**" if view.verdict else shown


def _provenance(m: ModelCard, evaluated: int) -> str:
    """Where a model's numbers come from, one line (empty when the record does not say)."""
    parts = []
    if not m.labelled:
        where = f" in {md_escape(m.evaluated_on, 300)}" if m.evaluated_on else ""
        parts.append(f"no labels{where}")
    elif m.evaluated_on and m.accuracy is None:
        parts.append(f"evaluated on {md_escape(m.evaluated_on, 300)}")
    elif m.evaluated_on:
        accuracy = format_value(m.accuracy, percent=True)
        where = md_escape(m.evaluated_on, 300)
        parts.append(f"{md_escape(m.accuracy_metric)} {accuracy} on {where}")
    if m.trained_on:
        parts.append(f"trained on {md_escape(m.trained_on, 300)}")
    warning = overlap_warning(m, evaluated)
    if warning:
        parts.append(f"**warning**: {md_escape(warning, 300)}")
    return f"- {md_escape(m.name)}: " + "; ".join(parts) if parts else ""


def summary_markdown(record: RunRecord) -> str:
    d = record.data
    labelled = d.labelled or sum(d.class_counts.values())
    some = f" ({format_value(labelled)} labelled)" if labelled < d.examples else ""
    facts = (
        f"Data {md_escape(d.spec)} ({md_escape(d.split)}): "
        f"{format_value(d.examples)} examples{some}, "
        f"{len(d.classes)} classes. Seed {record.seed}, device {md_escape(record.device)}, "
        f"reportgen {md_escape(record.reportgen_version)}, {format_seconds(record.total_seconds)}."
    )
    lines = [
        "### reportgen report",
        "",
        facts,
        "",
        "| Model | Architecture | Parameters | Accuracy |",
        "|---|---|---:|---:|",
    ]
    for m in record.models:
        accuracy = format_value(m.accuracy, percent=True) if m.labelled else "no labels"
        lines.append(
            f"| {md_escape(m.name)} | {md_escape(m.arch)} | {format_value(m.parameters)} "
            f"| {accuracy} |"
        )
    provenance = [line for m in record.models if (line := _provenance(m, d.examples))]
    if provenance:
        lines += ["", *provenance]
    lines += ["", "| Analysis | Status | Headline | Time |", "|---|---|---|---:|"]
    models = [m.name for m in record.models]
    for a in record.analyses:
        per_model: list[MetricView] = []
        if a.status == "ok":
            overall, per_model = headline_rows(a, models)
            if overall is not None:
                shown = _metric(overall)
            elif per_model:
                reference = f" ({md_escape(a.reference)})" if a.reference else ""
                label = per_model_label(a, per_model)
                shown = f"{md_escape(label)}{reference}, per model:"
            else:
                shown = ""
        else:
            shown = md_escape(a.reason or "no reason given")
        lines.append(
            f"| {md_escape(a.name)} | {md_escape(a.status)} | {shown} | "
            f"{format_seconds(a.seconds)} |"
        )
        for view in per_model:
            lines.append(f"| ↳ {md_escape(view.model_label)} | | {_metric(view)} | |")
    lines.append("")
    return "\n".join(lines)
