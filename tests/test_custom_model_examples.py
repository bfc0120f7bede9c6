"""The two user models of ``examples/custom_model/`` through the CLI, as a new user runs them.

They train on the embedded demo corpus on first use (weights in a temporary folder here). The
numbers checked are worked out independently of reportgen's model handling: the unknown-token share
from the example's own tokenizer and vocabulary, the receptive fields from the kernels, the
accuracy from the module's own forward pass."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from reportgen.cli import main
from reportgen.data.loaders import load_data

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "custom_model"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    tmp = tmp_path_factory.mktemp("custom")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CUSTOM_MODEL_WEIGHTS", str(tmp))
        result = CliRunner().invoke(main, [
            "run", "--model", f"{EXAMPLES / 'gru_classifier.py'}:build",
            "--model", f"{EXAMPLES / 'cnn_classifier.py'}:build", "--data", "demo",
            "--max-examples", "120", "--out", str(tmp / "site"), "--cache-dir", str(tmp / "cache"),
            "--quiet"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        gru, cnn = _module("gru_classifier").build(), _module("cnn_classifier").build()
    return json.loads((tmp / "site" / "report.json").read_text()), tmp, (gru, cnn)


def test_every_applicable_analysis_runs_on_both(report) -> None:
    data, tmp, _ = report
    analyses = data["analyses"]
    assert {n: a["status"] for n, a in analyses.items()} == {n: "ok" for n in analyses}
    # the GRU has no convolutions: the conv analyses ran for the CNN only, and say why not the GRU
    for name in ("hidden_saliency", "optimization", "filter_top_words"):
        assert not any(k.startswith("gru-own-tokenizer.") for k in analyses[name]["metrics"])
        assert any(k.startswith("cnn-own-names.") for k in analyses[name]["metrics"])
        page = (tmp / "site" / "analyses" / f"{name}.html").read_text(encoding="utf-8")
        assert "Skipped: gru-own-tokenizer has no convolutional layers" in page


def test_model_cards_say_how_each_model_was_read(report) -> None:
    data, tmp, (gru, cnn) = report
    cards = {m["name"]: m for m in data["models"]}
    sample = _evaluated_texts(data, tmp)
    assert len(sample) == 120
    # unknown share from the example's own tokenizer and vocabulary
    g = _module("gru_classifier")
    itos = set(gru.encoder.vocab.itos)
    tokens = [t for text in sample for t in g.tokenize(text)[:64]]
    assert cards["gru-own-tokenizer"]["unknown_share"] == pytest.approx(
        sum(t not in itos for t in tokens) / len(tokens))
    assert cards["gru-own-tokenizer"]["reading"] == [
        "logits: the first element of the tuple the forward returns"]
    assert cards["cnn-own-names"]["reading"] == [
        "logits: one logit per text, read as a sigmoid: p(second class) = sigmoid(logit)",
        "texts shorter than 5 tokens are padded to 5 (the model's minimum length)"]
    assert cards["cnn-own-names"]["embedding"].startswith("lexicon: token embeddings")
    convs = [(c["name"], c["receptive_field"]) for c in cards["cnn-own-names"]["layers"]
             if c["kind"] == "conv"]
    assert convs == [("detectors.0", 3), ("detectors.1", 5)]  # parallel widths, not a stack of 7
    # accuracy from the module's own forward: sigmoid(logit) > 0.5 <=> logit > 0
    labels = {ex.text: ex.label for ex in load_data("demo").split("test")}
    with torch.no_grad():
        logits = cnn.module(cnn.encoder.encode(sample, min_len=5).ids)[:, 0]
    right = [(float(z) > 0) == (labels[t] == "positive")
             for z, t in zip(logits, sample, strict=True)]
    assert cards["cnn-own-names"]["accuracy"] == pytest.approx(sum(right) / len(right))


def _evaluated_texts(data: dict, tmp: Path) -> list[str]:
    """The evaluated texts, read back from the saliency page's examples CSV."""
    import pandas as pd

    csv = data["analyses"]["saliency"]["tables"]["examples"]["csv"]
    examples = pd.read_csv(tmp / "site" / csv, keep_default_na=False)
    return list(examples[examples["source"] == "data"]["text"])
