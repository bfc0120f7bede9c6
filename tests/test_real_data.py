"""MR end to end: `reportgen train` then `reportgen run` on the real data (skipped without it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from reportgen.cli import main

MR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mr"
pytestmark = pytest.mark.skipif(not MR.is_dir(), reason=f"real data not present at {MR}")


def test_train_then_report_on_mr(tmp_path: Path) -> None:
    ckpt = tmp_path / "kim.pt"
    runner = CliRunner()
    result = runner.invoke(main, ["train", "kim-cnn", "--data", f"mr:{MR}", "--out", str(ckpt),
                                  "--epochs", "2", "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    metrics = torch.load(ckpt, weights_only=True)["metrics"]
    assert metrics["test_accuracy"] > 0.72  # Kim's CNN-rand: 76.1% (10-fold CV); two epochs here
    out = tmp_path / "site"
    result = runner.invoke(main, ["run", "--model", str(ckpt), "--data", f"mr:{MR}",
                                  "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                                  "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    # run evaluates the same held-out 10% that train tested on: the same accuracy, to the example
    assert report["data"]["examples"] == 1066
    assert report["models"][0]["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    sal = report["analyses"]["saliency"]["metrics"]
    assert sal["examples"] == 1066 and 0 < sal["top_token_share"] < 1
