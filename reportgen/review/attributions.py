"""Agreement of the two runs' explanations of the same texts, and where they disagree most.

Question: for a text both models read, do they blame the same tokens?

Method: per shared example, the old and new attributions are aligned position by position (a
token source requires the same token at the position, so texts the two models read differently
are left out and counted). Three numbers per example (``stats``): Spearman's rank correlation,
the top-k overlap (k = ``TOP_K``, at most the text's length minus one) and, for signed
attributions, the share of positions whose sign agrees. Sources:

- ``saliency``'s ``tokens``: first-derivative saliency per word (unsigned: a gradient norm, so
  sign agreement does not apply); the run's detail sample of examples;
- ``hidden_saliency``'s ``scores``: each conv location's score (signed), keyed on (layer,
  location) and compared layer by layer: a multi-width CNN (Kim's three banks ``convs.0``,
  ``convs.1``, ``convs.2``) gets one agreement per bank, so location 3 of one bank is never set
  beside location 3 of another. A layer needs the same number of locations on the text in both
  (same geometry); a layer only one run scored is "not comparable", with the reason.

The examples with the lowest rank correlation are shown as old and new token views side by
side, shaded by each token's share of its text's saliency.

Outputs: ``Agreement`` per (source, model pair, layer): per-example rows, means, the disagreeing
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
    # column whose values are compared apart (a position is (group, position)): hidden_saliency's
    # conv layer, so that each bank of a multi-width CNN is compared with the same bank
    group: str | None = None


SOURCES = (
    Source("saliency", "tokens", "position", "saliency", False,
           "first-derivative saliency per token", token="token", share="share"),
    Source("hidden_saliency", "scores", "location", "score", True,
           "hidden location scores", group="layer"),
)

UNNAMED_LAYER = "an unnamed layer (a report from before hidden_saliency named its layers)"


@dataclass
class Agreement:
    source: Source
    pair: ModelPair
    rows: pd.DataFrame  # example_id, positions, spearman, top_k_overlap, sign_agreement
    read_differently: int = 0  # shared examples whose tokens differ between the models
    views: list[TokenView] = field(default_factory=list)
    layer: str | None = None  # the ``source.group`` value compared (a conv layer), None: no group
    reason: str = ""  # why nothing was compared, when it is not that the texts were read apart

    @property
    def title(self) -> str:
        """The source's title, with the layer when the source is compared layer by layer."""
        if self.layer is None:
            return self.source.title
        return f"{self.source.title} ({self.layer or UNNAMED_LAYER})"

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


def _groups(rows: pd.DataFrame, column: str) -> dict[str, pd.DataFrame]:
    """``rows`` split by ``column`` in first-seen order; a table without it is one group, ''."""
    if column not in rows.columns:
        return {"": rows}
    keys = rows[column].fillna("").astype(str)
    return {k: rows[keys.to_numpy() == k] for k in dict.fromkeys(keys)}


def _names(layers: list[str]) -> str:
    return ", ".join(layer or UNNAMED_LAYER for layer in layers) or "none"


def agreements(old: Report, new: Report, source: Source, pair: ModelPair,
               predictions: dict[str, pd.DataFrame | None] | None = None) -> list[Agreement]:
    """The agreements of one source for one model pair: one, or one per ``source.group`` value
    (conv layer) in the old run's order, each layer compared only with the same layer; a layer one
    run alone has is an agreement with no rows and its reason. Empty when either side lacks the
    source."""
    o, n = _rows(old, source, pair.old), _rows(new, source, pair.new)
    if o is None or n is None:
        return []
    if source.group is None:
        return [agreement_of(o, n, source, pair, predictions)]
    old_groups, new_groups = _groups(o, source.group), _groups(n, source.group)
    shared = [g for g in old_groups if g in new_groups]
    results = [agreement_of(old_groups[g], new_groups[g], source, pair, predictions, layer=g)
               for g in shared]
    only_old = [g for g in old_groups if g not in new_groups]
    only_new = [g for g in new_groups if g not in old_groups]
    if not shared:  # nothing in common: one line that says what each run scored
        reason = (f"no {source.group} scored in both runs (old: {_names(only_old)}; "
                  f"new: {_names(only_new)})")
        return [Agreement(source, pair, _empty_rows(), layer=None, reason=reason)]
    empty = _empty_rows()
    results += [Agreement(source, pair, empty, layer=g, reason="scored in the old run only")
                for g in only_old]
    results += [Agreement(source, pair, empty, layer=g, reason="scored in the new run only")
                for g in only_new]
    return results


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame(columns=["example_id", "positions", "spearman", "top_k_overlap",
                                 "sign_agreement"])


def agreement_of(o: pd.DataFrame, n: pd.DataFrame, source: Source, pair: ModelPair,
                 predictions: dict[str, pd.DataFrame | None] | None = None,
                 layer: str | None = None) -> Agreement:
    """The agreement of the old rows ``o`` and new rows ``n`` of one source, model pair and (when
    the source has groups) layer, aligned example by example on ``source.position``."""
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
    rows = pd.DataFrame(out, columns=list(_empty_rows().columns))
    result = Agreement(source, pair, rows, differently, layer=layer)
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
            name=slug("-".join(["disagree", src.analysis, *([result.layer] if result.layer else []),
                                pair.old, str(r.example_id)])), rows=rows,
            title=f"Example {r.example_id}: Spearman {rho}, top-{k} overlap "
                  f"{r.top_k_overlap:.0%}"))
    return views
