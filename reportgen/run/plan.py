"""Planning a run: which analyses run in which order, and whether their settings fit the data.

``plan(selected)`` adds what each selected analysis needs (its spec's ``needs``) and orders the
list so every analysis comes after its needs, and after the analyses it can use when they run
(``uses``: read if present, never added), in report order otherwise. ``check_settings`` asks each
planned analysis whether its settings can work on this run's data (its spec's ``check_plan``):
every problem is collected into one ``BadInput`` (exit 2) before anything is computed.
``shared_gradients`` says what the run's one gradient pass keeps for the analyses after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reportgen import analyses
from reportgen.analyses.gradient_pass import SharedGradients
from reportgen.analyses.spec import PlanFacts
from reportgen.errors import BadInput


def plan(selected: list[str], skipped: tuple[str, ...] = ()) -> list[str]:
    """``selected`` plus everything it needs, each after its needs; ``BadInput`` when a needed
    analysis was explicitly skipped or the needs form a cycle."""
    wanted: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            raise BadInput(f"analyses need each other in a cycle: {' -> '.join((*trail, name))}")
        if name in skipped and trail:
            raise BadInput(f"{trail[-1]} needs {name}, which --skip leaves out; "
                           f"skip {trail[0]} too, or stop skipping {name}")
        wanted.add(name)
        for need in analyses.spec(name).needs:
            visit(need, (*trail, name))

    for name in selected:
        visit(name, ())
    ordered: list[str] = []
    placing: list[str] = []

    def place(name: str) -> None:
        if name in ordered:
            return
        if name in placing:
            raise BadInput(f"analyses need or use each other in a cycle: "
                           f"{' -> '.join((*placing[placing.index(name):], name))}")
        placing.append(name)
        spec = analyses.spec(name)
        for before in (*spec.needs, *(u for u in spec.uses if u in wanted)):
            place(before)
        placing.pop()
        ordered.append(name)

    for name in [n for n in analyses.REGISTRY if n in wanted]:
        place(name)
    return ordered


def check_settings(names: Sequence[str], params: Mapping[str, Any], *, examples: int,
                   labelled: int, classes: Sequence[str]) -> None:
    """``BadInput`` listing every planned analysis whose settings cannot work on this data."""
    facts = PlanFacts(examples=examples, labelled=labelled, classes=tuple(classes),
                      params=dict(params))
    problems = [p for name in names
                for p in analyses.spec(name).check_plan(params[name], facts)]
    if problems:
        raise BadInput("settings that cannot work on this data:\n  - " + "\n  - ".join(problems))


def shared_gradients(names: Sequence[str], params: Mapping[str, Any], models: Sequence[Any],
                     sample: Sequence[int]) -> SharedGradients:
    """What the run's one gradient pass keeps for later analyses (``analyses.gradient_pass``):
    nothing unless ``saliency`` runs and differentiates the predicted class; then each model's
    ``hidden_saliency`` layers (where it applies) and gradient x input of the detail sample
    (``faithfulness``)."""
    if "saliency" not in names or params["saliency"].target != "predicted":
        return SharedGradients()
    from reportgen.analyses import hidden_saliency

    layers = {}
    if "hidden_saliency" in names:
        layers = {m.name: hidden_saliency.scored_layers(m, params["hidden_saliency"].layer)
                  for m in models
                  if hidden_saliency.skip_reason(m) is None
                  and analyses.spec("saliency").skip_reason(m) is None}
    gxi = frozenset(int(i) for i in sample) if "faithfulness" in names else frozenset()
    return SharedGradients(layers=layers, gxi_ids=gxi)
