"""Helpers the data loaders share: checked paths, strict UTF-8 reading, split names, class order.

Every problem a user can fix (a path that is not there, a file that is not UTF-8, a split value we
do not know) is raised as ``BadInput`` naming the file and, where there is one, the line or byte
offset. A gzip-compressed file (found by its magic bytes, whatever its name) is read transparently;
any other binary file (zip, image, PDF, pickle, checkpoint...) is refused as "not a text file".
"""

from __future__ import annotations

import gzip
import io
import math
import re
import zipfile
import zlib
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


GZIP_MAGIC = b"\x1f\x8b"
# leading bytes of binary formats people hand over as data by mistake -> what to call them
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\xfd7zXZ\x00", "an xz-compressed file (decompress it first: unxz)"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file (decompress it first: unzstd)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_TEXT_HELP = ("data files must be UTF-8 text (CSV, TSV, JSONL or SST-2 lines; gzip-compressed is "
              "fine)")


def read_utf8(path: Path) -> str:
    """The whole file as text; a byte-order mark is dropped, invalid UTF-8 is ``BadInput``.

    A gzip file (magic bytes 1f 8b) is decompressed first; a binary file is ``BadInput`` saying so.
    """
    data = path.read_bytes()
    gzipped = data[:2] == GZIP_MAGIC
    if gzipped:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise BadInput(
                f"{path} is gzip-compressed but cannot be decompressed ({err}): the file is "
                f"truncated or corrupt; check it with `gzip -t {path.name}` or fetch it again"
            ) from None
    kind = binary_kind(data)
    if kind is not None:
        held = "holds, once decompressed," if gzipped else "is"
        raise BadInput(f"{path} is not a text file: it {held} {kind}; {_TEXT_HELP}")
    where = " (after gzip decompression)" if gzipped else ""

    def convert(codec: str) -> str:
        iconv = f"iconv -f {codec} -t utf-8"
        if gzipped:
            return f"zcat {path.name} | {iconv} | gzip > utf8-{path.name}"
        return f"{iconv} {path.name} > utf8-{path.name}"

    utf16 = _bomless_utf16(data)
    if utf16 is not None:
        raise BadInput(
            f"{path} is not UTF-8{where}: it looks like {utf16.upper()} text without a byte-order "
            f"mark; re-save it as UTF-8, e.g. `{convert(utf16)}`"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        bad = data[err.start]
        guess = guess_encoding(data)
        raise BadInput(
            f"{path} is not valid UTF-8{where}: byte 0x{bad:02x} at offset {err.start} cannot be "
            f"decoded. It looks like {guess}; re-save it as UTF-8, e.g. "
            f"`{convert(_iconv_name(guess))}`"
        ) from None


def binary_kind(data: bytes) -> str | None:
    """What binary file ``data`` looks like ("a zip archive", ...), or ``None`` for text.

    Text in UTF-16 with a byte-order mark counts as text (the decoder names its encoding); UTF-16
    without one is reported here, since its NUL bytes would otherwise decode as UTF-8.
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None
    for magic, kind in _BINARY_MAGIC:
        if data.startswith(magic):
            return _zip_kind(data) if magic == b"PK\x03\x04" else kind
    if data[:3] == b"BZh" and data[3:4].isdigit():
        return "a bzip2-compressed file (decompress it first: bunzip2)"
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (an old-format PyTorch checkpoint? models go to --model)"
    if b"\x00" in data[:1024] and _bomless_utf16(data) is None:
        return "binary data (it has NUL bytes in its first kilobyte)"
    return None


def _bomless_utf16(data: bytes) -> str | None:
    """``"utf-16le"``/``"utf-16be"`` when ``data`` reads as UTF-16 text with no byte-order mark."""
    head = data[:1024]
    if b"\x00" not in head or head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None
    head = head[: len(head) // 2 * 2]
    units = len(head) // 2
    for codec, high in (("utf-16le", 1), ("utf-16be", 0)):  # where the high byte of a unit sits
        # Latin-script UTF-16: most units have a zero high byte, almost none a zero low byte
        if head[high::2].count(0) < 0.4 * units or head[1 - high :: 2].count(0) > 0.05 * units:
            continue
        try:
            chars = head.decode(codec)
        except UnicodeDecodeError:
            continue
        if sum(c.isprintable() or c.isspace() for c in chars) >= 0.95 * len(chars):
            return codec
    return None


def _zip_kind(data: bytes) -> str:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return "a zip archive"
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "a PyTorch checkpoint (models go to --model)"
    if any(n.startswith("xl/") for n in names):
        return "an Excel workbook (export the sheet as CSV)"
    return "a zip archive (unzip it first)"


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
