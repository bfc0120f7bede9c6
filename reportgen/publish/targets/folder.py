"""A plain folder as the target, replaced as a whole or not at all.

The new tree is built in a staging folder beside the target and swapped in at the end with
``reportgen.atomic.staged_directory`` (the same atomic swap ``reportgen run`` uses for its site);
``reportgen.site.writer_lock.lock`` keeps a second publish (or run) into the same folder out.
Files that stay are hard-linked from the current tree into the staging folder (copied where
links are not possible), so a publish costs the size of what it adds. An interrupted or failed
publish deletes only the staging folder: the target is left exactly as it was.

Only a missing folder, an empty one or one that reportgen published to (a ``runs.json`` of
``index_page.FORMAT``) is accepted; a report folder, or any other non-empty folder, is refused
before anything is written. The target may not be DIR itself, nor inside it, nor hold it.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from reportgen.atomic import BACKUP_TAG, STAGING_TAG, staged_directory
from reportgen.errors import BadInput
from reportgen.publish import index_page
from reportgen.publish.plan import Item, Plan
from reportgen.publish.targets.base import Echo, Target
from reportgen.site.writer_lock import LOCK_TAG, lock


def _scratch(name: str) -> bool:
    return name.startswith(".") and (STAGING_TAG in name or BACKUP_TAG in name
                                     or name.endswith(LOCK_TAG))


class FolderTarget(Target):
    def __init__(self, path: Path) -> None:
        self.path = Path(path).absolute()
        self.name = str(path)
        self.interrupted = f"interrupted; the folder {self.name} is unchanged"
        self._files: dict[str, int] = {}

    def check_source(self, source_root: Path) -> None:
        """The target must not be DIR, inside it, or hold it."""
        target, root = self.path.resolve(), Path(source_root).resolve()
        if target == root or root in target.parents or target in root.parents:
            raise BadInput(
                f"--to {self.name!r} is DIR, lies inside it or holds it; publish to a folder "
                "beside the report"
            )

    @contextmanager
    def session(self, writing: bool = True) -> Iterator[None]:
        """One publisher (or run) at a time; a dry run takes no lock, so it writes nothing."""
        with ExitStack() as stack:
            if writing:
                try:
                    stack.enter_context(lock(self.path))
                except BadInput as exc:  # its message names the option of 'run'
                    exc.message = exc.message.replace("--out ", "--to ", 1)
                    raise
            yield

    def load(self) -> None:
        where = f"--to {self.name!r}"
        if self.path.is_symlink() or (os.path.lexists(self.path) and not self.path.is_dir()):
            raise BadInput(f"{where} exists and is not a folder; give a folder to publish into")
        self._files = {}
        if not self.path.is_dir():
            return
        try:
            entries = [e for e in os.listdir(self.path) if not _scratch(e)]
            self._walk(self.path, "")
        except OSError as exc:
            raise BadInput(f"{where} cannot be read ({exc.strerror or exc})") from None
        if entries and not index_page.is_published(self.read(index_page.INDEX_FILE)):
            raise BadInput(
                f"{where} is a non-empty folder that reportgen did not publish to (it has no "
                f"{index_page.INDEX_FILE} of reportgen's); give a new or empty folder"
            )

    def _walk(self, folder: Path, prefix: str) -> None:
        for name in sorted(os.listdir(folder)):
            if _scratch(name):
                continue
            path = folder / name
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                self._walk(path, f"{prefix}{name}/")
            elif stat.S_ISREG(mode):
                self._files[f"{prefix}{name}"] = path.lstat().st_size

    def listing(self) -> dict[str, int]:
        return dict(self._files)

    def read(self, path: str) -> bytes | None:
        file = self.path / path
        return file.read_bytes() if file.is_file() and not file.is_symlink() else None

    def same(self, path: str, item: Item) -> bool:
        return self._files.get(path) == item.size and self.read(path) == item.read()

    def _keep(self, src: Path, dst: Path) -> None:
        """Put ``src`` (a file or link of the current tree) at ``dst`` in the staging folder."""
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
            return
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    def _write(self, staged: Path, item: Item) -> None:
        dst = staged / item.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        if item.file is not None:
            shutil.copyfile(item.file, dst)
        else:
            dst.write_bytes(item.read())
        dst.chmod(0o644)

    def apply(self, plan: Plan, echo: Echo) -> None:
        try:
            self._build(plan)
        except OSError as exc:
            raise BadInput(
                f"--to {self.name!r}: could not write the new tree ({exc.strerror or exc}: "
                f"{exc.filename}); the folder is unchanged"
            ) from None

    def _build(self, plan: Plan) -> None:
        written = {i.path for phase in plan.phases for i in phase.writes}
        gone = set(plan.removed) | written
        with staged_directory(self.path) as staged:
            if self.path.is_dir():
                for folder, dirs, names in os.walk(self.path):
                    base = Path(folder)
                    rel = base.relative_to(self.path).as_posix()
                    prefix = "" if rel == "." else f"{rel}/"
                    if not dirs and not names:  # an empty folder of the user's
                        (staged / prefix).mkdir(parents=True, exist_ok=True)
                    links = [d for d in dirs if (base / d).is_symlink()]
                    dirs[:] = [d for d in sorted(dirs) if not _scratch(d) and d not in links]
                    for name in sorted(names) + links:
                        if not _scratch(name) and f"{prefix}{name}" not in gone:
                            self._keep(base / name, staged / f"{prefix}{name}")
            for phase in plan.phases:
                for item in phase.writes:
                    self._write(staged, item)

    def location(self, path: str = "") -> str:
        return str(self.path / path) if path else str(self.path)
