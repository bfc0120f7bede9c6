"""An analysis that fails makes the run exit non-zero once the report is written, named on stderr
without a traceback (the traceback goes to ``logs/<name>.txt`` in the report); one that finds out
while computing that it cannot apply to a model is skipped with its reason, never failed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen import analyses
from reportgen.analyses.spec import AnalysisSpec
from reportgen.cli import ANALYSIS_FAILED, main
from reportgen.models.view import NotApplicable
from reportgen.records import AnalysisResult, Presentation

TINY = Path(__file__).resolve().parent / "tiny_models.py"


@dataclass(frozen=True)
class Params:
    pass


def _spec(name: str, compute) -> AnalysisSpec:
    return AnalysisSpec(name=name, version=1, title=name, headline="value", method="m",
                        how_to_read="r", citation="c", params=Params,
                        tables={"values": ["model", "value"]}, compute=compute,
                        present=lambda result, params: Presentation(),
                        skip_reason=lambda model: None)


def _boom(ctx, params) -> AnalysisResult:
    raise RuntimeError("the injected failure")


def _not_here(ctx, params) -> AnalysisResult:
    raise NotApplicable(f"{ctx.model.name} has no part this analysis reads")


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    specs = {"boom": _spec("boom", _boom), "not_here": _spec("not_here", _not_here)}
    real = analyses.spec
    monkeypatch.setattr(analyses, "REGISTRY", (*analyses.REGISTRY, *specs))
    monkeypatch.setattr(analyses, "spec", lambda n: specs[n] if n in specs else real(n))


def _run(tmp_path: Path, only: str) -> tuple[object, Path]:
    csv = tmp_path / "d.csv"
    csv.write_text("text,label\na b,pos\nb,neg\na a,pos\nb b,neg\n", encoding="utf-8")
    out = tmp_path / "site"
    result = CliRunner().invoke(main, [
        "run", "--model", f"{TINY}:tanh_sum_model", "--data", f"csv:{csv}", "--out", str(out),
        "--only", only, "--quiet", "--cache-dir", str(tmp_path / "cache")])
    return result, out


def test_a_failed_analysis_writes_the_report_then_exits_non_zero(fakes, tmp_path: Path) -> None:
    result, out = _run(tmp_path, "boom,not_here")
    assert result.exit_code == ANALYSIS_FAILED == 1, result.output
    assert "Traceback" not in result.output
    assert "reportgen: boom failed: RuntimeError: the injected failure" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["analyses"]["boom"]["status"] == "failed"
    assert report["analyses"]["boom"]["log"] == "logs/boom.txt"
    log = (out / "logs" / "boom.txt").read_text()
    assert "Traceback" in log and "the injected failure" in log
    skipped = report["analyses"]["not_here"]
    assert skipped["status"] == "skipped" and skipped["log"] is None
    assert skipped["reason"] == "tanh-sum has no part this analysis reads"
    assert skipped["skipped_models"] == {"tanh-sum": "tanh-sum has no part this analysis reads"}


def test_a_run_where_nothing_failed_exits_zero(fakes, tmp_path: Path) -> None:
    result, out = _run(tmp_path, "not_here")
    assert result.exit_code == 0, result.output
    assert not (out / "logs").exists()
