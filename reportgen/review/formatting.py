"""How the review writes numbers and verdicts, the same in compare.html and compare.md.

Question: how should "0.412 -> 0.405" read so a reviewer sees at once whether to worry?

Method: values in the report's one number format (``site.templating.format_value``: shares and
accuracies as percentages); a difference of a share in percentage points with its sign
(``+1.2 pts``), any other with three significant digits and its sign; the 95% interval in the
same unit; a difference whose interval holds zero is written "no change", never as a number to
worry about.

Outputs: strings.
"""

from __future__ import annotations

import math

from reportgen.review.metrics import MetricDiff
from reportgen.site.templating import format_value, is_percent_metric

MINUS = "−"


def is_share(m: MetricDiff) -> bool:
    return is_percent_metric(m.metric)


def value(m: MetricDiff, which: str) -> str:
    return format_value(m.old if which == "old" else m.new, m.metric)


def signed(x: float | None, share: bool) -> str:
    """``+1.2 pts`` (a share), ``-0.0312`` (anything else); ``0`` / ``0.0 pts`` for none."""
    if x is None or not math.isfinite(x):
        return "–"
    text = f"{abs(x) * 100:.1f} pts" if share else (
        f"{abs(x):,.0f}" if abs(x) >= 1000 else f"{abs(x):.3g}")
    if x == 0 or text == "0.0 pts":
        return text if share else "0"
    return f"{'+' if x > 0 else MINUS}{text}"


def delta(m: MetricDiff) -> str:
    """The difference as shown: "no change" when it is none, else signed."""
    if m.diff is None:
        return "–"
    if m.verdict == "no change":
        return "no change"
    return signed(m.diff, is_share(m))


def raw_delta(m: MetricDiff) -> str:
    return signed(m.diff, is_share(m))


def interval(m: MetricDiff) -> str:
    if not m.has_interval:
        return ""
    share = is_share(m)
    return f"[{signed(m.lo, share)}, {signed(m.hi, share)}]"


def verdict(m: MetricDiff) -> str:
    """``lower (p = 0.0013)``, ``higher``, ``no change``, ``changed (no interval)``."""
    text = m.verdict
    if m.verdict == "changed":
        text = "changed (no interval)"
    if m.p_value is not None:
        text += f" (McNemar p = {m.p_value:.2g})"
    return text


def metric_label(m: MetricDiff) -> str:
    return m.metric.replace("_", " ")


def rate(x: float | None) -> str:
    return "–" if x is None else format_value(x, percent=True)


def number(x: float | None) -> str:
    return "–" if x is None else format_value(x, digits=3)


def probability(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.2f}"
