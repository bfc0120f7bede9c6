"""Text -> tensor encoders, stored inside checkpoints.

An encoder turns raw texts into the id tensor a model consumes and keeps the display tokens that the
analyses label their scores with. Four kinds:

- ``word``: word tokens -> ids, shape (B, T)
- ``char``: characters -> ids, shape (B, T)
- ``byte``: UTF-8 bytes -> ids 1..256 (0 is padding), shape (B, T)
- ``word_chars``: word tokens, each spelled as characters (the lm_1b word encoder's input),
  shape (B, T, C) with C = ``max_word_len`` + 2 (begin- and end-of-word markers).

In every kind id 0 is padding, so ``ids != 0`` (reduced over the character axis for ``word_chars``)
is the token mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from reportgen.data.tokenize import byte_tokens, char_tokens, word_tokens
from reportgen.data.vocab import Vocab

ENCODER_KINDS = ("word", "char", "byte", "word_chars")
BOW, EOW = "\x02", "\x03"  # begin / end of word markers for word_chars


@dataclass
class EncodedBatch:
    ids: torch.Tensor  # (B, T) or (B, T, C), long
    tokens: list[list[str]]  # display tokens, truncated like ids
    mask: torch.Tensor | None = None  # (B, T) bool; derived from ids != 0 when not given
    # per token "" | "unk" | "special", from encoders that know (a user's tokenizer); None: derive
    flags: list[list[str]] | None = None

    def __post_init__(self) -> None:
        if self.mask is None:
            self.mask = token_mask(self.ids)

    def to(self, device: torch.device | str) -> EncodedBatch:
        assert self.mask is not None
        return EncodedBatch(self.ids.to(device), self.tokens, self.mask.to(device), self.flags)


def token_mask(ids: torch.Tensor) -> torch.Tensor:
    """(B, T) or (B, T, C) ids -> (B, T) bool mask of real tokens."""
    return ids.ne(0) if ids.dim() == 2 else ids.ne(0).any(-1)


class TextEncoder:
    def __init__(
        self,
        kind: str,
        vocab: Vocab | None = None,
        char_vocab: Vocab | None = None,
        max_len: int = 64,
        max_word_len: int = 20,
        lowercase: bool = True,
    ) -> None:
        if kind not in ENCODER_KINDS:
            raise ValueError(f"unknown encoder kind {kind!r}; valid: {', '.join(ENCODER_KINDS)}")
        if kind in ("word", "char", "word_chars") and vocab is None:
            raise ValueError(f"encoder kind {kind!r} needs a vocabulary")
        if kind == "word_chars" and char_vocab is None:
            raise ValueError("encoder kind 'word_chars' needs a character vocabulary")
        self.kind = kind
        self.vocab = vocab
        self.char_vocab = char_vocab
        self.max_len = max_len
        self.max_word_len = max_word_len
        self.lowercase = lowercase

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        kind: str,
        texts: Sequence[str],
        max_len: int = 64,
        min_freq: int = 1,
        max_size: int | None = None,
        lowercase: bool = True,
    ) -> TextEncoder:
        """Build the vocabulary (or vocabularies) of ``kind`` from training texts."""
        if kind == "byte":
            return cls("byte", max_len=max_len, lowercase=False)
        if kind == "char":
            vocab = Vocab.build((char_tokens(t, lowercase) for t in texts), min_freq, max_size)
            return cls("char", vocab, max_len=max_len, lowercase=lowercase)
        words = [word_tokens(t, lowercase) for t in texts]
        vocab = Vocab.build(words, min_freq, max_size)
        if kind == "word":
            return cls("word", vocab, max_len=max_len, lowercase=lowercase)
        chars = Vocab.build(([c for w in ws for c in w] for ws in words), 1, None, extra=(BOW, EOW))
        return cls("word_chars", vocab, chars, max_len=max_len, lowercase=lowercase)

    # -- encoding ---------------------------------------------------------------------------
    def tokens(self, text: str) -> list[str]:
        if self.kind == "byte":
            toks = byte_tokens(text)
        elif self.kind == "char":
            toks = char_tokens(text, self.lowercase)
        else:
            toks = word_tokens(text, self.lowercase)
        return toks[: self.max_len]

    def full_length(self, text: str) -> int:
        """How many tokens ``text`` has before cutting at ``max_len``."""
        if self.kind == "byte":
            return len(text.encode("utf-8"))
        if self.kind == "char":
            return len(char_tokens(text, self.lowercase))
        return len(word_tokens(text, self.lowercase))

    def token_ids(self, text: str) -> list[int] | list[list[int]]:
        if self.kind == "byte":
            return [b + 1 for b in text.encode("utf-8")[: self.max_len]]
        toks = self.tokens(text)
        if self.kind == "word_chars":
            return [self.spell(w) for w in toks]
        assert self.vocab is not None
        return self.vocab.encode(toks)

    def spell(self, word: str) -> list[int]:
        """A word as character ids with begin/end markers, cut to ``max_word_len`` characters."""
        assert self.char_vocab is not None
        return self.char_vocab.encode([BOW, *word[: self.max_word_len], EOW])

    def encode(self, texts: Sequence[str], min_len: int = 1) -> EncodedBatch:
        """Texts -> padded ids.

        ``min_len`` pads short batches (convolutions need a minimum width).
        """
        rows = [self.token_ids(t) for t in texts]
        tokens = [self.tokens(t) for t in texts]
        width = max([min_len, 1, *(len(r) for r in rows)])
        if self.kind == "word_chars":
            ids = torch.zeros(len(rows), width, self.max_word_len + 2, dtype=torch.long)
            for i, row in enumerate(rows):
                for j, spelled in enumerate(row):
                    ids[i, j, : len(spelled)] = torch.tensor(spelled)
        else:
            ids = torch.zeros(len(rows), width, dtype=torch.long)
            for i, row in enumerate(rows):
                if row:
                    ids[i, : len(row)] = torch.tensor(row)
        return EncodedBatch(ids=ids, tokens=tokens)

    @property
    def n_tokens(self) -> int:
        """Size of the token id space (what an embedding or output layer must cover)."""
        if self.kind == "byte":
            return 257
        if self.kind == "word_chars":
            assert self.char_vocab is not None
            return len(self.char_vocab)
        assert self.vocab is not None
        return len(self.vocab)

    def token_text(self, token_id: int) -> str:
        if self.kind == "byte":
            if token_id == 0:
                return "<pad>"
            b = token_id - 1
            return chr(b) if 32 <= b < 127 else f"\\x{b:02x}"
        vocab = self.char_vocab if self.kind == "word_chars" else self.vocab
        assert vocab is not None
        return vocab.itos[token_id]

    def decode_ids(self, ids: Sequence[int]) -> str:
        """Token ids -> text (bytes decoded as UTF-8, characters joined, words joined by spaces)."""
        if self.kind == "byte":
            return bytes(i - 1 for i in ids if 0 < i <= 256).decode("utf-8", errors="replace")
        texts = [self.token_text(i) for i in ids if i != 0]
        return ("" if self.kind == "char" else " ").join(texts)

    # -- (de)serialisation: plain types only, so checkpoints load with weights_only=True ----
    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "vocab": self.vocab.to_list() if self.vocab else None,
            "char_vocab": self.char_vocab.to_list() if self.char_vocab else None,
            "max_len": self.max_len,
            "max_word_len": self.max_word_len,
            "lowercase": self.lowercase,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextEncoder:
        return cls(
            d["kind"],
            Vocab(d["vocab"]) if d.get("vocab") else None,
            Vocab(d["char_vocab"]) if d.get("char_vocab") else None,
            max_len=int(d["max_len"]),
            max_word_len=int(d.get("max_word_len", 20)),
            lowercase=bool(d.get("lowercase", True)),
        )
