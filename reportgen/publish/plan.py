"""The published tree after this publish, compared with the target's, in the order of upload.

``build_plan(source, target, base_url)`` reads what the target holds (its file listing and its
``runs.json``) and returns a ``Plan``: three phases, each a list of files to write (only those
added or changed) and of paths to remove, run by the targets in this order:

1. ``run``: the folder's files under ``runs/<id>/`` (or ``compares/<id>/``), pages (``.html``)
   last and the folder's ``index.html`` last of all, so a reader never opens a page whose files
   are not there yet; then the files a former publish of the same id had and this one has not;
2. ``latest``: the same files under ``latest/`` when this run is the newest one published
   (by ``created``), pages last, then the old ``latest/`` files it no longer has;
3. ``index``: the CSS, ``runs.json``, the target's own files (``.nojekyll`` on git) and the runs
   index page ``index.html``, last.

Nothing else of the target is touched: other runs, a ``CNAME``, files of your own. A target
holding a site that reportgen did not publish (an ``index.html``, ``runs/``, ``latest/`` or
``compares/`` but no ``runs.json``) is refused, since publishing would overwrite it. With
``base_url`` the published ``summary.md`` (and a compare's ``compare.md``) says where the run is
published (``source.published_url``). A compare's ``compare.html`` gets a line linking the two
runs it compares when both are published at the target. The pages written by the plan itself
are link-checked against the tree as it will be, and files near GitHub Pages' limits (100 MB a
file, 1 GB a site) are warned about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from markupsafe import Markup

from reportgen.errors import BadInput
from reportgen.publish import index_page
from reportgen.publish.links import check_links
from reportgen.publish.source import Source, published_url

MB = 1024 * 1024
FILE_LIMIT = 100 * MB  # GitHub refuses a pushed file over 100 MB ...
NEAR_FILE = 50 * MB  # ... and warns from 50 MB
SITE_LIMIT = 1024 * MB  # GitHub Pages: a published site of at most 1 GB
NEAR_SITE = 800 * MB
URL_FILES = ("summary.md", "compare.md")  # get the published address with --base-url


@dataclass(frozen=True)
class Item:
    """A file to write: its path in the published tree, and its bytes or the file holding them."""

    path: str
    data: bytes | None = None
    file: Path | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.file is not None
        return self.file.read_bytes()

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.file is not None
        return self.file.stat().st_size


@dataclass
class Phase:
    name: str
    writes: list[Item] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """What a publish changes at the target."""

    source: Source
    phases: list[Phase]
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int
    final: dict[str, int]  # the published tree afterwards: path -> size
    warnings: list[str]

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    @property
    def total_bytes(self) -> int:
        return sum(self.final.values())


class TargetState(Protocol):
    """What the plan needs to know of a target (see ``targets.base.Target``)."""

    name: str

    def listing(self) -> dict[str, int]: ...

    def read(self, path: str) -> bytes | None: ...

    def same(self, path: str, item: Item) -> bool: ...

    def extra_files(self) -> dict[str, bytes]: ...


def with_published_url(text: bytes, url: str) -> bytes:
    """``summary.md`` with a line saying where it is published, under its heading."""
    lines = text.decode("utf-8", "replace").split("\n")
    line = f"Published at <{url}>."
    at = 1 if lines and lines[0].startswith("#") else 0
    lines[at:at] = ["", line] if at else [line, ""]
    return "\n".join(lines).encode("utf-8")


_BODY = re.compile(rb"<body\b[^>]*>", re.IGNORECASE)


def with_run_links(html: bytes, old: str, new: str) -> bytes:
    """A compare page with a line linking the published runs it compares (ids already checked
    against ``source.ID_PATTERN``; escaped all the same)."""
    line = Markup(
        '\n<p class="callout callout-unknown published-runs">Published runs: old '
        '<a href="../../runs/{0}/index.html"><code>{0}</code></a>, new '
        '<a href="../../runs/{1}/index.html"><code>{1}</code></a>.</p>\n'
    ).format(old, new)
    match = _BODY.search(html)
    if match is None:
        return html
    return html[: match.end()] + str(line).encode("utf-8") + html[match.end():]


def _upload_order(items: list[Item], prefix: str) -> list[Item]:
    """Other files first, then pages, the folder's own ``index.html`` last."""
    return sorted(items, key=lambda i: (
        i.path.endswith(".html"), i.path == f"{prefix}index.html", i.path,
    ))


