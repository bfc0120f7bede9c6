"""The files behind a page's tables: one CSV each,
and for a long table a sample plus every row gzipped.

Question: a report over 100,000 examples and four models has per-example tables of 400,000 rows;
written as plain CSV, three of them fill the 50 MB site budget. How does every row stay
downloadable while the site stays small?

Method: a table of at most ``LARGE_TABLE_ROWS`` rows is written as ``data/<analysis>/<table>.csv``,
as always. A longer table keeps that file, holding a seeded sample of ``LARGE_TABLE_ROWS`` rows in
their original order (seed: the run's), so scripts that read the CSV still work and the page says
it is a sample; beside it, ``<table>.csv.gz`` holds every row, gzip-compressed with a fixed
timestamp (the same table gives the same bytes). ``report.json`` lists both per table.

Cost: one CSV serialisation per table (a long table's sample is cut from the lines of its full
CSV where that gives the same bytes) and one gzip pass over the long ones (about 20 MB/s). With
a cache folder (``cached_table_files``) a table written before is read back instead: its key
hashes every cell (the bytes of numeric columns, pandas' 64-bit hash of each other cell), the
columns, the seed, the row limit, the versions of pandas, numpy (the sample) and zlib (the gzip
bytes), and this module's code.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

LARGE_TABLE_ROWS = 10_000  # 20,000 left a 100,000-text, four-model site at 51.8 MB
_STREAM = 0x7AB1E  # sub-stream of the run's seed for the CSV sample


@dataclass(frozen=True)
class TableFiles:
    csv: bytes  # the CSV: every row, or the sample of a long table
    csv_rows: int  # rows in ``csv``
    full_gz: bytes | None = None  # every row, gzip-compressed CSV (long tables only)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The table as CSV, numbers to 6 significant digits. A column of numbers held as objects (a
    model's empty table concatenated with the others') is read as numbers first, so the file is
    the same whether the table comes from the run or back from the cache (``render``)."""
    return frame.infer_objects().to_csv(index=False, float_format="%.6g").encode("utf-8")


def table_files(frame: pd.DataFrame, seed: int, limit: int = LARGE_TABLE_ROWS) -> TableFiles:
    """The CSV of ``frame``; over ``limit`` rows, a seeded sample of ``limit`` rows as CSV and
    every row as gzip-compressed CSV."""
    if len(frame) <= limit:
        return TableFiles(to_csv_bytes(frame), len(frame))
    rows = sample_rows(len(frame), seed, limit)
    every = to_csv_bytes(frame)
    sample = _lines_of(frame, every, rows)
    if sample is None:
        sample = to_csv_bytes(frame.iloc[rows])
    return TableFiles(sample, limit, gzip.compress(every, compresslevel=6, mtime=0))


def sample_rows(n: int, seed: int, limit: int) -> np.ndarray:
    """(limit,) the sorted rows a table of ``n`` rows keeps in its CSV (seeded by the run's)."""
    return np.sort(np.random.default_rng([seed, _STREAM]).choice(n, size=limit, replace=False))


def _lines_of(frame: pd.DataFrame, csv: bytes, rows: np.ndarray) -> bytes | None:
    """The CSV of ``frame.iloc[rows]`` cut from ``csv``, the whole frame's CSV, without writing it
    again: the same bytes where each row is one line and each cell is written on its own (numbers,
    booleans, strings, held as such or as objects: not a column of mixed objects or of dates,
    which pandas formats by what the whole column holds) and the sampled rows read as the same
    types as the whole (a column of numbers with gaps is float, its rows without them int); None
    otherwise (a cell with a line break, say): the caller writes it."""
    whole = frame.infer_objects()
    if not all(_cell_by_cell(whole[c]) for c in whole.columns):
        return None
    if not frame.iloc[rows].infer_objects().dtypes.equals(whole.dtypes):
        return None
    lines = csv.split(b"\n")  # the header, one line per row, and "" after the last line break
    if len(lines) != len(frame) + 2 or lines[-1] != b"":
        return None
    return b"\n".join([lines[0], *(lines[1 + int(r)] for r in rows), b""])


def _cell_by_cell(column: pd.Series) -> bool:
    """Whether pandas writes each cell of ``column`` on its own: numbers, booleans, strings (a
    string dtype, or objects that are all strings or missing, as pandas 2 holds them)."""
    kind = column.dtype
    if pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_bool_dtype(kind):
        return True
    if kind == object:
        return pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty")
    return pd.api.types.is_string_dtype(kind)


def cached_table_files(
    frame: pd.DataFrame, seed: int, limit: int, cache_root: Path | None
) -> TableFiles:
    """``table_files``, read from the cache when this table was written before (and saved to it
    otherwise); without a cache folder, or for a table whose cells cannot be hashed, computed."""
    key = table_key(frame, seed, limit) if cache_root is not None else None
    if key is None or cache_root is None:
        return table_files(frame, seed, limit)
    from reportgen import cache

    hit = cache.load_table_files(cache_root, key)
    if hit is not None:
        return TableFiles(*hit)
    written = table_files(frame, seed, limit)
    cache.save_table_files(cache_root, key, written.csv, written.csv_rows, written.full_gz)
    return written


def table_key(frame: pd.DataFrame, seed: int, limit: int) -> str | None:
    """Hash of what ``table_files`` writes for ``frame``; None when a cell cannot be hashed."""
    h = hashlib.sha256(json.dumps([[str(c) for c in frame.columns], [str(t) for t in frame.dtypes],
                                   len(frame), seed, limit, pd.__version__, np.__version__,
                                   zlib.ZLIB_RUNTIME_VERSION, _code()]).encode())
    for i in range(frame.shape[1]):
        column = frame.iloc[:, i]
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biufcmM":
            h.update(np.ascontiguousarray(column.to_numpy()).tobytes())  # exact: -0.0 is not 0.0
            continue
        try:  # categorize=False: 1, 1.0 and True in one object column hash apart, as they print
            h.update(
                pd.util.hash_pandas_object(column, index=False, categorize=False)
                .to_numpy()
                .tobytes()
            )
        except (TypeError, ValueError, NotImplementedError):  # lists, dtypes pandas cannot hash
            return None
    return h.hexdigest()[:20]


@functools.cache
def _code() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
