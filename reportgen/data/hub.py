"""Loader for Hugging Face datasets: ``hf:NAME[:SPLIT]`` (needs the optional ``datasets`` package).

NAME is either a local directory or a Hub name. A directory written by ``Dataset.save_to_disk`` or
``DatasetDict.save_to_disk`` is read with ``datasets.load_from_disk``; another directory (of CSV or
JSON files) and a Hub name go through ``datasets.load_dataset``, which may download.

Columns: ``text_col`` (default: ``text``, else ``sentence``) and ``label_col`` (default ``label``).
A ``ClassLabel`` label column gives the class names, in its order; other labels are kept as strings.
Splits: ``train``, ``validation``/``dev`` and ``test`` map to ``train``/``dev``/``test``. Without
SPLIT every such split is loaded, except splits with no labels at all (GLUE test sets use -1); with
SPLIT only that one (a name that is not one of those is stored as ``train``, so ``run`` evaluates on
it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from reportgen.data.dataset import Dataset, Example
from reportgen.data.sources import (
    SPLIT_ALIASES,
    count_summary,
    label_text,
    ordered_classes,
    ordered_splits,
)
from reportgen.errors import BadInput

DEFAULT_TEXT_COLUMNS = ("text", "sentence")
DEFAULT_LABEL_COLUMN = "label"
_SAVED_MARKERS = ("dataset_dict.json", "state.json", "dataset_info.json")
_SLICE_RE = re.compile(r"\[.*\]$")


def parse_hf(raw: str) -> tuple[str, str | None]:
    """``NAME[:SPLIT]`` -> (NAME, SPLIT); an existing path is taken whole, colons and all."""
    if not raw:
        raise BadInput("data SPEC 'hf:' names no dataset; write hf:NAME[:SPLIT]")
    if Path(raw).expanduser().exists() or ":" not in raw:
        return raw, None
    name, split = raw.rsplit(":", 1)
    return name, split or None


def load_hf(spec: str, raw: str, text_col: str | None, label_col: str | None) -> Dataset:
    """``hf:NAME[:SPLIT]`` -> Dataset (see the module docstring)."""
    datasets = _import_datasets()
    name, split = parse_hf(raw)
    loaded = _load(datasets, name, split)
    label_col = label_col or DEFAULT_LABEL_COLUMN
    parts = loaded if isinstance(loaded, datasets.DatasetDict) else {split or "train": loaded}
    if split is not None and isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise BadInput(f"Hugging Face dataset {name!r} has no split {split!r}", choices=loaded)
        parts = {split: loaded[split]}
    splits: dict[str, list[Example]] = {}
    skipped: list[str] = []
    classes: list[str] | None = None
    for hf_split, part in parts.items():
        target = _target_split(hf_split, explicit=split is not None)
        if target is None:
            skipped.append(hf_split)
            continue
        tcol = _text_column(name, part, text_col)
        examples, names = _examples(
            name, hf_split, part, tcol, label_col, explicit=split is not None
        )
        if examples is None:
            skipped.append(f"{hf_split} (no labels)")
            continue
        splits[target] = splits.get(target, []) + examples
        classes = classes or names
    splits = ordered_splits(splits)
    if not splits:
        raise BadInput(f"Hugging Face dataset {name!r} has no labelled train/validation/test split")
    if classes is None:
        classes = ordered_classes(ex.label for exs in splits.values() for ex in exs if ex.label)
    note = f"; skipped splits: {', '.join(skipped)}" if skipped else ""
    return Dataset(
        spec=spec,
        splits=splits,
        classes=classes,
        description=f"Hugging Face dataset {name}: {count_summary(splits)}{note}",
    )


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise BadInput(
            "hf: data needs the Hugging Face 'datasets' package: pip install 'reportgen[hf]'"
        ) from None
    return datasets


def _load(datasets: Any, name: str, split: str | None) -> Any:
    path = Path(name).expanduser()
    try:
        if path.is_dir() and any((path / m).is_file() for m in _SAVED_MARKERS):
            return datasets.load_from_disk(str(path))
        if path.is_dir():
            return datasets.load_dataset(str(path), split=split)
        return datasets.load_dataset(name, split=split)
    except (datasets.exceptions.DatasetsError, FileNotFoundError, ConnectionError, ValueError) as e:
        raise BadInput(f"could not load Hugging Face dataset {name!r}: {_first_line(e)}") from None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _target_split(hf_split: str, explicit: bool) -> str | None:
    """Our split name for a Hugging Face one; ``None`` = leave it out (only when not asked for)."""
    target = SPLIT_ALIASES.get(_SLICE_RE.sub("", hf_split).lower())
    if target is None and explicit:
        return "train"
    return target


def _text_column(name: str, part: Any, text_col: str | None) -> str:
    columns = list(part.column_names)
    wanted = (text_col,) if text_col else DEFAULT_TEXT_COLUMNS
    for col in wanted:
        if col in columns:
            return col
    raise BadInput(
        f"Hugging Face dataset {name!r} has no text column {' or '.join(map(repr, wanted))} "
        f"(choose one with --text-col; found: {', '.join(map(repr, columns))})"
    )


def _examples(
    name: str, hf_split: str, part: Any, text_col: str, label_col: str, explicit: bool
) -> tuple[list[Example] | None, list[str] | None]:
    """(examples, ClassLabel names or None); examples is None for a split with no labels at all."""
    if label_col not in part.column_names:
        found = ", ".join(map(repr, part.column_names))
        raise BadInput(
            f"Hugging Face dataset {name!r} has no label column {label_col!r} "
            f"(choose one with --label-col; found: {found})"
        )
    feature = part.features[label_col]
    names = list(feature.names) if hasattr(feature, "names") else None
    labels = [_label(v, names) for v in part[label_col]]
    if not explicit and all(lab is None for lab in labels):
        return None, names
    missing = sum(lab is None for lab in labels)
    if missing:
        raise BadInput(
            f"Hugging Face dataset {name!r}, split {hf_split!r}: {missing} examples have no label "
            f"in column {label_col!r}"
        )
    texts = list(part[text_col])
    empty = sum(not isinstance(t, str) or not t.strip() for t in texts)
    if empty:
        raise BadInput(
            f"Hugging Face dataset {name!r}, split {hf_split!r}: {empty} examples have an empty "
            f"text in column {text_col!r}"
        )
    return [Example(t, lab) for t, lab in zip(texts, labels, strict=True)], names


def _label(value: object, names: list[str] | None) -> str | None:
    if names is None:
        return label_text(value)
    if value is None or not isinstance(value, int) or not 0 <= value < len(names):
        return None  # -1 marks an unlabelled example
    return names[value]
