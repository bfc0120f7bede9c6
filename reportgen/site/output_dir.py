"""The output folder (``--out``): what reportgen may replace, what it keeps, who may write it.

Guarantees, and how they are kept:

- **Only reportgen's own folders are replaced.** Every site reportgen writes holds
  ``.reportgen-manifest.json`` (``MANIFEST_NAME``): a format tag, the reportgen version and the
  relative path and size of every file (and folder) reportgen wrote there. ``preflight(out)``
  refuses, with ``BadInput``, a non-empty folder without a valid manifest -- even one holding a
  ``report.json``, which other tools write too -- as well as a file or symlink at ``out``, a
  file among its parents, and a destination that cannot be written (``os.access`` *and* a probe
  file actually created and deleted, since root ignores permission bits and a read-only mount
  only shows up on writing). It writes nothing else, so it is called before any compute: at the
  start of ``reportgen run`` / ``render`` and again in ``build_site``.
- **Files the user added are kept.** Anything inside ``out`` that the old manifest does not list
  (``NOTES.txt``, ``screens/``) is carried into the new site unchanged by
  ``carry_user_files(out, staged)``, just before the staged site is swapped in
  (``reportgen.atomic``): hard-linked where possible (same inode: contents, mode, owner and
  times unchanged, no copying of large files), copied otherwise. A failure before the swap deletes
  only the staging folder, so ``out`` stays exactly as it was. reportgen's own files from the old
  site that the new run does not write again are dropped. A user file at a path the new site
  writes is never overwritten: the build is refused with ``BadInput`` naming the path, before
  ``out`` changes (paths every site writes -- ``ALWAYS_WRITTEN`` -- are already refused by
  ``preflight``, before any compute).
- **One writer at a time.** ``with lock(out):`` takes a non-blocking ``fcntl.flock`` on
  ``.<name>.reportgen-lock`` beside ``out`` (the file holds the writer's pid and is deleted on
  release); a second run into the same ``out`` is refused with ``BadInput`` naming that pid. The
  lock is released on every exit, exceptions included, and is re-entrant within one thread: the
  pipeline holds it around a whole run and ``build_site`` takes it again inside, at no cost. Where
  ``fcntl`` or the filesystem has no ``flock`` the lock is a no-op.
- **Checkpoint files.** ``preflight_file(path)`` checks that ``reportgen train --out FILE`` can be
  written (not a folder, parent creatable and writable, an existing FILE writable) before any
  data is loaded or any model trained.

reportgen's scratch names -- staging and backup folders, lock and probe files -- are never taken
for user files.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from reportgen.errors import BadInput
from reportgen.site.manifest import (
    MANIFEST_NAME,
    PROBE_PREFIX,
    Manifest,
    ManifestError,
    is_scratch,
    read_manifest,
    save_manifest,
)
from reportgen.site.writer_lock import lock, lock_path

__all__ = ["carry_user_files", "lock", "lock_path", "preflight", "preflight_file", "user_files"]

# Files every site writes at its top level: a user file there is refused before the compute.
ALWAYS_WRITTEN = ("index.html", "report.json", "summary.md")
SHOW_KEPT = 10  # user files named in a message before "and N more"


def _q(path: Path | str) -> str:
    return repr(str(path))


def _probe_write(folder: Path) -> None:
    """Create, write and delete a small file in ``folder``; raises ``OSError`` if that fails."""
    fd, name = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
    try:
        os.write(fd, b"probe")
    finally:
        os.close(fd)
        os.unlink(name)


def _check_writable(folder: Path, what: str) -> None:
    """``BadInput`` unless a file can be created in ``folder`` (os.access, then a real probe)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        reason = "permission denied"
    else:
        try:
            _probe_write(folder)
            return
        except OSError as exc:
            reason = exc.strerror or str(exc)
    raise BadInput(
        f"{what}: cannot write in {_q(folder)} ({reason}); "
        "choose another location or make that folder writable"
    )


def _existing_ancestor(path: Path, what: str) -> Path:
    """The nearest existing parent of ``path`` (where it will be created); a file there is bad."""
    for parent in path.parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise BadInput(
                    f"{what}: {_q(parent)} is a file, not a folder, so nothing can be created "
                    "inside it; choose another location"
                )
            return parent
    return Path(path.anchor)


def _not_a_report(out: Path, why: str) -> BadInput:
    return BadInput(
        f"--out {_q(out)} is a non-empty directory that holds no reportgen report ({why}); "
        "reportgen only rebuilds folders it wrote itself, so choose a new or empty folder "
        "(or move that folder's contents elsewhere)"
    )


