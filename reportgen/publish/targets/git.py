"""A git branch as the target (GitHub Pages' ``gh-pages`` by default), written with dulwich.

``git:REMOTE_OR_PATH[#BRANCH]``: REMOTE_OR_PATH is a URL (``https://...``, ``ssh://...``,
``git@host:owner/repo.git``), a local repository (bare or not), or the name of a remote of the
repository in the current folder (``git:origin``). Nothing of the user's repository is touched:
its work tree, index, HEAD and other branches stay as they are. The branch's last commit is
fetched (depth 1) into a temporary bare repository, the new tree is built there from blobs (the
files the plan keeps are not even read), committed with the branch's head as its parent (none
with ``--no-history``: one commit holding every published run, and the old commits left out),
and pushed at the end. The push updates the branch only if it still points where it did when
fetched (a compare-and-swap on the remote), so the ref moves once, at the very end; an
interrupted publish leaves the branch as it was. ``.nojekyll`` is added at the root, and
everything already on the branch but not replaced (a ``CNAME``, other runs) is kept.

Pushing into a local repository whose work tree has that branch checked out is refused: its
files would no longer match its HEAD. Credentials come from the URL, the SSH agent and keys, as
git itself would use them; they are scrubbed from every message.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reportgen.errors import BadInput
from reportgen.publish.plan import Item, Plan
from reportgen.publish.secrets import scrub
from reportgen.publish.targets.base import Echo, Target

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/:\s]+@[^/:\s]+:")
_REMOTE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
FILE_MODE = 0o100644


def _fail(what: str, exc: BaseException) -> BadInput:
    return BadInput(scrub(f"{what}: {type(exc).__name__}: {exc}"))


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What reading or pushing a repository raises when the repository, network or
    credentials are at fault (dulwich's errors have no common base)."""
    from dulwich import client, errors

    return (OSError, ValueError, KeyError, errors.GitProtocolError, errors.NotGitRepository,
            errors.ObjectMissing, errors.FileFormatException, errors.WrongObjectException,
            client.HTTPUnauthorized, client.HTTPProxyUnauthorized, client.StrangeHostname,
            client.TransportNotAllowed, client.InvalidWants)


