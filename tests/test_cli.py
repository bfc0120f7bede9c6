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
