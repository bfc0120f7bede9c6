"""``summary.md``: a short Markdown summary of a run, to paste into a pull-request comment.

Two tables, models and analyses, with each analysis's headline metric (or why it was skipped or
failed). Every string that comes from the run (names, specs, reasons) is escaped, so it shows as
text on GitHub: no HTML, no Markdown markup, no broken table, no @-mention.
"""

from __future__ import annotations

import re

from reportgen.site.record import AnalysisRecord, RunRecord
from reportgen.site.templating import format_number, format_percent, format_seconds

_PUNCTUATION = re.compile(r"([\\`*_{}\[\]|~])")  # special in a table cell; braces for templaters


def md_escape(text: object, max_chars: int = 160) -> str:
    """``text`` as literal Markdown table-cell text, on one line, at most ``max_chars`` long."""
    s = " ".join(str(text).split())
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


def summary_markdown(record: RunRecord) -> str:
    d = record.data
    facts = (
        f"Data {md_escape(d.spec)} ({md_escape(d.split)}): {d.examples:,} examples, "
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
        lines.append(
            f"| {md_escape(m.name)} | {md_escape(m.arch)} | {m.parameters:,} "
            f"| {format_percent(m.accuracy)} |"
        )
    lines += ["", "| Analysis | Status | Headline | Time |", "|---|---|---|---:|"]
    for a in record.analyses:
        if a.status == "ok":
            name, value = headline(a)
            shown = f"{md_escape(name)} = {format_number(value)}" if name else ""
        else:
            shown = md_escape(a.reason or "no reason given")
        lines.append(
            f"| {md_escape(a.name)} | {md_escape(a.status)} | {shown} | {format_seconds(a.seconds)} |"
        )
    lines.append("")
    return "\n".join(lines)
