"""Reading a report folder (what ``reportgen run`` wrote) for a comparison, with no model at hand.

Question: what did a run measure, on which examples, and which per-example values did it keep?

Method: ``report.json`` gives the models, the data card (with ``data.fingerprint``, the hash of
the evaluated examples' texts and labels in order) and every analysis's metrics and tables; a
table is read from its file in the folder, the gzipped whole (``full_csv``) where the CSV holds
only a sample. ``data/predictions.csv.gz`` holds every evaluated example's prediction and class
probabilities per classifier. Reports written before the fingerprint existed are identified by
their data card instead (spec, split, counts, the sampling settings), which ``fingerprint_source``
says.

Every path comes from the folder's own ``report.json`` and is refused if it leads outside the
folder; every text read is data (untrusted), never markup. Anything missing or malformed is
``BadInput`` naming the folder.

Outputs: ``Report``, whose tables are read once, on first use.

Cost: one JSON parse, then one CSV read per table used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from reportgen.errors import BadInput

TEXT_COLUMNS = ("model", "token", "word", "label", "predicted", "text", "layer", "pattern",
                "best_pattern", "top_words", "method", "class", "source", "flag", "classifier",
                "target", "random", "salient", "words_predicted", "random_predicted",
                "salient_predicted", "outcome")


def read_csv(path: Path) -> pd.DataFrame:
    """A table as reportgen wrote it: text columns stay text ("null", "nan" and "01" are words),
    only empty cells are missing (None)."""
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False,
                        dtype={c: object for c in TEXT_COLUMNS})
    for column in TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


@dataclass
class Report:
    """One report folder."""

    path: Path
    raw: dict[str, Any]
    sha256: str  # of report.json's bytes (what reportgen publish names the run by)
    _tables: dict[tuple[str, str], pd.DataFrame | None] = field(default_factory=dict, repr=False)
    _predictions: pd.DataFrame | None = field(default=None, repr=False)

    # what the report says -------------------------------------------------------------------
    @property
    def created(self) -> str:
        return str(self.raw.get("created") or "")

    @property
    def version(self) -> str:
        return str(self.raw.get("reportgen_version") or "")

    @property
    def data(self) -> dict[str, Any]:
        data = self.raw.get("data")
        return data if isinstance(data, dict) else {}

    @property
    def models(self) -> dict[str, dict[str, Any]]:
        """Model name -> its card, in report order."""
        return {str(m["name"]): m for m in self.raw.get("models") or []
                if isinstance(m, dict) and m.get("name") is not None}

    @property
    def examples(self) -> int:
        return int(self.data.get("examples") or 0)

    @property
    def fingerprint(self) -> str:
        """The evaluated examples' hash, or (older reports) a hash of the data card."""
        stored = self.data.get("fingerprint")
        if isinstance(stored, str) and stored:
            return stored
        config = self.raw.get("config") if isinstance(self.raw.get("config"), dict) else {}
        card = [self.data.get(k) for k in ("spec", "split", "examples", "total_examples",
                                           "class_counts", "labelled", "label_map")]
        card += [config.get("max_examples"), self.raw.get("seed")]
        digest = hashlib.sha256(json.dumps(card, sort_keys=True, default=str).encode())
        return "card-" + digest.hexdigest()[:11]

    @property
    def fingerprint_source(self) -> str:
        if isinstance(self.data.get("fingerprint"), str) and self.data.get("fingerprint"):
            return "the evaluated examples' texts and labels"
        return "the data card (this report predates data fingerprints)"

    def analysis(self, name: str) -> dict[str, Any] | None:
        """An analysis that ran (status ok), else None."""
        a = (self.raw.get("analyses") or {}).get(name)
        return a if isinstance(a, dict) and a.get("status") == "ok" else None

    def analyses(self) -> dict[str, dict[str, Any]]:
        return {name: a for name, a in (self.raw.get("analyses") or {}).items()
                if isinstance(a, dict)}

    def metrics(self, name: str) -> dict[str, float]:
        a = self.analysis(name)
        metrics = a.get("metrics") if a else None
        return {str(k): float(v) for k, v in (metrics or {}).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}

    # files ----------------------------------------------------------------------------------
    def _file(self, rel: object) -> Path | None:
        if not isinstance(rel, str) or not rel:
            return None
        path = (self.path / rel).resolve()
        if not path.is_relative_to(self.path):
            raise BadInput(f"report {str(self.path)!r}: report.json names {rel!r}, outside the "
                           "report folder")
        return path if path.is_file() else None

    def table_info(self, analysis: str, table: str) -> dict[str, Any]:
        a = self.analysis(analysis)
        info = ((a or {}).get("tables") or {}).get(table)
        return info if isinstance(info, dict) else {}

    def table(self, analysis: str, table: str) -> pd.DataFrame | None:
        """Every row of a table (the gzipped whole where the CSV is a sample); None when the
        analysis did not run or the file is not there (a single-file report has none)."""
        key = (analysis, table)
        if key not in self._tables:
            info = self.table_info(analysis, table)
            path = self._file(info.get("full_csv")) or self._file(info.get("csv"))
            self._tables[key] = self._read(path) if path is not None else None
        return self._tables[key]

    def _read(self, path: Path) -> pd.DataFrame:
        try:
            return read_csv(path)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise BadInput(f"report {str(self.path)!r}: cannot read "
                           f"{path.relative_to(self.path).as_posix()} ({exc})") from None

    def predictions(self) -> pd.DataFrame | None:
        """``model, example_id, label, predicted, p0..``: every evaluated example, per
        classifier; None in reports from before they were stored, or single-file reports."""
        if self._predictions is None:
            info = self.raw.get("predictions")
            path = self._file(info.get("csv")) if isinstance(info, dict) else None
            if path is None:
                return None
            self._predictions = self._read(path)
        return self._predictions

    def texts(self) -> dict[int, str]:
        """example_id -> text, for the evaluated examples the report kept texts of."""
        found: dict[int, str] = {}
        for analysis in ("saliency", "hidden_saliency"):
            frame = self.table(analysis, "examples")
            if frame is None or "text" not in frame.columns:
                continue
            if "source" in frame.columns:
                frame = frame[frame["source"].isin(["data", None])]
            for eid, text in zip(frame["example_id"], frame["text"], strict=True):
                if text is not None and int(eid) >= 0:
                    found.setdefault(int(eid), str(text))
        return found


def load_report(directory: str | Path, side: str) -> Report:
    """The report in ``directory`` (``side``: "OLD" or "NEW", for messages)."""
    root = Path(directory)
    what = f"{side} {str(directory)!r}"
    if not root.is_dir():
        raise BadInput(f"{what} is not a folder; give the folder 'reportgen run --out' wrote")
    path = root / "report.json"
    if not path.is_file():
        raise BadInput(f"{what} has no report.json; give the folder 'reportgen run --out' wrote")
    try:
        raw_bytes = path.read_bytes()
        raw = json.loads(raw_bytes)
    except OSError as exc:
        raise BadInput(f"{what}: cannot read report.json ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise BadInput(f"{what}: report.json is not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list) \
            or not isinstance(raw.get("analyses"), dict):
        raise BadInput(f"{what}: report.json has no models and analyses; is it a reportgen report?")
    return Report(root.resolve(), raw, hashlib.sha256(raw_bytes).hexdigest())
