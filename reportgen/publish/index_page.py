"""``runs.json`` and the runs index page at the root of a published tree.

``runs.json`` lists every published run and compare folder (one entry each, as
``source.report_entry`` / ``source.compare_entry`` build them), newest first; each publish reads it
from the target, replaces or adds the entry of the folder being published, drops the entries whose
folder is no longer there, and writes it back with the index page rendered from it. It is what
tells a target folder (or branch, or prefix) that reportgen published it: one holding a
``runs.json`` without the ``format`` tag below is refused rather than overwritten.

The page (``templates/runs_index.html``, autoescaped like every page of the report) uses the
report's own CSS, written beside it as ``assets/runs-<hash>.css``: named by its content, so hosts
may cache it for long. Every string in ``runs.json`` came from a report and is treated as
untrusted: escaped when rendered, ids checked against ``source.ID_PATTERN`` on reading.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reportgen.errors import BadInput
from reportgen.publish.source import ID_PATTERN, stamp
from reportgen.site.templating import format_value, make_environment, read_static

FORMAT = "reportgen-published"
FORMAT_VERSION = 1
INDEX_FILE = "runs.json"
TEMPLATE = "runs_index.html"


@dataclass
class PublishedIndex:
    """What ``runs.json`` holds."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    compares: list[dict[str, Any]] = field(default_factory=list)

    def _list(self, kind: str) -> list[dict[str, Any]]:
        return self.runs if kind == "run" else self.compares

    def put(self, kind: str, entry: dict[str, Any]) -> None:
        """Add ``entry``, replacing the one with its id."""
        entries = [e for e in self._list(kind) if e["id"] != entry["id"]]
        entries.append(entry)
        entries.sort(key=lambda e: (stamp(e.get("created")), e["id"]), reverse=True)
        if kind == "run":
            self.runs = entries
        else:
            self.compares = entries

    def keep_only(self, exists: Callable[[str], bool]) -> None:
        """Drop the entries whose page (``runs/<id>/index.html``, ``compares/<id>/compare.html``)
        is no longer there."""
        self.runs = [e for e in self.runs if exists(f"{e['path']}index.html")]
        self.compares = [e for e in self.compares if exists(f"{e['path']}compare.html")]

    def newest_run(self) -> dict[str, Any] | None:
        return self.runs[0] if self.runs else None


def is_published(raw: bytes | None) -> bool:
    """Whether ``raw`` is a ``runs.json`` that reportgen wrote."""
    if raw is None:
        return False
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def _valid(entry: object, folder: str) -> bool:
    if not isinstance(entry, dict):
        return False
    rid = entry.get("id")
    return isinstance(rid, str) and bool(ID_PATTERN.match(rid)) and (
        entry.get("path") == f"{folder}/{rid}/"
    )


def load_index(raw: bytes | None, where: str) -> PublishedIndex:
    """The index in ``raw`` (a ``runs.json``; None: none yet). ``BadInput`` for one reportgen
    did not write, or of a newer format."""
    if raw is None:
        return PublishedIndex()
    if not is_published(raw):
        raise BadInput(
            f"{where} holds a {INDEX_FILE} that reportgen did not write; publish somewhere else "
            "(another folder, branch or prefix), or remove that file"
        )
    data = json.loads(raw)
    if data.get("format_version") != FORMAT_VERSION:
        raise BadInput(f"{where}: {INDEX_FILE} has format_version {data.get('format_version')!r}, "
                       "which this reportgen does not know; publish with a newer reportgen")
    runs = [e for e in data.get("runs") or [] if _valid(e, "runs")]
    compares = [e for e in data.get("compares") or [] if _valid(e, "compares")]
    return PublishedIndex(runs, compares)


def dump_index(index: PublishedIndex) -> bytes:
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "about": "Written by reportgen publish: every run and compare folder published here.",
        "runs": index.runs,
        "compares": index.compares,
    }
    return (json.dumps(payload, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode()


def stylesheet() -> tuple[str, bytes]:
    """The report's CSS and the content-named path it is published at."""
    css = read_static(make_environment(), "style.css").encode("utf-8")
    return f"assets/runs-{hashlib.sha256(css).hexdigest()[:10]}.css", css


def _headline_values(h: dict[str, Any], models: list[str]) -> list[str]:
    """``["rnn 26.0% (uniform 11.3%)", ...]``: per model, in the report's order of ``models``,
    when the report has per-model values (a value pooled over models is never the headline),
    else the one value. (``runs.json`` is written with sorted keys: the order is not kept.)"""
    metric, baseline = str(h.get("metric", "")), h.get("baseline")
    short = str(baseline).split("_")[0] if baseline else ""

    def shown(value: object, base: object) -> str:
        text = format_value(value, metric)
        return f"{text} ({short} {format_value(base, str(baseline))})" if base is not None \
            else text

    per_model = h.get("per_model") if isinstance(h.get("per_model"), dict) else {}
    bases = h.get("baseline_per_model") if isinstance(h.get("baseline_per_model"), dict) else {}
    if per_model:
        rank = {name: i for i, name in enumerate(models)}
        ordered = sorted(per_model, key=lambda m: (rank.get(m, len(rank)), m))
        return [f"{m} {shown(per_model[m], bases.get(m))}" for m in ordered]
    return [shown(h.get("value"), h.get("baseline_value"))]


def when(created: object) -> str:
    """``2026-11-21T21:17:26+00:00`` -> ``2026-11-21 21:17 UTC`` (unchanged if unparsable)."""
    try:
        moment = datetime.fromisoformat(str(created).strip())
    except ValueError:
        return str(created)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _run_view(e: dict[str, Any]) -> dict[str, Any]:
    data = e.get("data") if isinstance(e.get("data"), dict) else {}
    names = [str(m.get("name", "")) for m in e.get("models") or [] if isinstance(m, dict)]
    return {
        "id": e["id"],
        "href": f"{e['path']}index.html",
        "created": str(e.get("created", "")),
        "when": when(e.get("created", "")),
        "version": str(e.get("reportgen_version", "")),
        "models": [
            {"name": str(m.get("name", "")), "arch": str(m.get("arch", "")),
             "accuracy": format_value(m.get("accuracy"), percent=True)
             if m.get("accuracy") is not None else ""}
            for m in e.get("models") or [] if isinstance(m, dict)
        ],
        "data": {"spec": str(data.get("spec", "")), "split": str(data.get("split", "")),
                 "examples": format_value(data.get("examples"))},
        "headlines": [
            {"title": str(h.get("title", "")), "metric": str(h.get("metric", "")),
             "values": _headline_values(h, names)}
            for h in e.get("headlines") or [] if isinstance(h, dict)
        ],
    }


def render_index(index: PublishedIndex, css_href: str, has_latest: bool) -> bytes:
    """The runs index page, for the root of the published tree."""
    run_ids = {e["id"] for e in index.runs}

    def run_link(rid: object) -> dict[str, str] | None:
        if isinstance(rid, str) and rid in run_ids:
            return {"id": rid, "href": f"runs/{rid}/index.html"}
        return None

    compares = [
        {"id": e["id"], "href": f"{e['path']}compare.html", "created": str(e.get("created", "")),
         "when": when(e.get("created", "")),
         "old": run_link(e.get("old")), "new": run_link(e.get("new"))}
        for e in index.compares
    ]
    env = make_environment()
    html = env.get_template(TEMPLATE).render(
        css_href=css_href,
        runs=[_run_view(e) for e in index.runs],
        compares=compares,
        latest_href="latest/index.html" if has_latest else None,
    )
    return html.encode("utf-8")
