"""One writer per output folder: ``with lock(out):`` (see ``reportgen.site.output_dir``).

A non-blocking ``fcntl.flock`` on ``.<name>.reportgen-lock`` beside ``out``; the file holds the
writer's pid and is deleted on release. A second run into the same ``out`` gets ``BadInput``
naming that pid. Re-entrant within one thread (the CLI, the pipeline and ``build_site`` all take
it); a no-op where the filesystem cannot lock.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reportgen.errors import BadInput

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]

LOCK_TAG = ".reportgen-lock"


def _q(path: Path | str) -> str:
    return repr(str(path))


def lock_path(out: Path) -> Path:
    """``.<name>.reportgen-lock`` beside ``out``."""
    out = Path(out).absolute()
    return out.parent / f".{out.name}{LOCK_TAG}"


@dataclass
class _Held:
    pid: int
    thread: int
    depth: int


_held: dict[str, _Held] = {}
_held_guard = threading.Lock()
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS}


def _busy(out: Path, fd: int) -> BadInput:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    pid = text if text.isdigit() else "unknown"
    return BadInput(
        f"another reportgen run (pid {pid}) is writing {out}; "
        "wait for it to finish or choose another --out"
    )


def _acquire(out: Path, path: Path) -> int | None:
    """Open and flock the lock file; its fd, or None where the filesystem cannot lock."""
    what = f"--out {_q(out)}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{what}: cannot create {_q(path.parent)} ({exc.strerror or exc})") from None
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise BadInput(
                f"{what}: cannot open the lock file {_q(path)} ({exc.strerror or exc})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _UNSUPPORTED:  # e.g. some network filesystems: write unlocked
                os.close(fd)
                _unlink_quietly(path)
                return None
            error = _busy(out, fd)
            os.close(fd)
            raise error from None
        # The previous holder deletes the file on release: make sure ours is still the one there.
        try:
            same = os.path.samestat(os.stat(path, follow_symlinks=False), os.fstat(fd))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
            return fd
        os.close(fd)
    raise BadInput(f"{what}: could not take the lock {_q(path)}; try again")


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _release(path: Path, fd: int | None) -> None:
    if fd is None:
        return
    _unlink_quietly(path)  # while still locked, so nobody else holds this inode
    os.close(fd)


@contextmanager
def lock(out: Path) -> Iterator[None]:
    """Hold ``out`` for one writer: ``with lock(out): ...`` (see the module docstring).

    Raises ``BadInput`` ("another reportgen run (pid N) is writing DIR; ...") when another process
    -- or another thread, or another open of the lock file -- holds it. Non-blocking, re-entrant
    within the thread that holds it, released on every exit.
    """
    out = Path(out).absolute()
    path = lock_path(out)
    key = os.path.join(os.path.realpath(path.parent), path.name)
    me = (os.getpid(), threading.get_ident())
    with _held_guard:
        held = _held.get(key)
        if held is not None and (held.pid, held.thread) == me:
            held.depth += 1
        else:
            held = None
    if held is not None:
        try:
            yield
        finally:
            with _held_guard:
                held.depth -= 1
        return
    fd = _acquire(out, path) if fcntl is not None else None
    with _held_guard:
        _held[key] = _Held(me[0], me[1], 1)
    try:
        yield
    finally:
        with _held_guard:
            _held.pop(key, None)
        _release(path, fd)
