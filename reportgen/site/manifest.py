"""The manifest of a report folder: the list of files reportgen wrote there.

``write_manifest(root)`` records, in ``.reportgen-manifest.json`` (``MANIFEST_NAME``), a format
tag, the reportgen version and the relative path and size of every file and folder under
``root``; ``read_manifest(root)`` reads it back (``None`` when absent, ``ManifestError`` when it is
not reportgen's). ``reportgen.site.output_dir`` decides from it what a new run may replace and
what the user added. reportgen's scratch names (staging and backup folders, lock and probe files)
are never taken for files of the report or of the user (``is_scratch``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reportgen.atomic import BACKUP_TAG, STAGING_TAG
from reportgen.site.writer_lock import LOCK_TAG

MANIFEST_NAME = ".reportgen-manifest.json"
MANIFEST_FORMAT = "reportgen-site"
MANIFEST_VERSION = 1
PROBE_PREFIX = ".reportgen-probe-"


def is_scratch(name: str) -> bool:
    """reportgen's own temporary names (atomic.py's staging/backup folders, locks, probes)."""
    if name.startswith(PROBE_PREFIX):
        return True
    return name.startswith(".") and (
        STAGING_TAG in name or BACKUP_TAG in name or name.endswith(LOCK_TAG)
    )


# the manifest ------------------------------------------------------------------------------------
class ManifestError(ValueError):
    """A ``.reportgen-manifest.json`` that is missing its fields or not reportgen's."""


@dataclass(frozen=True)
class Manifest:
    """What reportgen wrote into a site: files (relative POSIX path -> size) and folders."""

    reportgen_version: str
    files: dict[str, int]
    dirs: frozenset[str]

    def owned_dirs(self) -> set[str]:
        """Folders that are reportgen's: listed ones and every parent of a listed file."""
        owned = set(self.dirs)
        for rel in self.files:
            owned.update(p.as_posix() for p in PurePosixPath(rel).parents if p.parts)
        return owned


def _valid_rel(rel: object) -> bool:
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        return False
    p = PurePosixPath(rel)
    return (
        not p.is_absolute()
        and p.as_posix() == rel
        and all(part not in ("", ".", "..") for part in p.parts)
        and rel != MANIFEST_NAME
    )


def read_manifest(root: Path) -> Manifest | None:
    """The manifest of the site in ``root``; None when there is none. Raises ``ManifestError``."""
    path = Path(root) / MANIFEST_NAME
    if not os.path.lexists(path):
        return None
    if path.is_symlink() or not path.is_file():
        raise ManifestError(f"{MANIFEST_NAME} is not a regular file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"{MANIFEST_NAME} does not read as JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{MANIFEST_NAME} has no format tag {MANIFEST_FORMAT!r}")
    if data.get("format_version") != MANIFEST_VERSION:
        raise ManifestError(f"{MANIFEST_NAME} has an unknown format_version")
    files, dirs = data.get("files"), data.get("dirs", [])
    if not isinstance(files, list) or not isinstance(dirs, list):
        raise ManifestError(f"{MANIFEST_NAME} lists no files")
    table: dict[str, int] = {}
    for item in files:
        ok = isinstance(item, dict) and _valid_rel(item.get("path"))
        if not ok or not isinstance(item.get("size"), int) or isinstance(item["size"], bool):
            raise ManifestError(f"{MANIFEST_NAME} has a malformed entry: {item!r:.200}")
        table[item["path"]] = item["size"]
    if not all(_valid_rel(d) for d in dirs):
        raise ManifestError(f"{MANIFEST_NAME} lists a malformed folder")
    return Manifest(str(data.get("reportgen_version", "")), table, frozenset(dirs))


def write_manifest(root: Path) -> Manifest:
    """List every file and folder under ``root`` (the staged site, before user files are carried
    over) in ``root/.reportgen-manifest.json``."""
    from reportgen import __version__

    root = Path(root)
    files: dict[str, int] = {}
    dirs: set[str] = set()
    for folder, subdirs, names in os.walk(root):
        base = Path(folder)
        subdirs.sort()
        for d in subdirs:
            dirs.add((base / d).relative_to(root).as_posix())
        for name in names:
            rel = (base / name).relative_to(root).as_posix()
            if rel != MANIFEST_NAME:
                files[rel] = (base / name).lstat().st_size
    manifest = Manifest(__version__, files, frozenset(dirs))
    save_manifest(root, manifest)
    return manifest


def save_manifest(root: Path, manifest: Manifest) -> None:
    payload = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "reportgen_version": manifest.reportgen_version,
        "about": "Written by reportgen: the files it wrote here. Files you add to this folder are "
        "kept when the report is rebuilt; the ones listed here are replaced.",
        "dirs": sorted(manifest.dirs),
        "files": [{"path": rel, "size": manifest.files[rel]} for rel in sorted(manifest.files)],
    }
    text = json.dumps(payload, indent=1, ensure_ascii=False) + "\n"
    (Path(root) / MANIFEST_NAME).write_text(text, encoding="utf-8")


# checks before any compute -----------------------------------------------------------------------
