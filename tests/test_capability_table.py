"""The README's "What runs on which model" table says what ``skip_reason`` says.

Every analysis's ``skip_reason`` is asked about one small model of each kind (the reference
architectures, a user's own module with a ``Conv1d`` or with a recurrent layer, a Transformers
classifier); the reason it gives is shortened to a label ("no conv layer"...), and the table built
from those labels must be the one in the README. ``python -m tests.test_capability_table`` prints
the table to paste there.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from reportgen import analyses
from reportgen.data.encoding import TextEncoder
from reportgen.models.adapter import HookedAdapter, ModelAdapter, UserModel
from reportgen.models.architectures import ARCHITECTURES

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "### What runs on which model"
TEXTS = ["a good film", "not a bad film at all , really", "dull", "the plot is fine but slow"]
# what a skip reason says -> the label in the table (the README explains each label below it)
LABELS = (
    (r"is an? autoencode model", "autoencoder"),
    (r"is an? lm model", "language model"),
    (r"convolutions run over the characters of each word", "convs inside words"),
    (r"has no convolutional layers", "no conv layer"),
    (r"reads word chars", "reads characters"),
    (r"reads byte", "reads bytes"),
)


def reference(arch: str) -> ModelAdapter:
    cls = ARCHITECTURES[arch]
    encoder = TextEncoder.fit(cls.encoder_kind, TEXTS, max_len=64)
    torch.manual_seed(0)
    module = cls(cls.default_config(encoder.n_tokens, 2))
    return ModelAdapter(module, encoder, ["neg", "pos"], name=arch, arch=arch, source=arch,
                        task=cls.task)


class UserConv(nn.Module):
    """A user's CNN: embedding, one Conv1d + ReLU, max over time, linear."""

    def __init__(self, n_tokens: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(n_tokens, 8, padding_idx=0)
        self.conv = nn.Conv1d(8, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.out = nn.Linear(4, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.act(self.conv(self.tok(ids).transpose(1, 2)))  # (B, 4, T)
        return self.out(h.masked_fill(ids.eq(0)[:, None], 0).amax(-1))  # (B, 2)


class UserRecurrent(nn.Module):
    """A user's recurrent classifier: embedding, a GRU or LSTM, linear on the last real step."""

    def __init__(self, n_tokens: int, rnn: type[nn.RNNBase]) -> None:
        super().__init__()
        self.tok = nn.Embedding(n_tokens, 8, padding_idx=0)
        self.rnn = rnn(8, 6, batch_first=True)
        self.out = nn.Linear(6, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        states = self.rnn(self.tok(ids))[0]  # (B, T, 6)
        last = ids.ne(0).sum(1).clamp(min=1) - 1  # (B,)
        return self.out(states[torch.arange(ids.size(0)), last])  # (B, 2)


def user(name: str, module: Callable[[int], nn.Module]) -> ModelAdapter:
    encoder = TextEncoder.fit("word", TEXTS)
    torch.manual_seed(0)
    return HookedAdapter(UserModel(module(encoder.n_tokens), encoder, ["neg", "pos"], name=name),
                         source=f"{name}.py:build", device="cpu")


def transformers_classifier(tmp: Path) -> ModelAdapter:
    transformers = pytest.importorskip("transformers")
    from reportgen.models.hf import HFAdapter

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "not"]
    tokenizer = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(words)})
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=32, num_labels=2)
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    return HFAdapter(str(tmp), source=f"hf:{tmp}", device="cpu")


def kinds(tmp: Path) -> dict[str, list[ModelAdapter]]:
    """Column header -> the models that stand for it (they must agree on every analysis)."""
    return {
        "`kim-cnn`, `yuan-cnn`, `dilated-cnn`": [reference(a)
                                                 for a in ("kim-cnn", "yuan-cnn", "dilated-cnn")],
        "`char-cnn`": [reference("char-cnn")],
        "`rnn`, `lstm`, `bilstm`": [reference(a) for a in ("rnn", "lstm", "bilstm")],
        "`seq2seq-ae`": [reference("seq2seq-ae")],
        "`byte-lstm-lm`": [reference("byte-lstm-lm")],
        "your model with `Conv1d`": [user("user-cnn", UserConv)],
        "your model with `RNN`/`LSTM`/`GRU`": [
            user("user-gru", lambda n: UserRecurrent(n, nn.GRU)),
            user("user-lstm", lambda n: UserRecurrent(n, nn.LSTM)),
        ],
        "Transformers `hf:`": [transformers_classifier(tmp)],
    }


def label(reason: str | None) -> str:
    if reason is None:
        return "✓"
    for pattern, text in LABELS:
        if re.search(pattern, reason):
            return f"– {text}"
    raise AssertionError(f"no README label for the skip reason {reason!r}: add one to LABELS")


def cell(name: str, models: list[ModelAdapter]) -> str:
    module = analyses.spec(name)
    cells = {label(module.skip_reason(m)) for m in models}
    assert len(cells) == 1, f"{name}: {[m.name for m in models]} differ ({cells}); split the column"
    return cells.pop()


def table(tmp: Path) -> str:
    columns = kinds(tmp)
    lines = ["| analysis | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name in analyses.REGISTRY:
        lines.append(f"| `{name}` | " + " | ".join(cell(name, ms) for ms in columns.values())
                     + " |")
    return "\n".join(lines)


def readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README has no section {SECTION!r}"
    section = text[text.index(SECTION):]
    rows = re.search(r"^\|.*?(?=\n(?!\|))", section, re.MULTILINE | re.DOTALL)
    assert rows, f"no table under {SECTION!r}"
    return rows.group(0).strip()


def test_every_reference_architecture_has_a_column() -> None:
    header = readme_table().splitlines()[0]
    for arch in ARCHITECTURES:
        assert f"`{arch}`" in header, arch


def test_readme_table_matches_skip_reason(tmp_path: Path) -> None:
    expected = table(tmp_path)
    assert readme_table() == expected, f"the README's table should be:\n\n{expected}\n"


def test_every_label_is_explained_below_the_table() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(SECTION):text.index("\n## ", text.index(SECTION))]
    for _, text_ in LABELS:
        assert f"**{text_}**" in section, text_


if __name__ == "__main__":  # print the table for the README
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        sys.stdout.write(table(Path(tmp)) + "\n")
