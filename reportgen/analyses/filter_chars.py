"""Filters of a character-CNN word encoder over every word's characters (``filter_top_words``).

Method: every word is spelled and run through the convolutions in one batched pass, shortest
words first, each chunk only as wide as its longest word needs (an exact shortcut, proven on probe
words: the all-padding windows left out each give f(bias), added back); a filter's activation on a
word is its max-pooled output over the word's character windows. Effective weights (a character's
embedding dotted with the filter's weights at each window position) tell which filters cannot fire.

Cost: one forward pass of the convolutions over the words, in chunks.
"""

from __future__ import annotations

import numpy as np
import torch

from reportgen.data.encoding import BOW, EOW
from reportgen.models.conv import ConvLayer
from reportgen.models.hooks import capture, stop_after, to_btc
from reportgen.models.view import ModelView


@torch.no_grad()
def char_activations(
    model: ModelView, layers: list[ConvLayer], words: list[str], chunk: int
) -> dict[str, np.ndarray]:
    """Layer -> (W, filters): each filter's max-pooled activation over each word's characters.

    Words are run shortest first, each chunk only as wide as its longest word needs (plus the
    widest filter), instead of every word padded to the encoder's full width: the windows left out
    hold padding only, and each gives the same activation, f(bias), which is added back. That
    shortcut is used only when it reproduces the full-width result on probe words
    (``_trimming_is_exact``); otherwise every word runs at full width.
    """
    enc = model.text_encoder()
    full = enc.max_word_len + 2
    widest = max(layer.field.size for layer in layers)
    trim = _trimming_is_exact(model, layers, words, widest)
    order = sorted(range(len(words)), key=lambda i: len(words[i]))
    out = {
        layer.name: np.zeros((len(words), _channels(model, layer)), dtype=np.float32)
        for layer in layers
    }
    for lo in range(0, len(order), chunk):
        idx = order[lo : lo + chunk]
        part = [words[i] for i in idx]
        width = full
        if trim:
            width = min(full, max(len(enc.spell(w)) for w in part) + widest - 1)
        pooled = _pooled(model, layers, part, width, padded_windows=width < full)
        for layer in layers:
            out[layer.name][idx] = pooled[layer.name]
    return out


def _channels(model: ModelView, layer: ConvLayer) -> int:
    return int(dict(model.module.named_modules())[layer.name].out_channels)


@torch.no_grad()
def _pooled(
    model: ModelView, layers: list[ConvLayer], words: list[str], width: int, padded_windows: bool
) -> dict[str, np.ndarray]:
    """One forward pass of ``words`` spelled into ``width`` character slots -> layer -> (W, F).
    ``padded_windows``: also count the all-padding windows a full-width slot would have."""
    ids = torch.zeros(len(words), 1, width, dtype=torch.long)  # (W, 1, C): one word per text
    enc = model.text_encoder()
    for i, w in enumerate(words):
        spelled = enc.spell(w)[:width]
        ids[i, 0, : len(spelled)] = torch.tensor(spelled)
    ids = ids.to(model.device)
    mask = torch.ones(len(words), 1, dtype=torch.bool, device=model.device)
    modules = dict(model.module.named_modules())
    with (
        capture(model.module, [layer.read_at for layer in layers]) as seen,
        stop_after(model.module, layers[-1].read_at),
    ):
        model.forward_from_embeddings(model.embed(ids), mask)
    out = {}
    for layer in layers:
        maps = to_btc(seen[layer.read_at], layer.layout)  # (W, L, n_k)
        pooled = maps.max(1).values.float()  # (W, n_k)
        if padded_windows:
            conv = modules[layer.name]
            bias = conv.bias.float() if conv.bias is not None else torch.zeros(conv.out_channels)
            pooled = torch.maximum(pooled, torch.relu(bias.to(pooled.device))[None])
        out[layer.name] = pooled.cpu().numpy()
    return out


@torch.no_grad()
def _trimming_is_exact(
    model: ModelView, layers: list[ConvLayer], words: list[str], widest: int, probes: int = 64
) -> bool:
    """Whether narrow slots plus f(bias) for the all-padding windows equal full-width slots."""
    enc = model.text_encoder()
    full = enc.max_word_len + 2
    shorter = sorted(words, key=len)[: max(1, len(words) // 2)]  # the words that get trimmed
    sample = shorter[:: max(1, len(shorter) // probes)][:probes]
    if not sample:
        return False
    width = max(len(enc.spell(w)) for w in sample) + widest - 1
    if width >= full:
        return False
    short = _pooled(model, layers, sample, width, padded_windows=True)
    exact = _pooled(model, layers, sample, full, padded_windows=False)
    return all(np.allclose(short[n], exact[n], rtol=1e-5, atol=1e-6) for n in exact)


def char_effective_weights(model: ModelView, layer: ConvLayer) -> tuple[np.ndarray, np.ndarray]:
    """(filters, k, characters) effective weights = character embedding . filter weights at each
    window position, and the biases (filters,)."""
    conv = dict(model.module.named_modules())[layer.name]
    n_chars = model.text_encoder().n_tokens
    emb = model.embed(torch.arange(n_chars, device=model.device)[None, None])[0, 0]
    eff = torch.einsum("ce,fek->fkc", emb.float(), conv.weight.float())  # (F, k, V)
    bias = conv.bias.float() if conv.bias is not None else torch.zeros(conv.out_channels)
    return eff.detach().float().cpu().numpy(), bias.detach().cpu().numpy()  # float: autocast's bf16


def cannot_fire(eff: np.ndarray, bias: float) -> bool:
    """Dead: even the best character at every window position (or padding, which adds 0) leaves
    the pre-activation at or below zero. For width 1 this is the blog's rule: no effective weight
    exceeds the magnitude of the (negative) bias."""
    return bool(np.clip(eff.max(-1), 0, None).sum() + bias <= 0)


def char_weight_cells(model: ModelView, eff: np.ndarray):
    """(position, character, weight) of one filter, without the cells no word can produce."""
    itos = model.text_encoder().char_vocab.itos
    for j in range(eff.shape[0]):
        for c, ch in enumerate(itos):
            if c == 0 or ch == "<unk>" or (ch == BOW and j > 0) or (ch == EOW and j == 0):
                continue
            shown = {BOW: "⟨bow⟩", EOW: "⟨eow⟩"}.get(ch, ch)
            yield j, shown, eff[j, c]
