"""Data SPEC -> Dataset: the one entry point every command uses to read data.

A SPEC is ``PREFIX:PATH_OR_NAME`` (or just ``demo``); ``DATA_FORMATS`` lists the prefixes with one
line each (``reportgen list`` prints it). The loaders themselves live in ``corpora`` (MR, AG News),
``tabular`` (CSV, TSV, JSONL, SST-2), ``hub`` (Hugging Face) and ``demo``. Every problem with the
input is raised as ``BadInput`` with one message naming the file, column or prefix at fault.
"""

from __future__ import annotations

from pathlib import Path

from reportgen.data.corpora import load_agnews, load_mr
from reportgen.data.dataset import Dataset
from reportgen.data.demo import demo_dataset
from reportgen.data.hub import load_hf
from reportgen.data.tabular import load_sst2, load_table
from reportgen.errors import BadInput

DATA_FORMATS: dict[str, str] = {
    "mr": "mr:DIR - MR movie reviews, rt-polarity.pos/.neg (latin-1); fixed seeded 90/10 split",
    "agnews": "agnews:DIR - AG News train.csv/test.csv ('class','title','description'), classes.txt",
    "sst2": "sst2:FILE - SST-2 'sentence<TAB>label' lines, labels 0/1 (or a GLUE SST-2 directory)",
    "csv": "csv:FILE - CSV with a header; --text-col/--label-col (default text, label); optional "
    "'split' column",
    "tsv": "tsv:FILE - tab-separated, as csv:",
    "jsonl": "jsonl:FILE - one JSON object per line, keys as csv: columns",
    "hf": "hf:NAME[:SPLIT] - a Hugging Face dataset (Hub name or save_to_disk directory); "
    "needs reportgen[hf]",
    "demo": "demo - the generated demo corpus: movie-review sentences with negation and "
    "concessive clauses",
}
COLUMN_FORMATS = ("csv", "tsv", "jsonl", "hf")
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


def parse_spec(spec: str) -> tuple[str, str]:
    """``"csv:data.csv"`` -> ``("csv", "data.csv")``; an unknown prefix is ``BadInput``."""
    spec = spec.strip()
    prefix, colon, rest = spec.partition(":")
    if not colon and prefix == "demo":
        return "demo", ""
    if colon and prefix in DATA_FORMATS:
        return prefix, rest
    raise BadInput(_unknown_spec_message(spec, prefix if colon else None), choices=DATA_FORMATS)


def _unknown_spec_message(spec: str, prefix: str | None) -> str:
    guess = _SUFFIX_FORMATS.get(Path(spec).suffix.lower())
    if guess:
        return f"data SPEC {spec!r} has no format prefix; did you mean {guess}:{spec}?"
    if prefix is None:
        return f"data SPEC {spec!r} has no format prefix; write PREFIX:PATH"
    return f"unknown data format {prefix!r} in SPEC {spec!r}"


def load_data(
    spec: str,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    seed: int = 0,
) -> Dataset:
    """Load the dataset a SPEC names (formats: ``DATA_FORMATS``).

    ``text_col``/``label_col`` choose the columns of ``csv``/``tsv``/``jsonl`` (defaults ``text`` and
    ``label``) and ``hf`` (defaults ``text`` or ``sentence``, and ``label``); giving one for another
    format is ``BadInput``. ``seed`` is accepted for a uniform call signature but no format depends
    on it: split-less data keeps fixed splits (MR uses a constant seed) so that ``reportgen train``
    and ``reportgen run`` always see the same held-out examples.
    """
    del seed  # see the docstring
    prefix, rest = parse_spec(spec)
    if prefix not in COLUMN_FORMATS and (text_col or label_col):
        option = "--text-col" if text_col else "--label-col"
        raise BadInput(
            f"{option} does not apply to {prefix!r} data (it applies to: {', '.join(COLUMN_FORMATS)})"
        )
    if prefix == "demo":
        if rest:
            raise BadInput(f"data SPEC {spec!r}: the demo corpus takes no argument; write 'demo'")
        return demo_dataset()
    if prefix == "mr":
        return load_mr(spec, rest)
    if prefix == "agnews":
        return load_agnews(spec, rest)
    if prefix == "sst2":
        return load_sst2(spec, rest)
    if prefix == "hf":
        return load_hf(spec, rest, text_col, label_col)
    return load_table(spec, rest, prefix, text_col or "text", label_col or "label")
