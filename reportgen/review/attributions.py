"""Agreement of the two runs' explanations of the same texts, and where they disagree most.

Question: for a text both models read, do they blame the same tokens?

Method: per shared example, the old and new attributions are aligned position by position (a
token source requires the same token at the position, so texts the two models read differently
are left out and counted). Three numbers per example (``stats``): Spearman's rank correlation,
the top-k overlap (k = ``TOP_K``, at most the text's length minus one) and, for signed
attributions, the share of positions whose sign agrees. Sources:

- ``saliency``'s ``tokens``: first-derivative saliency per word (unsigned: a gradient norm, so
  sign agreement does not apply); the run's detail sample of examples;
- ``hidden_saliency``'s ``scores``: each conv location's score (signed), when both models have
  the same number of locations on the text (same layer geometry).

The examples with the lowest rank correlation are shown as old and new token views side by
side, shaded by each token's share of its text's saliency.

Outputs: ``Agreement`` per (source, model pair): per-example rows, means, the disagreeing
examples as ``TokenView`` records.

Cost: one group-by over each token table; a loop over the shared examples (2,000 by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reportgen.records import TokenScores, TokenView
from reportgen.review import stats
from reportgen.review.metrics import ModelPair
from reportgen.review.per_example import evaluated_rows
from reportgen.review.reports import Report
from reportgen.site.pages import slug

TOP_K = 3
SHOWN = 6  # disagreeing examples shown side by side


@dataclass(frozen=True)
class Source:
    analysis: str
    table: str
    position: str
    value: str
    signed: bool
    title: str
    token: str | None = None  # column that must match at a position
    share: str | None = None  # column shown in the token views


SOURCES = (
    Source("saliency", "tokens", "position", "saliency", False,
           "first-derivative saliency per token", token="token", share="share"),
    Source("hidden_saliency", "scores", "location", "score", True,
           "hidden location scores (conv layer)"),
)


@dataclass
class Agreement:
    source: Source
    pair: ModelPair
    rows: pd.DataFrame  # example_id, positions, spearman, top_k_overlap, sign_agreement
    read_differently: int = 0  # shared examples whose tokens differ between the models
    views: list[TokenView] = field(default_factory=list)

    def mean(self, column: str) -> float | None:
        if self.rows.empty or column not in self.rows:
            return None
        values = self.rows[column].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else None

    @property
    def examples(self) -> int:
        return len(self.rows)


def _rows(report: Report, source: Source, model: str) -> pd.DataFrame | None:
    table = report.table(source.analysis, source.table)
    if table is None or not {"model", "example_id", source.position, source.value} <= set(table):
        return None
    rows = evaluated_rows(table[table["model"] == model], report.examples)
    return rows if len(rows) else None


def _flags_ok(part: pd.DataFrame) -> np.ndarray:
    """Positions that count: special tokens ([CLS], <pad>) do not."""
    if "flag" not in part.columns:
        return np.ones(len(part), dtype=bool)
    return (part["flag"].fillna("").astype(str) != "special").to_numpy()


def agreement(old: Report, new: Report, source: Source, pair: ModelPair,
              predictions: dict[str, pd.DataFrame | None] | None = None) -> Agreement | None:
    """The agreement of one source for one model pair; None when either side lacks it."""
    o, n = _rows(old, source, pair.old), _rows(new, source, pair.new)
    if o is None or n is None:
        return None
    old_by = dict(tuple(o.groupby("example_id", sort=True)))
    new_by = dict(tuple(n.groupby("example_id", sort=True)))
    out, differently = [], 0
    for eid in sorted(set(old_by) & set(new_by)):
        a = old_by[eid].sort_values(source.position, kind="stable")
        b = new_by[eid].sort_values(source.position, kind="stable")
        same_positions = a[source.position].to_numpy() == b[source.position].to_numpy() \
            if len(a) == len(b) else np.array([False])
        if not same_positions.all():
            differently += 1
            continue
        if source.token and source.token in a.columns and \
                list(a[source.token].astype(str)) != list(b[source.token].astype(str)):
            differently += 1
            continue
        keep = _flags_ok(a) & _flags_ok(b)
        va = a[source.value].to_numpy(dtype=np.float64)[keep]
        vb = b[source.value].to_numpy(dtype=np.float64)[keep]
        if va.size < 2:
            continue
        out.append((int(eid), int(va.size), stats.spearman(va, vb),
                    stats.top_k_overlap(va, vb, TOP_K),
                    stats.sign_agreement(va, vb) if source.signed else math.nan))
    rows = pd.DataFrame(out, columns=["example_id", "positions", "spearman", "top_k_overlap",
                                      "sign_agreement"])
    result = Agreement(source, pair, rows, differently)
    if source.share is not None and not rows.empty:
        result.views = disagreement_views(result, old_by, new_by, predictions or {})
    return result


def _prediction(frame: pd.DataFrame | None, eid: int) -> tuple[str | None, str | None]:
    if frame is None:
        return None, None
    hit = frame[frame["example_id"] == eid]
    if hit.empty:
        return None, None
    return hit["label"].iloc[0], hit["predicted"].iloc[0]


def disagreement_views(result: Agreement, old_by: dict, new_by: dict,
                       predictions: dict[str, pd.DataFrame | None]) -> list[TokenView]:
    """The ``SHOWN`` examples of lowest rank correlation (NaN last) among those where the two
    differ at all, each as one view of two rows, old then new, shaded by each token's share of
    its text's saliency."""
    src, pair = result.source, result.pair
    rows = result.rows[(result.rows["spearman"].fillna(0.0) < 1 - 1e-9)
                       | (result.rows["top_k_overlap"].fillna(1.0) < 1)]  # they differ at all
    ranked = rows.assign(key=rows["spearman"].fillna(2.0)).sort_values(
        ["key", "top_k_overlap", "example_id"], kind="stable").head(SHOWN)
    views = []
    for r in ranked.itertuples():
        rows = []
        for side, by, model in (("old", old_by, pair.old), ("new", new_by, pair.new)):
            part = by[r.example_id].sort_values(src.position, kind="stable")
            label, predicted = _prediction(predictions.get(side), int(r.example_id))
            flags = [f if f in ("unk", "special") else "" for f in
                     (part["flag"].fillna("") if "flag" in part.columns else [""] * len(part))]
            rows.append(TokenScores(
                model=f"{model} · {side}", example_id=int(r.example_id),
                tokens=[str(t) for t in part[src.token]],
                scores=[float(x) for x in part[src.share].fillna(0.0)], label=label,
                predicted=predicted, flags=flags,
                correct=None if label is None or predicted is None else label == predicted))
        rho = "undefined" if math.isnan(r.spearman) else f"{r.spearman:.2f}"
        k = min(TOP_K, int(r.positions) - 1)
        views.append(TokenView(
            name=slug(f"disagree-{src.analysis}-{pair.old}-{r.example_id}"), rows=rows,
            title=f"Example {r.example_id}: Spearman {rho}, top-{k} overlap "
                  f"{r.top_k_overlap:.0%}"))
    return views
