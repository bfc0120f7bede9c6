"""Helpers the data loaders share: checked paths, strict UTF-8 reading, split names, class order.

Every problem a user can fix (a path that is not there, a file that is not UTF-8, a split value we do
not know) is raised as ``BadInput`` naming the file and, where there is one, the line or byte offset.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

from reportgen.data.dataset import Example
from reportgen.errors import BadInput

# split names users write -> the names a Dataset uses
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "dev": "dev",
    "valid": "dev",
    "val": "dev",
    "validation": "dev",
    "test": "test",
    "testing": "test",
}
SPLIT_ORDER = ("train", "dev", "test")
_INT_RE = re.compile(r"-?\d+")


def existing_path(spec: str, raw: str, *, want_dir: bool | None = None) -> Path:
    """``raw`` (the part of a SPEC after the prefix) as an existing path, or ``BadInput``."""
    if not raw:
        raise BadInput(f"data SPEC {spec!r} names no path; write it as PREFIX:PATH")
    path = Path(raw).expanduser()
    if not path.exists():
        raise BadInput(f"data SPEC {spec!r}: {path} does not exist")
    if want_dir is True and not path.is_dir():
        raise BadInput(f"data SPEC {spec!r}: {path} is a file; this format takes a directory")
    if want_dir is False and path.is_dir():
        raise BadInput(f"data SPEC {spec!r}: {path} is a directory; this format takes a file")
    return path


def read_utf8(path: Path) -> str:
    """The whole file as text; a byte-order mark is dropped, invalid UTF-8 is ``BadInput``."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        bad = data[err.start]
        raise BadInput(
            f"{path} is not valid UTF-8: byte 0x{bad:02x} at offset {err.start} cannot be decoded. "
            f"It looks like {guess_encoding(data)}; re-save it as UTF-8, e.g. "
            f"`iconv -f {_iconv_name(guess_encoding(data))} -t utf-8 {path.name} > utf8-{path.name}`"
        ) from None


def guess_encoding(data: bytes) -> str:
    """A best guess at the encoding of bytes that are not UTF-8 (for the error message only)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "UTF-16"
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1 (ISO-8859-1)"
    return "Windows-1252 (cp1252) or latin-1"


def _iconv_name(guess: str) -> str:
    return {"UTF-16": "utf-16"}.get(guess, "cp1252" if guess.startswith("Windows") else "latin1")


def split_name(value: str, where: str) -> str:
    """A split value from a file (``validation``, ``Test``...) -> ``train``/``dev``/``test``."""
    if not value.strip():
        raise BadInput(f"{where}: no split value", choices=SPLIT_ORDER)
    name = SPLIT_ALIASES.get(value.strip().lower())
    if name is None:
        raise BadInput(f"{where}: unknown split {value!r}", choices=SPLIT_ORDER)
    return name


def ordered_splits(splits: dict[str, list[Example]]) -> dict[str, list[Example]]:
    """Splits in train, dev, test order, empty ones dropped."""
    return {name: splits[name] for name in SPLIT_ORDER if splits.get(name)}


def ordered_classes(labels: Iterable[str]) -> list[str]:
    """Distinct labels, numerically ordered when they are all integers, else alphabetically."""
    distinct = set(labels)
    if distinct and all(_INT_RE.fullmatch(x) for x in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def label_text(value: object) -> str | None:
    """A label value from JSON or a table cell as a string; ``None`` when it is missing."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    text = str(value).strip()
    return text or None


def require_examples(splits: dict[str, list[Example]], where: str) -> None:
    if not any(splits.values()):
        raise BadInput(f"{where} has no examples")


def count_summary(splits: dict[str, list[Example]]) -> str:
    """``"9,596 train / 1,066 test"``."""
    return " / ".join(f"{len(exs):,} {name}" for name, exs in splits.items())
