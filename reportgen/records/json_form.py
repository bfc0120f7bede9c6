"""The public JSON form of the records, and a ``RunRecord`` saved to a directory and loaded back.

``encode(value, tables)`` turns any record (a dataclass of ``reportgen.records``, or lists and
dicts of them) into JSON-ready data, each DataFrame replaced by ``{"$table": name}`` and collected
in ``tables``; ``decode(data, Type, table_dir)`` reverses it from the dataclasses' type hints.
``FORMAT`` is the version of that form: readers refuse another.

``reportgen render`` rebuilds a site from a saved record, with no model at hand. Layout::

    DIR/record.json                        every field, tables replaced by file names
    DIR/tables/<analysis #>-<table #>.parquet

Never pickle: loading a record runs no code. The directory is written beside ``DIR`` and swapped in
as a whole. Fields are (de)serialised from the dataclasses' type hints, so fields added to
``reportgen.records`` later round-trip without changes here; fields missing from an older file
take their defaults.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

import pandas as pd

from reportgen import records as record_module
from reportgen.atomic import staged_directory
from reportgen.errors import BadInput
from reportgen.records import RunRecord

FORMAT = 1
RECORD_FILE = "record.json"
TABLE_DIR = "tables"


def encode(value: Any, tables: dict[str, pd.DataFrame]) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name), tables) for f in dataclasses.fields(value)}
    if isinstance(value, pd.DataFrame):
        name = f"{len(tables)}.parquet"
        tables[name] = value
        return {"$table": name}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v, tables) for k, v in value.items()}
        return {"$pairs": [[encode(k, tables), encode(v, tables)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [encode(v, tables) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(record_module))


def _items(value: dict) -> list[tuple[Any, Any]]:
    return [tuple(p) for p in value["$pairs"]] if "$pairs" in value else list(value.items())


def decode(value: Any, hint: Any, table_dir: Path) -> Any:
    if isinstance(value, dict) and "$table" in value:
        return pd.read_parquet(table_dir / value["$table"])
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None or len(options) != 1:
            return decode(value, Any, table_dir)
        return decode(value, options[0], table_dir)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        known = {f.name for f in dataclasses.fields(hint)}
        kwargs = {k: decode(v, hints[k], table_dir) for k, v in value.items() if k in known}
        return hint(**kwargs)
    if isinstance(value, dict):
        key_hint, value_hint = args if origin is dict and args else (Any, Any)
        return {
            decode(k, key_hint, table_dir): decode(v, value_hint, table_dir)
            for k, v in _items(value)
        }
    if isinstance(value, list):
        item_hint = args[0] if origin is list and args else Any
        return [decode(v, item_hint, table_dir) for v in value]
    if hint is int and isinstance(value, str):  # dict keys
        return int(value)
    return value


def save_record(record: RunRecord, directory: Path) -> Path:
    """Write ``record`` to ``directory`` (replaced as a whole). Returns the directory."""
    tables: dict[str, pd.DataFrame] = {}
    payload = {"format": FORMAT, "record": encode(record, tables)}
    directory = Path(directory)
    with staged_directory(directory) as tmp:
        (tmp / TABLE_DIR).mkdir()
        for name, frame in tables.items():
            frame.to_parquet(tmp / TABLE_DIR / name)
        text = json.dumps(payload, ensure_ascii=False, indent=1)
        (tmp / RECORD_FILE).write_text(text, encoding="utf-8")
    return directory


def load_record(directory: Path) -> RunRecord:
    """Read a record written by ``save_record``."""
    directory = Path(directory)
    path = directory / RECORD_FILE
    if not path.is_file():
        raise BadInput(f"no cached run in {str(directory)!r} (missing {RECORD_FILE})")
    payload = json.loads(path.read_text(encoding="utf-8"))
    if payload.get("format") != FORMAT:
        raise BadInput(
            f"the cached run in {str(directory)!r} has format {payload.get('format')!r}, "
            f"this reportgen reads format {FORMAT}: run 'reportgen run' again"
        )
    return decode(payload["record"], RunRecord, directory / TABLE_DIR)
