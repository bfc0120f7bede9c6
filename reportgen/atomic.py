"""Replace a directory as a whole, or not at all.

A site (or a cached record) is written into a fresh staging directory next to its destination, on
the same filesystem, and swapped into place only once everything is written and checked:

    with staged_directory(out) as tmp:
        write everything under tmp      # an exception here leaves ``out`` exactly as it was

On Linux the swap is one atomic ``renameat2(RENAME_EXCHANGE)``: there is no instant at which ``out``
is missing or half-written, even for a process killed with SIGKILL. Elsewhere it is two renames
(old -> backup, staged -> out) followed by deleting the backup; if the second rename fails the
backup is renamed back, and a backup orphaned by a kill between the two renames is restored by
the next build. A process killed while writing leaves only a staging
directory behind (``.<name>.reportgen-tmp-<pid>-<random>``), which the next build removes once its
process is gone.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STAGING_TAG = ".reportgen-tmp-"
BACKUP_TAG = ".reportgen-old-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return False
    return True


def remove_stale_staging(out: Path) -> None:
    """Delete staging directories of ``out`` left by processes that no longer run."""
    prefix = f".{out.name}{STAGING_TAG}"
    if not out.parent.is_dir():
        return
    for path in out.parent.iterdir():
        if not path.name.startswith(prefix) or not path.is_dir() or path.is_symlink():
            continue
        pid_text = path.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(path, ignore_errors=True)


def restore_orphaned_backup(out: Path) -> None:
    """If a kill fell between the two renames of the fallback swap, put the old site back."""
    if out.exists() or not out.parent.is_dir():
        return
    prefix = f".{out.name}{BACKUP_TAG}"
    backups = sorted(p for p in out.parent.iterdir() if p.name.startswith(prefix) and p.is_dir())
    if backups:
        os.replace(backups[-1], out)


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux ``renameat2`` with ``RENAME_EXCHANGE``).

    Returns False where the system or filesystem does not support it, so the caller can fall back.
    """
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(staged: Path, out: Path) -> None:
    """Move ``staged`` to ``out``, replacing what was there; on failure ``out`` is restored."""
    if not out.exists():
        os.replace(staged, out)
        return
    if exchange(staged, out):  # ``staged`` now holds the old site
        shutil.rmtree(staged, ignore_errors=True)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{out.name}{BACKUP_TAG}", dir=out.parent))
    backup.rmdir()  # only the unique name is wanted; rename needs the target absent
    os.replace(out, backup)
    try:
        os.replace(staged, out)
    except BaseException:
        os.replace(backup, out)
        raise
    shutil.rmtree(backup, ignore_errors=True)


@contextmanager
def staged_directory(out: Path) -> Iterator[Path]:
    """Yield an empty directory beside ``out``; on a clean exit it replaces ``out``.

    On an exception the staging directory is deleted and ``out`` is left untouched.
    """
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    restore_orphaned_backup(out)
    remove_stale_staging(out)
    staged = Path(
        tempfile.mkdtemp(prefix=f".{out.name}{STAGING_TAG}{os.getpid()}-", dir=out.parent)
    )
    staged.chmod(0o755)  # mkdtemp makes it private; a published site must be readable
    try:
        yield staged
        swap_into_place(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
