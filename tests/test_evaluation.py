"""Honest evaluation: what the numbers were measured on, training overlap, splits, labels.

A small SST-2-style corpus (sentences from the demo generator, labels 0/1) is written to files; a
model is trained on one file and evaluated on it, on a separate file, and on unlabelled text.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from reportgen.analyses.examples import pick_examples
from reportgen.cli import main
from reportgen.data.demo import demo_dataset


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sst")
    data = demo_dataset(1200)
    rows = [(ex.text, "1" if ex.label == "positive" else "0") for ex in data.split("all")]
    seen, unique = set(), []
    for text, label in rows:  # no text in two files
        if text not in seen:
            seen.add(text)
            unique.append((text, label))
    train, held = unique[:700], unique[700:900]
    paths = {"train": root / "train.tsv", "dev": root / "dev.tsv", "text": root / "new.txt"}
    paths["train"].write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in train))
    paths["dev"].write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in held))
    paths["text"].write_text("".join(f"{t}\n" for t, _ in held[:30]))
    paths["model"] = root / "kim.pt"
    result = invoke("train", "kim-cnn", "--data", f"sst2:{paths['train']}", "--out",
                    str(paths["model"]), "--epochs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    paths["cache"] = root / "cache"
    return paths


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_evaluating_on_the_training_file_flags_the_overlap(corpus, tmp_path: Path) -> None:
    out = tmp_path / "on-train"
    result = invoke("run", "--model", str(corpus["model"]), "--data", f"sst2:{corpus['train']}",
                    "--out", str(out), "--cache-dir", str(corpus["cache"]))
    assert result.exit_code == 0, result.output
    card = report(out)["models"][0]
    # train carved 10% (70) for test, then 10% of the rest (63) for dev: 567 were trained on
    assert card["overlap_count"] == 567 and card["overlap"] == pytest.approx(567 / 700)
    assert "567 of 700 evaluated texts (81.0%) were in the training data" in result.output
    assert "all of it (the data names no splits)" in card["evaluated_on"]
    assert card["trained_on"].startswith(f"sst2:{corpus['train']}")
    assert report(out)["data"]["split"] == "all"


def test_a_separate_file_has_no_overlap_and_says_what_it_evaluated(corpus, tmp_path: Path) -> None:
    out = tmp_path / "held-out"
    spec = f"sst2:train={corpus['train']},test={corpus['dev']}"
    result = invoke("run", "--model", str(corpus["model"]), "--data", spec, "--out", str(out),
                    "--cache-dir", str(corpus["cache"]))
    assert result.exit_code == 0, result.output
    card = report(out)["models"][0]
    assert card["overlap_count"] == 0 and card["overlap"] == 0
    assert "were in the training data" not in result.output
    assert card["evaluated_on"] == f"{spec}, split test, 200 texts"
    assert report(out)["data"]["split"] == "test"


def test_unlabelled_text_is_analysed_without_accuracy(corpus, tmp_path: Path) -> None:
    out = tmp_path / "text"
    result = invoke("run", "--model", str(corpus["model"]), "--data", f"txt:{corpus['text']}",
                    "--out", str(out), "--cache-dir", str(corpus["cache"]), "--quiet")
    assert result.exit_code == 0, result.output
    rep = report(out)
    assert rep["models"][0]["accuracy"] is None and rep["models"][0]["labelled"] is False
    assert rep["analyses"]["saliency"]["status"] == "ok"
    assert rep["analyses"]["saliency"]["metrics"]["examples"] == 30


def test_a_split_the_data_does_not_have_is_an_error(corpus, tmp_path: Path) -> None:
    result = invoke("run", "--model", str(corpus["model"]), "--data", f"sst2:{corpus['dev']}",
                    "--split", "test", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert "has no 'test' split" in result.output and "--split all" in result.output
    assert not (tmp_path / "x").exists()


def test_labels_are_mapped_to_the_model_classes(corpus, tmp_path: Path) -> None:
    tsv = f"tsv:{corpus['dev']}"
    result = invoke("run", "--model", str(corpus["model"]), "--data", tsv, "--text-col", "sentence",
                    "--out", str(tmp_path / "a"))
    assert result.exit_code == 2
    assert "--label-map 0=negative,1=positive" in result.output
    result = invoke("run", "--model", str(corpus["model"]), "--data", tsv, "--text-col", "sentence",
                    "--label-map", "0=negative,1=positive", "--out", str(tmp_path / "b"),
                    "--cache-dir", str(corpus["cache"]), "--quiet")
    assert result.exit_code == 0, result.output
    result2 = invoke("run", "--model", str(corpus["model"]), "--data", f"sst2:{corpus['dev']}",
                     "--out", str(tmp_path / "c"), "--cache-dir", str(corpus["cache"]), "--quiet")
    assert result2.exit_code == 0
    assert (report(tmp_path / "b")["models"][0]["accuracy"]
            == report(tmp_path / "c")["models"][0]["accuracy"])
    assert report(tmp_path / "b")["data"]["label_map"] == {"0": "negative", "1": "positive"}
    bad = invoke("run", "--model", str(corpus["model"]), "--data", tsv, "--text-col", "sentence",
                 "--label-map", "7=negative", "--out", str(tmp_path / "d"))
    assert bad.exit_code == 2 and "does not have: 7" in bad.output


def test_headline_per_model_with_its_uniform_baseline(corpus, tmp_path: Path) -> None:
    out = tmp_path / "b"
    result = invoke("run", "--model", str(corpus["model"]), "--model", str(corpus["model"]),
                    "--data", f"sst2:{corpus['dev']}", "--out", str(out),
                    "--cache-dir", str(corpus["cache"]), "--max-examples", "60")
    assert result.exit_code == 0, result.output
    sal = report(out)["analyses"]["saliency"]
    metrics = sal["metrics"]
    for model in ("kim", "kim-2"):
        assert (0 < metrics[f"{model}.uniform_top_token_share"]
                < metrics[f"{model}.top_token_share"] <= 1)
    # the terminal line: each model's own headline (its baseline is on the index card)
    line = next(t for t in result.output.splitlines() if t.strip().startswith("saliency:"))
    share = f"{100 * metrics['kim.top_token_share']:.1f}%"
    assert f"kim {share}, kim-2 {share}" in line and "top-token share of |dS/de|" in line, line


def test_your_sentences_and_ids_come_first_and_stay_out_of_the_metrics(corpus,
                                                                       tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[saliency]\nsentences = ["I hate the movie"]\nexample_ids = [5]\n'
                      'paper_sentences = false\n')
    out = tmp_path / "yours"
    result = invoke("run", "--model", str(corpus["model"]), "--data", f"sst2:{corpus['dev']}",
                    "--out", str(out), "--cache-dir", str(corpus["cache"]), "--config", str(config),
                    "--max-examples", "40", "--quiet")
    assert result.exit_code == 0, result.output
    sal = report(out)["analyses"]["saliency"]
    assert sal["metrics"]["examples"] == 40
    html = (out / "analyses" / "saliency.html").read_text()
    assert "i hate the movie" in html.lower()
    examples = pd.read_csv(out / "data" / "saliency" / "examples.csv")
    assert examples["source"].tolist().count("yours") == 1


def test_pick_examples_orders_by_purpose() -> None:
    rows = [
        # model, example, label, predicted, confidence
        ("a", 0, "pos", "pos", 0.99), ("b", 0, "pos", "pos", 0.98),  # both right
        ("a", 1, "pos", "neg", 0.90), ("b", 1, "pos", "pos", 0.60),  # disagreement; a wrong
        ("a", 2, "neg", "pos", 0.95), ("b", 2, "neg", "pos", 0.99),  # both confidently wrong
        ("a", 3, None, "pos", 0.70), ("b", 3, None, "pos", 0.70),  # unlabelled
    ]
    predictions = pd.DataFrame(rows,
                               columns=["model", "example_id", "label", "predicted", "confidence"])
    picked = pick_examples(predictions, 6, yours=[3])
    assert picked[0] == (3, "your example")
    assert picked[1] == (1, "the models disagree")
    assert (2, "most confident error of a") in picked
    assert (0, "confidently right") in picked
    assert [i for i, _ in picked] == [3, 1, 2, 0]
