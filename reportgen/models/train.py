"""Train a reference architecture on a dataset -> a ``Checkpoint`` (``reportgen train``, demo
models).

Recipe, the same for every architecture (each class's ``train_defaults`` sets its epochs, learning
rate and batch size):

- splits: ``train``; ``dev`` for early stopping, or a seeded 10% carved out of train when the
  dataset has none; ``test`` for the reported accuracy, or a seeded 10% carved out of train when the
  dataset has none (the checkpoint's ``info["split_sources"]`` says which). Without a train split,
  all three come from the whole data, so a given dev or test split is never trained on. A train
  split of fewer than ``MIN_TRAIN`` examples or with fewer than two classes is ``BadInput``;
- encoder: ``TextEncoder`` of the architecture's kind fitted on the training texts only. Word
  vocabularies keep words seen at least twice (``min_freq`` 2), so the unknown-word vector is
  trained on the rare words and means something at test time; with ``--embeddings``, words seen
  once that have a pretrained vector are kept too;
- optimisation: Adam, batches bucketed by length (shuffled chunks of 20 batches sorted by length,
  then the batches shuffled), gradient norm clipped at 5, the weights of the best dev epoch restored
  at the end, early stop after ``patience`` epochs without a better dev score;
- losses and scores: classifiers, cross-entropy and accuracy; ``autoencode``, token cross-entropy
  and reconstruction accuracy over real tokens; ``lm``, next-token cross-entropy and accuracy, plus
  bits per byte. Dev selection uses accuracy for classifiers and the loss otherwise;
- determinism: everything random is drawn from ``seed`` (inside ``torch.random.fork_rng``, so the
  caller's random state is left alone). On a CPU, the same seed and thread count give bit-identical
  weights; on CUDA cuDNN runs in deterministic mode, but scatter-adds (embedding gradients) may
  still differ in the last bits between runs.

Devices: ``resolve_device`` (re-exported from ``reportgen.device``) turns ``auto`` / ``cpu`` /
``cuda`` / ``cuda:N`` into a ``torch.device`` and raises ``BadInput`` naming those choices
otherwise.

Pretrained vectors (``embeddings``): their dimension replaces the architecture's ``emb_dim`` (an
explicit, different ``emb_dim`` override is an error), and they are fine-tuned.

Cost: the model's (see each architecture's docstring; MR timings in ``docs/benchmarks.md``), plus
encoding the texts once (~1 s for MR).
"""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from reportgen.data.dataset import Dataset, Example, text_hash
from reportgen.data.encoding import TextEncoder
from reportgen.data.tokenize import word_tokens
from reportgen.device import resolve_device
from reportgen.errors import BadInput
from reportgen.models.architectures import get_architecture
from reportgen.models.base import TextModel
from reportgen.models.checkpoint import Checkpoint
from reportgen.models.embeddings import load_vectors, read_vectors
from reportgen.models.train_data import (
    HELD_OUT,
    check_labels,
    collate,
    encoded_rows,
    length_batches,
    make_splits,
    word_vocab,
)

TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "lr": 1e-3,
    "batch_size": 50,
    "patience": 3,
    "weight_decay": 0.0,
    "clip": 5.0,
    "min_freq": 2,
}
DEFAULT_MAX_LEN = {"word": 64, "word_chars": 64, "char": 400, "byte": 400}


# -- losses and scores -----------------------------------------------------------------------------
def _batch_loss(
    model: TextModel, ids: torch.Tensor, labels: torch.Tensor | None
) -> tuple[torch.Tensor, int, int]:
    """(summed loss, correct predictions, scored items) of one batch."""
    logits = model(ids)
    if model.task == "classify":
        assert labels is not None
        loss = F.cross_entropy(logits, labels, reduction="sum")  # logits (B, K)
        return loss, int((logits.argmax(-1) == labels).sum()), len(labels)
    if model.task == "lm":
        logits, targets = logits[:, :-1], ids[:, 1:]  # (B, T-1, V), (B, T-1): next token
    else:
        targets = ids  # (B, T): reconstruct the input
    valid = targets.ne(0)  # (B, T')
    loss = F.cross_entropy(logits[valid], targets[valid], reduction="sum")
    correct = int((logits.argmax(-1)[valid] == targets[valid]).sum())
    return loss, correct, int(valid.sum())


@torch.no_grad()
def _evaluate(
    model: TextModel, data: dict[str, Any], device: torch.device, batch_size: int, min_len: int
) -> dict[str, float]:
    model.eval()
    total, correct, count = 0.0, 0, 0
    for idx in length_batches(data["lengths"], batch_size, None):
        ids = collate([data["rows"][i] for i in idx], min_len).to(device)
        labels = data["labels"][idx].to(device) if data["labels"] is not None else None
        loss, c, n = _batch_loss(model, ids, labels)
        total, correct, count = total + float(loss), correct + c, count + n
    count = max(count, 1)
    return {"accuracy": correct / count, "loss": total / count}


