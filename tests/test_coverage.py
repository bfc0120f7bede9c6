"""What ran on which model: the runner records per-model reasons, the index page shows them."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from reportgen import analyses
from reportgen.records import AnalysisRecord
from reportgen.records.json_form import load_record, save_record
from reportgen.run import analysis as runner
from reportgen.site.builder import build_site
from reportgen.site.coverage import coverage_table, model_cells
from tests.site_fixtures import IMG, SCRIPT, TEMPLATE, make_record
from tests.test_runner import fake, model, settings

MODELS = ["cnn", "bilstm"]


@pytest.fixture
def conv_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two fake analyses: ``conv`` skips models without convolutions, ``lm`` skips every model."""
    conv = dataclasses.replace(fake("conv"), skip_reason=lambda m: None if m.name == "cnn"
                               else f"{m.name} has no convolutional layers")
    lm = dataclasses.replace(fake("lm"), skip_reason=lambda m: f"{m.name} is a classify model; "
                             "lm needs a language model")
    fakes = {"conv": conv, "lm": lm}
    monkeypatch.setattr(analyses, "REGISTRY", tuple(fakes))
    monkeypatch.setattr(analyses, "spec", lambda n: fakes[n])


def test_runner_records_why_each_model_was_skipped(conv_only, tmp_path: Path) -> None:
    models = [model("cnn"), model("bilstm")]
    run = settings(tmp_path)
    conv = runner.run_analysis("conv", analyses.spec("conv").params(), models, run)
    assert conv.status == "ok"
    assert conv.skipped_models == {"bilstm": "bilstm has no convolutional layers"}
    lm = runner.run_analysis("lm", analyses.spec("lm").params(), models, run)
    assert lm.status == "skipped" and set(lm.skipped_models) == {"cnn", "bilstm"}
    assert [c.status for c in model_cells(conv, MODELS)] == ["ran", "skipped"]
    assert [c.status for c in model_cells(lm, MODELS)] == ["skipped", "skipped"]
    assert model_cells(lm, MODELS)[0].reason == "cnn is a classify model; lm needs a language model"


def _record(status: str, **kw) -> AnalysisRecord:
    return AnalysisRecord(name="x", title="X", status=status, **kw)


def test_cells_for_every_status() -> None:
    ok = _record("ok", skipped_models={"bilstm": "bilstm has no convolutional layers"})
    assert [(c.status, c.reason) for c in model_cells(ok, MODELS)] == [
        ("ran", ""), ("skipped", "bilstm has no convolutional layers")]
    failed = _record("failed", reason="RuntimeError: boom", skipped_models={"cnn": "cnn: no"})
    assert [(c.status, c.reason) for c in model_cells(failed, MODELS)] == [
        ("skipped", "cnn: no"), ("failed", "RuntimeError: boom")]
    odd = _record("pending")
    assert {c.status for c in model_cells(odd, MODELS)} == {"unknown"}


def test_records_from_before_the_field_read_the_notes() -> None:
    """Reasons begin with the model's name; the longest name that fits is the owner."""
    names = ["lstm", "lstm.v2", "bilstm"]
    notes = ["Skipped: lstm.v2 has no convolutional layers", "Skipped: bilstm's convolutions...",
             "Read from the cache for lstm"]
    cells = model_cells(_record("ok", notes=notes), names)
    assert [c.status for c in cells] == ["ran", "skipped", "skipped"]
    assert cells[1].reason == "lstm.v2 has no convolutional layers"
    skipped = _record("skipped", reason="lstm is a lm model; x needs a classifier; bilstm is too")
    assert {c.reason for c in model_cells(skipped, names)} == {skipped.reason}


def test_the_field_survives_the_saved_record(tmp_path: Path) -> None:
    record = make_record()
    record.analyses[0].skipped_models = {"bilstm": f"bilstm: {SCRIPT}"}
    loaded = load_record(save_record(record, tmp_path / "run"))
    assert loaded.analyses[0].skipped_models == {"bilstm": f"bilstm: {SCRIPT}"}


def _coverage_html(page: str) -> str:
    start = page.index('<section id="coverage">')
    return page[start : page.index("</section>", start)]


@pytest.mark.parametrize("single", [False, True])
def test_index_shows_what_ran_on_which_model(tmp_path: Path, single: bool) -> None:
    record = make_record()
    record.analyses[1] = dataclasses.replace(
        record.analyses[1], skipped_models={"bilstm": f"bilstm reads {IMG} {TEMPLATE}"})
    out = tmp_path / "site"
    build_site(record, out, single_file=single)
    section = _coverage_html((out / "index.html").read_text(encoding="utf-8"))
    assert "What ran on which model" in section
    table = coverage_table(record, lambda name: name)
    assert table.models == MODELS and len(table.rows) == len(record.analyses)
    rows = re.findall(r"<tr>.*?</tr>", section, re.DOTALL)[1:]  # after the header row
    assert len(rows) == len(record.analyses)
    statuses = [re.findall(r'class="cov cov-(\w+)"', row) for row in rows]
    assert statuses == [
        ["ran", "ran"],  # saliency
        ["ran", "skipped"],  # variance_salience: skipped for bilstm only
        ["ran", "ran"],  # filter_top_words
        ["skipped", "skipped"],  # optimization: skipped for every model
        ["failed", "failed"],  # neuron_sweep
    ]
    # the reasons are text from the run: escaped, never markup, never evaluated
    assert SCRIPT not in section and "<img src=x" not in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section  # neuron_sweep's failure
    assert "&lt;img src=x onerror=alert(1)&gt;" in section  # variance_salience's reason
    assert TEMPLATE in section and "49" not in section
