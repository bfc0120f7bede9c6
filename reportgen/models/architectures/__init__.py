"""Reference architectures, one registry: ``reportgen train ARCH`` and checkpoints use these names.

Every entry is a ``reportgen.models.base.TextModel`` subclass built from a plain config dict
(``cls.default_config(n_tokens, n_classes)``, possibly changed by ``cls.variant_for_data(spec)``
and user overrides). Optional extras some of them carry, which analyses may use when present:
``sentence_representation(emb, mask)`` (the vector the output layer reads) and ``train_defaults``
(epochs, learning rate, batch size for ``reportgen train``).
"""

from __future__ import annotations

from typing import Any

from reportgen.errors import BadInput
from reportgen.models.architectures.byte_lm import ByteLSTMLM
from reportgen.models.architectures.char_cnn import CharCNN
from reportgen.models.architectures.cnn import DilatedCNN, KimCNN, YuanCNN
from reportgen.models.architectures.recurrent import BiLSTMClassifier, LSTMClassifier, TanhRNN
from reportgen.models.architectures.seq2seq import Seq2SeqAutoencoder
from reportgen.models.base import TextModel

ARCHITECTURES: dict[str, type[TextModel]] = {
    cls.arch: cls
    for cls in (
        KimCNN,
        YuanCNN,
        DilatedCNN,
        TanhRNN,
        LSTMClassifier,
        BiLSTMClassifier,
        CharCNN,
        Seq2SeqAutoencoder,
        ByteLSTMLM,
    )
}


def get_architecture(arch: str) -> type[TextModel]:
    """The class registered as ``arch``; ``BadInput`` naming the registered ones otherwise."""
    if arch not in ARCHITECTURES:
        raise BadInput(f"unknown architecture {arch!r}", choices=ARCHITECTURES)
    return ARCHITECTURES[arch]


def build_model(arch: str, config: dict[str, Any]) -> TextModel:
    """A fresh (untrained) model of ``arch`` from its config dict."""
    return get_architecture(arch)(config)


__all__ = ["ARCHITECTURES", "build_model", "get_architecture"]