@contextmanager
def guarded(out: Path) -> Iterator[None]:
    """What every command that writes a report holds around all its work: ``preflight`` (before
    any compute) and the one-writer ``lock`` (re-entrant: the site builder takes it again)."""
    preflight(out)
    with lock(out):
        yield


def preflight(out: Path) -> None:
    """Check, without changing anything, that a site can be written to ``out``; else ``BadInput``.

    Call it before any compute. Refused: a file or symlink at ``out``; a file among its parents; a
    non-empty folder without a valid manifest (a ``report.json`` alone does not count); a user
    file where every site writes one (``ALWAYS_WRITTEN``); a parent folder (or ``out``) that cannot
    be written, found by ``os.access`` and by creating and deleting a probe file.
    """
    out = Path(out).absolute()
    what = f"--out {_q(out)}"
    if not out.name:
        raise BadInput(f"{what} is not a folder reportgen can replace; give a new folder's name")
    if out.is_symlink():
        raise BadInput(f"{what} is a symbolic link, not a directory; give the folder itself")
    if os.path.lexists(out) and not out.is_dir():
        raise BadInput(f"{what} exists and is not a directory; give a folder name for the report")
    ancestor = _existing_ancestor(out, what)
    if out.is_dir():
        kept = user_files(out)  # BadInput for a folder that is not a report
        clash = sorted(set(kept) & set(ALWAYS_WRITTEN))
        if clash:
            raise _user_file_clash(out, clash)
    _check_writable(ancestor, what)
    if out.is_dir():
        _check_writable(out, what)


def preflight_file(path: Path, option: str = "--out") -> None:
    """Check, without changing anything, that the file ``path`` can be written; else ``BadInput``.

    For ``reportgen train --out FILE``, before any data is loaded: not a folder, not a special
    file, an existing file writable, its folder existing (or creatable) and writable (probe file).
    """
    path = Path(path).absolute()
    what = f"{option} {_q(path)}"
    if not path.name:
        raise BadInput(f"{what} is not a file name; give one such as model.pt")
    if path.is_dir():
        raise BadInput(f"{what} is a folder; give a checkpoint file name such as model.pt")
    ancestor = _existing_ancestor(path, what)
    if os.path.lexists(path):
        if not path.is_file() and not path.is_symlink():
            raise BadInput(f"{what} exists and is not a regular file; give another file name")
        if path.is_file() and not os.access(path, os.W_OK):
            raise BadInput(f"{what} exists and is not writable; give another file name")
    _check_writable(ancestor, what)


# user files --------------------------------------------------------------------------------------
def user_files(out: Path) -> list[str]:
    """What the user added to the site in ``out``: relative POSIX paths, sorted, a folder the
    manifest knows nothing of named once with a trailing ``/``. ``[]`` for a missing or empty
    folder; ``BadInput`` for a non-empty folder without a valid manifest."""
    out = Path(out)
    if not out.is_dir() or out.is_symlink():
        return []
    try:
        entries = [e for e in os.listdir(out) if not is_scratch(e)]
        if not entries:
            return []
        manifest = read_manifest(out)
    except ManifestError as exc:
        raise _not_a_report(out, str(exc)) from None
    except OSError as exc:
        raise BadInput(f"--out {_q(out)} cannot be read ({exc.strerror or exc})") from None
    if manifest is None:
        why = f"no {MANIFEST_NAME}"
        if "report.json" in entries:
            why += (
                "; a report.json alone does not make it one, and a report from a reportgen "
                "older than the manifest must be deleted by hand"
            )
        raise _not_a_report(out, why)
    owned_dirs = manifest.owned_dirs()
    found: list[str] = []

    def walk(folder: Path, prefix: str) -> None:
        for name in sorted(os.listdir(folder)):
            rel = f"{prefix}{name}"
            if rel == MANIFEST_NAME or is_scratch(name):
                continue
            path = folder / name
            if path.is_dir() and not path.is_symlink():
                if rel in owned_dirs:
                    walk(path, f"{rel}/")
                else:
                    found.append(f"{rel}/")
            elif rel not in manifest.files:
                found.append(rel)

    try:
        walk(out, "")
    except OSError as exc:
        raise BadInput(f"--out {_q(out)} cannot be read ({exc.strerror or exc})") from None
    return found


