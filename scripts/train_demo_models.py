"""Retrain the demo models and ship their weights in the package.

    python scripts/train_demo_models.py                  # all six, into models/demo_weights/
    python scripts/train_demo_models.py --arch char-cnn  # one (repeat --arch for several)
    python scripts/train_demo_models.py --table          # only print the shipped weights' table

Trains with the demo's own settings (``reportgen.models.demo_models``: ``DEMO_SETTINGS``,
``DEMO_EPOCHS``, seed ``DEMO_SEED``) through the demo's cache path, in a fresh cache folder (so
nothing cached is reused) or ``--cache-dir``, on the CPU with ``--threads`` threads. Then copies
each checkpoint to ``reportgen/models/demo_weights/<arch>.pt`` and prints the README's table (test
accuracy, weights fingerprint, size). After shipping new weights, regenerate the committed report:
``reportgen run --out site --no-cache --cache-dir $(mktemp -d)`` and update README's table.

Cost: about two minutes for all six on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from reportgen.data.loaders import load_data
from reportgen.models import demo_models
from reportgen.models.checkpoint import load_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", action="append", choices=demo_models.DEMO_ARCHS,
                        help="retrain only this architecture (repeatable; default: all)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="train into this cache (a checkpoint there with the current key is "
                             "reused); default: a fresh temporary folder")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (default 1: the committed weights were trained so)")
    parser.add_argument("--out", type=Path, default=demo_models.WEIGHTS_DIR,
                        help=f"where the weights go (default {demo_models.WEIGHTS_DIR})")
    parser.add_argument("--table", action="store_true",
                        help="train nothing: print the README's table of the shipped weights")
    args = parser.parse_args(argv)
    archs = tuple(args.arch or demo_models.DEMO_ARCHS)
    if not args.table:
        train(archs, args.cache_dir, args.threads, args.out)
    print("| model | parameters | test accuracy | weights fingerprint | size |")
    print("|---|---|---|---|---|")
    for arch in archs:
        path = args.out / f"{arch}.pt"
        ckpt = load_checkpoint(path)
        params = sum(v.numel() for v in ckpt.state_dict.values())
        print(f"| `{arch}` | {params:,} | {ckpt.metrics['test_accuracy']:.2%} | "
              f"`{demo_models.weights_fingerprint(ckpt.state_dict)}` | "
              f"{path.stat().st_size / 1024:.0f} KB |")
    return 0


def train(archs: tuple[str, ...], cache_dir: Path | None, threads: int, out: Path) -> None:
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="demo-train-") as fresh:
        cache = cache_dir or Path(fresh)
        start = time.perf_counter()
        paths = demo_models.train_demo_models(load_data("demo"), cache, device="cpu",
                                              progress=True, shipped=False, archs=archs)
        seconds = time.perf_counter() - start
        out.mkdir(parents=True, exist_ok=True)
        for arch, path in zip(archs, paths, strict=True):
            shutil.copyfile(path, out / f"{arch}.pt")
    print(f"trained {len(archs)} in {seconds:.1f} s ({threads} threads); shipped to {out}")


if __name__ == "__main__":
    sys.exit(main())
