"""`reportgen run` end to end on the demo: the report, reproducibility, render, and a killed run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from reportgen import analyses
from reportgen.cli import main
from reportgen.data.loaders import load_data
from reportgen.data.tokenize import word_tokens

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One demo run (the shipped demo models, copied into the cache): (site, cache folder)."""
    root = tmp_path_factory.mktemp("demo")
    out, cache = root / "site", root / "cache"
    run_cli("run", "--out", str(out), "--cache-dir", str(cache), "--quiet")
    return out, cache


def test_demo_report_has_every_part(demo: tuple[Path, Path]) -> None:
    out, _ = demo
    for rel in ["index.html", "analyses/saliency.html", "report.json", "summary.md",
                "data/saliency/tokens.csv", "assets/style.css"]:
        assert (out / rel).is_file(), rel
    report = json.loads((out / "report.json").read_text())
    assert [m["arch"] for m in report["models"]] == ["rnn", "lstm", "bilstm", "kim-cnn", "char-cnn",
                                                     "byte-lstm-lm"]
    assert report["data"] == {**report["data"], "spec": "demo", "examples": 600,
                              "classes": ["negative", "positive"]}
    sal = report["analyses"]["saliency"]
    assert sal["status"] == "ok" and sal["metrics"]["examples"] == 600
    assert 0 < sal["metrics"]["top_token_share"] < 1


def test_demo_needs_word_order_lstm_beats_bag_of_words(demo: tuple[Path, Path]) -> None:
    """The demo corpus is built so that order matters: the LSTM must clearly beat a BoW model."""
    data = load_data("demo")
    train, test = data.split("train"), data.split("test")
    vec = CountVectorizer(tokenizer=word_tokens, lowercase=False, token_pattern=None)
    bow = LogisticRegression(max_iter=2000).fit(vec.fit_transform([e.text for e in train]),
                                                [e.label for e in train])
    bow_acc = bow.score(vec.transform([e.text for e in test]), [e.label for e in test])
    report = json.loads((demo[0] / "report.json").read_text())
    lstm_acc = next(m["accuracy"] for m in report["models"] if m["arch"] == "lstm")
    assert bow_acc < 0.8
    assert lstm_acc > bow_acc + 0.15


def test_same_seed_same_numbers(demo: tuple[Path, Path], tmp_path: Path) -> None:
    out, cache = demo
    again = tmp_path / "again"
    run_cli("run", "--out", str(again), "--cache-dir", str(cache), "--no-cache", "--quiet")
    first, second = (json.loads((d / "report.json").read_text()) for d in (out, again))
    assert first["analyses"]["saliency"]["metrics"] == second["analyses"]["saliency"]["metrics"]
    assert [m["accuracy"] for m in first["models"]] == [m["accuracy"] for m in second["models"]]
    assert ((out / "data/saliency/tokens.csv").read_bytes()
            == (again / "data/saliency/tokens.csv").read_bytes())


def test_a_cached_rerun_measures_no_model_card_and_writes_no_csv_afresh(
        demo: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing changed: the model cards' measures and the tables' CSV files come from the cache."""
    from reportgen.run import pipeline
    from reportgen.site import table_files

    def computed(*args, **kwargs):
        raise AssertionError("computed again although cached")

    out, cache = demo
    monkeypatch.setattr(pipeline, "measures", computed)
    monkeypatch.setattr(table_files, "table_files", computed)
    again = tmp_path / "again"
    run_cli("run", "--out", str(again), "--cache-dir", str(cache), "--quiet")
    first, second = (json.loads((d / "report.json").read_text()) for d in (out, again))
    assert first["models"] == second["models"]
    assert snapshot(out / "data") == snapshot(again / "data")


def test_render_rebuilds_from_the_cache(demo: tuple[Path, Path], tmp_path: Path) -> None:
    _, cache = demo
    out = tmp_path / "site"
    run_cli("run", "--out", str(out), "--cache-dir", str(cache), "--quiet", "--max-examples", "50")
    before = snapshot(out)
    (out / "analyses" / "saliency.html").unlink()
    run_cli("render", "--out", str(out), "--cache-dir", str(cache))
    assert snapshot(out) == before


DRIVER = """
import sys, time, pathlib
import reportgen.site.builder as builder
real = builder._SiteWriter.write_page
def slow_write_page(self, rel, html, extra_bytes=0):
    real(self, rel, html, extra_bytes)
    pathlib.Path(sys.argv[1]).write_text(rel)   # tell the test a page is half-way written
    time.sleep(60)
builder._SiteWriter.write_page = slow_write_page
from reportgen.cli import main
main(sys.argv[2:])
"""


def test_a_killed_run_leaves_the_previous_site_unchanged(demo: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    _, cache = demo
    out = tmp_path / "site"
    run_cli("run", "--out", str(out), "--cache-dir", str(cache), "--quiet", "--max-examples", "40")
    before = snapshot(out)
    marker = tmp_path / "writing"
    args = ["run", "--out", str(out), "--cache-dir", str(cache), "--quiet", "--max-examples", "80",
            "--no-cache"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(marker), *args], env=env)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the run ended before writing any page"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(out) == before
    # the next run cleans up the dead run's staging folder and completes
    run_cli("run", "--out", str(out), "--cache-dir", str(cache), "--quiet", "--max-examples", "80")
    assert snapshot(out) != before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".site")) == []


def test_render_calls_present_again_so_chart_changes_need_no_model(
    demo: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reportgen.analyses import saliency

    _, cache = demo
    out = tmp_path / "site"
    run_cli("run", "--out", str(out), "--cache-dir", str(cache), "--quiet", "--max-examples", "30")
    real = saliency.present

    def retitled(result, params):
        presentation = real(result, params)
        for chart in presentation.charts:
            chart.title = "Retitled: " + chart.title
        return presentation

    retitled_spec = dataclasses.replace(analyses.spec("saliency"), present=retitled)
    real_spec = analyses.spec
    monkeypatch.setattr(analyses, "spec",
                        lambda n: retitled_spec if n == "saliency" else real_spec(n))
    from reportgen.models import loading

    monkeypatch.setattr(loading, "load_model", lambda *a, **k: pytest.fail("render loaded a model"))
    run_cli("render", "--out", str(out), "--cache-dir", str(cache))
    assert ("Retitled: Most salient words over the data"
            in (out / "analyses" / "saliency.html").read_text())
