"""The cache: trained demo models, analysis results, and the last run of each output folder.

Location: ``--cache-dir``, else ``$REPORTGEN_CACHE_DIR``, else the user's cache directory.

- ``demo-models/``: checkpoints of the demo models (see ``reportgen.models.demo_models``).
- ``results/<analysis>/<key>/``: one analysis result, Parquet tables + ``meta.json``. The key hashes
  the analysis name and version, its params, the model fingerprints and the evaluated examples.
- ``runs/<hash of the output folder>/``: the whole ``RunRecord`` of the last run writing that
  folder, which ``reportgen render`` rebuilds the site from.
- ``presentations/<analysis>/<key>.json``: the charts and token views drawn from one result.
- ``measures/<key>.json``: what a model card measured by running one model on the evaluated texts
  (``evaluation.measures``); the key hashes the model, the texts, the batch size and the device.
- ``tables/<key>/``: the CSV (and gzipped full table) the site writes for one table
  (``site.table_files``); the key hashes the table's content and the sampling.
- ``halvings/<key>.json``: the batch size an automatically sized model was halved to in one
  analysis after running out of GPU memory (``analyses.runner._adopt_earlier_halving``), so the
  next run switches to it there.

Everything is written to a temporary folder and renamed into place; nothing is pickled.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from reportgen.records import AnalysisResult


def cache_root(explicit: str | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("REPORTGEN_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("reportgen"))


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _write_atomically(target: Path, write: Any) -> None:
    """Call ``write(tmp_dir)``, then move ``tmp_dir`` to ``target`` (replacing it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def save_result(root: Path, name: str, key: str, result: AnalysisResult) -> None:
    def write(tmp: Path) -> None:
        (tmp / "tables").mkdir()
        for table, frame in result.tables.items():
            frame.to_parquet(tmp / "tables" / f"{table}.parquet", index=False)
        meta = {"metrics": result.metrics, "notes": result.notes, "tables": list(result.tables),
                "labels": result.labels}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))

    _write_atomically(root / "results" / name / key, write)


def load_result(root: Path, name: str, key: str) -> AnalysisResult | None:
    folder = root / "results" / name / key
    try:
        meta = json.loads((folder / "meta.json").read_text())
        tables = {t: pd.read_parquet(folder / "tables" / f"{t}.parquet") for t in meta["tables"]}
    except (OSError, ValueError, KeyError):
        return None
    return AnalysisResult(tables=tables, metrics=meta["metrics"], notes=meta["notes"],
                          labels=meta.get("labels", {}))


def run_folder(root: Path, out: Path) -> Path:
    """Where the last run writing ``out`` keeps its record."""
    return root / "runs" / digest(str(out.resolve()))


@functools.lru_cache(maxsize=1)
def presentation_code() -> str:
    """Hash of the code that draws pages from results: every analysis module and the site's record
    types (any change there redraws the charts); read once per process."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted([*(here / "analyses").glob("*.py"), here / "records" / "__init__.py"]):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def save_presentation(root: Path, name: str, key: str, presentation: Any) -> None:
    """The charts and token views of one analysis, as JSON (never pickle: loading runs no code)."""
    from reportgen.records.json_form import encode

    tables: dict = {}
    encoded = encode(presentation, tables)
    if tables:  # a presentation holds no tables; if one ever does, it is not cached
        return
    _write_json(root / "presentations" / name / f"{key}.json", encoded)


def _write_json(target: Path, value: Any) -> None:
    """A small JSON file written whole or not at all (a best effort: the cache may be read-only)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.{os.getpid()}.part")
        part.write_text(json.dumps(value), encoding="utf-8")
        os.replace(part, target)
    except OSError:
        pass


def load_presentation(root: Path, name: str, key: str) -> Any | None:
    from reportgen.records import Presentation
    from reportgen.records.json_form import decode

    try:
        path = root / "presentations" / name / f"{key}.json"
        value = json.loads(path.read_text(encoding="utf-8"))
        return decode(value, Presentation, root)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_halving(root: Path, key: str, value: dict[str, Any]) -> None:
    """Remember a batch size halved on running out of GPU memory (a small JSON file)."""
    _write_json(root / "halvings" / f"{key}.json", value)


def load_halving(root: Path, key: str) -> dict[str, Any] | None:
    try:
        value = json.loads((root / "halvings" / f"{key}.json").read_text(encoding="utf-8"))
        return value if isinstance(value, dict) and isinstance(value.get("size"), int) else None
    except (OSError, ValueError):
        return None


def save_measures(root: Path, key: str, value: dict[str, Any]) -> None:
    _write_json(root / "measures" / f"{key}.json", value)


def load_measures(root: Path, key: str) -> dict[str, Any] | None:
    try:
        value = json.loads((root / "measures" / f"{key}.json").read_text(encoding="utf-8"))
        return value if isinstance(value, dict) else None
    except (OSError, ValueError):
        return None


def save_table_files(root: Path, key: str, csv: bytes, csv_rows: int,
                     full_gz: bytes | None) -> None:
    """One table's site files (a best effort: the cache may be read-only)."""
    def write(tmp: Path) -> None:
        (tmp / "table.csv").write_bytes(csv)
        if full_gz is not None:
            (tmp / "full.csv.gz").write_bytes(full_gz)
        meta = {"csv_rows": csv_rows, "full": full_gz is not None}
        (tmp / "meta.json").write_text(json.dumps(meta))

    try:
        _write_atomically(root / "tables" / key, write)
    except OSError:
        pass


def load_table_files(root: Path, key: str) -> tuple[bytes, int, bytes | None] | None:
    folder = root / "tables" / key
    try:
        meta = json.loads((folder / "meta.json").read_text())
        full = (folder / "full.csv.gz").read_bytes() if meta["full"] else None
        return (folder / "table.csv").read_bytes(), int(meta["csv_rows"]), full
    except (OSError, ValueError, KeyError, TypeError):
        return None
