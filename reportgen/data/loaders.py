"""Data SPEC -> Dataset: the one entry point every command uses to read data.

A SPEC is ``PREFIX:PATH_OR_NAME`` (or just ``demo``); ``DATA_FORMATS`` lists the prefixes with one
line each (``reportgen list`` prints it). File formats also take one file per split,
``PREFIX:train=FILE,dev=FILE,test=FILE`` (any of the three), so that "train on this file, evaluate
on that one" is said explicitly; each file must then hold no split column of its own. The loaders
themselves live in ``corpora`` (MR, AG News), ``tabular`` (CSV, TSV, JSONL, SST-2), ``hub`` (Hugging
Face) and ``demo``. Every problem with the input is raised as ``BadInput`` with one message naming
the file, column or prefix at fault.
"""

from __future__ import annotations

from pathlib import Path

from reportgen.data.corpora import load_agnews, load_mr
from reportgen.data.dataset import WHOLE, Dataset, Example
from reportgen.data.demo import demo_dataset
from reportgen.data.hub import load_hf
from reportgen.data.sources import (
    SPLIT_ALIASES,
    count_summary,
    existing_path,
    ordered_classes,
    ordered_splits,
    read_utf8,
    split_name,
)
from reportgen.data.tabular import SST2_CLASSES, load_sst2, load_table
from reportgen.errors import BadInput

DATA_FORMATS: dict[str, str] = {
    "mr": "mr:DIR - MR movie reviews, rt-polarity.pos/.neg (latin-1); fixed seeded 90/10 split",
    "agnews": "agnews:DIR - AG News train.csv/test.csv ('class','title','description'), "
    "classes.txt",
    "sst2": "sst2:FILE - SST-2 'sentence<TAB>label' lines, labels 0/1 (or a GLUE SST-2 directory)",
    "csv": "csv:FILE - CSV with a header; --text-col/--label-col (default text, label); optional "
    "'split' column",
    "tsv": "tsv:FILE - tab-separated, as csv:",
    "jsonl": "jsonl:FILE - one JSON object per line, keys as csv: columns",
    "txt": "txt:FILE - one unlabelled text per line (UTF-8)",
    "hf": "hf:NAME[:SPLIT] - a Hugging Face dataset (Hub name or save_to_disk directory); "
    "needs reportgen[hf]",
    "demo": "demo - the generated demo corpus: movie-review sentences with negation and "
    "concessive clauses",
}
COLUMN_FORMATS = ("csv", "tsv", "jsonl", "hf")
FILE_FORMATS = ("csv", "tsv", "jsonl", "sst2", "txt")  # take PREFIX:train=FILE,test=FILE too
SPLIT_FILES_HELP = "one file per split: PREFIX:train=FILE,dev=FILE,test=FILE"
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
    """No prefix: suggest one from the file's suffix. An unknown prefix (``foo:dev.tsv``) is named
    as such, with the suggestion for the path after it, never glued in front of the bad prefix."""
    path = spec if prefix is None else spec.partition(":")[2]
    guess = _SUFFIX_FORMATS.get(Path(path).suffix.lower())
    forms = "write PREFIX:PATH, or PREFIX:train=FILE,dev=FILE,test=FILE for one file per split"
    if prefix is None:
        if guess:
            return f"data SPEC {spec!r} has no format prefix; did you mean {guess}:{spec}?"
        return f"data SPEC {spec!r} has no format prefix; {forms}"
    hint = f"; did you mean {guess}:{path}?" if guess else f"; {forms}"
    return f"unknown data format {prefix!r} in SPEC {spec!r}{hint}"


