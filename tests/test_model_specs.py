"""Model SPECs other than checkpoints: a user's Python file and a Transformers classifier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import main

USER_MODEL = '''
import torch
from torch import nn
import reportgen
from reportgen.data.vocab import Vocab

class BagOfEmbeddings(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.tok = nn.Embedding(6, 4, padding_idx=0)
        self.out = nn.Linear(4, 2)

    def forward(self, ids):
        mask = ids.ne(0).unsqueeze(-1).float()                  # (B, T, 1)
        return self.out((self.tok(ids) * mask).sum(1))         # (B, 2)

def build():
    encoder = reportgen.TextEncoder("word", Vocab(["<pad>", "<unk>", "good", "bad", "film", "not"]))
    return reportgen.UserModel(BagOfEmbeddings(), encoder, ["neg", "pos"], name="boe")
'''


@pytest.fixture
def csv_data(tmp_path: Path) -> Path:
    path = tmp_path / "d.csv"
    path.write_text("text,label\ngood film,pos\nbad film,neg\nnot good,neg\n", encoding="utf-8")
    return path


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_user_python_file(tmp_path: Path, csv_data: Path) -> None:
    (tmp_path / "mymodel.py").write_text(USER_MODEL, encoding="utf-8")
    out = tmp_path / "site"
    result = run("run", "--model", f"{tmp_path / 'mymodel.py'}:build", "--data", f"csv:{csv_data}",
                 "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["models"][0]["name"] == "boe"
    assert report["models"][0]["parameters"] == 6 * 4 + 4 * 2 + 2
    assert report["analyses"]["saliency"]["status"] == "ok"


def test_user_function_that_returns_the_wrong_thing(tmp_path: Path, csv_data: Path) -> None:
    (tmp_path / "bad.py").write_text("def build():\n    return 42\n", encoding="utf-8")
    result = run("run", "--model", f"{tmp_path / 'bad.py'}:build", "--data", f"csv:{csv_data}",
                 "--out", str(tmp_path / "site"), "--quiet")
    assert result.exit_code == 2
    assert "must return reportgen.UserModel" in result.output


def test_transformers_classifier(tmp_path: Path, csv_data: Path) -> None:
    transformers = pytest.importorskip("transformers")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "not"]
    tokenizer = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(words)})
    assert tokenizer("good film")["input_ids"] == [2, 5, 7, 3]
    config = transformers.BertConfig(
        vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32, num_labels=2,
        id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1},
    )
    import torch

    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    model_dir = tmp_path / "tiny-bert"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    out = tmp_path / "site"
    result = run("run", "--model", f"hf:{model_dir}", "--data", f"csv:{csv_data}",
                 "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["models"][0]["classes"] == ["neg", "pos"]
    assert report["analyses"]["saliency"]["status"] == "ok"
    tokens = (out / "data" / "saliency" / "tokens.csv").read_text()
    assert "[CLS]" in tokens and "good" in tokens
