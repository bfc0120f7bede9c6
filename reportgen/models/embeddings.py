"""Pretrained word vectors (``reportgen train --embeddings FILE``) in word2vec / GloVe text format.

One word per line, ``word v1 ... vD`` separated by spaces; an optional word2vec header line
``N D``; plain or gzipped (``.gz``). Words may contain spaces (GloVe 840B has a few): the last D
fields are the vector. Binary word2vec files are refused with a hint to convert them.

Lookup tries the exact word first, then any file word that lower-cases to it (the first in file
order), since reportgen's word vocabulary is lower-cased. Rows of words without a vector are drawn
from a normal distribution with the found vectors' standard deviation (Kim 2014 does the same with a
uniform one), the padding row is zero.

Cost: one pass over the file (27k x 300 floats: ~1 s).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from reportgen.data.vocab import PAD_ID, Vocab
from reportgen.errors import BadInput


def _lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            yield from fh
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as exc:
        raise BadInput(
            f"embeddings file {str(path)!r} is not a word2vec/GloVe *text* file "
            f"({exc.__class__.__name__}); "
            "binary word2vec files must be converted first, e.g. with gensim's "
            "KeyedVectors.load_word2vec_format(..., binary=True)"
            ".save_word2vec_format(..., binary=False)"
        ) from None


def read_vectors(
    path: str | Path, wanted: set[str] | None = None
) -> tuple[dict[str, np.ndarray], int]:
    """Read a vectors file -> ({word: (D,) float32 vector}, D),
    keeping only ``wanted`` words if given.

    ``BadInput`` on a missing or empty file, a malformed line (naming its number) or vectors of
    different lengths.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"embeddings file {str(path)!r} does not exist")
    vectors: dict[str, np.ndarray] = {}
    dim: int | None = None
    for lineno, line in enumerate(_lines(path), start=1):
        parts = line.rstrip("\r\n").rstrip(" ").split(" ")
        if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
            dim = int(parts[1])  # word2vec header "N D"
            continue
        if parts == [""]:
            continue
        if dim is None:
            dim = len(parts) - 1
            if dim < 1:
                raise BadInput(
                    f"embeddings file {str(path)!r}, line {lineno}: no vector after the word"
                )
        if len(parts) < dim + 1:
            raise BadInput(
                f"embeddings file {str(path)!r}, line {lineno}: {len(parts) - 1} values, "
                f"expected {dim} like the lines before"
            )
        word = " ".join(parts[: len(parts) - dim])
        if wanted is not None and word not in wanted and word.lower() not in wanted:
            continue
        try:
            vec = np.asarray(parts[len(parts) - dim :], dtype=np.float32)
        except ValueError:
            raise BadInput(
                f"embeddings file {str(path)!r}, line {lineno}: a value is not a number"
            ) from None
        if not np.isfinite(vec).all():
            raise BadInput(f"embeddings file {str(path)!r}, line {lineno}: a value is not finite")
        vectors.setdefault(word, vec)
    if dim is None:
        raise BadInput(f"embeddings file {str(path)!r} is empty")
    return vectors, dim


def file_dimension(path: str | Path) -> int:
    """The vector length of a vectors file (reads the file, keeping no vectors)."""
    return read_vectors(path, wanted=set())[1]


def load_vectors(
    path: str | Path,
    vocab: Vocab,
    *,
    generator: torch.Generator | None = None,
    vectors: dict[str, np.ndarray] | None = None,
) -> tuple[torch.Tensor, int]:
    """Embedding matrix (V, D) for ``vocab`` from a vectors file, and how many words had a vector.

    Pass already-read ``vectors`` (from :func:`read_vectors`) to skip reading the file again.
    """
    if vectors is None:
        vectors, dim = read_vectors(path, wanted=set(vocab.itos))
    else:
        dim = len(next(iter(vectors.values()))) if vectors else file_dimension(path)
    lowered: dict[str, np.ndarray] = {}
    for word, vec in vectors.items():
        lowered.setdefault(word.lower(), vec)  # the first of "The" / "the" in file order
    found_rows: dict[int, np.ndarray] = {}
    for i, word in enumerate(vocab.itos):
        if i == PAD_ID:
            continue
        vec = vectors.get(word)
        if vec is None:
            vec = lowered.get(word.lower())
        if vec is not None:
            found_rows[i] = vec
    std = float(np.std(np.stack(list(found_rows.values())))) if found_rows else 0.1
    matrix = torch.randn(len(vocab), dim, generator=generator) * std  # (V, D)
    for i, vec in found_rows.items():
        matrix[i] = torch.from_numpy(vec)
    matrix[PAD_ID] = 0.0
    return matrix, len(found_rows)
