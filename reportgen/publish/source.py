"""What DIR is -- a report or a compare folder -- with its id, its files and its index entry.

A **report** is a folder holding ``report.json`` and ``index.html`` (what ``reportgen run``
writes). Its run id is deterministic: ``<created>-<hash>``, the report's ``created`` time in UTC
(``20261121T211726Z``) and the first 8 hex digits of the SHA-256 of its ``report.json``. The same
report published twice gets the same id, and so the same permalink ``runs/<run-id>/``.

A **compare folder** holds ``compare.json`` and ``compare.html`` (what ``reportgen compare``
writes). Its id is built the same way from ``compare.json`` (its ``created`` when it has one,
else ``undated``), under ``compares/<id>/``. The runs it compares are linked from the runs index
and from the published ``compare.html`` when ``compare.json`` names them, in either form::

    {"old": {"run_id": "20261121T211726Z-1a2b3c4d"}, "new": {...}}
    {"old": {"created": "2026-11-21T21:17:26+00:00", "report_sha256": "1a2b..."}, "new": {...}}

(``run_id(report_json_bytes)`` and ``run_id_from(created, sha256_hex)`` compute the first form).

Hidden files and folders (``.reportgen-manifest.json``, a stray ``.env``) and symbolic links are
never published. Everything else in DIR is, under the run's folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reportgen.errors import BadInput
from reportgen.site.manifest import MANIFEST_NAME

REPORT_FILES = ("report.json", "index.html")
COMPARE_FILES = ("compare.json", "compare.html")
ID_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,79}$")
MAX_TEXT = 300  # characters kept of any string copied from a report into the runs index


def stamp(created: object) -> str:
    """``2026-11-21T21:17:26+00:00`` -> ``20261121T211726Z``; ``undated`` when it does not parse."""
    if not isinstance(created, str):
        return "undated"
    try:
        when = datetime.fromisoformat(created.strip())
    except ValueError:
        return "undated"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def run_id_from(created: object, sha256_hex: str) -> str:
    """The run id of a report created at ``created`` whose report.json hashes to ``sha256_hex``."""
    return f"{stamp(created)}-{sha256_hex[:8].lower()}"


def run_id(report_json: bytes) -> str:
    """The run id of a report, from the bytes of its ``report.json``."""
    try:
        created = json.loads(report_json).get("created")
    except (ValueError, AttributeError):
        created = None
    return run_id_from(created, hashlib.sha256(report_json).hexdigest())


def published_url(base_url: str, run_id: str, *, folder: str = "runs") -> str:
    """The address of a published run: ``published_url("https://h/repo", id)`` ->
    ``https://h/repo/runs/<id>/``; ``folder="compares"`` for a compare folder."""
    return f"{base_url.rstrip('/')}/{folder}/{run_id}/"


@dataclass(frozen=True)
class LocalFile:
    """One file of DIR: its path relative to DIR (POSIX) and where it is on disk."""

    rel: str
    path: Path

    @property
    def size(self) -> int:
        return self.path.stat().st_size


@dataclass
class Source:
    """The folder to publish."""

    kind: str  # "run" or "compare"
    id: str
    root: Path
    files: list[LocalFile]
    entry: dict[str, Any]  # its line in runs.json
    skipped: list[str] = field(default_factory=list)  # hidden files and links left out

    @property
    def folder(self) -> str:
        return "runs" if self.kind == "run" else "compares"

    @property
    def prefix(self) -> str:
        return f"{self.folder}/{self.id}/"


def _text(value: object) -> str:
    return str(value)[:MAX_TEXT] if value is not None else ""


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _per_model(metrics: dict[str, Any], metric: str) -> dict[str, float]:
    """``{"rnn": 0.26, ...}`` from ``{"rnn.top_token_share": 0.26, ...}``."""
    return {
        _text(key[: -len(metric) - 1]): float(v)
        for key, v in metrics.items()
        if isinstance(key, str) and key.endswith(f".{metric}") and _number(v) is not None
    }


def _headlines(analyses: object) -> list[dict[str, Any]]:
    """Each analysis's headline metric per model (and overall), beside its baseline, as
    report.json gives them."""
    rows: list[dict[str, Any]] = []
    if not isinstance(analyses, dict):
        return rows
    for name, a in analyses.items():
        if not isinstance(a, dict) or a.get("status") != "ok":
            continue
        metrics, metric = a.get("metrics"), a.get("headline")
        if not isinstance(metrics, dict) or not isinstance(metric, str) or not metric:
            continue
        baselines = a.get("baselines") if isinstance(a.get("baselines"), dict) else {}
        baseline = baselines.get(metric) if isinstance(baselines.get(metric), str) else None
        per_model, value = _per_model(metrics, metric), _number(metrics.get(metric))
        if value is None and not per_model:
            continue
        rows.append({
            "analysis": _text(name), "title": _text(a.get("title") or name),
            "metric": _text(metric), "value": value, "per_model": per_model,
            "baseline": _text(baseline) if baseline else None,
            "baseline_value": _number(metrics.get(baseline)) if baseline else None,
            "baseline_per_model": _per_model(metrics, baseline) if baseline else {},
        })
    return rows


