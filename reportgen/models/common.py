"""Pieces the three adapters share, as free functions (no adapter is a base class of another).

- ``gradients(module)``: grad mode for input gradients, safe for cuDNN's recurrent kernels;
- ``layer_cards(module, chains, axis)``: the model card's ordered layers, receptive fields from
  the conv chains;
- ``encoder_vocabulary(...)``: every entry of a reportgen encoder's vocabulary with its vector;
- ``plain_tokens(batch)``: display tokens of an encoder whose tokens are the words.

Cost: ``encoder_vocabulary`` embeds the whole vocabulary once (for spelled words, in chunks of
1,024 words through the character CNN); the rest is bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from reportgen.data.encoding import EncodedBatch, TextEncoder
from reportgen.models.fields import receptive_fields
from reportgen.models.view import NotApplicable, TokenText, VocabVectors
from reportgen.records import LayerCard

RECURRENT_TYPES = (nn.RNN, nn.LSTM, nn.GRU)
_GRADIENTS: set[int] = set()  # modules inside ``gradients`` now (a nested call adds no hooks)


@contextmanager
def gradients(module: nn.Module) -> Iterator[None]:
    """Grad mode for input gradients. cuDNN's RNNs have no backward pass in eval mode, so cuDNN
    is switched off while each recurrent module runs forward (its backward then follows the
    native kernels); convolutions keep cuDNN."""
    if id(module) in _GRADIENTS:  # nested (a traced forward inside an analysis): hooks are set
        with torch.enable_grad():
            yield
        return
    handles = []
    previous: list[bool] = []

    def off(_m: nn.Module, _inputs: tuple) -> None:
        previous.append(torch.backends.cudnn.enabled)
        torch.backends.cudnn.enabled = False

    def back(_m: nn.Module, _inputs: tuple, _out: object) -> None:
        torch.backends.cudnn.enabled = previous.pop()

    _GRADIENTS.add(id(module))
    try:
        for m in module.modules():
            if isinstance(m, RECURRENT_TYPES):
                handles.append(m.register_forward_pre_hook(off))
                handles.append(m.register_forward_hook(back))
        with torch.enable_grad():
            yield
    finally:
        _GRADIENTS.discard(id(module))
        for h in handles:
            h.remove()
        if previous:  # a recurrent forward raised: restore the setting it changed
            torch.backends.cudnn.enabled = previous[0]


def recurrent_layers(module: nn.Module, name: str) -> list[tuple[str, nn.RNNBase]]:
    """(dotted name, module) of every nn.RNN / nn.LSTM / nn.GRU, or ``NotApplicable``."""
    found = [(n, m) for n, m in module.named_modules() if isinstance(m, RECURRENT_TYPES)]
    if not found:
        raise NotApplicable(f"{name} has no recurrent layer")
    return found


def layer_cards(module: nn.Module, chains: list[list[str]], axis: str) -> list[LayerCard]:
    """Every embedding, conv, pool, recurrent, linear and attention module in module order."""
    modules = dict(module.named_modules())
    rf: dict[str, tuple[int, str]] = {}
    for chain in chains:
        for lname, field_ in zip(chain, receptive_fields([modules[n] for n in chain]), strict=True):
            rf[lname] = (field_.size, axis)
    cards = []
    for lname, m in module.named_modules():
        if not lname:
            continue
        card = _layer_card(lname, m, rf)
        if card is not None:
            cards.append(card)
    return cards


def _layer_card(name: str, m: nn.Module, rf: dict[str, tuple[int, str]]) -> LayerCard | None:
    if isinstance(m, nn.Embedding):
        return LayerCard(name, "embedding", m.embedding_dim, 1)
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        if name not in rf and isinstance(m, nn.Conv2d):
            return None  # not a convolution over the text
        size, axis = rf.get(name, (None, "tokens"))
        return LayerCard(name, "conv", m.out_channels, size, axis)
    if isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)):
        size, axis = rf.get(name, (None, "tokens"))
        return LayerCard(name, "pool", None, size, axis)
    if isinstance(m, RECURRENT_TYPES):
        units = m.hidden_size * (2 if m.bidirectional else 1)
        return LayerCard(name, "recurrent", units, None)
    if isinstance(m, nn.Linear):
        kind = "highway" if "highway" in name else "linear"
        return LayerCard(name, kind, m.out_features, None)
    if isinstance(m, nn.MultiheadAttention):
        return LayerCard(name, "attention", m.embed_dim, None)
    return None


@torch.no_grad()
def encoder_vocabulary(
    name: str,
    enc: TextEncoder,
    embed: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device,
    rows: int | None = None,
    word_vectors: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> VocabVectors:
    """Every entry of ``enc``'s vocabulary (at most ``rows``, the embedding's size) and its vector;
    spelled words (``word_chars``) as the word vectors ``word_vectors`` builds from characters."""
    if enc.kind == "word_chars":
        assert enc.vocab is not None
        if word_vectors is None:
            raise NotApplicable(f"{name} builds words from characters but has no word_vectors")
        words = enc.vocab.itos
        width = enc.max_word_len + 2
        ids = torch.tensor(
            [enc.spell(w) + [0] * (width - len(enc.spell(w))) for w in words], device=device
        )  # (V, C)
        vectors = torch.cat(
            [word_vectors(embed(chunk[:, None]))[:, 0] for chunk in ids.split(1024)]
        )  # (V, D)
        special = [i < 2 for i in range(len(words))]
        return VocabVectors(
            list(words), vectors, np.asarray(special, dtype=bool), "char-cnn word vectors"
        )
    n = min(enc.n_tokens, rows) if enc.n_tokens and rows else enc.n_tokens or rows or 0
    ids = torch.arange(n, device=device)[None]  # (1, V)
    vectors = embed(ids)[0]  # (V, E)
    texts = [enc.token_text(i) for i in range(n)]
    is_special = getattr(enc, "is_special", None)  # the encoder's, not the model's
    if is_special is not None:  # a user's tokenizer: its own pad and special ids
        special = [is_special(i) for i in range(n)]
    else:
        special = [i == 0 for i in range(n)] if enc.kind == "byte" else [i < 2 for i in range(n)]
    return VocabVectors(texts, vectors, np.asarray(special, dtype=bool), "embedding")


def plain_tokens(batch: EncodedBatch) -> list[list[TokenText]]:
    """Display tokens where every token is a word (reference encoders)."""
    return [[TokenText(t, False, False) for t in toks] for toks in batch.tokens]
