"""Tokenisers: words, characters and bytes.

All three are deterministic pure functions of the text. The word tokeniser lower-cases and splits
off punctuation and English clitics (``it's`` -> ``it 's``), which matches how MR was tokenised.
"""

from __future__ import annotations

import re
from typing import Literal

TokenizerKind = Literal["word", "char", "byte"]
TOKENIZERS: tuple[str, ...] = ("word", "char", "byte")

_WORD_RE = re.compile(r"'(?:s|re|ve|ll|d|m|t)\b|n't\b|[\w]+(?=n't\b)|[\w]+(?:-[\w]+)*|[^\w\s]")


def word_tokens(text: str, lowercase: bool = True) -> list[str]:
    if lowercase:
        text = text.lower()
    return _WORD_RE.findall(text)


def char_tokens(text: str, lowercase: bool = False) -> list[str]:
    return list(text.lower() if lowercase else text)


def byte_tokens(text: str) -> list[str]:
    """One token per UTF-8 byte; printable ASCII shows as itself, other bytes as ``\\xNN``."""
    return [chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in text.encode("utf-8")]


def tokenize(text: str, kind: TokenizerKind, lowercase: bool = True) -> list[str]:
    if kind == "word":
        return word_tokens(text, lowercase)
    if kind == "char":
        return char_tokens(text, lowercase)
    if kind == "byte":
        return byte_tokens(text)
    raise ValueError(f"unknown tokenizer {kind!r}; valid: {', '.join(TOKENIZERS)}")