def describe_kept(kept: list[str] | tuple[str, ...]) -> str:
    """``kept 2 files you added: NOTES.txt, screens/`` (empty string when nothing was kept)."""
    if not kept:
        return ""
    names = ", ".join(kept[:SHOW_KEPT])
    more = f" and {len(kept) - SHOW_KEPT} more" if len(kept) > SHOW_KEPT else ""
    noun = "file" if len(kept) == 1 else "files"
    return f"kept {len(kept)} {noun} you added: {names}{more}"


def _user_file_clash(out: Path, paths: list[str]) -> BadInput:
    shown = ", ".join(repr(p) for p in paths[:SHOW_KEPT])
    return BadInput(
        f"--out {_q(out)}: the new report writes {shown}, which you added yourself and which "
        "reportgen never overwrites; move or rename it, then build the report again"
    )


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _clashes(src: Path, dst: Path, rel: str, found: list[str], odd: list[str]) -> None:
    """Collect the user paths that the staged site already has (``found``) and the entries that
    are neither file, folder nor symlink (``odd``)."""
    mode = src.lstat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
        odd.append(rel)
        return
    if not os.path.lexists(dst):
        return
    if stat.S_ISDIR(mode) and _is_real_dir(dst):  # both folders: only their contents can clash
        for name in sorted(os.listdir(src)):
            _clashes(src / name, dst / name, f"{rel}/{name}", found, odd)
        return
    found.append(rel)


def _chown_like(st: os.stat_result, dst: Path) -> None:
    try:
        os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    except OSError:
        pass  # only root can give files away; others keep their own ownership anyway


def _carry(src: Path, dst: Path) -> None:
    """Put ``src`` at ``dst`` unchanged: folders recreated, files hard-linked or copied."""
    st = src.lstat()
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
        _chown_like(st, dst)
    elif stat.S_ISDIR(st.st_mode):
        new = not os.path.lexists(dst)
        if new:
            dst.mkdir()
        for name in sorted(os.listdir(src)):
            _carry(src / name, dst / name)
        if new:
            shutil.copystat(src, dst, follow_symlinks=False)
            _chown_like(st, dst)
    else:
        try:
            os.link(src, dst, follow_symlinks=False)
        except OSError:
            shutil.copy2(src, dst, follow_symlinks=False)
            _chown_like(st, dst)


def _keep_parents_owned(staged: Path, kept: list[str]) -> None:
    """A user file inside one of reportgen's folders (``analyses/notes.md``) keeps that folder
    reportgen's in the new manifest, even where the new site writes nothing there."""
    manifest = read_manifest(staged)
    if manifest is None:
        return
    parents = {
        p.as_posix() for rel in kept for p in PurePosixPath(rel.rstrip("/")).parents if p.parts
    }
    if not parents <= manifest.owned_dirs():
        save_manifest(staged, Manifest(
            manifest.reportgen_version, manifest.files, manifest.dirs | parents
        ))


def carry_user_files(out: Path, staged: Path) -> tuple[str, ...]:
    """Carry what the user added to ``out`` (see ``user_files``) into the staged site ``staged``.

    Call it last, just before the swap. Raises ``BadInput`` -- and changes only ``staged`` -- when
    a user path is one the new site writes, or is a special file (FIFO, socket, device). Returns
    the kept paths, as ``user_files`` names them.
    """
    out, staged = Path(out), Path(staged)
    kept = user_files(out)
    found: list[str] = []
    odd: list[str] = []
    try:
        for rel in kept:
            name = rel.rstrip("/")
            parent = staged
            for part in PurePosixPath(name).parts[:-1]:  # a file where the user's folder goes
                parent = parent / part
                if os.path.lexists(parent) and not _is_real_dir(parent):
                    found.append(name)
                    break
            else:
                _clashes(out / name, staged / name, name, found, odd)
        if found:
            raise _user_file_clash(out, found)
        if odd:
            raise BadInput(
                f"--out {_q(out)}: {', '.join(map(repr, odd))} is not a file, folder or link, "
                "so it cannot be carried into the new report; move it out of that folder"
            )
        for rel in kept:
            name = rel.rstrip("/")
            (staged / name).parent.mkdir(parents=True, exist_ok=True)
            _carry(out / name, staged / name)
        _keep_parents_owned(staged, kept)
    except OSError as exc:
        raise BadInput(
            f"--out {_q(out)}: could not carry over the files you added "
            f"({exc.strerror or exc}: {exc.filename}); nothing was changed"
        ) from None
    return tuple(kept)