def load_data(
    spec: str,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    seed: int = 0,
) -> Dataset:
    """Load the dataset a SPEC names (formats: ``DATA_FORMATS``).

    ``text_col``/``label_col`` choose the columns of ``csv``/``tsv``/``jsonl`` (defaults ``text``
    and ``label``) and ``hf`` (defaults ``text`` or ``sentence``, and ``label``); giving one for
    another format is ``BadInput``. ``seed`` is accepted for a uniform call signature but no format
    depends on it: split-less data keeps fixed splits (MR uses a constant seed) so that
    ``reportgen train`` and ``reportgen run`` always see the same held-out examples.
    """
    del seed  # see the docstring
    prefix, rest = parse_spec(spec)
    if prefix not in COLUMN_FORMATS and (text_col or label_col):
        option = "--text-col" if text_col else "--label-col"
        raise BadInput(
            f"{option} does not apply to {prefix!r} data "
            f"(it applies to: {', '.join(COLUMN_FORMATS)})"
        )
    if prefix == "demo":
        if rest:
            raise BadInput(f"data SPEC {spec!r}: the demo corpus takes no argument; write 'demo'")
        return demo_dataset()
    if prefix == "mr":
        return load_mr(spec, rest)
    if prefix == "agnews":
        return load_agnews(spec, rest)
    if prefix == "hf":
        return load_hf(spec, rest, text_col, label_col)
    if prefix in FILE_FORMATS and _names_split_files(rest):
        return _load_split_files(spec, prefix, rest, text_col, label_col)
    return _load_file(spec, prefix, rest, text_col, label_col)


def _load_file(spec: str, prefix: str, rest: str, text_col: str | None,
               label_col: str | None) -> Dataset:
    if prefix == "sst2":
        return load_sst2(spec, rest)
    if prefix == "txt":
        return load_lines(spec, rest)
    return load_table(spec, rest, prefix, text_col or "text", label_col or "label",
                      label_optional=label_col is None)


def _names_split_files(rest: str) -> bool:
    head = rest.split(",")[0]
    name, eq, _ = head.partition("=")
    return bool(eq) and name.strip().lower() in SPLIT_ALIASES and not Path(rest).exists()


def _load_split_files(spec: str, prefix: str, rest: str, text_col: str | None,
                      label_col: str | None) -> Dataset:
    """``PREFIX:train=a,dev=b,test=c`` -> one Dataset whose splits are those files."""
    splits: dict[str, list] = {}
    parts = []
    for item in rest.split(","):
        name, eq, path = item.partition("=")
        if not eq or not path.strip():
            raise BadInput(f"data SPEC {spec!r}: {item!r} is not SPLIT=FILE ({SPLIT_FILES_HELP})")
        split = split_name(name, f"data SPEC {spec!r}")
        if split in splits:
            raise BadInput(f"data SPEC {spec!r} names the {split} split twice")
        one = _load_file(f"{prefix}:{path.strip()}", prefix, path.strip(), text_col, label_col)
        if set(one.splits) != {WHOLE}:
            raise BadInput(f"data SPEC {spec!r}: {path.strip()} has its own split column; give it "
                           "alone, or drop the column")
        splits[split] = one.splits[WHOLE]
        parts.append(f"{split}: {Path(path.strip()).name}")
    splits = ordered_splits(splits)
    labels = [ex.label for exs in splits.values() for ex in exs if ex.label is not None]
    classes = SST2_CLASSES if prefix == "sst2" else ordered_classes(labels)
    return Dataset(spec=spec, splits=splits, classes=list(classes),
                   description=f"{prefix.upper()} files ({'; '.join(parts)}): "
                               f"{count_summary(splits)}")


def load_lines(spec: str, raw: str) -> Dataset:
    """``txt:FILE``: one unlabelled text per non-empty line, one split (``all``)."""
    path = existing_path(spec, raw, want_dir=False)
    texts = [line.strip() for line in read_utf8(path).splitlines() if line.strip()]
    if not texts:
        raise BadInput(f"{path} is empty")
    return Dataset(spec=spec, splits={WHOLE: [Example(t) for t in texts]}, classes=[],
                   description=f"text file {path.name}: {len(texts):,} unlabelled lines")
