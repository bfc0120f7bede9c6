"""Tokens as a reader sees them: display text, word pieces, flags, words, the vocabulary.

- ``display_tokens``: the text of each token for display, word pieces marked as continuations
  (the view's own ``display_tokens``); ``piece_row`` / ``marks_word_starts``: how subword
  tokenizers mark pieces (WordPiece ``##``, byte BPE ``Ġ``, SentencePiece ``▁``);
- ``word_spans``: those tokens grouped into the words a reader sees (pieces joined, special tokens
  on their own), for merging per-token scores into per-word ones;
- ``token_flags``: per token "unk" (out of the model's vocabulary), "special" or "";
- ``full_lengths``: tokens per text before the model's length limit cuts it;
- ``vocabulary_vectors``: the vectors of every vocabulary entry with special tokens marked (for the
  character CNN, word vectors built from characters), for nearest-word search.

Cost: bookkeeping over tokens; ``vocabulary_vectors`` embeds the vocabulary once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from reportgen.data.encoding import EncodedBatch
from reportgen.data.vocab import UNK_ID
from reportgen.models.view import TokenText, VocabVectors

if TYPE_CHECKING:
    from reportgen.models.view import ModelView

__all__ = [
    "TokenText",
    "VocabVectors",
    "WordSpan",
    "display_tokens",
    "full_lengths",
    "marks_word_starts",
    "piece_row",
    "token_flags",
    "vocabulary_vectors",
    "word_spans",
]


def piece_row(
    tokens: Sequence[str], special: Sequence[bool], starts_marked: bool
) -> list[TokenText]:
    """Subword tokens as display tokens: special ones stand alone; '##ing' (WordPiece) joins the
    piece before; 'Ġword' / '▁word' (byte BPE, SentencePiece) start a word, and where a tokenizer
    marks starts (``starts_marked``), an unmarked piece continues the word before it."""
    row: list[TokenText] = []
    for t, is_special in zip(tokens, special, strict=True):
        if is_special:
            row.append(TokenText(t, False, True))
        elif t.startswith("##"):
            row.append(TokenText(t[2:], True, False))
        elif t.startswith(("Ġ", "▁")):
            row.append(TokenText(t[1:], False, False))
        else:
            row.append(TokenText(t, starts_marked and bool(row) and not row[-1].special, False))
    return row


def marks_word_starts(vocabulary: Iterable[str]) -> bool:
    """Whether a subword vocabulary marks word *starts* (Ġ / ▁): a tenth or more of its entries
    start with a mark (WordPiece vocabularies have next to none)."""
    entries = list(vocabulary)
    marked = sum(t.startswith(("Ġ", "▁")) for t in entries)
    return marked > 0 and marked >= 0.1 * len(entries)


def token_flags(view: ModelView, batch: EncodedBatch) -> list[list[str]]:
    """Per token: "unk" (out of the model's vocabulary), "special" ([CLS], [SEP]...) or ""."""
    if batch.flags is not None:  # the encoder knew (a user's own or a Transformers tokenizer)
        return [list(row) for row in batch.flags]
    if view.input_kind in ("word", "char"):
        unknown = (batch.ids.cpu().numpy() == UNK_ID).tolist()  # (B, T) as lists
        return [["unk" if u else "" for u in unknown[i][: len(toks)]]
                for i, toks in enumerate(batch.tokens)]
    return [[""] * len(toks) for toks in batch.tokens]  # bytes, spelled words: nothing unknown


def full_lengths(view: ModelView, texts: Sequence[str]) -> list[int]:
    """Tokens per text before the model's length limit cuts it."""
    return view.full_lengths(texts)


def display_tokens(view: ModelView, batch: EncodedBatch) -> list[list[TokenText]]:
    """The display text of every token of ``batch`` (Transformers word pieces included)."""
    return view.display_tokens(batch)


@dataclass(frozen=True)
class WordSpan:
    text: str  # the pieces' display texts joined
    start: int  # first token position
    stop: int  # one past the last token position
    special: bool  # a special token ([CLS], <s>...), always a word of its own


def word_spans(row: Sequence[TokenText]) -> list[WordSpan]:
    """The words a reader sees in one text's display tokens: a continuation piece joins the word
    before it (never a special token's), every other token starts a word."""
    spans: list[WordSpan] = []
    for i, tok in enumerate(row):
        if tok.joins_previous and spans and not tok.special and not spans[-1].special:
            last = spans[-1]
            spans[-1] = WordSpan(last.text + tok.text, last.start, i + 1, False)
        else:
            spans.append(WordSpan(tok.text, i, i + 1, tok.special))
    return spans


@torch.no_grad()
def vocabulary_vectors(view: ModelView) -> VocabVectors:
    """Every vocabulary entry's vector, for nearest-word search (special tokens marked)."""
    return view.vocabulary()
