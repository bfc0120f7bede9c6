"""Vocabulary: token <-> id, with min-frequency and size limits.

Id 0 is padding and id 1 the unknown token, always. Ties in frequency are broken alphabetically so
the same corpus always gives the same ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from reportgen.errors import BadInput

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


class VocabError(BadInput, ValueError):
    """A vocabulary reportgen cannot use as given: exit 2 from the CLI, a ValueError in code."""


class Vocab:
    def __init__(self, itos: Sequence[str]) -> None:
        if list(itos[:2]) != [PAD, UNK]:
            raise VocabError(
                f"a reportgen Vocab starts with {PAD!r}, {UNK!r} (ids 0 and 1), this one with "
                f"{', '.join(repr(t) for t in itos[:2])}; to keep a model's own ids, pass its "
                "tokenizer instead: reportgen.Tokenizer(fn, vocab=itos)")
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        extra: Sequence[str] = (),
    ) -> Vocab:
        """Most frequent tokens first; ``max_size`` counts the two special tokens."""
        counts = Counter(t for toks in token_lists for t in toks)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq),
                        key=lambda t: (-counts[t], t))
        itos = [PAD, UNK, *[t for t in extra if t not in (PAD, UNK)]]
        seen = set(itos)
        for t in ranked:
            if max_size is not None and len(itos) >= max_size:
                break
            if t not in seen:
                itos.append(t)
                seen.add(t)
        return cls(itos)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def id(self, token: str) -> int:
        return self.stoi.get(token, UNK_ID)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.stoi.get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    def to_list(self) -> list[str]:
        return list(self.itos)
