"""Metric differences: every headline and metric of every analysis, old, new, and whether it moved.

Question: for each model in both reports, which numbers changed by more than resampling the
shared examples would change them?

Method: metrics are matched by analysis, model pair and name (``<model>.<metric>`` in
``report.json``). A metric that is a mean over examples (``per_example``) gets a paired bootstrap
95% interval of ``new - old`` over the examples both runs have a value for (``stats``; one set of
resamples for every metric, so intervals are coherent); the model card's accuracy gets McNemar's
exact test on the discordant examples (and the bootstrap interval beside it). A difference whose
interval holds 0 (accuracy: p >= 0.05) is "no change". A metric that is not a mean over examples
(a count, a spread, a median over filters, a probe-phrase score) is shown with its difference and
no interval: "no change" only when it is equal. With ``--allow-different-data`` nothing is paired:
every metric is compared as a number.

Outputs: ``MetricDiff`` rows (``compare.json``'s ``metrics``).

Cost: one bootstrap over every interval at once (``stats.bootstrap_differences``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reportgen.review import stats
from reportgen.review.per_example import per_example, reader
from reportgen.review.reports import Report

SIGNIFICANCE = 0.05  # McNemar p below this: a change
MODEL_CARD = "model"  # the "analysis" of the model cards' accuracy


@dataclass(frozen=True)
class ModelPair:
    old: str
    new: str

    @property
    def label(self) -> str:
        return self.old if self.old == self.new else f"{self.old} → {self.new}"


@dataclass
class MetricDiff:
    analysis: str  # registry name, or MODEL_CARD for accuracy
    metric: str  # the metric's name without its model
    model: str | None  # the pair's label; None: a value pooled over each report's models
    old: float | None
    new: float | None
    diff: float | None = None
    lo: float | None = None  # 95% interval of the difference
    hi: float | None = None
    p_value: float | None = None  # McNemar's, for accuracy
    verdict: str = "no change"  # no change | higher | lower | changed | only in old | only in new
    method: str = ""  # how the verdict was reached
    examples: int = 0  # examples the interval is over
    headline: bool = False  # the analysis's headline (or accuracy)
    what: str = ""  # what the number is, where the reports' labels say ("of gradient x input")

    @property
    def name(self) -> str:
        """What a ``--fail-on`` rule names: ``accuracy``, ``faithfulness.comprehensiveness``."""
        return self.metric if self.analysis == MODEL_CARD else f"{self.analysis}.{self.metric}"

    @property
    def changed(self) -> bool:
        return self.verdict in ("higher", "lower", "changed")

    @property
    def has_interval(self) -> bool:
        return self.lo is not None and self.hi is not None


def split_key(key: str, models: list[str]) -> tuple[str | None, str]:
    """``kim.v2.top_token_share`` -> (``kim.v2``, ``top_token_share``) when ``kim.v2`` is a model
    of the report (the longest such name); (None, key) for a pooled metric."""
    owners = [m for m in models if key.startswith(f"{m}.")]
    if not owners:
        return None, key
    owner = max(owners, key=len)
    return owner, key[len(owner) + 1:]


def per_model_metrics(report: Report, analysis: str) -> tuple[dict[str, dict[str, float]],
                                                              dict[str, float]]:
    """model -> {metric: value}, and the pooled metrics, of one analysis."""
    per: dict[str, dict[str, float]] = {}
    pooled: dict[str, float] = {}
    models = list(report.models)
    for key, value in report.metrics(analysis).items():
        owner, metric = split_key(key, models)
        if owner is None:
            pooled[metric] = value
        else:
            per.setdefault(owner, {})[metric] = value
    return per, pooled


def _plain(x: object) -> float | None:
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(float(x)) else None


def _verdict(diff: float | None, old: float | None, new: float | None) -> str:
    if old is None and new is None:
        return "no change"
    if old is None:
        return "only in new"
    if new is None:
        return "only in old"
    same = diff == 0 or math.isclose(old, new, rel_tol=0, abs_tol=1e-12)
    return "no change" if same else "changed"


def _what(old: str | None, new: str | None) -> str:
    if old == new:
        return old or ""
    return f"old: {old or 'not said'}; new: {new or 'not said'}"


@dataclass
class _Pending:
    row: MetricDiff
    old: pd.DataFrame
    new: pd.DataFrame
    note: str


def _reproduces(values: pd.DataFrame, reported: float | None) -> bool:
    if reported is None or values.empty or values["den"].sum() <= 0:
        return False
    mean = float(values["num"].sum() / values["den"].sum())
    return math.isclose(mean, reported, rel_tol=1e-4, abs_tol=1e-6)


def analysis_diffs(old: Report, new: Report, pairs: list[ModelPair], analysis: str, *,
                   paired: bool, pending: list[_Pending]) -> list[MetricDiff]:
    """Every metric of one analysis, per pair and pooled; means over examples are queued in
    ``pending`` for the one bootstrap."""
    old_per, old_pooled = per_model_metrics(old, analysis)
    new_per, new_pooled = per_model_metrics(new, analysis)
    headline = ((old.analysis(analysis) or new.analysis(analysis) or {}).get("headline"))
    old_labels = (old.analysis(analysis) or {}).get("labels") or {}
    new_labels = (new.analysis(analysis) or {}).get("labels") or {}
    rows: list[MetricDiff] = []
    for pair in pairs:
        o, n = old_per.get(pair.old, {}), new_per.get(pair.new, {})
        for metric in list(o) + [m for m in n if m not in o]:
            ov, nv = _plain(o.get(metric)), _plain(n.get(metric))
            diff = None if ov is None or nv is None else nv - ov
            row = MetricDiff(analysis, metric, pair.label, ov, nv, diff,
                             verdict=_verdict(diff, ov, nv),
                             headline=metric == headline)
            row.what = _what(old_labels.get(f"{pair.old}.{metric}"),
                             new_labels.get(f"{pair.new}.{metric}"))
            rows.append(row)
            if diff is None:
                row.method = "in one report only"
                continue
            values = (per_example(old, analysis, pair.old, metric),
                      per_example(new, analysis, pair.new, metric)) if paired else (None, None)
            if values[0] is None or values[1] is None:
                row.method = ("different data: compared as numbers, no interval" if not paired
                              else "no interval: not a mean over examples" if
                              reader(analysis, metric) is None else
                              "no interval: its per-example values are not in both report folders")
                continue
            covers = min(len(values[0]), len(values[1]))
            full = covers >= min(old.examples, new.examples)
            if full and not (_reproduces(values[0], ov) and _reproduces(values[1], nv)):
                row.method = "no interval: its per-example values do not reproduce it"
                continue
            note = "" if full else f" (the run's detail sample: {covers:,} of {old.examples:,})"
            pending.append(_Pending(row, values[0], values[1], note))
    for metric in list(old_pooled) + [m for m in new_pooled if m not in old_pooled]:
        ov, nv = _plain(old_pooled.get(metric)), _plain(new_pooled.get(metric))
        diff = None if ov is None or nv is None else nv - ov
        rows.append(MetricDiff(analysis, metric, None, ov, nv, diff, verdict=_verdict(diff, ov, nv),
                               method="pooled over each report's models: no interval"))
    return rows


def accuracy_diff(pair: ModelPair, old_card: dict, new_card: dict,
                  correct: pd.DataFrame | None) -> tuple[MetricDiff, _Pending | None]:
    """The model card's accuracy; ``correct``: ``example_id, old, new`` (1 = right) over the
    labelled shared examples, or None (then no test)."""
    ov, nv = _plain(old_card.get("accuracy")), _plain(new_card.get("accuracy"))
    diff = None if ov is None or nv is None else nv - ov
    row = MetricDiff(MODEL_CARD, "accuracy", pair.label, ov, nv, diff,
                     verdict=_verdict(diff, ov, nv),
                     headline=True)
    if diff is None or correct is None or correct.empty:
        row.method = "no test: the per-example predictions are not in both report folders" \
            if diff is not None else "in one report only"
        return row, None
    b = int(((correct["old"] == 1) & (correct["new"] == 0)).sum())
    c = int(((correct["old"] == 0) & (correct["new"] == 1)).sum())
    row.p_value = stats.mcnemar_exact(b, c)
    row.method = (f"McNemar's exact test on {b + c:,} discordant of {len(correct):,} labelled "
                  f"examples ({b:,} only the old run got right, {c:,} only the new one), "
                  f"p = {row.p_value:.3g}")
    row.examples = len(correct)
    if row.p_value >= SIGNIFICANCE:
        row.verdict = "no change"
    else:
        row.verdict = "higher" if c > b else "lower"
    ids = correct["example_id"].to_numpy()
    ones = np.ones(len(ids))
    old = pd.DataFrame({"example_id": ids, "num": correct["old"].to_numpy(float), "den": ones})
    new = pd.DataFrame({"example_id": ids, "num": correct["new"].to_numpy(float), "den": ones})
    return row, _Pending(row, old, new, "")


def run_bootstrap(pending: list[_Pending], examples: int) -> None:
    """Fill in every pending row's interval and verdict, from one set of resamples over the
    ``examples`` evaluated examples."""
    if not pending:
        return
    n, m = examples, len(pending)
    arrays = [np.zeros((n, m)) for _ in range(4)]
    counts = []
    for j, p in enumerate(pending):
        o = p.old.set_index("example_id")
        w = p.new.set_index("example_id")
        shared = o.index.intersection(w.index)
        shared = shared[(shared >= 0) & (shared < n)]
        counts.append(len(shared))
        for arr, frame, col in ((arrays[0], o, "num"), (arrays[1], o, "den"),
                                (arrays[2], w, "num"), (arrays[3], w, "den")):
            arr[shared.to_numpy(dtype=np.int64), j] = frame.loc[shared, col].to_numpy(dtype=float)
    lo, hi = stats.percentile_interval(stats.bootstrap_differences(*arrays))
    for j, p in enumerate(pending):
        row = p.row
        row.lo, row.hi = _plain(lo[j]), _plain(hi[j])
        if row.analysis == MODEL_CARD:  # McNemar decided; the interval is shown beside it
            continue
        row.examples = counts[j]
        if row.lo is None or row.hi is None:
            row.method = "no interval: no example has a value in both reports"
            continue
        row.method = f"paired bootstrap over {counts[j]:,} shared examples{p.note}"
        if stats.contains_zero(row.lo, row.hi) or row.diff == 0:
            row.verdict = "no change"
        else:
            row.verdict = "higher" if row.lo > 0 else "lower"
