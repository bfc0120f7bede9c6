"""The in-memory dataset every loader returns.

A dataset is a set of named splits (``train``, ``dev``, ``test``) of labelled texts. Labels are kept
as class *names* (strings); a model maps them to its own class indices, so a dataset whose labels a
model does not know is caught by name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from reportgen.errors import BadInput

SPLITS = ("train", "dev", "test", "all")


@dataclass(frozen=True)
class Example:
    text: str
    label: str | None = None


@dataclass
class Dataset:
    spec: str
    splits: dict[str, list[Example]]
    classes: list[str] = field(default_factory=list)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.classes:
            labels = {ex.label for exs in self.splits.values() for ex in exs if ex.label is not None}
            self.classes = sorted(labels)

    def split(self, name: str) -> list[Example]:
        """Examples of one split; ``all`` is every split in order, ``test`` falls back to all."""
        if name == "all":
            return [ex for exs in self.splits.values() for ex in exs]
        if name in self.splits:
            return self.splits[name]
        if name == "test" and "test" not in self.splits:
            return self.split("all")
        raise BadInput(f"dataset {self.spec!r} has no split {name!r}", choices=[*self.splits, "all"])

    def __len__(self) -> int:
        return sum(len(v) for v in self.splits.values())

    def fingerprint(self) -> str:
        """A short hash of every text and label, for cache keys."""
        h = hashlib.sha256()
        for name, exs in sorted(self.splits.items()):
            h.update(name.encode())
            for ex in exs:
                h.update(ex.text.encode("utf-8", "surrogatepass"))
                h.update(b"\x00")
                h.update((ex.label or "").encode())
                h.update(b"\x01")
        return h.hexdigest()[:16]
