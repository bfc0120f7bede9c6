"""Which metrics are means over examples, and their per-example values, read from a report's tables.

Question: a paired interval needs each metric's value per evaluated example. Which metrics have
one, and where in the report folder is it?

Method: one reader per (analysis, metric), each returning a frame ``example_id, num, den`` from
the analysis's tables for one model, such that ``sum(num) / sum(den)`` over the examples is the
metric (``den`` is 1 for a mean over examples; for a mean over a text's problems or locations it
counts them, so resampling examples keeps each text's rows together):

- ``saliency``: ``top_token_share`` (``texts.top_share``), ``uniform_top_token_share``
  (1 / ``texts.words``), ``normalised_entropy`` (``entropy / log(words)``, texts of 2+ words):
  every evaluated example;
- ``variance_salience``: ``top_token_share`` and its uniform baseline, from ``tokens`` (the largest
  share per text, special tokens aside): the run's detail sample;
- ``hidden_saliency``: ``top_location_share`` (the top location's share of the positive scores)
  and ``uniform_location_share``, from ``scores``: the detail sample;
- ``optimization``: ``mean_activation_cosine``, ``mean_activation_match``, ``converged_share`` over
  ``problems`` (one per top location of a text);
- ``matching_rate``: ``matching_rate``, ``random_words_rate``, ``salient_words_rate`` from
  ``matches`` (the new text's prediction equals the original's);
- ``faithfulness``: ``<method>_comprehensiveness`` / ``_sufficiency`` from ``texts``, and the
  headline ``comprehensiveness`` / ``sufficiency`` from the rows of the method the metric's label
  names ("comprehensiveness of integrated gradients": each model's best method; saliency's in
  reports from before labels). A text's rows of one method (the random orders) are averaged.

Everything else (counts, spreads, medians over filters, probe phrases, accuracies of probes fitted
on the training split) is not a mean over the evaluated examples: it is compared without an
interval. ``metrics.py`` checks every reader against the reported number where the table covers
every example, and drops the interval of one that does not reproduce it.

Outputs: ``per_example(report, analysis, model, metric)`` -> frame or None.

Cost: a group-by over one table per metric.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from reportgen.review.reports import Report

Reader = Callable[[pd.DataFrame], pd.DataFrame]
COLUMNS = ["example_id", "num", "den"]


def _frame(ids: pd.Series | np.ndarray, num: pd.Series | np.ndarray,
           den: pd.Series | np.ndarray | float = 1.0) -> pd.DataFrame:
    frame = pd.DataFrame({"example_id": np.asarray(ids, dtype=np.int64),
                          "num": np.asarray(num, dtype=np.float64)})
    frame["den"] = np.asarray(den, dtype=np.float64) if not np.isscalar(den) else float(den)
    return frame[np.isfinite(frame["num"]) & (frame["den"] > 0)]


def _per_text_sum(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """A mean over rows (problems, locations) clustered by text: per example, the sum and count."""
    values = pd.to_numeric(rows[column], errors="coerce").astype(np.float64)
    grouped = rows.assign(v=values).groupby("example_id", sort=True)["v"].agg(["sum", "count"])
    return _frame(grouped.index.to_numpy(), grouped["sum"].to_numpy(), grouped["count"].to_numpy())


def _saliency_texts(column: str) -> Reader:
    def read(t: pd.DataFrame) -> pd.DataFrame:
        words = t["words"].astype(np.float64)
        if column == "top_share":
            return _frame(t["example_id"], t["top_share"])
        if column == "uniform":
            return _frame(t["example_id"], 1.0 / words)
        long = t[words > 1]
        entropy = long["entropy"] / np.log(long["words"].astype(np.float64))
        return _frame(long["example_id"], entropy)
    return read


def _variance_shares(uniform: bool) -> Reader:
    def read(t: pd.DataFrame) -> pd.DataFrame:
        words = t[t["flag"].fillna("") != "special"] if "flag" in t.columns else t
        grouped = words.groupby("example_id", sort=True)["share"].agg(["max", "size"])
        value = 1.0 / grouped["size"] if uniform else grouped["max"]
        return _frame(grouped.index.to_numpy(), value.to_numpy())
    return read


def _location_shares(uniform: bool) -> Reader:
    def read(t: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for eid, part in t.groupby("example_id", sort=True):
            scores = part["score"].to_numpy(dtype=np.float64)
            positive = np.clip(scores, 0, None)
            total = float(positive.sum())
            share = (float(positive.max()) / total) if total > 0 else 0.0
            rows.append((int(eid), 1.0 / scores.size if uniform else share))
        return _frame([r[0] for r in rows], [r[1] for r in rows])
    return read


def _matches(column: str) -> Reader:
    def read(t: pd.DataFrame) -> pd.DataFrame:
        same = (t[column].astype(str) == t["predicted"].astype(str)).astype(np.float64)
        return _frame(t["example_id"], same)
    return read


def _faithful(method: str, column: str) -> Reader:
    def read(t: pd.DataFrame) -> pd.DataFrame:
        part = t[t["method"] == method]
        return _frame(part["example_id"], part[column])
    return read


READERS: dict[tuple[str, str], tuple[str, Reader]] = {
    ("saliency", "top_token_share"): ("texts", _saliency_texts("top_share")),
    ("saliency", "uniform_top_token_share"): ("texts", _saliency_texts("uniform")),
    ("saliency", "normalised_entropy"): ("texts", _saliency_texts("entropy")),
    ("variance_salience", "top_token_share"): ("tokens", _variance_shares(False)),
    ("variance_salience", "uniform_top_token_share"): ("tokens", _variance_shares(True)),
    ("hidden_saliency", "top_location_share"): ("scores", _location_shares(False)),
    ("hidden_saliency", "uniform_location_share"): ("scores", _location_shares(True)),
    ("optimization", "mean_activation_cosine"):
        ("problems", lambda t: _per_text_sum(t, "activation_cosine")),
    ("optimization", "mean_activation_match"):
        ("problems", lambda t: _per_text_sum(t, "activation_match")),
    ("optimization", "converged_share"):
        ("problems",
         lambda t: _per_text_sum(t.assign(c=t["converged"].astype(str) == "True"), "c")),
    ("matching_rate", "matching_rate"): ("matches", _matches("words_predicted")),
    ("matching_rate", "random_words_rate"): ("matches", _matches("random_predicted")),
    ("matching_rate", "salient_words_rate"): ("matches", _matches("salient_predicted")),
}
HEADLINES = ("comprehensiveness", "sufficiency")  # faithfulness: of the method the label names


def labelled_method(label: str | None, methods: list[str]) -> str | None:
    """The method a faithfulness label names ("sufficiency of gradient x input" ->
    ``gradient_x_input``); saliency without a label (reports from before labels)."""
    if not label:
        return "saliency" if "saliency" in methods else None
    try:
        from reportgen.analyses.faithfulness_views import METHOD_LABELS
    except ImportError:  # the names below still match most labels
        METHOD_LABELS = {}
    for method in methods:
        if label.endswith(f" of {METHOD_LABELS.get(method, method.replace('_', ' '))}"):
            return method
    return None


def reader(analysis: str, metric: str, label: str | None = None) -> tuple[str, Reader] | None:
    """The table and reader of a metric's per-example values (``label``: what the report says
    the metric is); None: not a mean over examples."""
    if (analysis, metric) in READERS:
        return READERS[(analysis, metric)]
    if analysis == "faithfulness" and metric in HEADLINES:
        return "texts", lambda t: _faithful(
            labelled_method(label, list(dict.fromkeys(t["method"].astype(str)))) or "", metric)(t)
    if analysis == "faithfulness":
        for column in ("comprehensiveness", "sufficiency"):
            if metric.endswith(f"_{column}"):
                return "texts", _faithful(metric[: -len(column) - 1], column)
    return None


def evaluated_rows(rows: pd.DataFrame, examples: int) -> pd.DataFrame:
    """The rows of evaluated examples (ids 0..examples-1): not the user's own sentences, which
    the saliency page numbers after them."""
    ids = pd.to_numeric(rows["example_id"], errors="coerce")
    return rows[(ids >= 0) & (ids < examples)]


def per_example(report: Report, analysis: str, model: str, metric: str) -> pd.DataFrame | None:
    """``example_id, num, den`` of one model's metric, or None when the metric is not a mean
    over examples or its table is not in the folder."""
    labels = (report.analysis(analysis) or {}).get("labels") or {}
    found = reader(analysis, metric, labels.get(f"{model}.{metric}"))
    if found is None:
        return None
    table_name, read = found
    table = report.table(analysis, table_name)
    if table is None or "model" not in table.columns or "example_id" not in table.columns:
        return None
    rows = table[table["model"] == model]
    rows = evaluated_rows(rows, report.examples)
    if rows.empty:
        return None
    try:
        values = read(rows.reset_index(drop=True))
    except (KeyError, ValueError, TypeError):  # a table of another shape: no interval
        return None
    return values.groupby("example_id", sort=True)[["num", "den"]].sum().reset_index()[COLUMNS]
