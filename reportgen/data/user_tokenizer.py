"""The user's own tokenizer behind the encoder interface,
so reportgen shows the tokens the model saw.

A model trained with its own tokenizer must be analysed with it: re-tokenising with reportgen's word
tokenizer silently turns words into ``<unk>`` ("don't" -> "do" + ``<unk>``). ``Tokenizer`` wraps
any of:

- a callable ``text -> list[int]``: the ids the model reads; ``vocab`` (optional) names them;
- a callable ``text -> list[str]``: tokens, looked up in ``vocab`` (a list, id -> token, or a
  mapping, token -> id); a token missing from it becomes the unknown id;
- a Transformers tokenizer (anything with ``convert_ids_to_tokens`` and ``pad_token_id``): its ids,
  its special tokens and its pad and unknown ids.

Each encoded batch carries per-token flags ("unk": the model read the unknown id; "special": a token
such as [CLS]) and an explicit mask, so the pad id need not be 0. Ids are cut at ``max_len``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from reportgen.data.encoding import EncodedBatch
from reportgen.errors import BadInput

UNK_NAMES = ("<unk>", "[UNK]", "<UNK>", "<oov>", "[OOV]")
PAD_NAMES = ("<pad>", "[PAD]", "<PAD>")


class TokenTable:
    """A vocabulary in the user's own id order: ``itos``, ``stoi``, ``in`` (special tokens
    excluded), ``len``; the parts of ``reportgen.Vocab`` that analyses read."""

    def __init__(self, itos: list[str], special: set[int]) -> None:
        self.itos = itos
        self.stoi = {t: i for i, t in enumerate(itos)}
        self.special = special

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        i = self.stoi.get(token)
        return i is not None and i not in self.special


def _table(vocab: Sequence[str] | Mapping[str, int] | None) -> list[str] | None:
    if vocab is None:
        return None
    if isinstance(vocab, Mapping):
        size = max(vocab.values(), default=-1) + 1
        itos = [f"<id {i}>" for i in range(size)]
        for token, i in vocab.items():
            itos[int(i)] = str(token)
        return itos
    return [str(t) for t in vocab]


def _is_transformers(obj: Any) -> bool:
    return hasattr(obj, "convert_ids_to_tokens") and hasattr(obj, "pad_token_id")


class Tokenizer:
    """Text -> the ids a user's model reads, with the tokens it saw (see the module docstring)."""

    kind = "word"  # for analyses: one token per position, not characters or bytes
    char_vocab = None
    max_word_len = 0

    def __init__(
        self,
        fn: Callable[[str], Sequence[int] | Sequence[str]] | Any,
        vocab: Sequence[str] | Mapping[str, int] | None = None,
        *,
        pad_id: int | None = None,
        unk_id: int | None = None,
        special_ids: Sequence[int] = (),
        max_len: int = 512,
        lowercase: bool = False,
    ) -> None:
        self.fn = fn
        self.transformers = _is_transformers(fn)
        if self.transformers:
            vocab = fn.get_vocab() if vocab is None else vocab
            pad_id = fn.pad_token_id if pad_id is None else pad_id
            unk_id = fn.unk_token_id if unk_id is None else unk_id
            special_ids = tuple(special_ids) or tuple(fn.all_special_ids)
        elif not callable(fn):
            raise BadInput(f"a Tokenizer needs a callable text -> ids or text -> tokens, "
                           f"got {type(fn).__name__}")
        itos = _table(vocab)
        stoi = {t: i for i, t in enumerate(itos)} if itos else {}
        if pad_id is None:
            pad_id = next((stoi[n] for n in PAD_NAMES if n in stoi), 0)
        if unk_id is None:
            unk_id = next((stoi[n] for n in UNK_NAMES if n in stoi), None)
        self.pad_id, self.unk_id = int(pad_id), None if unk_id is None else int(unk_id)
        # Transformers list [UNK] among the special tokens; here it is the unknown token
        self.special_ids = {int(i) for i in special_ids} - {self.pad_id, self.unk_id}
        unknown = {self.unk_id} if self.unk_id is not None else set()
        self.vocab = TokenTable(itos, self.special_ids | {self.pad_id} | unknown) if itos else None
        self.max_len, self.lowercase = int(max_len), lowercase
        self.name = getattr(fn, "__qualname__", None) or type(fn).__name__

    # -- one text ----------------------------------------------------------------------------
    def _split(self, text: str, cut: bool = True) -> tuple[list[int], list[str], list[str]]:
        """(ids, display tokens, flags) of one text, cut at ``max_len`` when ``cut``."""
        if self.transformers:
            kwargs = {"truncation": True, "max_length": self.max_len} if cut else {}
            ids = [int(i) for i in self.fn(text, **kwargs)["input_ids"]]
            tokens = [str(t) for t in self.fn.convert_ids_to_tokens(ids)]
        else:
            out = list(self.fn(text.lower() if self.lowercase else text))
            if out and all(isinstance(t, str) for t in out):
                tokens, ids = [str(t) for t in out], [self._lookup(t) for t in out]
            elif all(isinstance(t, int) or (hasattr(t, "item") and not isinstance(t, str))
                     for t in out):
                ids = [int(t) for t in out]
                tokens = [self.token_text(i) for i in ids]
            else:
                kinds = sorted({type(t).__name__ for t in out})
                raise BadInput(f"tokenizer {self.name!r} returned {', '.join(kinds)} items for "
                               f"{text[:40]!r}; it must return token ids (int) or tokens (str)")
            if cut:
                ids, tokens = ids[: self.max_len], tokens[: self.max_len]
        flags = ["special" if i in self.special_ids else "unk" if i == self.unk_id else ""
                 for i in ids]
        return ids, tokens, flags

    def _lookup(self, token: str) -> int:
        if self.vocab is None:
            raise BadInput(f"tokenizer {self.name!r} returns tokens (str), so reportgen needs "
                           "their ids: pass vocab= (a list, id -> token, or a dict, token -> id)")
        i = self.vocab.stoi.get(token)
        if i is not None:
            return i
        if self.unk_id is None:
            raise BadInput(f"token {token!r} is not in the vocabulary and the vocabulary has no "
                           f"unknown token ({' / '.join(UNK_NAMES)}); pass unk_id=")
        return self.unk_id

    # -- the encoder interface ---------------------------------------------------------------
    def tokens(self, text: str) -> list[str]:
        return self._split(text)[1]

    def token_ids(self, text: str) -> list[int]:
        return self._split(text)[0]

    def full_length(self, text: str) -> int:
        return len(self._split(text, cut=False)[0])

    def encode(self, texts: Sequence[str], min_len: int = 1) -> EncodedBatch:
        rows = [self._split(t) for t in texts]
        width = max([min_len, 1, *(len(ids) for ids, _, _ in rows)])
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)  # (B, T)
        mask = torch.zeros(len(rows), width, dtype=torch.bool)  # (B, T)
        for b, (row, _, _) in enumerate(rows):
            ids[b, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[b, : len(row)] = True
        return EncodedBatch(ids, [toks for _, toks, _ in rows], mask, flags=[f for *_, f in rows])

    @property
    def n_tokens(self) -> int:
        return len(self.vocab) if self.vocab is not None else 0

    def token_text(self, token_id: int) -> str:
        if self.vocab is not None and 0 <= token_id < len(self.vocab):
            return self.vocab.itos[token_id]
        return f"<id {token_id}>"

    def known(self, text: str) -> bool:
        """Whether the model reads every token of ``text`` as a known one (special tokens aside)."""
        return "unk" not in self._split(text)[2]

    def is_special(self, token_id: int) -> bool:
        return token_id == self.pad_id or token_id in self.special_ids

    def decode_ids(self, ids: Sequence[int]) -> str:
        return " ".join(self.token_text(int(i)) for i in ids if int(i) != self.pad_id)

    def to_dict(self) -> dict[str, Any]:
        """What identifies the tokenizer in cache keys (not a way to rebuild it): its vocabulary,
        its settings and its code (the source file of a callable; a Transformers tokenizer's whole
        serialised pipeline: normaliser, pre-tokeniser, merges)."""
        h = hashlib.sha256()
        for t in self.vocab.itos if self.vocab is not None else []:
            h.update(t.encode("utf-8", "surrogatepass") + b"\x00")
        h.update(_code_of(self.fn).encode("utf-8", "surrogatepass"))
        return {"kind": "user", "tokenizer": self.name, "transformers": self.transformers,
                "vocab_and_code": h.hexdigest()[:16], "pad_id": self.pad_id, "unk_id": self.unk_id,
                "special_ids": sorted(self.special_ids), "max_len": self.max_len,
                "lowercase": self.lowercase}


def _code_of(fn: Any) -> str:
    """Text that changes when the tokenizer's behaviour does, as far as it can be read."""
    import inspect

    backend = getattr(fn, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        return backend.to_str()
    if hasattr(fn, "init_kwargs"):  # a slow Transformers tokenizer
        return repr(sorted((k, repr(v)) for k, v in fn.init_kwargs.items()))
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn)
    try:
        path = inspect.getsourcefile(target)
        return Path(path).read_text(encoding="utf-8", errors="replace") if path else ""
    except (TypeError, OSError):
        return ""


def as_encoder(obj: Any):
    """The ``encoder`` a ``UserModel`` was given: a ``TextEncoder`` or ``Tokenizer`` as it is; a
    Transformers tokenizer or a plain callable wrapped in a ``Tokenizer``."""
    from reportgen.data.encoding import TextEncoder

    if isinstance(obj, (TextEncoder, Tokenizer)):
        return obj
    if _is_transformers(obj) or callable(obj):
        return Tokenizer(obj)
    raise BadInput(f"UserModel's encoder must be a reportgen.TextEncoder, a reportgen.Tokenizer, "
                   f"a Transformers tokenizer or a callable text -> ids; got {type(obj).__name__}")
