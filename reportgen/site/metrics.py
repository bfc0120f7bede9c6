"""Metric names and values as a reader sees them, on the pages and in ``summary.md``.

An analysis's metrics hold overall values (``top_token_share``) and per-model ones
(``<model>.top_token_share``, the model name as the run gives it: ``kim-sst2``, hyphens and all).
``split_metric`` splits a key into its model and metric, ``metric_label`` makes the metric
readable ("top token share"), and ``AnalysisRecord.baselines`` pairs a metric with the one a reader
compares it with (``top_token_share`` -> ``uniform_top_token_share``, shown as "uniform: 23.7%").
Values go through the site's one number format, ``templating.format_value``. Also the model
card's warning when evaluated texts were in the model's training data (``overlap_warning``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reportgen.records import AnalysisRecord, ModelCard
from reportgen.site.templating import format_value

OVERALL = "all models"  # the model column of an overall metric


def split_metric(key: str, models: Sequence[str] = ()) -> tuple[str | None, str]:
    """``"kim-sst2.top_token_share"`` -> ``("kim-sst2", "top_token_share")``; an overall metric ->
    ``(None, name)``. A known model name (``models``, longest first) wins, so model names with dots
    split right; otherwise the model is everything before the last dot."""
    key = str(key)
    for model in sorted(models, key=len, reverse=True):
        if key.startswith(f"{model}.") and len(key) > len(model) + 1:
            return model, key[len(model) + 1 :]
    model, dot, metric = key.rpartition(".")
    if dot and model and metric:
        return model, metric
    return None, key


def metric_label(metric: str) -> str:
    """A metric's readable name: ``top_token_share`` -> "top token share" (no model in it)."""
    return str(metric).replace("_", " ").strip() or str(metric)


def baseline_label(metric: str, baseline: str) -> str:
    """What a baseline is, next to its metric: ``uniform_top_token_share`` for ``top_token_share``
    -> "uniform"; ``random_comprehensiveness`` for ``comprehensiveness`` -> "random"."""
    if baseline.endswith(f"_{metric}") and len(baseline) > len(metric) + 1:
        return metric_label(baseline[: -len(metric) - 1])
    if baseline.startswith(f"{metric}_") and len(baseline) > len(metric) + 1:
        return metric_label(baseline[len(metric) + 1 :])
    # otherwise the words the baseline adds to the metric's: "uniform" for uniform_location_share
    # beside top_location_share, "random words" for random_words_rate beside matching_rate
    own = set(metric.split("_"))
    extra = [w for w in baseline.split("_") if w not in own]
    return " ".join(extra) if extra else metric_label(baseline)


@dataclass
class MetricView:
    """One metric as shown: its model (None: overall), readable label, formatted value, and its
    baseline's label and formatted value (empty without a baseline)."""

    key: str  # the metric's key in ``AnalysisRecord.metrics``
    model: str | None
    metric: str  # the metric's name without the model
    label: str
    value: str
    raw: float | None
    baseline_key: str = ""
    baseline_label: str = ""
    baseline_value: str = ""
    # the headline against its baseline when the analysis gave 95% intervals
    # (``<metric>_ci_low``/``_ci_high``): "not distinguishable from random", "below random", ...
    verdict: str = ""
    interval: str = ""  # "95% CI 0.41-0.47", or ""

    @property
    def model_label(self) -> str:
        return self.model if self.model is not None else OVERALL

    @property
    def baseline_text(self) -> str:
        """'uniform: 23.7%', or '' without a baseline."""
        return f"{self.baseline_label}: {self.baseline_value}" if self.baseline_key else ""


def metric_view(a: AnalysisRecord, key: str, models: Sequence[str] = ()) -> MetricView:
    model, metric = split_metric(key, models)
    value = a.metrics.get(key)
    view = MetricView(
        key=key,
        model=model,
        metric=metric,
        label=a.labels.get(key) or metric_label(metric),
        value=format_value(value, metric),
        raw=value,
    )
    baseline = a.baselines.get(metric)
    if baseline:
        baseline_key = f"{model}.{baseline}" if model is not None else baseline
        if baseline_key in a.metrics:
            view.baseline_key = baseline_key
            view.baseline_label = baseline_label(metric, baseline)
            view.baseline_value = format_value(a.metrics[baseline_key], baseline)
            view.verdict = verdict(a.metrics, key, baseline_key, view.baseline_label)
    low, high = a.metrics.get(f"{key}_ci_low"), a.metrics.get(f"{key}_ci_high")
    if low is not None and high is not None:
        view.interval = f"95% CI {format_value(low, metric)} to {format_value(high, metric)}"
    return view