class GitTarget(Target):
    def __init__(self, location: str, branch: str, *, no_history: bool = False) -> None:
        if not location:
            raise BadInput("--to git: needs a repository: git:PATH, git:URL or git:REMOTE")
        if not re.fullmatch(r"[A-Za-z0-9._/-]+", branch) or ".." in branch \
                or branch.startswith(("/", "-")) or branch.endswith((".lock", "/")):
            raise BadInput(f"--to git:...#{branch}: not a branch name git accepts")
        self.branch = branch
        self.ref = f"refs/heads/{branch}".encode()
        self.no_history = no_history
        self.url = self._resolve(location)
        self.name = scrub(f"git:{location}#{branch}")
        self.interrupted = f"interrupted; the branch {branch} of {scrub(location)} is unchanged"
        self.head: bytes | None = None
        self._entries: dict[str, tuple[bytes, int]] = {}
        self._sizes: dict[str, int] = {}

    # where ------------------------------------------------------------------------------------
    def _resolve(self, location: str) -> str:
        if _URL.match(location):
            return location
        path = Path(location).expanduser()
        if path.exists():
            self._refuse_checked_out(path.resolve())
            return str(path.resolve())
        if _REMOTE_NAME.match(location):
            from dulwich.errors import NotGitRepository
            from dulwich.repo import Repo

            try:
                with Repo.discover(os.getcwd()) as here:
                    url = here.get_config().get((b"remote", location.encode()), b"url")
                    top = Path(here.path)
            except (NotGitRepository, KeyError):
                url = None
            if url:  # a relative path in .git/config is relative to the repository
                text = url.decode()
                return self._resolve(text if _URL.match(text) else str(top / text))
        raise BadInput(
            f"--to git:{scrub(location)}: no such repository, path or remote (give git:PATH to a "
            "repository, git:URL, or the name of a remote of the repository here)"
        )

    def _refuse_checked_out(self, path: Path) -> None:
        from dulwich.errors import NotGitRepository
        from dulwich.repo import Repo

        try:
            with Repo(str(path)) as repo:
                bare = repo.bare
                head = repo.refs.read_ref(b"HEAD")
        except NotGitRepository:
            raise BadInput(f"--to git:{path}: not a git repository") from None
        if not bare and head == b"ref: " + self.ref:
            raise BadInput(
                f"--to git:{path}#{self.branch}: that branch is checked out in {path}, and "
                "publishing would change it under its work tree; publish to another branch"
            )

    # reading ----------------------------------------------------------------------------------
    @contextmanager
    def session(self, writing: bool = True) -> Iterator[None]:
        from dulwich.client import get_transport_and_path
        from dulwich.repo import Repo

        with tempfile.TemporaryDirectory(prefix="reportgen-publish-") as tmp:
            self.repo = Repo.init_bare(tmp)
            try:
                self.client, self.path = get_transport_and_path(self.url)
                yield
            finally:
                self.repo.close()

    def load(self) -> None:
        from dulwich.object_store import iter_tree_contents

        try:
            refs = self.client.get_refs(self.path)
            refs = getattr(refs, "refs", refs)
            self.head = refs.get(self.ref)
            if self.head is not None:
                head = self.head

                def wants(refs: dict, depth: int | None = None) -> list[bytes]:
                    return [head]

                self.client.fetch(self.path, self.repo, determine_wants=wants, depth=1)
        except _transport_errors() as exc:
            raise _fail(f"--to {self.name}: cannot read the repository", exc) from None
        self._entries, self._sizes = {}, {}
        if self.head is None:
            return
        store = self.repo.object_store
        for entry in iter_tree_contents(store, store[self.head].tree):
            path = entry.path.decode("utf-8", "surrogateescape")
            self._entries[path] = (entry.sha, entry.mode)
            self._sizes[path] = 0 if entry.mode == 0o160000 else len(store.get_raw(entry.sha)[1])

    def listing(self) -> dict[str, int]:
        return dict(self._sizes)

    def read(self, path: str) -> bytes | None:
        found = self._entries.get(path)
        if found is None or found[1] == 0o160000:
            return None
        return self.repo.object_store[found[0]].as_raw_string()

    def same(self, path: str, item: Item) -> bool:
        from dulwich.objects import Blob

        found = self._entries.get(path)
        return found is not None and found[0] == Blob.from_string(item.read()).id

    def extra_files(self) -> dict[str, bytes]:
        return {".nojekyll": b""}

    def location(self, path: str = "") -> str:
        return f"{path} on the branch {self.branch}" if path else self.name

    def rewrites(self) -> bool:
        """``--no-history`` on a branch with more than one commit squashes it, changes or not."""
        return self.no_history and self.head is not None and bool(self.repo[self.head].parents)

    # writing ----------------------------------------------------------------------------------
    def _generate_pack_data(self, *args, **kwargs):  # a seam for the interruption test
        return self.repo.generate_pack_data(*args, **kwargs)

    def _commit(self, plan: Plan) -> bytes:
        from dulwich.config import StackedConfig
        from dulwich.index import commit_tree
        from dulwich.objects import Blob, Commit
        from dulwich.repo import get_user_identity

        gone = set(plan.removed)
        entries = {p: e for p, e in self._entries.items() if p not in gone}
        store = self.repo.object_store
        for phase in plan.phases:
            for item in phase.writes:
                blob = Blob.from_string(item.read())
                store.add_object(blob)
                entries[item.path] = (blob.id, FILE_MODE)
        tree = commit_tree(store, [(p.encode("utf-8", "surrogateescape"), sha, mode)
                                   for p, (sha, mode) in sorted(entries.items())])
        commit = Commit()
        commit.tree = tree
        commit.parents = [] if self.no_history or self.head is None else [self.head]
        config = StackedConfig.default()
        try:
            commit.author = get_user_identity(config, "AUTHOR")
            commit.committer = get_user_identity(config, "COMMITTER")
        except (KeyError, OSError, ValueError, UnicodeError):  # no usable identity here
            commit.author = commit.committer = b"reportgen <reportgen@localhost>"
        commit.commit_time = commit.author_time = int(time.time())
        commit.commit_timezone = commit.author_timezone = 0
        source = plan.source
        commit.message = f"reportgen publish: {source.kind} {source.id}\n".encode()
        store.add_object(commit)
        return commit.id

    def apply(self, plan: Plan, echo: Echo) -> None:
        new = self._commit(plan)
        old = self.head

        def update_refs(refs: dict[bytes, bytes]) -> dict[bytes, bytes]:
            if refs.get(self.ref) != old:
                raise BadInput(
                    f"--to {self.name}: the branch moved while publishing (someone else pushed); "
                    "publish again"
                )
            return {self.ref: new}

        try:
            result = self.client.send_pack(self.path, update_refs,
                                           generate_pack_data=self._generate_pack_data)
        except _transport_errors() as exc:
            raise _fail(f"--to {self.name}: the push failed, the branch is unchanged", exc) \
                from None
        status = (getattr(result, "ref_status", None) or {}).get(self.ref)
        if status:
            raise BadInput(scrub(f"--to {self.name}: the push was refused ({status}); the branch "
                                 "is unchanged"))
