"""A bidirectional GRU sentiment classifier with its own tokenizer, as a user would bring it.

    reportgen run --model examples/custom_model/gru_classifier.py:build --data demo

What reportgen has to cope with here, and how the model tells it:

- its own tokenizer (``tokenize`` below keeps "don't" and "film's" as one token, which reportgen's
  word tokenizer would split) and its own vocabulary (``[PAD]`` = 0, ``[UNK]`` = 1, then the
  training words by frequency): passed as ``reportgen.Tokenizer(tokenize, vocab=itos)``, so the
  report shows the tokens the model really read and the share it read as ``[UNK]``;
- packed sequences inside the forward, and an attention pooling whose weights the forward returns
  beside the logits, ``(logits, weights)``: reportgen reads the first element (the model card
  says so);
- the output layer (``classify``) and the recurrent layer (``encoder``) are found by tracing the
  forward pass, so ``neuron_sweep`` and ``representations`` run without further code.

``build()`` trains the model on the embedded demo corpus on first use (a few seconds on a CPU) and
saves the weights beside this file; later calls load them.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import reportgen

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _training import demo_texts, trained, weights_path

TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")  # words with their contractions; symbols


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def vocabulary(texts: list[str], min_count: int = 2) -> list[str]:
    counts = Counter(t for text in texts for t in tokenize(text))
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return ["[PAD]", "[UNK]", *kept]


class GRUClassifier(nn.Module):
    def __init__(self, vocab_size: int, dim: int = 48, hidden: int = 48, classes: int = 2) -> None:
        super().__init__()
        self.word_vectors = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.encoder = nn.GRU(dim, hidden, batch_first=True, bidirectional=True)
        self.attention = nn.Linear(2 * hidden, 1)
        self.classify = nn.Linear(2 * hidden, classes)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = ids.ne(0)  # (B, T)
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.word_vectors(ids), lengths, batch_first=True,
                                      enforce_sorted=False)
        states, _ = self.encoder(packed)
        # (B, T, 2H)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=ids.size(1))
        scores = self.attention(states).squeeze(-1).masked_fill(~mask, float("-inf"))  # (B, T)
        weights = torch.softmax(scores, -1)  # (B, T)
        pooled = (weights.unsqueeze(-1) * states).sum(1)  # (B, 2H)
        return self.classify(pooled), weights


def build() -> reportgen.UserModel:
    texts, _ = demo_texts("train")
    itos = vocabulary(texts)
    stoi = {t: i for i, t in enumerate(itos)}
    tokenizer = reportgen.Tokenizer(tokenize, vocab=itos, max_len=64)

    def batch(chunk: list[str]) -> torch.Tensor:
        rows = [[stoi.get(t, 1) for t in tokenize(text)][:64] or [1] for text in chunk]
        ids = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        return ids

    classes = ["negative", "positive"]
    model = trained(GRUClassifier(len(itos)), weights_path("gru_classifier.pt"), batch,
                    classes, nn.functional.cross_entropy)
    return reportgen.UserModel(model, tokenizer, classes, name="gru-own-tokenizer")