def verdict(metrics: dict[str, float], key: str, baseline_key: str, label: str) -> str:
    """How a metric stands against its baseline, from their 95% intervals (a baseline without an
    interval is a point): "" without an interval, "not distinguishable from <label>" when they
    overlap, else "above <label>" or "below <label>"."""
    low, high = metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high")
    if low is None or high is None or baseline_key not in metrics:
        return ""
    base = metrics[baseline_key]
    b_low = metrics.get(f"{baseline_key}_ci_low", base)
    b_high = metrics.get(f"{baseline_key}_ci_high", base)
    if high < b_low:
        return f"below {label}"
    if low > b_high:
        return f"above {label}"
    return f"not distinguishable from {label}"


def headline_name(a: AnalysisRecord, models: Sequence[str] = ()) -> str:
    """The headline metric's name (no model): the declared one when the metrics hold it overall or
    for some model, else the first metric's."""
    if a.headline:
        if a.headline in a.metrics:
            return a.headline
        if any(split_metric(k, models)[1] == a.headline for k in a.metrics):
            return a.headline
    for key in a.metrics:
        return split_metric(key, models)[1]
    return ""


def headline_rows(
    a: AnalysisRecord, models: Sequence[str] = ()
) -> tuple[MetricView | None, list[MetricView]]:
    """The headline, per model first: one row per model that has it, in the models' order, each with
    its baseline; an overall value only when no model has its own (a value pooled over models is
    never a headline: it hides a model that behaves otherwise)."""
    name = headline_name(a, models)
    if not name:
        return None, []
    per_model: list[MetricView] = []
    for key in a.metrics:
        model, metric = split_metric(key, models)
        if model is not None and metric == name:
            per_model.append(metric_view(a, key, models))
    order = {m: i for i, m in enumerate(models)}
    per_model.sort(key=lambda v: order.get(v.model or "", len(order)))  # stable otherwise
    overall = metric_view(a, name, models) if name in a.metrics and not per_model else None
    for view in ([overall] if overall else per_model):
        view.label = a.labels.get(view.key) or headline_label(a, view.metric)
    return overall, per_model


def headline_label(a: AnalysisRecord, metric: str) -> str:
    """The headline's name as a reader needs it: the analysis's label naming its method, else the
    metric's readable name."""
    return a.headline_label or metric_label(metric)


def per_model_label(a: AnalysisRecord, per_model: Sequence[MetricView]) -> str:
    """One name for a headline shown per model (an index card's, ``summary.md``'s, the terminal
    summary's): the models' own label when they share one, else the analysis's label naming its
    method (the models' labels differ when a model's headline is computed otherwise: an unbounded
    unit's threshold, the best method of each model)."""
    if not per_model:
        return a.headline_label
    labels = {v.label for v in per_model}
    if len(labels) == 1:
        return per_model[0].label
    return a.headline_label or metric_label(per_model[0].metric)


def metric_views(a: AnalysisRecord, models: Sequence[str] = ()) -> list[MetricView]:
    """Every metric of ``a`` once: the headline (overall, then per model) first, then the rest as
    given; a baseline shown beside its metric gets no row of its own."""
    overall, per_model = headline_rows(a, models)
    first = ([overall] if overall else []) + per_model
    rest = [metric_view(a, k, models) for k in a.metrics if k not in {v.key for v in first}]
    views = first + rest
    paired = {v.baseline_key for v in views if v.baseline_key}
    return [v for v in views if v.key not in paired]


def overlap_warning(card: ModelCard, evaluated: int) -> str:
    """'N of M evaluated texts (x%) were in this model's training data...', or '' when none were."""
    count, share = card.overlap_count, card.overlap
    if not ((count or 0) > 0 or (share or 0) > 0):
        return ""
    if count is None:
        count = round((share or 0.0) * evaluated)
    if share is None:
        share = count / evaluated if evaluated else None
    return (
        f"{format_value(count)} of {format_value(evaluated)} evaluated texts "
        f"({format_value(share, percent=True)}) were in this model's training data: accuracy on "
        "them is not a test accuracy"
    )
