"""neuron_sweep's single units: both zero-shot rules on every unit -> tables, metrics and labels.

Method (Radford et al. 2017 and the sentiment-neuron post; Donnelly and Roegiest 2019). With two
classes, every unit alone classifies the texts without labels, its value oriented by the sign of
its L1 weight (``unit_probes.orientations``): by the post's rule, the raw value against 0, which
applies to bounded units (tanh / LSTM hidden states, centred on 0), and by the unsupervised 2-means
threshold (the midpoint of the two clusters of its training values), which applies to any unit.
The headline rule is the post's for bounded units, else 2-means (named in the metric's label).
Beside the top L1 unit: the best single unit by dev accuracy under the headline rule (first in the
L1 order among equals) with its L1 rank, and random units other than the top one (their mean with
a bootstrap interval, and their best), under the same rule.

Tables: ``single_units`` (one row per unit, best dev accuracy first) and ``zero_shot`` rows.
Cost: (N, U) comparisons and one bootstrap of (1000, N) weights.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reportgen.analyses.unit_probes import (
    POST,
    TWO_MEANS,
    best_unit,
    bootstrap,
    orientations,
    unit_rules,
)

SINGLE_UNITS = ["model", "unit", "rank", "dev_rank", "sign", "sign_from", "dev_accuracy",
                "post_rule_accuracy", "two_means_accuracy", "two_means_threshold"]
ZERO_SHOT = ["model", "classifier", "unit", "rule", "accuracy"]
HEADLINE_LABEL = "zero-shot accuracy of the top L1 unit, raw value vs 0 (sentiment-neuron rule)"
# the analysis's label, over models of both kinds (each model's own label says which rule it used)
SPEC_LABEL = ("zero-shot accuracy of the top L1 unit: raw value vs 0 (sentiment-neuron rule); "
              "unbounded units: 2-means threshold")
UNBOUNDED_LABEL = ("zero-shot accuracy of the top L1 unit, 2-means threshold (an unbounded unit: "
                   "the sentiment-neuron rule, raw value vs 0, does not apply)")


def bounded_units(layer, source: str, values: np.ndarray) -> tuple[bool, str]:
    """Whether the units are bounded and centred on 0 (``layer``: the recurrent module they are the
    hidden states of, a tanh RNN, LSTM or GRU; None when they are not recurrent states), where the
    post's rule (raw value vs 0) applies, and the sentence that says so."""
    other = f"so the sentiment-neuron rule (raw value vs 0) does not apply: zero-shot accuracies " \
        f"use the unsupervised {TWO_MEANS}"
    if layer is None or getattr(layer, "nonlinearity", "tanh") != "tanh":
        kind = "a ReLU RNN's states" if layer is not None else "not recurrent hidden states"
        return False, f"its units ({source!r}) are {kind}, not bounded around 0, {other}"
    if values.size and float(np.abs(values).max()) > 1 + 1e-5:
        return False, f"its units ({source!r}) leave [-1, 1], {other}"
    return True, (f"its units ({source!r}) are {type(layer).__name__} hidden states, bounded in "
                  "[-1, 1]: the headline is the sentiment-neuron rule (raw value vs 0, oriented by "
                  f"the sign of the unit's L1 weight), the unsupervised {TWO_MEANS} beside it")


def rule_name(rule: str) -> str:
    return f"{POST} (sentiment-neuron rule)" if rule == POST else f"unsupervised {TWO_MEANS}"


