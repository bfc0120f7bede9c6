"""The command line: bad input gives one message, exit code 2, no traceback, and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from reportgen.cli import main
from reportgen.data.encoding import TextEncoder
from reportgen.models.architectures import ARCHITECTURES
from reportgen.models.checkpoint import Checkpoint, save_checkpoint


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """An untrained kim-cnn checkpoint that knows the classes neg/pos."""
    texts = ["a good film", "a bad film", "not good", "not bad at all"]
    encoder = TextEncoder.fit("word", texts, max_len=16)
    cls = ARCHITECTURES["kim-cnn"]
    torch.manual_seed(0)
    module = cls(cls.default_config(encoder.n_tokens, 2))
    path = tmp_path / "kim.pt"
    save_checkpoint(Checkpoint("kim-cnn", module.config, encoder, ["neg", "pos"],
                               module.state_dict()), path)
    return path


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    path = tmp_path / "good.csv"
    path.write_text("text,label\na good film,pos\na bad film,neg\nnot good,neg\n", encoding="utf-8")
    return path


def invoke(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def bad_input_cases(tmp: Path, ckpt: Path, good_csv: Path) -> dict[str, tuple[list[str], str]]:
    no_col = tmp / "nocol.csv"
    no_col.write_text("review,label\nfine,pos\n", encoding="utf-8")
    empty = tmp / "empty.csv"
    empty.write_text("", encoding="utf-8")
    unknown_labels = tmp / "labels.csv"
    unknown_labels.write_text("text,label\na good film,pos\nmeh,maybe\n", encoding="utf-8")
    latin = tmp / "latin.csv"
    latin.write_bytes("text,label\ncaf\xe9 cr\xe8me,pos\n".encode("latin-1"))
    data = f"csv:{good_csv}"
    return {
        "missing model": (["--model", str(tmp / "nope.pt"), "--data", data], "nope.pt"),
        "missing data": (["--model", str(ckpt), "--data", f"mr:{tmp / 'no-such-dir'}"],
                         "no-such-dir"),
        "unknown prefix": (["--model", str(ckpt), "--data", "parquet:x"], "valid choices"),
        "missing column": (["--model", str(ckpt), "--data", f"csv:{no_col}"], "review"),
        "empty file": (["--model", str(ckpt), "--data", f"csv:{empty}"], "empty"),
        "unknown labels": (["--model", str(ckpt), "--data", f"csv:{unknown_labels}"], "'maybe'"),
        "not utf-8": (["--model", str(ckpt), "--data", f"csv:{latin}"], "UTF-8"),
        "unknown analysis": (["--model", str(ckpt), "--data", data, "--only", "nope"], "saliency"),
        "bad device": (["--model", str(ckpt), "--data", data, "--device", "tpu"], "auto, cpu"),
        "not a checkpoint": (["--model", str(good_csv), "--data", data], "checkpoint"),
        "data without a model": (["--data", data], "--model is required"),
        "model without data": (["--model", str(ckpt)], "--data is required"),
    }


CASES = [
    "missing model", "missing data", "unknown prefix", "missing column", "empty file",
    "unknown labels", "not utf-8", "unknown analysis", "bad device", "not a checkpoint",
    "data without a model", "model without data",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_and_writes_nothing(case: str, tmp_path: Path, checkpoint: Path,
                                              good_csv: Path) -> None:
    args, needle = bad_input_cases(tmp_path, checkpoint, good_csv)[case]
    out = tmp_path / "site"
    result = invoke(["run", *args, "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                     "--quiet"])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") <= 1 or case == "unknown analysis"
    assert not out.exists()


def test_bad_input_keeps_the_previous_site(tmp_path: Path, checkpoint: Path,
                                           good_csv: Path) -> None:
    out = tmp_path / "site"
    result = invoke(["run", "--model", str(checkpoint), "--data", f"csv:{good_csv}",
                     "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert result.exit_code == 0, result.output
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    result = invoke(["run", "--model", str(checkpoint), "--data", f"csv:{tmp_path / 'gone.csv'}",
                     "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert result.exit_code == 2
    assert "gone.csv" in result.output
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_run_refuses_a_folder_it_did_not_write_before_any_compute(
    tmp_path: Path, checkpoint: Path, good_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reportgen.run import pipeline

    project = tmp_path / "thesis"
    (project / "src").mkdir(parents=True)
    (project / "report.json").write_text('{"coverage": 0.93}')
    (project / "thesis.tex").write_text("\\documentclass{article}")
    (project / "src" / "main.py").write_text("print('hi')")
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    monkeypatch.setattr(pipeline, "load_dataset", lambda c: pytest.fail("computed before refusing"))
    result = invoke(["run", "--model", str(checkpoint), "--data", f"csv:{good_csv}",
                     "--out", str(project), "--quiet"])
    assert result.exit_code == 2
    assert str(project) in result.output and "Traceback" not in result.output
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before


def test_a_second_run_into_the_same_folder_is_refused(tmp_path: Path, checkpoint: Path,
                                                      good_csv: Path) -> None:
    import subprocess
    import sys
    import time

    out = tmp_path / "site"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time, pathlib; from reportgen.site.output_dir import lock\n"
        "with lock(pathlib.Path(sys.argv[1])):\n"
        "    pathlib.Path(sys.argv[2]).write_text('held'); time.sleep(60)\n"),
        str(out), str(tmp_path / "held")])
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "held").exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        result = invoke(["run", "--model", str(checkpoint), "--data", f"csv:{good_csv}",
                         "--out", str(out), "--quiet"])
        assert result.exit_code == 2
        assert f"pid {holder.pid}" in result.output and "another reportgen run" in result.output
    finally:
        holder.kill()
        holder.wait()
    result = invoke(["run", "--model", str(checkpoint), "--data", f"csv:{good_csv}",
                     "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert result.exit_code == 0, result.output


def test_train_rejects_unknown_arch_with_the_choices(tmp_path: Path, good_csv: Path) -> None:
    result = invoke(["train", "transformer-xl", "--data", f"csv:{good_csv}",
                     "--out", str(tmp_path / "m.pt")])
    assert result.exit_code == 2
    assert "kim-cnn" in result.output and "byte-lstm-lm" in result.output
    assert not (tmp_path / "m.pt").exists()


def test_run_on_a_checkpoint_writes_report(tmp_path: Path, checkpoint: Path,
                                           good_csv: Path) -> None:
    out = tmp_path / "site"
    result = invoke(["run", "--model", str(checkpoint), "--data", f"csv:{good_csv}",
                     "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["models"][0]["arch"] == "kim-cnn"
    assert report["data"]["examples"] == 3
    assert report["analyses"]["saliency"]["status"] == "ok"
    assert report["analyses"]["saliency"]["metrics"]["examples"] == 3


def test_list_names_every_analysis_and_architecture() -> None:
    result = invoke(["list"])
    assert result.exit_code == 0
    for name in ["saliency", "faithfulness", *ARCHITECTURES, "mr", "agnews", "hf:DIR_OR_NAME"]:
        assert name in result.output


TINY = Path(__file__).resolve().parent / "tiny_models.py"


def test_run_prints_each_analysis_headline_per_model(tmp_path: Path) -> None:
    """An analysis whose headline exists per model only (no pooled value: faithfulness) prints that
    model's number and the label naming its method, not a bare "ok"."""
    csv = tmp_path / "d.csv"
    csv.write_text("text,label\na b,pos\nb,neg\na a,pos\nb b,neg\n", encoding="utf-8")
    out = tmp_path / "site"
    result = invoke(["run", "--model", f"{TINY}:tanh_sum_model", "--data", f"csv:{csv}",
                     "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                     "--only", "faithfulness"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "report.json").read_text())["analyses"]["faithfulness"]["metrics"]
    assert "comprehensiveness" not in metrics  # nothing pooled: the headline is per model only
    (line,) = [x for x in result.output.splitlines() if x.strip().startswith("faithfulness:")]
    value = f"{metrics['tanh-sum.comprehensiveness']:.3g}"
    assert line.startswith(f"  faithfulness: tanh-sum {value} (comprehensiveness of "), line
    assert "faithfulness: ok" not in result.output


def test_the_summary_line_of_six_models_is_cut_and_names_the_shared_label() -> None:
    from dataclasses import replace

    from reportgen.cli import SUMMARY_VALUES_WIDTH, _summary_line
    from reportgen.records import AnalysisRecord
    from tests.site_fixtures import make_record

    names = ["rnn", "lstm", "bilstm", "kim-cnn", "char-cnn", "byte-lstm-lm"]
    record = make_record()
    record.models = [replace(record.models[0], name=n) for n in names]
    metrics = {f"{n}.comprehensiveness": 0.5 + i / 100 for i, n in enumerate(names)}
    metrics |= {f"{n}.random_comprehensiveness": 0.2 for n in names}
    metrics |= {"lstm.comprehensiveness": 0.1, "lstm.comprehensiveness_ci_low": 0.05,
                "lstm.comprehensiveness_ci_high": 0.15, "comprehensiveness": 0.9}
    labels = {f"{n}.comprehensiveness": "comprehensiveness of integrated gradients"
              for n in names}
    faith = AnalysisRecord(name="faithfulness", title="F", status="ok",
                           headline="comprehensiveness", metrics=metrics, labels=labels,
                           headline_label="comprehensiveness of the best attribution",
                           baselines={"comprehensiveness": "random_comprehensiveness"})
    mixed = replace(faith, name="mixed", labels={**labels, "rnn.comprehensiveness": "other"})
    many = [f"model-number-{i}" for i in range(12)]
    wide = AnalysisRecord(name="wide", title="W", status="ok", headline="share",
                          metrics={f"{m}.share": 0.25 for m in many})
    record.analyses = [faith, mixed, wide, *record.analyses[-2:]]
    head, *lines = _summary_line(record, "site").splitlines()
    assert head == "Report written to site/index.html (5.2 s)."
    # every model's own headline, in the models' order, with the label they share; the pooled 0.9
    # is no headline; a model below its baseline is named after the values
    assert lines[0] == ("  faithfulness: rnn 0.5, lstm 0.1, bilstm 0.52, kim-cnn 0.53, char-cnn "
                        "0.54, byte-lstm-lm 0.55 (comprehensiveness of integrated gradients); "
                        "below random: lstm")
    assert lines[1].startswith("  mixed: rnn 0.5, ") and lines[1].endswith(
        "(comprehensiveness of the best attribution); below random: lstm")  # labels differ
    values = lines[2].removeprefix("  wide: ").removesuffix(" (share)")
    assert values.startswith("model-number-0 25.0%, model-number-1 25.0%, ")
    assert values.endswith(", …") and len(values) <= SUMMARY_VALUES_WIDTH
    assert lines[3:] == ["  optimization: skipped", "  neuron_sweep: failed"]
