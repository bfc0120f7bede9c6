"""Transformers at the size users bring: seconds per analysis and peak memory of a whole report.

    python benchmarks/transformers_scale.py [--sizes minilm,bert-base] [--examples 300,3000]
        [--data mr:../shared/data/mr] [--only A,B] [--no-write] [--keep DIR]

The encoders are built here from a config with random weights (nothing is downloaded):
``minilm`` is MiniLM-L6's shape (6 layers, hidden 384, 12 heads, 1,536 MLP units per layer, about
22M parameters with a 30k vocabulary), ``bert-base`` BERT-base's (12 layers, hidden 768, 12 heads,
3,072 MLP units, about 110M). The tokenizer is a WordPiece vocabulary of the data's most frequent
words (whole words, then single characters and ``##`` characters, so every word has pieces), up
to 30,522 entries as BERT's. Each (size, examples) pair is one cold ``reportgen run --model
hf:DIR --data DATA --max-examples N`` with every analysis at its defaults, in its own process with
a fresh cache folder; the parent measures its wall time and peak resident memory (``wait4``) and
reads each analysis's seconds from ``report.json``. Random weights give near-chance accuracy: the
costs, not the findings, are what is measured. Results go to ``docs/benchmarks.md`` under
"## Transformers at the size users bring (CPU)".
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc_section import write_section

HEADING = "## Transformers at the size users bring (CPU)"
SIZES = {
    "minilm": {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
               "intermediate_size": 1536},
    "bert-base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                  "intermediate_size": 3072},
}
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = 30522


def vocabulary(data: str, size: int = VOCAB) -> tuple[list[str], list[str]]:
    """A WordPiece vocabulary from the data's texts (specials, every character alone and as a
    ``##`` continuation, then the most frequent lower-cased words), and the data's classes."""
    from reportgen.data.loaders import load_data

    dataset = load_data(data)
    texts = [ex.text for exs in dataset.splits.values() for ex in exs]
    words = collections.Counter(w for t in texts for w in t.lower().split())
    chars = sorted({c for w in words for c in w})
    pieces = SPECIAL + chars + [f"##{c}" for c in chars]
    seen = set(pieces)
    for word, _ in words.most_common():
        if len(pieces) >= size:
            break
        if word not in seen:
            pieces.append(word)
            seen.add(word)
    return pieces, list(dataset.classes)