def score_units(name: str, x: dict[str, np.ndarray], y: dict[str, np.ndarray], coef: np.ndarray,
                order: np.ndarray, bounded: bool, random_units: int, seed: int) -> dict:
    """Two classes only. ``x``: split -> (N, U) raw unit values; ``coef``: (U,) the L1 probe's
    weights for class 1; ``order``: units by L1 weight. -> {"single_units", "zero_shot" (frames),
    "metrics", "labels", "sign" (U,), "cut" (U,) the headline rule's threshold, "rule"}."""
    units = coef.size
    top = int(order[0])
    rank = np.empty(units, dtype=int)
    rank[order] = np.arange(1, units + 1)
    sign, sign_from = orientations(coef, x["train"], y["train"])
    rules = unit_rules(x, y, sign)
    head = POST if bounded else TWO_MEANS
    dev = rules.accuracy(head, "dev")  # (U,)
    test = {rule: rules.accuracy(rule, "test") for rule in (POST, TWO_MEANS)}
    best = best_unit(dev, order)
    by_dev = sorted(range(units), key=lambda u: (-dev[u], rank[u]))  # best first, then L1 order
    dev_rank = np.empty(units, dtype=int)
    dev_rank[by_dev] = np.arange(1, units + 1)
    single = pd.DataFrame({
        "model": name, "unit": by_dev, "rank": rank[by_dev], "dev_rank": dev_rank[by_dev],
        "sign": sign[by_dev], "sign_from": sign_from[by_dev], "dev_accuracy": dev[by_dev],
        "post_rule_accuracy": test[POST][by_dev], "two_means_accuracy": test[TWO_MEANS][by_dev],
        "two_means_threshold": rules.threshold[by_dev]}, columns=SINGLE_UNITS)

    rng = np.random.default_rng(seed)
    pool = np.array([u for u in range(units) if u != top])
    drawn = np.sort(rng.choice(pool, size=min(random_units, pool.size), replace=False)) \
        if pool.size else np.array([], dtype=int)
    correct = rules.correct[(head, "test")]  # (N, U)
    rows = [(name, "top L1 unit", top, rule_name(r), float(test[r][top])) for r in _rules(bounded)]
    rows += [(name, "best single unit (dev)", best, rule_name(r), float(test[r][best]))
             for r in _rules(bounded)]
    rows += [(name, f"unit ranked {rank[u]}", int(u), rule_name(r), float(test[r][u]))
             for u in order[1:5] for r in _rules(bounded)]
    rows += [(name, "random unit", int(u), rule_name(head), float(test[head][u])) for u in drawn]
    zero = pd.DataFrame(rows, columns=ZERO_SHOT)

    rule = rule_name(head)
    metrics = {
        "top_unit_zero_shot_accuracy": float(test[head][top]),
        "top_unit_two_means_accuracy": float(test[TWO_MEANS][top]),
        "post_rule_applies": float(bounded),
        "top_unit_dev_rank": float(dev_rank[top]),
        "best_unit": float(best), "best_unit_l1_rank": float(rank[best]),
        "best_unit_zero_shot_accuracy": float(test[head][best]),
        "best_unit_dev_accuracy": float(dev[best]),
    }
    labels = {
        "top_unit_zero_shot_accuracy": HEADLINE_LABEL if bounded else UNBOUNDED_LABEL,
        "top_unit_two_means_accuracy":
            f"zero-shot accuracy of the top L1 unit, {rule_name(TWO_MEANS)}",
        "top_unit_dev_rank": f"the top L1 unit's place among {units} single units by dev accuracy",
        "best_unit": "best single unit by dev accuracy",
        "best_unit_l1_rank": "the best single unit's rank in the L1 order",
        "best_unit_zero_shot_accuracy": f"zero-shot accuracy of the best single unit, {rule}",
        "best_unit_dev_accuracy": f"dev accuracy of the best single unit, {rule}",
    }
    if bounded:
        metrics["top_unit_post_rule_accuracy"] = float(test[POST][top])
        labels["top_unit_post_rule_accuracy"] = \
            f"zero-shot accuracy of the top L1 unit, {rule_name(POST)}"
    if drawn.size:
        (low, high), (r_low, r_high) = bootstrap(correct[:, top], correct[:, drawn], seed)
        metrics |= {
            "top_unit_zero_shot_accuracy_ci_low": low, "top_unit_zero_shot_accuracy_ci_high": high,
            "random_unit_zero_shot_accuracy": float(test[head][drawn].mean()),
            "random_unit_zero_shot_accuracy_ci_low": r_low,
            "random_unit_zero_shot_accuracy_ci_high": r_high,
            "best_random_unit_zero_shot_accuracy": float(test[head][drawn].max()),
            "random_units": float(drawn.size),
        }
        labels |= {
            "random_unit_zero_shot_accuracy": f"mean of {drawn.size} random units, {rule}",
            "best_random_unit_zero_shot_accuracy": f"best of {drawn.size} random units, {rule}",
        }
    return {"single_units": single, "zero_shot": zero, "metrics": metrics, "labels": labels,
            "sign": sign, "cut": rules.cut(head), "rule": head}


def _rules(bounded: bool) -> tuple[str, ...]:
    return (POST, TWO_MEANS) if bounded else (TWO_MEANS,)
