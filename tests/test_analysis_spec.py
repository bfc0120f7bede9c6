"""The typed analysis contract: a spec that cannot work fails where it is built or registered,
and settings that cannot work on a run's data fail when the run is planned (exit 2)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from reportgen import analyses
from reportgen.analyses.spec import AnalysisSpec, PlanFacts, SpecError
from reportgen.errors import BadInput
from reportgen.records import AnalysisResult, Presentation
from reportgen.run.plan import check_settings


@dataclass(frozen=True)
class Params:
    k: int = 3


FIELDS = {
    "name": "toy", "version": 1, "title": "Toy", "headline": "value", "method": "m",
    "how_to_read": "r", "citation": "c", "params": Params, "tables": {"values": ["model", "value"]},
    "compute": lambda ctx, params: AnalysisResult({}, {}),
    "present": lambda r, p: Presentation(),
    "skip_reason": lambda model: None,
}


def test_a_complete_spec_registers() -> None:
    spec = analyses.register(AnalysisSpec(**FIELDS), module="toy", known=("toy",))
    assert spec.needs == () and spec.precision == "run" and spec.params() == Params()


def test_a_misspelt_field_fails_where_the_spec_is_built() -> None:
    misspelt = {**FIELDS, "nedds": ("saliency",)}  # a module-level NEDDS was silently ignored
    with pytest.raises(TypeError, match="nedds"):
        AnalysisSpec(**misspelt)
    without = {k: v for k, v in FIELDS.items() if k != "headline"}
    with pytest.raises(TypeError, match="headline"):
        AnalysisSpec(**without)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "Toy Analysis", "snake_case"),
    ("version", 0, "version"),
    ("needs", "saliency", "tuple of analysis names"),  # a string, not a tuple of names
    ("precision", "bf16", "precision must be one of run, fp32"),
    ("precision", "fp32", "precision_reason"),
    ("tables", {"values": "model,value"}, "list of column names"),
    ("compute", None, "compute must be callable"),
    ("method", " ", "method must be a non-empty string"),
])
def test_a_wrong_value_fails_when_built(field: str, value: object, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        AnalysisSpec(**{**FIELDS, field: value})


def test_params_must_be_a_frozen_dataclass_with_defaults() -> None:
    @dataclass
    class Mutable:
        k: int = 1

    @dataclass(frozen=True)
    class NoDefault:
        k: int

    with pytest.raises(SpecError, match="frozen"):
        AnalysisSpec(**{**FIELDS, "params": Mutable})
    with pytest.raises(SpecError, match="without a default: k"):
        AnalysisSpec(**{**FIELDS, "params": NoDefault})


def test_registration_checks_the_name_and_the_needs_against_the_registry() -> None:
    with pytest.raises(SpecError, match="not its module's"):
        analyses.register(AnalysisSpec(**FIELDS), module="other", known=("toy", "other"))
    with pytest.raises(SpecError, match="needs names unknown analyses \\['salency'\\]"):
        analyses.register(AnalysisSpec(**{**FIELDS, "needs": ("salency",)}), module="toy",
                          known=("toy", "saliency"))
    with pytest.raises(SpecError, match="must define SPEC"):
        analyses.register(object(), module="toy")


def test_every_registered_analysis_has_a_valid_spec_in_its_own_module() -> None:
    for name in analyses.REGISTRY:
        spec = analyses.spec(name)
        assert spec.name == name and spec.problems() == []
        assert spec.headline and spec.tables


def test_settings_that_cannot_work_on_the_data_stop_the_run_at_planning() -> None:
    params = {n: analyses.spec(n).params() for n in analyses.REGISTRY}
    saliency = analyses.spec("saliency").params
    params["saliency"] = saliency(example_ids=(3, 12), target="label")
    params["matching_rate"] = dataclasses.replace(params["matching_rate"], words=50)
    with pytest.raises(BadInput) as caught:
        check_settings(list(analyses.REGISTRY), params, examples=10, labelled=7,
                       classes=("neg", "pos"))
    text = str(caught.value)
    assert "saliency.example_ids [12] are past the 10 evaluated examples (valid: 0 to 9)" in text
    assert "needs every evaluated example labelled (7 of 10 are)" in text
    assert "matching_rate.words = 50 but optimization.neighbours = 10 (valid: 1 to 10" in text
    fine = {n: analyses.spec(n).params() for n in analyses.REGISTRY}
    check_settings(list(analyses.REGISTRY), fine, examples=10, labelled=10, classes=("a", "b"))
    facts = PlanFacts(examples=1, labelled=0, classes=(), params=fine)
    assert analyses.spec("representations").check_plan(fine["representations"], facts) == []