def _folder_items(source: Source, base_url: str | None) -> list[Item]:
    items = []
    for f in source.files:
        path = f"{source.prefix}{f.rel}"
        if base_url and f.rel in URL_FILES:
            url = published_url(base_url, source.id, folder=source.folder)
            items.append(Item(path, data=with_published_url(f.path.read_bytes(), url)))
        else:
            items.append(Item(path, file=f.path))
    return items


def _warnings(final: dict[str, int]) -> list[str]:
    found = []
    for path, size in sorted(final.items()):
        if size > FILE_LIMIT:
            found.append(f"{path} is {size / MB:.1f} MB, over GitHub's limit of 100 MB a file")
        elif size >= NEAR_FILE:
            found.append(f"{path} is {size / MB:.1f} MB, near GitHub's limit of 100 MB a file")
    total = sum(final.values())
    if total > SITE_LIMIT:
        found.append(f"the published site is {total / MB:.0f} MB, over GitHub Pages' 1 GB limit")
    elif total >= NEAR_SITE:
        found.append(f"the published site is {total / MB:.0f} MB, near GitHub Pages' 1 GB limit")
    return found


OURS = ("index.html", "runs/", "latest/", "compares/")  # what a site of someone else's would lose


def build_plan(source: Source, target: TargetState, base_url: str | None = None) -> Plan:
    listing = target.listing()
    raw = target.read(index_page.INDEX_FILE)
    foreign = sorted(p for p in listing if p.startswith(OURS))
    if raw is None and foreign:
        raise BadInput(
            f"{target.name} holds a site that reportgen did not publish ({foreign[0]}, with no "
            f"{index_page.INDEX_FILE}), which publishing would overwrite; publish to another "
            "branch, prefix or folder"
        )
    index = index_page.load_index(raw, target.name)
    items = _folder_items(source, base_url)
    new_paths = {i.path for i in items}
    index.keep_only(lambda p: p in listing or p in new_paths)
    index.put(source.kind, source.entry)
    run_ids = {e["id"] for e in index.runs}

    if source.kind == "compare":
        old, new = source.entry.get("old"), source.entry.get("new")
        if old in run_ids and new in run_ids:
            page = f"{source.prefix}compare.html"
            items = [
                Item(i.path, data=with_run_links(i.read(), old, new)) if i.path == page else i
                for i in items
            ]
    phases = [Phase("run", _upload_order(items, source.prefix))]
    phases[0].removes = sorted(p for p in listing if p.startswith(source.prefix)
                               and p not in new_paths)

    newest = index.newest_run()
    latest = Phase("latest")
    if source.kind == "run" and newest is not None and newest["id"] == source.id:
        shifted = [Item("latest/" + i.path[len(source.prefix):], i.data, i.file) for i in items]
        latest.writes = _upload_order(shifted, "latest/")
        kept = {i.path for i in shifted}
        latest.removes = sorted(p for p in listing if p.startswith("latest/") and p not in kept)
    phases.append(latest)

    css_path, css = index_page.stylesheet()
    has_latest = bool(latest.writes) or "latest/index.html" in listing
    page = index_page.render_index(index, css_path, has_latest)
    extras = [Item(p, data=b) for p, b in sorted(target.extra_files().items())]
    phases.append(Phase("index", [
        Item(css_path, data=css),
        Item(index_page.INDEX_FILE, data=index_page.dump_index(index)),
        *extras,
        Item("index.html", data=page),
    ]))

    removed = sorted(p for phase in phases for p in phase.removes)
    gone = set(removed)
    final = {p: size for p, size in listing.items() if p not in gone}
    for phase in phases:
        for item in phase.writes:
            final[item.path] = item.size
    generated = [(i.path, i.read().decode("utf-8", "replace")) for phase in phases
                 for i in phase.writes if i.data is not None and i.path.endswith(".html")]
    check_links(generated, final.__contains__, "the published site")

    added, changed, unchanged = [], [], 0
    for phase in phases:
        writes = []
        for item in phase.writes:
            if item.path not in listing:
                added.append(item.path)
            elif target.same(item.path, item):
                unchanged += 1
                continue
            else:
                changed.append(item.path)
            writes.append(item)
        phase.writes = writes
    return Plan(source, phases, added, changed, removed, unchanged, final, _warnings(final))
