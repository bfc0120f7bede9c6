"""``docs/write-an-analysis.md`` stays true: its module, exactly as printed, registers with one
registry line and runs through the runner, and its numbers are the ones worked out by hand."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reportgen import analyses
from reportgen.analyses.spec import PlanFacts
from reportgen.data.dataset import Dataset, Example
from reportgen.models.adapter import HookedAdapter
from reportgen.models.facts import predict_proba
from reportgen.run import analysis as runner
from reportgen.run.plan import plan
from tests.tiny_models import tanh_sum_model

DOC = (Path(__file__).resolve().parents[1] / "docs" / "write-an-analysis.md").read_text()


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC, re.DOTALL)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    module_text, registry_line = _blocks()
    name = registry_line.strip().strip(",").strip('"')
    path = tmp_path / f"{name}.py"
    path.write_text(module_text)
    spec = importlib.util.spec_from_file_location(f"reportgen.analyses.{name}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, f"reportgen.analyses.{name}", module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(analyses, "REGISTRY", (*analyses.REGISTRY, name))  # the one line
    monkeypatch.setattr(analyses, "_SPECS", {})
    return name, module


def test_the_documented_module_registers_and_runs(registered, tmp_path: Path) -> None:
    name, _ = registered
    spec = analyses.spec(name)
    assert spec.name == name and plan([name]) == [name]
    examples = [Example("a b", "pos"), Example("b", "neg"), Example("a", "pos")]
    model = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    run = runner.RunSettings(examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0,
                             2, tmp_path / "cache")
    record = runner.run_analysis(name, spec.params(), [model], run)
    assert record.status == "ok", record.reason
    # by hand: the same margins from the model's own class probabilities
    probs = predict_proba(model, [ex.text for ex in examples])  # (3, K)
    top = np.sort(probs, axis=1)[:, ::-1]
    margins = top[:, 0] - top[:, 1]
    assert record.metrics[f"{model.name}.mean_margin"] == pytest.approx(margins.mean(), abs=1e-6)
    low = float((margins < spec.params().threshold).mean())
    assert record.metrics[f"{model.name}.low_margin_share"] == pytest.approx(low)
    assert list(record.tables["margins"].columns) == spec.tables["margins"]
    assert record.charts and record.charts[0].name == "margins"


def test_the_documented_checks_fire(registered) -> None:
    name, module = registered
    assert module.Params(threshold=1.5).validate() == [
        "prediction_margin.threshold must be between 0 and 1, not 1.5"]
    spec = analyses.spec(name)
    one_class = PlanFacts(examples=3, labelled=3, classes=("pos",), params={})
    assert spec.check_plan(spec.params(), one_class) == [
        "prediction_margin needs two classes or more"]
    assert spec.check_plan(spec.params(), PlanFacts(3, 3, ("neg", "pos"), {})) == []


def test_the_walkthrough_names_every_spec_field() -> None:
    from dataclasses import fields

    from reportgen.analyses.spec import AnalysisSpec

    for field in fields(AnalysisSpec):
        assert f"`{field.name}" in DOC or f"{field.name}=" in DOC, field.name
