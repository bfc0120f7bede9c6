"""Loaders for a user's own labelled files: ``csv:``, ``tsv:``, ``jsonl:`` and ``sst2:``.

Format:
- CSV/TSV: a header row, then one example per row; the text and label columns are named by
  ``text_col`` / ``label_col`` (defaults ``text`` and ``label``). JSONL: one JSON object per line
  with those keys. Files must be UTF-8 (a byte-order mark is fine).
- Labels are kept as strings (``1`` stays ``"1"``); an empty label is an error. A file without the
  label column is read as unlabelled text when the column was not named explicitly (analyses that
  need no labels still run; accuracy says "no labels").
- Splits: when the file has a ``split`` column (key) with values ``train``/``dev``/``test``
  (``validation``/``valid``/``val`` mean ``dev``), rows go to those splits. Otherwise the file is
  one split, ``all``: ``reportgen train`` carves its dev and test parts from it (seeded), and
  ``reportgen run`` evaluates all of it and says so. Separate files per split:
  ``tsv:train=a.tsv,dev=b.tsv,test=c.tsv`` (see ``reportgen.data.loaders``).
- ``sst2:FILE``: ``sentence<TAB>label`` lines with labels 0/1 (negative/positive) and an optional
  header; one split, ``all``, as above. ``sst2:DIR`` reads GLUE's ``train.tsv``, ``dev.tsv`` and,
  when it is labelled, ``test.tsv``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from reportgen.data.dataset import WHOLE, Dataset, Example
from reportgen.data.sources import (
    count_summary,
    existing_path,
    label_text,
    ordered_classes,
    ordered_splits,
    read_utf8,
    require_examples,
    split_name,
)
from reportgen.errors import BadInput

SPLIT_COLUMN = "split"
SST2_CLASSES = ["negative", "positive"]
Row = tuple[int, dict[str, object]]  # (line number, column -> value)


# -- CSV / TSV / JSONL ----------------------------------------------------------------------------
def load_table(spec: str, raw: str, fmt: str, text_col: str, label_col: str,
               label_optional: bool = False) -> Dataset:
    """``csv:FILE``, ``tsv:FILE`` or ``jsonl:FILE`` -> Dataset (see the module docstring).
    ``label_optional``: a missing label column means unlabelled text instead of an error."""
    path = existing_path(spec, raw, want_dir=False)
    text = read_utf8(path)
    if not text.strip():
        raise BadInput(f"{path} is empty")
    if fmt == "jsonl":
        columns, rows = None, list(_jsonl_rows(path, text))
    else:
        columns, rows = _delimited_rows(path, text, "," if fmt == "csv" else "\t")
    all_columns = columns or list(dict.fromkeys(k for _, obj in rows for k in obj))
    unlabelled = label_optional and label_col not in all_columns
    splits = _rows_to_splits(path, columns, rows, text_col, None if unlabelled else label_col)
    labels = [ex.label for exs in splits.values() for ex in exs if ex.label is not None]
    classes = ordered_classes(labels)
    labels_part = "no labels" if unlabelled else f"label column {label_col!r}"
    return Dataset(
        spec=spec,
        splits=splits,
        classes=classes,
        description=f"{fmt.upper()} file {path.name}: {count_summary(splits)}, "
        f"{len(classes)} classes, text column {text_col!r}, {labels_part}",
    )


def _delimited_rows(path: Path, text: str, delimiter: str) -> tuple[list[str], list[Row]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
        columns = [c.strip() for c in header]
        rows: list[Row] = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(columns):
                raise BadInput(
                    f"{path}, line {reader.line_num}: {len(values)} fields where the header has "
                    f"{len(columns)} (is the delimiter right? "
                    f"{_delimiter_name(delimiter)} expected)"
                )
            rows.append((reader.line_num, dict(zip(columns, values, strict=True))))
    except csv.Error as err:
        raise BadInput(f"{path}, line {reader.line_num}: unreadable row ({err})") from None
    return columns, rows


def _delimiter_name(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def _jsonl_rows(path: Path, text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise BadInput(f"{path}, line {number}: not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict):
            raise BadInput(f"{path}, line {number}: expected a JSON object, found {_kind(obj)}")
        yield number, obj


def _kind(obj: object) -> str:
    return {list: "an array", str: "a string"}.get(type(obj), type(obj).__name__)


def _rows_to_splits(
    path: Path, columns: list[str] | None, rows: list[Row], text_col: str, label_col: str | None
) -> dict[str, list[Example]]:
    """Rows -> splits; ``label_col`` None reads unlabelled text."""
    if not rows:
        raise BadInput(f"{path} has a header but no examples")
    if columns is None:  # JSONL: the keys of all objects together
        columns = list(dict.fromkeys(key for _, obj in rows for key in obj))
    for col, option in ((text_col, "--text-col"), (label_col, "--label-col")):
        if col is not None and col not in columns:
            found = ", ".join(repr(c) for c in columns)
            raise BadInput(
                f"{path} has no column {col!r} (choose one with {option}; found: {found})"
            )
    splits: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    has_split = SPLIT_COLUMN in columns
    missing: list[int] = []
    whole: list[Example] = []
    for line, obj in rows:
        text = obj.get(text_col)
        if not isinstance(text, str) or not text.strip():
            raise BadInput(f"{path}, line {line}: empty or missing text in column {text_col!r}")
        label = None if label_col is None else label_text(obj.get(label_col))
        if label is None and label_col is not None:
            missing.append(line)
            continue
        if not has_split:
            whole.append(Example(text, label))
            continue
        name = split_name(str(obj.get(SPLIT_COLUMN) or ""), f"{path}, line {line}")
        splits[name].append(Example(text, label))
    if missing:
        raise BadInput(
            f"{path}: {len(missing)} rows have no value in label column {label_col!r} "
            f"(first at line {missing[0]})"
        )
    return {WHOLE: whole} if not has_split else ordered_splits(splits)


# -- SST-2 ----------------------------------------------------------------------------------------
def load_sst2(spec: str, raw: str) -> Dataset:
    """``sst2:FILE`` (one split, ``train``) or ``sst2:DIR`` (GLUE's train/dev/test.tsv)."""
    path = existing_path(spec, raw)
    if path.is_dir():
        files = {name: path / f"{name}.tsv" for name in ("train", "dev", "test")}
        present = {name: f for name, f in files.items() if f.is_file()}
        if not present:
            raise BadInput(
                f"{path} has none of train.tsv, dev.tsv, test.tsv (SST-2 in GLUE layout)"
            )
        splits = {name: ex for name, f in present.items() if (ex := _sst2_file(f, name == "test"))}
        splits = ordered_splits(splits)
    else:
        splits = {WHOLE: _sst2_file(path, allow_unlabelled=False)}
    require_examples(splits, str(path))
    return Dataset(
        spec=spec,
        splits=splits,
        classes=list(SST2_CLASSES),
        description=f"SST-2 sentences ({path.name}): {count_summary(splits)}",
    )


def _sst2_file(path: Path, allow_unlabelled: bool) -> list[Example]:
    """Examples of one SST-2 file; ``[]`` for GLUE's unlabelled test file when allowed."""
    lines = read_utf8(path).splitlines()
    if not any(line.strip() for line in lines):
        raise BadInput(f"{path} is empty")
    header = lines[0].strip().lower().split("\t")
    if header == ["index", "sentence"]:
        if allow_unlabelled:
            return []
        raise BadInput(f"{path} has no labels (it looks like GLUE's unlabelled SST-2 test file)")
    start = 1 if header == ["sentence", "label"] else 0
    examples = []
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        sentence, tab, label = line.rstrip("\r\n").rpartition("\t")
        if not tab or not sentence.strip():
            raise BadInput(f"{path}, line {number}: expected 'sentence<TAB>label'")
        if not label.strip():
            raise BadInput(f"{path}, line {number}: missing label (expected 0 or 1)")
        if label.strip() not in ("0", "1"):
            raise BadInput(f"{path}, line {number}: label {label.strip()!r} is not 0 or 1")
        examples.append(Example(sentence.strip(), SST2_CLASSES[int(label)]))
    if not examples:
        raise BadInput(f"{path} has a header but no examples")
    return examples
