"""Prediction flips: the examples whose predicted class changed between the two runs, each way.

Question: which examples does the new model decide differently, in which direction, and how
sure was each model?

Method: each report's ``data/predictions.csv.gz`` holds every evaluated example's prediction and
class probabilities per classifier; the two are joined on ``example_id`` (the same examples, in
the same order: the reports share a data fingerprint). A flip is an example whose predicted class
differs. With labels it is *fixed* (the old run was wrong, the new one right), *broken* (right,
then wrong) or *still wrong* (a different wrong class); each flip keeps both models' probability
of both classes, and the flips are listed by how far the probability of the new class moved.
The same join gives, per labelled example, whether each run was right: the input of McNemar's
test (``metrics.accuracy_diff``).

Outputs: ``FlipSummary`` per model pair (``compare.json``'s per-model ``flips`` counts and
``flipped`` examples).

Cost: one join of two N-row tables per model pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reportgen.review.metrics import ModelPair
from reportgen.review.reports import Report

KEPT = 500  # flips kept per model pair in compare.json (counts are always exact)


@dataclass
class Flip:
    example_id: int
    label: str | None
    old_predicted: str
    new_predicted: str
    old_p_old: float | None  # the old model's probability of its own prediction
    old_p_new: float | None  # ... of the class the new model predicts
    new_p_old: float | None  # the new model's probability of the old prediction
    new_p_new: float | None  # ... of its own prediction
    kind: str  # fixed | broken | still wrong | changed (no label)
    text: str | None = None

    @property
    def moved(self) -> float:
        """How far the probability of the new prediction moved (0 when unknown)."""
        if self.old_p_new is None or self.new_p_new is None:
            return 0.0
        return self.new_p_new - self.old_p_new


@dataclass
class FlipSummary:
    pair: ModelPair
    examples: int  # shared examples with a prediction in both reports
    flips: list[Flip] = field(default_factory=list)
    correct: pd.DataFrame | None = None  # example_id, old, new (1 = right), labelled examples
    note: str = ""

    @property
    def count(self) -> int:
        return len(self.flips)

    def by_kind(self) -> dict[str, int]:
        out = {"fixed": 0, "broken": 0, "still wrong": 0, "changed": 0}
        for f in self.flips:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out

    def by_direction(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.flips:
            key = f"{f.old_predicted} → {f.new_predicted}"
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def _probabilities(frame: pd.DataFrame, classes: list[str]) -> dict[str, np.ndarray]:
    """class -> probabilities (N,), from the ``p<i>`` columns and the model's classes."""
    out = {}
    for i, name in enumerate(classes):
        column = f"p{i}"
        if column in frame.columns:
            out[str(name)] = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)
    return out


def _get(probs: dict[str, np.ndarray], cls: str, row: int) -> float | None:
    if cls not in probs:
        return None
    value = float(probs[cls][row])
    return value if math.isfinite(value) else None


def _model_rows(report: Report, model: str) -> pd.DataFrame | None:
    frame = report.predictions()
    if frame is None or "model" not in frame.columns:
        return None
    rows = frame[frame["model"] == model]
    rows = rows[(rows["example_id"] >= 0) & (rows["example_id"] < report.examples)]
    return rows.drop_duplicates("example_id").sort_values("example_id") if len(rows) else None


def prediction_flips(old: Report, new: Report, pair: ModelPair,
                     texts: dict[int, str]) -> FlipSummary:
    """The flips of one model pair; an empty summary with a note when either report lacks
    per-example predictions."""
    o, n = _model_rows(old, pair.old), _model_rows(new, pair.new)
    if o is None or n is None:
        which = " and ".join(s for s, r in (("OLD", o), ("NEW", n)) if r is None)
        return FlipSummary(pair, 0, note=(
            f"{which} has no per-example predictions for this model (a report from before "
            "reportgen stored them, a single-file report, or not a classifier): no flips and no "
            "McNemar test"))
    joined = o.merge(n, on="example_id", suffixes=("_old", "_new"))
    old_probs = _probabilities(joined.rename(columns=lambda c: c.removesuffix("_old")),
                               list(old.models.get(pair.old, {}).get("classes") or []))
    new_probs = _probabilities(joined.rename(columns=lambda c: c.removesuffix("_new")),
                               list(new.models.get(pair.new, {}).get("classes") or []))
    summary = FlipSummary(pair, len(joined))
    labels = joined["label_old"].where(joined["label_old"].notna(), joined["label_new"])
    po, pn = joined["predicted_old"].astype(str), joined["predicted_new"].astype(str)
    labelled = labels.notna().to_numpy()
    if labelled.any():
        right_old = (po == labels.astype(str)).to_numpy()[labelled]
        right_new = (pn == labels.astype(str)).to_numpy()[labelled]
        summary.correct = pd.DataFrame({"example_id": joined["example_id"].to_numpy()[labelled],
                                        "old": right_old.astype(int), "new": right_new.astype(int)})
    for i in np.flatnonzero((po != pn).to_numpy()):
        label = labels.iloc[i]
        a, b = po.iloc[i], pn.iloc[i]
        if label is None or (isinstance(label, float) and math.isnan(label)):
            kind, label = "changed", None
        elif a == label:
            kind = "broken"
        elif b == label:
            kind = "fixed"
        else:
            kind = "still wrong"
        eid = int(joined["example_id"].iloc[i])
        summary.flips.append(Flip(eid, label, a, b, _get(old_probs, a, i), _get(old_probs, b, i),
                                  _get(new_probs, a, i), _get(new_probs, b, i), kind,
                                  texts.get(eid)))
    summary.flips.sort(key=lambda f: (-abs(f.moved), f.example_id))
    return summary