def report_entry(report: dict[str, Any], rid: str) -> dict[str, Any]:
    """The runs index's line for a report: date, models, data and headline numbers."""
    models = []
    for m in report.get("models") or []:
        if isinstance(m, dict):
            models.append({
                "name": _text(m.get("name")), "arch": _text(m.get("arch")),
                "accuracy": _number(m.get("accuracy")),
            })
    data = report.get("data") if isinstance(report.get("data"), dict) else {}
    return {
        "id": rid,
        "path": f"runs/{rid}/",
        "created": _text(report.get("created")),
        "reportgen_version": _text(report.get("reportgen_version")),
        "models": models,
        "data": {
            "spec": _text(data.get("spec")), "split": _text(data.get("split")),
            "examples": _number(data.get("examples")),
        },
        "headlines": _headlines(report.get("analyses")),
    }


def _compared_run(side: object) -> str | None:
    """The run id that one side (``old``/``new``) of compare.json names, when it names one."""
    if not isinstance(side, dict):
        return None
    rid = side.get("run_id")
    if isinstance(rid, str) and ID_PATTERN.match(rid):
        return rid
    digest = side.get("report_sha256")
    if isinstance(digest, str) and re.fullmatch(r"[0-9a-fA-F]{8,64}", digest):
        return run_id_from(side.get("created"), digest)
    return None


def compare_entry(compare: dict[str, Any], cid: str) -> dict[str, Any]:
    return {
        "id": cid,
        "path": f"compares/{cid}/",
        "created": _text(compare.get("created")),
        "old": _compared_run(compare.get("old")),
        "new": _compared_run(compare.get("new")),
    }


def _read_json(path: Path, what: str) -> tuple[dict[str, Any], bytes]:
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except OSError as exc:
        raise BadInput(f"{what}: cannot read {path.name} ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise BadInput(f"{what}: {path.name} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{what}: {path.name} does not hold a JSON object")
    return data, raw


def list_files(root: Path) -> tuple[list[LocalFile], list[str]]:
    """Every regular file under ``root``, sorted; hidden names and links are left out (returned
    second, as relative paths)."""
    files: list[LocalFile] = []
    skipped: list[str] = []
    for folder, dirs, names in os.walk(root):
        base = Path(folder)
        rel_base = base.relative_to(root).as_posix()
        prefix = "" if rel_base == "." else f"{rel_base}/"
        for d in list(dirs):
            if d.startswith(".") or (base / d).is_symlink():
                skipped.append(f"{prefix}{d}/")
                dirs.remove(d)
        dirs.sort()
        for name in sorted(names):
            mode = (base / name).lstat().st_mode
            if name.startswith(".") or not stat.S_ISREG(mode):
                if f"{prefix}{name}" != MANIFEST_NAME:  # every report has one: no news
                    skipped.append(f"{prefix}{name}")
                continue
            files.append(LocalFile(f"{prefix}{name}", base / name))
    return sorted(files, key=lambda f: f.rel), sorted(skipped)


def load_source(directory: str | Path) -> Source:
    """Read DIR; ``BadInput`` when it is missing or is neither a report nor a compare folder."""
    root = Path(directory)
    what = f"DIR {str(directory)!r}"
    if not root.exists():
        raise BadInput(f"{what} does not exist; give the folder 'reportgen run --out' wrote")
    if not root.is_dir():
        raise BadInput(f"{what} is not a folder; give the folder 'reportgen run --out' wrote")
    root = root.resolve()
    if (root / "report.json").is_file():
        if not (root / "index.html").is_file():
            raise BadInput(f"{what} has a report.json but no index.html, so it is no report site")
        report, raw = _read_json(root / "report.json", what)
        rid = run_id(raw)
        kind, entry = "run", report_entry(report, rid)
    elif all((root / name).is_file() for name in COMPARE_FILES):
        compare, raw = _read_json(root / "compare.json", what)
        rid = run_id_from(compare.get("created"), hashlib.sha256(raw).hexdigest())
        kind, entry = "compare", compare_entry(compare, rid)
    else:
        raise BadInput(
            f"{what} is not a report: it has no report.json (nor compare.json and compare.html); "
            "give the folder 'reportgen run --out' (or 'reportgen compare --out') wrote"
        )
    files, skipped = list_files(root)
    return Source(kind, rid, root, files, entry, skipped)
