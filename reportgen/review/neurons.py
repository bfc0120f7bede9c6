"""Neuron sweeps of the two runs: each one's best unit, and both sweep curves on one chart.

Question: does the new model still carry the concept in one unit, is it the same unit, and does
clamping it move the prediction as much?

Method: ``neuron_sweep``'s ``units`` table ranks each model's units by the weight of an L1
logistic regression (rank 1: the top unit); its metrics give the top unit's zero-shot accuracy
and the full linear model's. Its ``sweep`` table holds the class probabilities with the top unit
clamped to values across its range; the two runs' curves are drawn together
(``charts.sweep_chart``). Unit indices are only comparable between runs of one architecture:
"the same unit" is said only when the layer sizes agree.

Outputs: ``UnitSummary`` per model pair.

Cost: reading two small tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from reportgen.review.metrics import ModelPair
from reportgen.review.reports import Report


@dataclass
class UnitSummary:
    pair: ModelPair
    old_unit: int | None
    new_unit: int | None
    old_units: int | None  # units in the representation
    new_units: int | None
    old_zero_shot: float | None
    new_zero_shot: float | None
    old_all_units: float | None
    new_all_units: float | None
    sweep: pd.DataFrame  # run (old | new), value, class, probability

    @property
    def same_unit(self) -> bool | None:
        """Whether both runs' top unit has one index, where indices are comparable."""
        if None in (self.old_unit, self.new_unit) or self.old_units != self.new_units:
            return None
        return self.old_unit == self.new_unit


def _metric(report: Report, model: str, name: str) -> float | None:
    value = report.metrics("neuron_sweep").get(f"{model}.{name}")
    return float(value) if value is not None else None


def _top_unit(report: Report, model: str) -> int | None:
    value = _metric(report, model, "top_unit")
    if value is not None:
        return int(value)
    units = report.table("neuron_sweep", "units")
    if units is None or "rank" not in units.columns:
        return None
    top = units[(units["model"] == model) & (units["rank"] == 1)]
    return int(top["unit"].iloc[0]) if len(top) else None


def _sweep(report: Report, model: str, run: str) -> pd.DataFrame:
    table = report.table("neuron_sweep", "sweep")
    if table is None or not {"model", "value", "class", "probability"} <= set(table.columns):
        return pd.DataFrame(columns=["run", "value", "class", "probability"])
    part = table[table["model"] == model][["value", "class", "probability"]]
    return part.assign(run=run)[["run", "value", "class", "probability"]]


def unit_summary(old: Report, new: Report, pair: ModelPair) -> UnitSummary | None:
    if old.analysis("neuron_sweep") is None or new.analysis("neuron_sweep") is None:
        return None
    if f"{pair.old}.top_unit" not in old.metrics("neuron_sweep") and \
            f"{pair.new}.top_unit" not in new.metrics("neuron_sweep"):
        return None
    units = [_metric(r, m, "units") for r, m in ((old, pair.old), (new, pair.new))]
    sweep = pd.concat([_sweep(old, pair.old, "old"), _sweep(new, pair.new, "new")],
                      ignore_index=True)
    return UnitSummary(
        pair, _top_unit(old, pair.old), _top_unit(new, pair.new),
        None if units[0] is None else int(units[0]), None if units[1] is None else int(units[1]),
        _metric(old, pair.old, "top_unit_zero_shot_accuracy"),
        _metric(new, pair.new, "top_unit_zero_shot_accuracy"),
        _metric(old, pair.old, "all_units_accuracy"), _metric(new, pair.new, "all_units_accuracy"),
        sweep)
