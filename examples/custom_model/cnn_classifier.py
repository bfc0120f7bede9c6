"""A CNN sentiment classifier with its own layer names and a single sigmoid output.

    reportgen run --model examples/custom_model/cnn_classifier.py:build --data demo

What reportgen has to cope with here, and how the model tells it:

- the embedding is called ``lexicon`` and the convolutions ``detectors.0`` / ``detectors.1``: two
  ``nn.Conv2d`` of kernels (3, E) and (5, E) sliding over (B, 1, T, E), in parallel. Nothing names
  them for reportgen: it traces the forward pass, finds that the two read the embeddings side by
  side (two chains, not one stack) and reads their receptive fields (3 and 5 tokens) from their
  geometry, so ``hidden_saliency``, ``optimization``, ``matching_rate`` and ``filter_top_words``
  run on it;
- no padding in the convolutions, so a text needs at least 5 tokens: declared with
  ``min_len=5``, and reportgen pads shorter texts (the model card says so);
- one logit per text, p(positive) = sigmoid(logit): shape (B, 1), read as a sigmoid;
- windows are pooled only where they start inside the text, so a text scores the same alone as in
  a padded batch (reportgen checks this at load).

``build()`` trains it on the embedded demo corpus on first use with reportgen's own word tokens
(``reportgen.TextEncoder``), and saves the weights beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

import reportgen

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _training import demo_texts, trained, weights_path

WIDTHS = (3, 5)


class SentimentCNN(nn.Module):
    def __init__(self, vocab_size: int, dim: int = 48, filters: int = 32) -> None:
        super().__init__()
        self.lexicon = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.detectors = nn.ModuleList([nn.Conv2d(1, filters, (k, dim)) for k in WIDTHS])
        self.score = nn.Linear(filters * len(WIDTHS), 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.lexicon(ids).unsqueeze(1)  # (B, 1, T, E)
        last_start = (ids.ne(0).sum(1, keepdim=True) - 1)  # (B, 1): windows starting in the text
        pooled = []
        for k, conv in zip(WIDTHS, self.detectors, strict=True):
            maps = torch.relu(conv(x)).squeeze(3)  # (B, F, T - k + 1)
            starts = torch.arange(maps.size(2), device=ids.device)[None]  # (1, L)
            valid = starts <= (last_start - k + 1).clamp(min=0)  # (B, L)
            pooled.append(maps.masked_fill(~valid[:, None], 0).amax(2))  # (B, F)
        return self.score(torch.cat(pooled, 1))  # (B, 1): the logit of "positive"


def build() -> reportgen.UserModel:
    texts, _ = demo_texts("train")
    encoder = reportgen.TextEncoder.fit("word", texts, max_len=64, min_freq=2)
    classes = ["negative", "positive"]

    def batch(chunk: list[str]) -> torch.Tensor:
        return encoder.encode(chunk, min_len=max(WIDTHS)).ids

    def loss(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(logit[:, 0], target.float())

    model = trained(SentimentCNN(encoder.n_tokens), weights_path("cnn_classifier.pt"),
                    batch, classes, loss)
    return reportgen.UserModel(model, encoder, classes, name="cnn-own-names", min_len=max(WIDTHS))