def build(folder: Path, size: str, pieces: list[str], classes: list[str],
          seed: int = 0) -> Path:
    """A randomly initialised ``BertForSequenceClassification`` of ``size``, saved with its
    tokenizer in ``folder`` (loadable as ``hf:folder``)."""
    import torch
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(pieces) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"),
                                               do_lower_case=True)
    config = transformers.BertConfig(vocab_size=len(pieces), max_position_embeddings=512,
                                     num_labels=len(classes), **SIZES[size],
                                     id2label=dict(enumerate(classes)),
                                     label2id={c: i for i, c in enumerate(classes)})
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tree_pss(root: int) -> int:
    """Bytes of proportional set size of process ``root`` and all its descendants (a page shared
    by several of them, such as a memory-mapped array, counted once in all), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


class TreeSampler:
    """The largest ``tree_pss`` of a process seen while it runs, sampled every ``every`` s."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        import threading

        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, args=(pid, every), daemon=True)
        self._thread.start()

    def _run(self, pid: int, every: float) -> None:
        while not self._stop.wait(every):
            self.peak = max(self.peak, tree_pss(pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_report(model: Path, data: str, examples: int, out: Path, only: list[str]) -> dict:
    """One cold report in a child process: wall seconds, peak RSS of the process (GB, ``wait4``)
    and peak PSS of its process tree (GB, the probes' worker processes included, sampled),
    per-analysis seconds, the precision it computed in."""
    cmd = [sys.executable, "-m", "reportgen", "run", "--model", f"hf:{model}", "--data", data,
           "--max-examples", str(examples), "--out", str(out / "site"), "--cache-dir",
           str(out / "cache"), "--no-cache", "--quiet"]
    for name in only:
        cmd += ["--only", name]
    started = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    sampler = TreeSampler(child.pid)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    tree_peak = sampler.stop()
    stderr = child.stderr.read() if child.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {code}:\n{stderr[-3000:]}")
    report = json.loads((out / "site" / "report.json").read_text(encoding="utf-8"))
    per = {name: (a.get("status"), a.get("seconds")) for name, a in report["analyses"].items()}
    return {"seconds": seconds, "peak_gb": usage.ru_maxrss / 2**20, "analyses": per,
            "tree_gb": tree_peak / 2**30,
            "precision": report["config"].get("resolved", {}).get("precision", "?"),
            "exit": code, "accuracy": next(iter(report.get("models", [{}])), {}).get("accuracy")}


def parameters(folder: Path) -> int:
    import transformers

    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def table(rows: list[dict]) -> str:
    names = sorted({n for r in rows for n in r["analyses"]})
    head = ("| model | parameters | texts | precision | wall (s) | peak RSS (GB) | "
            "peak PSS, with workers (GB) | " + " | ".join(names) + " |")
    lines = [head, "|" + "---|" * (7 + len(names))]
    for r in rows:
        cells = []
        for n in names:
            status, sec = r["analyses"].get(n, ("-", None))
            cells.append(f"{sec:.1f}" if status == "ok" and sec is not None else str(status))
        lines.append(f"| {r['size']} | {r['params'] / 1e6:.1f}M | {r['examples']:,} | "
                     f"{r['precision']} | {r['seconds']:.1f} | {r['peak_gb']:.2f} | "
                     f"{r['tree_gb']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="minilm,bert-base")
    ap.add_argument("--examples", default="300,3000")
    ap.add_argument("--pairs", default="", help="size:examples,... instead of the product")
    ap.add_argument("--data", default=f"mr:{ROOT.parent / 'shared' / 'data' / 'mr'}")
    ap.add_argument("--only", default="", help="comma-separated analyses (default: all)")
    ap.add_argument("--keep", default="", help="folder for the built models (default: temp)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    pairs = ([(p.split(":")[0], int(p.split(":")[1])) for p in args.pairs.split(",")]
             if args.pairs else [(s, int(n)) for s in args.sizes.split(",")
                                 for n in args.examples.split(",")])
    only = [n for n in args.only.split(",") if n]
    root = Path(args.keep or tempfile.mkdtemp(prefix="hf-scale-"))
    pieces, classes = vocabulary(args.data)
    load = os.getloadavg()[0]
    rows = []
    for size, examples in pairs:
        folder = root / size
        if not (folder / "config.json").exists():
            build(folder, size, pieces, classes)
        result = run_report(folder, args.data, examples, Path(tempfile.mkdtemp(prefix="run-")),
                            only)
        result |= {"size": size, "examples": examples, "params": parameters(folder)}
        rows.append(result)
        print(json.dumps(result), flush=True)
    text = (
        f"`python benchmarks/transformers_scale.py --pairs "
        f"{','.join(f'{s}:{n}' for s, n in pairs)}`"
        + (f" `--only {','.join(only)}`" if only else "")
        + f": a randomly initialised BERT encoder of each shape (WordPiece vocabulary of "
        f"{len(pieces):,} pieces from the data), one cold `reportgen run --model hf:DIR --data "
        f"{args.data.split(':')[0]}:... --max-examples N --no-cache` each, every analysis at its "
        f"defaults. {datetime.now(UTC).date()}, {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}, load average {load:.2f} "
        f"at the start. Seconds per analysis from `report.json`; peak RSS of the run's process "
        f"(`wait4`) and peak PSS of it and its worker processes (the L1 probes' pool; /proc, "
        f"sampled every 0.25 s).\n\n"
        + table(rows))
    print(text)
    if not args.no_write:
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