# -- the entry point -------------------------------------------------------------------------------
def _settings(
    cls: type[TextModel], config: dict[str, Any], overrides: dict[str, Any], epochs: int | None
) -> dict[str, Any]:
    settings = {**TRAIN_DEFAULTS, **getattr(cls, "train_defaults", {})}
    unknown = sorted(k for k in overrides if k not in settings and k not in config)
    if unknown:
        raise BadInput(
            f"unknown setting(s) {', '.join(unknown)} for architecture {cls.arch!r}",
            choices=sorted({*settings, *config} - {"n_tokens", "n_classes"}),
        )
    settings.update({k: v for k, v in overrides.items() if k in settings})
    if epochs is not None:
        if epochs < 1:
            raise BadInput(f"--epochs must be at least 1, got {epochs}")
        settings["epochs"] = epochs
    return settings


def train_model(
    arch: str,
    dataset: Dataset,
    *,
    epochs: int | None = None,
    embeddings: str | Path | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
    max_len: int | None = None,
    label_col: str | None = None,
) -> Checkpoint:
    """Train ``arch`` on ``dataset`` and return the checkpoint of its best dev epoch.

    ``overrides`` may set any key of the architecture's config (``emb_dim``, ``hidden``, ...) or of
    its training settings (``lr``, ``batch_size``, ``patience``, ``weight_decay``, ``clip``,
    ``min_freq``, ``epochs``); anything else is ``BadInput`` naming the valid keys.

    Metrics: ``test_accuracy``, ``dev_accuracy``, ``test_loss``, ``train_seconds``, ``epochs_run``,
    ``best_epoch`` (and ``bits_per_byte`` on test for a language model).

    ``progress``: say what happens on stderr: a start line (split sizes and sources, vector
    coverage), then a progress bar on a terminal, else one line per epoch (train loss, dev accuracy,
    seconds). ``label_col`` only names the label column in error messages.
    """
    cls = get_architecture(arch)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    overrides = dict(overrides or {})
    splits, sources = make_splits(dataset, seed)
    classes = (
        check_labels(dataset, splits, label_col)
        if cls.task == "classify"
        else list(dataset.classes)
    )
    settings = _settings(cls, cls.default_config(1, 2), overrides, epochs)
    if max_len is not None and max_len < 1:
        raise BadInput(f"max_len must be at least 1, got {max_len}")
    max_len = int(max_len or DEFAULT_MAX_LEN[cls.encoder_kind])
    train_texts = [ex.text for ex in splits["train"]]

    vectors, vec_dim = None, None
    if embeddings is not None:
        if cls.encoder_kind != "word" or "emb_dim" not in cls.default_config(1, 2):
            raise BadInput(
                f"--embeddings needs a word-level architecture; {arch!r} reads "
                f"{cls.encoder_kind} ids"
            )
        vocab_words = {w for t in train_texts for w in word_tokens(t)}
        vectors, vec_dim = read_vectors(embeddings, wanted=vocab_words)
        if "emb_dim" in overrides and overrides["emb_dim"] != vec_dim:
            raise BadInput(
                f"emb_dim={overrides['emb_dim']} differs from the {vec_dim}-d vectors "
                f"in {str(embeddings)!r}"
            )
        overrides["emb_dim"] = vec_dim
    if cls.encoder_kind == "word":
        with_vectors = None if vectors is None else {*vectors, *(w.lower() for w in vectors)}
        vocab = word_vocab(train_texts, settings["min_freq"], with_vectors)
        encoder = TextEncoder("word", vocab, max_len=max_len)
    else:
        encoder = TextEncoder.fit(cls.encoder_kind, train_texts, max_len, settings["min_freq"])

    config = cls.default_config(encoder.n_tokens, len(classes))
    variant = getattr(cls, "variant_for_data", None)
    if variant is not None:
        config.update(variant(dataset.spec))
    config.update({k: v for k, v in overrides.items() if k in config})
    min_len = int(config.get("min_len", 1))

    class_index = {c: i for i, c in enumerate(classes)}
    data = {}
    for name, exs in splits.items():
        rows = encoded_rows(encoder, [ex.text for ex in exs])
        labels = (
            torch.tensor([class_index[ex.label] for ex in exs]) if cls.task == "classify" else None
        )
        data[name] = {"rows": rows, "lengths": [len(r) for r in rows], "labels": labels}

    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with (
        torch.random.fork_rng(devices=fork_devices),
        torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True),
    ):
        torch.manual_seed(seed)
        model = cls(config)
        vec_info = None
        if vectors is not None:
            gen = torch.Generator().manual_seed(seed)
            matrix, found = load_vectors(embeddings, encoder.vocab, generator=gen, vectors=vectors)
            with torch.no_grad():
                model.emb.weight.copy_(matrix)
            vec_info = {
                "path": str(embeddings),
                "dim": vec_dim,
                "found": found,
                "vocab": len(encoder.vocab),
                "coverage": found / max(1, len(encoder.vocab) - 2),
            }
        model.to(dev)
        if progress:
            _say(_start_line(arch, dataset.spec, splits, sources, vec_info, dev, seed))
        fit = _fit(model, data, settings, dev, seed, min_len, progress, arch)
        test = _evaluate(model, data["test"], dev, _eval_batch(model, settings), min_len)

    metrics = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "dev_accuracy": fit["dev"]["accuracy"],
        "train_seconds": fit["seconds"],
        "epochs_run": float(fit["epochs_run"]),
        "best_epoch": float(fit["best_epoch"]),
    }
    if cls.task == "lm":
        metrics["bits_per_byte"] = test["loss"] / math.log(2)
    info = {
        "data": dataset.spec,
        "data_fingerprint": dataset.fingerprint(),
        "seed": seed,
        "device": str(dev),
        "torch": torch.__version__,
        "splits": {k: len(v) for k, v in splits.items()},
        "split_sources": sources,
        # hashes of the training texts, so 'reportgen run' can tell how much of what it evaluates
        # the model has seen (reportgen.evaluation.warn_overlap)
        "train_text_hashes": sorted({text_hash(ex.text) for ex in splits["train"]}),
        "training": settings,
        "max_len": max_len,
        "vectors": vec_info,
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return Checkpoint(arch, config, encoder, classes, state, metrics, info)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _start_line(
    arch: str,
    spec: str,
    splits: dict[str, list[Example]],
    sources: dict[str, str],
    vec_info: dict[str, Any] | None,
    dev: torch.device,
    seed: int,
) -> str:
    """``train kim-cnn on mr:DIR: 8,636 train (its train split) / 960 dev (seeded 10% of train,
    seed 0) / 1,066 test (its test split); device cpu``."""
    pool = "train" if sources["train"] == "train" else "the data"
    parts = []
    for name in ("train", "dev", "test"):
        source = f"its {name} split"
        if sources[name] == "all":
            source = "the rest of the data"
        elif sources[name] != name:
            source = f"seeded {HELD_OUT:.0%} of {pool}, seed {seed}"
        parts.append(f"{len(splits[name]):,} {name} ({source})")
    line = f"train {arch} on {spec}: {' / '.join(parts)}"
    if vec_info is not None:
        line += f"; vectors: {vec_info['coverage']:.1%} of {vec_info['vocab'] - 2:,} words"
    return f"{line}; device {dev}"


def _eval_batch(model: TextModel, settings: dict[str, Any]) -> int:
    return 256 if model.task == "classify" else int(settings["batch_size"])


def _fit(
    model: TextModel,
    data: dict[str, Any],
    settings: dict[str, Any],
    dev: torch.device,
    seed: int,
    min_len: int,
    progress: bool,
    arch: str,
) -> dict[str, Any]:
    """The training loop with early stopping; leaves the best dev weights in ``model``."""
    rng = random.Random(seed)
    opt = torch.optim.Adam(
        model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"], fused=True
    )  # one kernel per tensor: ~2x faster steps on CPU
    train = data["train"]
    n_batches = math.ceil(len(train["rows"]) / settings["batch_size"])
    on_terminal = sys.stderr.isatty()
    lines = progress and not on_terminal  # one line per epoch where a bar would not show
    bar = tqdm(
        total=settings["epochs"] * n_batches,
        desc=f"train {arch}",
        unit="batch",
        disable=not (progress and on_terminal),
        dynamic_ncols=True,
    )
    best_score, best_state, best_dev, best_epoch, epoch = -math.inf, None, {}, 0, 0
    start = time.perf_counter()
    with bar:
        for epoch in range(1, settings["epochs"] + 1):
            model.train()
            epoch_start = time.perf_counter()
            loss_sum, loss_n = torch.zeros((), device=dev), 0
            for idx in length_batches(train["lengths"], settings["batch_size"], rng):
                ids = collate([train["rows"][i] for i in idx], min_len).to(dev)
                labels = train["labels"][idx].to(dev) if train["labels"] is not None else None
                loss, _, n = _batch_loss(model, ids, labels)
                if n == 0:
                    bar.update()
                    continue
                loss_sum += loss.detach()
                loss_n += n
                opt.zero_grad()
                (loss / n).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings["clip"])
                opt.step()
                bar.update()
            scores = _evaluate(model, data["dev"], dev, _eval_batch(model, settings), min_len)
            score = scores["accuracy"] if model.task == "classify" else -scores["loss"]
            bar.set_postfix(dev_acc=f"{scores['accuracy']:.3f}", dev_loss=f"{scores['loss']:.3f}")
            if lines:
                train_loss = float(loss_sum) / max(loss_n, 1)
                _say(
                    f"epoch {epoch}/{settings['epochs']}: train loss {train_loss:.4f}, "
                    f"dev accuracy {scores['accuracy']:.4f}, "
                    f"{time.perf_counter() - epoch_start:.1f} s"
                )
            if score > best_score:
                best_score, best_dev, best_epoch = score, scores, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            elif epoch - best_epoch >= settings["patience"]:
                if lines:
                    _say(
                        f"early stop: no better dev score for {settings['patience']} epochs; "
                        f"keeping epoch {best_epoch}"
                    )
                break
    seconds = time.perf_counter() - start
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"dev": best_dev, "seconds": seconds, "epochs_run": epoch, "best_epoch": best_epoch}


__all__ = ["DEFAULT_MAX_LEN", "TRAIN_DEFAULTS", "resolve_device", "train_model"]
