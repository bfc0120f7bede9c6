"""What every target offers: its current files, a way to read and compare them, and ``apply``.

A target is used as ``with target.session(): target.load(); plan = ...; target.apply(plan)``
``session`` holds what the whole publish needs (the folder's writer lock, the temporary git
repository); ``load`` reads the current state; ``apply`` runs the plan's phases in order and
must leave what was published before intact when it is interrupted (``interrupted`` says how,
for the Ctrl-C line).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reportgen.publish.plan import Item, Plan

Echo = Callable[[str], None]


class Target(ABC):
    """A place to publish to."""

    name: str = ""  # for messages: credentials scrubbed
    interrupted: str = "interrupted; what was published before is unchanged"

    def check_source(self, source_root: Path) -> None:
        """Refuse, with ``BadInput``, a DIR this target cannot publish (before ``load``)."""

    @contextmanager
    def session(self, writing: bool = True) -> Iterator[None]:
        """Around the whole publish; ``writing`` is False for a dry run."""
        yield

    @abstractmethod
    def load(self) -> None:
        """Read the target's current files (before ``listing``)."""

    @abstractmethod
    def listing(self) -> dict[str, int]:
        """Every file the target holds: path in the published tree -> size in bytes."""

    @abstractmethod
    def read(self, path: str) -> bytes | None:
        """The bytes of one file, None when there is none."""

    @abstractmethod
    def same(self, path: str, item: Item) -> bool:
        """Whether the target's file at ``path`` already holds ``item``'s bytes."""

    def rewrites(self) -> bool:
        """Whether applying changes the target even when no file changes (``--no-history``)."""
        return False

    def extra_files(self) -> dict[str, bytes]:
        """Files this kind of target adds at the root (``.nojekyll``)."""
        return {}

    @abstractmethod
    def apply(self, plan: Plan, echo: Echo) -> None:
        """Make the changes of ``plan``, phase by phase."""

    def location(self, path: str = "") -> str:
        """Where a published path can be found, for the closing line."""
        return f"{self.name}/{path}" if path else self.name
