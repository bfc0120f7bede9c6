"""Shared by the two example models: train briefly on reportgen's embedded demo corpus, or load the
weights a previous call saved beside the example (``torch.load(..., weights_only=True)``).

This is the part a real user already has (their own training code and checkpoint); it is here only
so that the examples run offline in seconds. Training: Adam, cross-entropy, a few epochs, seeded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from reportgen.data.loaders import load_data


def weights_path(name: str) -> Path:
    """Beside the examples, or in ``$CUSTOM_MODEL_WEIGHTS`` when set
    (the tests use a temporary one)."""
    return Path(os.environ.get("CUSTOM_MODEL_WEIGHTS", Path(__file__).resolve().parent)) / name


def demo_texts(split: str) -> tuple[list[str], list[str]]:
    examples = load_data("demo").split(split)
    return [ex.text for ex in examples], [str(ex.label) for ex in examples]


def trained(module: nn.Module, weights: Path, batch: Callable[[list[str]], torch.Tensor],
            classes: list[str], loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
            epochs: int = 4, seed: int = 0) -> nn.Module:
    """``module`` with the weights in ``weights``, trained on the demo corpus first if missing."""
    if weights.exists():
        module.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return module.eval()
    torch.manual_seed(seed)
    texts, labels = demo_texts("train")
    targets = torch.tensor([classes.index(label) for label in labels])  # (N,)
    optimiser = torch.optim.Adam(module.parameters(), lr=3e-3)
    order = torch.Generator().manual_seed(seed)
    module.train()
    for _ in range(epochs):
        for chunk in torch.randperm(len(texts), generator=order).split(64):
            optimiser.zero_grad()
            out = module(batch([texts[i] for i in chunk]))
            logits = out[0] if isinstance(out, tuple) else out
            loss(logits, targets[chunk]).backward()
            optimiser.step()
    module.eval()
    torch.save(module.state_dict(), weights)
    return module
