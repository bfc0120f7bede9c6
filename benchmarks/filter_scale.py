"""filter_top_words at lm_1b's scale: 4,096 character filters over a 50,000-word vocabulary.

    python benchmarks/filter_scale.py [--words 50000] [--device auto] [--no-write]

The model is a ``char-cnn`` with lm_1b's filter layout (widths 1-8, 32/32/64/128/256/512/1024/2048
filters = 4,096; 16-d character embeddings; words up to 50 characters), untrained: the time does
not depend on the weights. The words are the distinct tokens of MR and AG News (``../shared/data``),
topped up with seeded random letter strings when there are fewer than ``--words``. Times, taken in
this one process: the batched forward pass over every word, and the whole analysis (activations,
pattern finder over every filter, tables). Written to ``docs/benchmarks.md`` under
"## Filter analysis at lm_1b scale".
"""

from __future__ import annotations

import argparse
import platform
import random
import string
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc_section import write_section
from reportgen.analyses import filter_top_words as ftw
from reportgen.analyses.base import RunContext
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.device import resolve_device
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES
from reportgen.models.internals import conv_layers

HEADING = "## Filter analysis at lm_1b scale"
WIDTHS = [1, 2, 3, 4, 5, 6, 7, 8]
FILTERS = [32, 32, 64, 128, 256, 512, 1024, 2048]


def corpus_words(n: int) -> list[str]:
    from reportgen.data.loaders import load_data

    words: dict[str, None] = {}
    data = ROOT.parent / "shared" / "data"
    for spec in (f"mr:{data / 'mr'}", f"agnews:{data / 'ag_news'}"):
        if not Path(spec.split(":", 1)[1]).exists():  # the data folder is optional here
            continue
        for ex in load_data(spec).split("all"):
            for w in ex.text.lower().split():
                words.setdefault(w)
    rng = random.Random(0)
    while len(words) < n:
        words.setdefault("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 12))))
    return list(words)[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=int, default=50_000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    device = resolve_device(args.device)
    words = corpus_words(args.words)
    enc = TextEncoder.fit("word_chars", [" ".join(words)], max_len=len(words))
    enc.max_word_len = 50
    cls = ARCHITECTURES["char-cnn"]
    torch.manual_seed(0)
    config = {**cls.default_config(enc.n_tokens, 2), "widths": WIDTHS, "filters": FILTERS}
    model = ModelAdapter(cls(config), enc, ["a", "b"], name="lm1b-layout", arch="char-cnn",
                         source="benchmark", device=device)
    examples = [Example(" ".join(words[:20]), "a")]
    ctx = RunContext(model, examples, Dataset("benchmark", {"test": examples}), device, 0)
    params = ftw.Params(max_words=args.words)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    layers = conv_layers(model)
    ftw.char_activations(model, layers, words[:256], 256)  # warm-up
    sync()
    t0 = time.perf_counter()
    ftw.char_activations(model, layers, words, params.chunk)
    sync()
    t_forward = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = ftw.compute(ctx, params)
    sync()
    t_all = time.perf_counter() - t0
    name = str(device) if device.type == "cpu" else torch.cuda.get_device_name(device)
    text = "\n".join([
        (f"`python benchmarks/filter_scale.py --words {args.words}`: an untrained `char-cnn` with "
        f"lm_1b's filter layout (widths 1-8; {sum(FILTERS):,} filters; 16-d characters; words "
        f"up to 50 characters) over {len(words):,} words (MR and AG News tokens, topped up with "
        f"random strings). Machine: {platform.machine()}, {name}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), otherwise idle."),
        "",
        "| step | seconds |",
        "|---|---|",
        ("| batched forward pass: every filter's max-pooled activation on every word | "
         f"{t_forward:.1f} |"),
        (f"| whole analysis (activations, pattern finder on {int(result.metrics['filters']):,} "
        f"filters x {len(words):,} words, tables) | {t_all:.1f} |"),
    ])
    print(text)
    if not args.no_write:
        _write(text, device.type)


def _write(text: str, kind: str) -> None:
    write_section(f"{HEADING} ({'GPU' if kind == 'cuda' else 'CPU'})", text)


if __name__ == "__main__":
    main()
