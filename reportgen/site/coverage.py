"""What ran on which model: the index page's table, analyses down, models across.

Each cell is ``ran``, ``skipped`` (with the reason the analysis gave for that model: a language
model has no class to explain, a recurrent model has no convolutional layer...) or ``failed`` (with
the error; an analysis that fails, fails for every model it ran on). The per-model reasons come from
``AnalysisRecord.skipped_models``. Records saved before that field existed have the same reasons
only as notes ("Skipped: <reason>", when the analysis ran for other models) or joined into
``reason`` (when it ran for none); a note is matched to the model whose name it begins with, as
every analysis's ``skip_reason`` words it. Reasons stay plain strings: the template escapes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reportgen.records import AnalysisRecord, RunRecord

SKIPPED_NOTE = "Skipped: "  # how the runner notes a model an analysis did not apply to


@dataclass
class CoverageCell:
    status: str  # ran | skipped | failed | unknown (a status this version does not know)
    reason: str = ""  # why it did not run (skipped) or what went wrong (failed); plain text


@dataclass
class CoverageRow:
    name: str  # registry name
    title: str
    href: str  # the analysis's page
    cells: list[CoverageCell] = field(default_factory=list)  # one per model, in the run's order


@dataclass
class CoverageTable:
    models: list[str]
    rows: list[CoverageRow]

    def count(self, status: str) -> int:
        return sum(cell.status == status for row in self.rows for cell in row.cells)


def _owner(reason: str, models: Sequence[str]) -> str | None:
    """The model a reason is about: the longest model name it starts with, as a whole word."""
    for name in sorted(models, key=len, reverse=True):
        rest = reason[len(name):]
        if reason.startswith(name) and (not rest or not (rest[0].isalnum() or rest[0] in "-_.")):
            return name
    return None


def skipped_reasons(a: AnalysisRecord, models: Sequence[str]) -> dict[str, str]:
    """Model -> why ``a`` did not run for it (older records: read back from notes and reason)."""
    if a.skipped_models:
        return dict(a.skipped_models)
    found: dict[str, str] = {}
    for note in a.notes:
        if note.startswith(SKIPPED_NOTE):
            reason = note[len(SKIPPED_NOTE):]
            owner = _owner(reason, models)
            if owner is not None:
                found.setdefault(owner, reason)
    if a.status == "skipped":  # it ran for no model: each gets the whole reason
        found = {m: found.get(m, a.reason or "no reason given") for m in models}
    return found


def model_cells(a: AnalysisRecord, models: Sequence[str]) -> list[CoverageCell]:
    """One cell per model for analysis ``a``."""
    skipped = skipped_reasons(a, models)
    cells = []
    for model in models:
        if model in skipped:
            cells.append(CoverageCell("skipped", skipped[model]))
        elif a.status == "ok":
            cells.append(CoverageCell("ran"))
        elif a.status == "failed":
            cells.append(CoverageCell("failed", a.reason or "no reason given"))
        elif a.status == "skipped":
            cells.append(CoverageCell("skipped", a.reason or "no reason given"))
        else:
            cells.append(CoverageCell("unknown", a.status))
    return cells


def coverage_table(record: RunRecord, href: Callable[[str], str]) -> CoverageTable:
    """Every analysis of the run against every model; ``href(name)`` links an analysis's page."""
    models = [m.name for m in record.models]
    rows = [CoverageRow(a.name, a.title, href(a.name), model_cells(a, models))
            for a in record.analyses]
    return CoverageTable(models, rows)
