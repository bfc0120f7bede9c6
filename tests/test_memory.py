"""The run's memory budget (``reportgen.memory``): sizes parsed or refused, a guard that stops a
block growing past the budget in the block's own thread, a run stopped with exit 2 and its
previous report untouched, and ``neuron_sweep`` refusing, before its feature passes, unit values
that would not fit."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from reportgen import memory
from reportgen.analyses import neuron_sweep
from reportgen.analyses.base import RunContext
from reportgen.cli import main
from reportgen.data.dataset import Dataset, Example
from reportgen.errors import BadInput

GiB = 2**30


@pytest.mark.parametrize(("text", "size"), [("6GB", 6 * GiB), ("512 MiB", 512 * 2**20),
                                            ("2.5g", int(2.5 * GiB)), ("1000", 1000)])
def test_sizes_are_read_in_bytes(text: str, size: int) -> None:
    assert memory.parse_budget(text) == size


def test_auto_none_and_bad_sizes() -> None:
    assert memory.parse_budget("auto") == "auto" and memory.parse_budget(None) == "auto"
    assert memory.parse_budget("none") is None and memory.resolve_budget("none") is None
    for bad in ("lots", "-1GB", "0", "6 parsecs"):
        with pytest.raises(BadInput, match="is not a size.*valid choices: auto, none"):
            memory.parse_budget(bad)
    auto = memory.resolve_budget("auto")
    available = memory.available_bytes()
    if available is not None:  # what the process holds plus 80% of what the machine has free
        assert memory.resident_bytes() < auto <= memory.resident_bytes() + available


def test_the_guard_stops_a_block_that_grows_past_the_budget() -> None:
    budget = memory.resident_bytes() + 64 * 2**20
    held = []
    with (pytest.raises(memory.MemoryBudgetExceeded, match="reached its memory budget"),
          memory.guard(budget), memory.working_on("saliency", "kim", "saliency.x")):
        for _ in range(400):  # up to 4 GB, 10 MB at a time
            held.append(np.ones(10 * 2**20 // 8))
            time.sleep(0.002)
    grown = len(held) * 10
    # stopped soon after the budget, long before 4 GB (the process's other memory moves with the
    # test suite, so the arrays alone may be a little under the 64 MB)
    assert 0 < grown < 1024, grown
    held.clear()
    with memory.guard(memory.resident_bytes() + GiB):  # a block within its budget ends normally
        time.sleep(0.2)


def test_the_message_names_the_analysis_model_and_setting() -> None:
    with memory.working_on("neuron_sweep", "bert", "neuron_sweep.max_train"):
        text = memory._message(2 * GiB, 3 * GiB)
    assert "while neuron_sweep ran for bert" in text and "lower neuron_sweep.max_train" in text
    assert "raise --memory-budget" in text and "3.0 GiB resident" in text


def test_a_run_over_its_budget_exits_2_and_keeps_the_previous_report(tmp_path: Path) -> None:
    out = tmp_path / "site"
    shutil.copytree(Path(__file__).resolve().parents[1] / "site", out)  # a report reportgen wrote
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    result = CliRunner().invoke(main, ["run", "--out", str(out), "--cache-dir",
                                       str(tmp_path / "cache"), "--quiet", "--only", "saliency",
                                       "--memory-budget", "1MB"])
    assert result.exit_code == 2, result.output
    assert "memory budget" in result.output and "Traceback" not in result.output
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    bad = CliRunner().invoke(main, ["run", "--out", str(out), "--memory-budget", "lots"])
    assert bad.exit_code == 2 and "--memory-budget: 'lots' is not a size" in bad.output


def test_neuron_sweep_refuses_unit_values_that_would_not_fit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    import tempfile

    from reportgen.models.hf import HFAdapter
    from tests.test_transformers import BUILDERS, LABELS, TEXTS

    folder = BUILDERS["bert"](Path(tempfile.mkdtemp()))
    model = HFAdapter(str(folder), source=f"hf:{folder}", device="cpu")
    examples = [Example(t, y) for t, y in zip(TEXTS, LABELS, strict=True)]
    data = Dataset("t", {"test": examples, "train": examples * 50})
    params = neuron_sweep.Params(seeds=1, random_units=3, sweep_values=3, sweep_texts=4)
    # the tiny BERT offers 1 + 2 layers x 2 poolings views of 16 and 32 units: 144 float32
    # units and 3 float64 copies of 32 per text, 1,152 bytes; 400 texts in all need ~450 KB
    held = 10**9  # resident memory held fixed, so that only the estimate decides
    monkeypatch.setattr(memory, "resident_bytes", lambda: held)
    ctx = RunContext(model, examples, data, torch.device("cpu"), 0, batch_size=4,
                     memory_budget=held + 200_000)
    with pytest.raises(memory.MemoryBudgetExceeded, match="lower neuron_sweep.max_train"):
        neuron_sweep.compute(ctx, params)
    ctx.memory_budget = held + 10**7
    assert neuron_sweep.compute(ctx, params).metrics["train_examples"] > 0
