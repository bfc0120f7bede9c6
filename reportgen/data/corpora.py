"""Loaders for the two benchmark corpora of the seed papers: MR (``mr:DIR``) and AG News
(``agnews:DIR``).

MR (Pang and Lee 2005): ``rt-polarity.pos`` and ``rt-polarity.neg`` in DIR, latin-1, one snippet per
line (only ``\n`` ends a line; the few C1 control characters, Windows-1252 punctuation in the
original such as ``\x85`` for "…", are shown as that punctuation). There is no official split, so
the loader makes a fixed one: within each class a shuffle with ``MR_SPLIT_SEED`` (a constant, so
``reportgen train`` and ``reportgen run`` always agree) and the first 10% (rounded down) held out as
``test``. The 10,662 snippets give 9,596 train / 1,066 test (533 + 533), the sizes Yuan et al.
(2019) report.

AG News (Zhang, Zhao and LeCun 2015): ``train.csv`` / ``test.csv`` in the original three-column
format ``"class","title","description"`` with a 1-based class index; class names come from
``classes.txt`` when present. The text of an example is ``title. description`` (or whichever is not
empty), with the original's artefacts cleaned for display: ``\\`` (a lost line break) becomes a
space, HTML entities are unescaped, including those whose ``&`` the original replaced by a space
(``Sun #39;s`` -> ``Sun's``, ``Johnson  amp; Johnson`` -> ``Johnson & Johnson``), and runs of
whitespace are collapsed. Markup such as ``<b>`` is kept as text.
"""

from __future__ import annotations

import csv
import html
import io
import random
import re
from pathlib import Path

from reportgen.data.dataset import Dataset, Example
from reportgen.data.sources import count_summary, existing_path, ordered_splits, read_utf8
from reportgen.errors import BadInput

MR_FILES = {"negative": "rt-polarity.neg", "positive": "rt-polarity.pos"}
MR_SPLIT_SEED = 20190127  # fixed: the MR split must not depend on the run's --seed
MR_TEST_SHARE = 0.1

AGNEWS_FILES = {"train": "train.csv", "test": "test.csv"}
AGNEWS_DEFAULT_CLASSES = ["World", "Sports", "Business", "Sci/Tech"]

# an entity whose "&" the original AG News replaced by a space (or that starts the field)
_BARE_ENTITY_RE = re.compile(
    r"(?:^| )(#\d{1,7};|#x[0-9a-fA-F]{1,6};|(?:quot|amp|lt|gt|apos|nbsp);)"
)
_BACKSLASH_RE = re.compile(r"\\+")
_SPACE_RE = re.compile(r"\s+")
# latin-1 C1 control characters that the MR files use as Windows-1252 punctuation (\x85 = "…")
_C1_TO_CP1252 = {
    b: bytes([b]).decode("cp1252")
    for b in range(0x80, 0xA0)
    if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}


# -- MR -------------------------------------------------------------------------------------------
def load_mr(spec: str, raw: str) -> Dataset:
    """``mr:DIR`` -> Dataset with a fixed, class-stratified 90/10 train/test split."""
    root = existing_path(spec, raw, want_dir=True)
    rng = random.Random(MR_SPLIT_SEED)
    train: list[Example] = []
    test: list[Example] = []
    for label, name in MR_FILES.items():
        lines = _mr_lines(root, name)
        rng.shuffle(lines)
        n_test = int(len(lines) * MR_TEST_SHARE)
        test += [Example(t, label) for t in lines[:n_test]]
        train += [Example(t, label) for t in lines[n_test:]]
    rng.shuffle(train)
    rng.shuffle(test)
    splits = {"train": train, "test": test}
    return Dataset(
        spec=spec,
        splits=splits,
        classes=list(MR_FILES),
        description=f"MR movie-review snippets (Pang and Lee 2005), fixed seeded 90/10 split: "
        f"{count_summary(splits)}",
    )


def _mr_lines(root: Path, name: str) -> list[str]:
    path = root / name
    if not path.is_file():
        raise BadInput(f"{root} has no {name} (MR needs {' and '.join(MR_FILES.values())})")
    text = path.read_bytes().decode("latin-1").translate(_C1_TO_CP1252)
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        raise BadInput(f"{path} is empty")
    return lines


# -- AG News --------------------------------------------------------------------------------------
def load_agnews(spec: str, raw: str) -> Dataset:
    """``agnews:DIR`` -> Dataset with the splits of the CSV files present (train, test)."""
    root = existing_path(spec, raw, want_dir=True)
    present = {
        split: root / name for split, name in AGNEWS_FILES.items() if (root / name).is_file()
    }
    if not present:
        raise BadInput(f"{root} has neither train.csv nor test.csv (the AG News CSV files)")
    classes = _agnews_classes(root)
    splits = ordered_splits({split: _agnews_file(path, classes) for split, path in present.items()})
    return Dataset(
        spec=spec,
        splits=splits,
        classes=classes,
        description=f"AG News topics (Zhang et al. 2015), {len(classes)} classes: "
        f"{count_summary(splits)}",
    )


def _agnews_classes(root: Path) -> list[str]:
    path = root / "classes.txt"
    if not path.is_file():
        return list(AGNEWS_DEFAULT_CLASSES)
    names = [line.strip() for line in read_utf8(path).splitlines() if line.strip()]
    if not names:
        raise BadInput(f"{path} is empty (expected one class name per line)")
    return names


def _agnews_file(path: Path, classes: list[str]) -> list[Example]:
    reader = csv.reader(io.StringIO(read_utf8(path), newline=""))
    examples = []
    try:
        for row in reader:
            if not row:
                continue
            examples.append(_agnews_row(path, reader.line_num, row, classes))
    except csv.Error as err:
        raise BadInput(f"{path}, line {reader.line_num}: unreadable row ({err})") from None
    if not examples:
        raise BadInput(f"{path} has no examples")
    return examples


def _agnews_row(path: Path, line: int, row: list[str], classes: list[str]) -> Example:
    if len(row) != 3:
        raise BadInput(
            f"{path}, line {line}: {len(row)} fields; "
            'AG News rows are "class","title","description"'
        )
    index, title, description = row
    if not index.strip().isdigit() or not 1 <= int(index) <= len(classes):
        raise BadInput(
            f"{path}, line {line}: class {index!r} is not an index from 1 to {len(classes)} "
            f"({', '.join(classes)})"
        )
    text = agnews_text(title, description)
    if not text:
        raise BadInput(f"{path}, line {line}: empty title and description")
    return Example(text, classes[int(index) - 1])


def agnews_text(title: str, description: str) -> str:
    """One display text from an AG News title and description (see the module docstring)."""
    title, description = clean_agnews_field(title), clean_agnews_field(description)
    if title and description:
        joiner = " " if title[-1] in ".!?" else ". "
        return title + joiner + description
    return title or description


def clean_agnews_field(text: str) -> str:
    """Line-break backslashes -> spaces, entities (with or without their ``&``) unescaped."""
    text = _BACKSLASH_RE.sub(" ", text)
    text = _BARE_ENTITY_RE.sub(lambda m: "&" + m.group(1), text)
    text = html.unescape(text)
    if "&amp;" in text or "&#" in text:  # escaped twice in the original ("M amp;amp;T")
        text = html.unescape(text)
    return _SPACE_RE.sub(" ", text).strip()
