"""The in-memory dataset every loader returns.

A dataset is a set of named splits (``train``, ``dev``, ``test``) of labelled texts. Labels are kept
as class *names* (strings); a model maps them to its own class indices, so a dataset whose labels a
model does not know is caught by name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from reportgen.errors import BadInput

SPLITS = ("auto", "train", "dev", "test", "all")
WHOLE = "all"  # the one split of data that names no splits (a single file without a split column)


def text_hash(text: str) -> int:
    """A 60-bit hash of a text (whitespace at the ends ignored), for training-overlap checks."""
    digest = hashlib.blake2b(text.strip().encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 4


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
            labels = {
                ex.label for exs in self.splits.values() for ex in exs if ex.label is not None
            }
            self.classes = sorted(labels)

    def split(self, name: str) -> list[Example]:
        """Examples of one split; ``all`` is every split in order. A split the data does not have is
        ``BadInput`` naming the ones it has (never a silent fallback)."""
        if name == "all":
            return [ex for exs in self.splits.values() for ex in exs]
        if name == "auto":
            return self.split(self.evaluation_split())
        if name in self.splits:
            return self.splits[name]
        have = [n for n in self.splits if n != WHOLE]
        detail = f"it has {', '.join(have)}" if have else "it names no splits"
        raise BadInput(
            f"dataset {self.spec!r} has no {name!r} split ({detail}): evaluate on the whole data "
            "with --split all, or give the evaluation file its split, e.g. "
            "tsv:train=train.tsv,test=test.tsv",
            choices=[*have, "all"],
        )

    def evaluation_split(self) -> str:
        """What ``--split auto`` evaluates: test, else dev, else all rows (data with no splits)."""
        for name in ("test", "dev"):
            if self.splits.get(name):
                return name
        return "all"

    def has_labels(self) -> bool:
        return any(ex.label is not None for exs in self.splits.values() for ex in exs)

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
