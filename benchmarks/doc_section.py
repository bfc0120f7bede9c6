"""Write one benchmark's section of ``docs/benchmarks.md``, replacing an earlier run's."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(heading: str, text: str, doc: Path = DOC) -> None:
    """Replace the section under ``heading`` (up to the next ``## ``) with ``text``,
    or append it."""
    content = doc.read_text(encoding="utf-8")
    section = f"{heading}\n\n{text}\n"
    if heading in content:
        head, _, rest = content.partition(heading)
        tail = rest.split("\n## ", 1)
        content = head + section + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        content = content.rstrip() + "\n\n" + section
    doc.write_text(content, encoding="utf-8")
