"""Two processes under torchrun (gloo, CPU) give the report of one process, number for number.

A yuan-cnn with random weights over 90 demo texts in batches of 8, with a detail sample of 30: every
split analysis (saliency, variance_salience, hidden_saliency, optimization, faithfulness,
filter_top_words, neuron_sweep's unit values) cuts its work into batches
that the two ranks share; the tables and ``report.json`` must equal the one-process run's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen import distributed
from reportgen.data.loaders import load_data
from tests.tiny_models import random_yuan_checkpoint

SPLIT = ("saliency,variance_salience,hidden_saliency,optimization,faithfulness,filter_top_words,"
         "neuron_sweep")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("dist")
    demo = load_data("demo")
    examples = demo.split("test")[:90]
    csv = tmp / "d.csv"
    csv.write_text("text,label\n" + "".join(f'"{e.text}",{e.label}\n' for e in examples),
                   encoding="utf-8")
    random_yuan_checkpoint(tmp / "m.pt")
    # a detail sample of 30 of the 90 texts: faithfulness and optimization run over sample ids,
    # split across the ranks
    (tmp / "run.toml").write_text("[run]\nbatch_size = 8\ndetail_examples = 30\n\n"
                                  "[optimization]\nchunk = 64\n",
                                  encoding="utf-8")
    return tmp, csv


def _run(tmp: Path, csv: Path, name: str, procs: int) -> dict:
    args = ["-m", "reportgen", "run", "--model", str(tmp / "m.pt"), "--data", f"csv:{csv}",
            "--only", SPLIT, "--config", str(tmp / "run.toml"), "--out", str(tmp / name),
            "--cache-dir", str(tmp / f"cache-{name}"), "--quiet"]
    launcher = [sys.executable]
    if procs > 1:
        launcher += ["-m", "torch.distributed.run", "--nproc-per-node", str(procs),
                     "--master-addr", "127.0.0.1", "--master-port", str(_free_port())]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([*launcher, *args], env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp / name / "report.json").read_text())


def _numbers(report: dict) -> dict:
    return {name: (a["status"], a["metrics"], {t: v["rows"] for t, v in a["tables"].items()})
            for name, a in report["analyses"].items()}


def test_two_processes_give_the_one_process_report(setup) -> None:
    tmp, csv = setup
    one, two = _run(tmp, csv, "one", 1), _run(tmp, csv, "two", 2)
    assert all(a["status"] == "ok" for a in one["analyses"].values()), one["analyses"]
    assert _numbers(two) == _numbers(one)
    # the sample, 3 locations
    assert one["analyses"]["optimization"]["metrics"]["problems"] == 30 * 3
    assert one["analyses"]["faithfulness"]["metrics"]["examples"] == 30
    assert one["analyses"]["saliency"]["metrics"]["examples"] == 90  # metrics cover every text
    for table in ("saliency/tokens.csv", "faithfulness/texts.csv", "optimization/neighbours.csv",
                  "hidden_saliency/scores.csv", "filter_top_words/top_words.csv",
                  "filter_top_words/filters.csv", "neuron_sweep/units.csv"):
        assert ((tmp / "two" / "data" / table).read_bytes()
                == (tmp / "one" / "data" / table).read_bytes())


def test_batches_are_shared_out_by_rank_and_gathered_in_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert distributed.my_batches(range(0, 50, 8)) == [0, 8, 16, 24, 32, 40, 48]  # one process
    monkeypatch.setattr(distributed, "rank", lambda: 1)
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    assert distributed.my_batches(range(0, 50, 8)) == [8, 32]
    assert distributed.gather_batches({16: "c", 0: "a", 8: "b"}) == ["a", "b", "c"]
