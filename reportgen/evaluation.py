"""Where a report's numbers come from: the model and data cards, and training overlap.

A reviewer must be able to tell what an accuracy was measured on. For each model the card says
which examples were evaluated (data SPEC, split, how many), what the model was trained on (from its
checkpoint), which pretrained vectors it used, and how many of the evaluated texts were in its
training data: ``reportgen train`` stores a 60-bit hash of every training text
(``reportgen.data.dataset.text_hash``), and ``training_overlap`` counts the evaluated texts whose
hash is among them. An overlap above zero is flagged on the card, in ``report.json`` and on the
command line: accuracy on seen texts is not a test accuracy.

Cost: one hash per evaluated text and one batched prediction pass per classifier.
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter

import numpy as np
import pandas as pd

from reportgen.data.dataset import WHOLE, Dataset, Example, text_hash
from reportgen.data.tokenize import word_tokens
from reportgen.models import facts
from reportgen.models.tokens import token_flags
from reportgen.models.view import ModelView
from reportgen.records import DataCard, ModelCard

SEQUENCE_METRICS = {"autoencode": "token reconstruction", "lm": "next-token accuracy"}


def describe_evaluation(dataset: Dataset, split: str, examples: list[Example], total: int) -> str:
    """``"sst2:dev.tsv, split test, 872 texts"``; data without splits says "all of it"."""
    if split == "all" and set(dataset.splits) == {WHOLE}:
        part = "all of it (the data names no splits)"
    elif split == "all":
        part = f"all splits ({', '.join(dataset.splits)})"
    else:
        part = f"split {split}"
    sample = f"a seeded sample of {len(examples):,} of {total:,} texts" if len(examples) < total \
        else f"{len(examples):,} texts"
    return f"{dataset.spec}, {part}, {sample}"


def training_overlap(model: ModelView, examples: list[Example]) -> tuple[int, float] | None:
    """(count, share) of ``examples`` whose text was in the model's training split; None when the
    model carries no training-text hashes (user models, older checkpoints)."""
    hashes = model.training.get("train_text_hashes")
    if not hashes or not examples:
        return None
    seen = set(hashes)
    count = sum(text_hash(ex.text) in seen for ex in examples)
    return count, count / len(examples)


def warn_overlap(models: list[ModelView], examples: list[Example]) -> None:
    for m in models:
        found = training_overlap(m, examples)
        if found and found[0]:
            print(f"warning: {found[0]:,} of {len(examples):,} evaluated texts ({found[1]:.1%}) "
                  f"were in the training data of model {m.name!r}: its accuracy on them is not a "
                  "test accuracy (evaluate on texts it was not trained on: a separate file, e.g. "
                  "sst2:train=train.tsv,test=test.tsv, or the data's test split)", file=sys.stderr)


def trained_on(m: ModelView) -> str | None:
    info = m.training
    if not info.get("data"):
        return None
    splits = info.get("splits") or {}
    sources = info.get("split_sources") or {}
    parts = [f"{name} {splits[name]:,} ({sources.get(name, name)})"
             for name in ("train", "dev", "test") if name in splits]
    return f"{info['data']}: " + "; ".join(parts) if parts else str(info["data"])


def vectors(m: ModelView) -> str | None:
    vec = m.training.get("vectors")
    if not vec:
        return None
    return (f"{vec.get('path')} ({vec.get('dim')}-d; {vec.get('found', 0):,} of "
            f"{max(0, vec.get('vocab', 0) - 2):,} vocabulary words found, "
            f"{vec.get('coverage', 0):.1%})")


def measures(m: ModelView, examples: list[Example], batch_size: int) -> dict:
    """What the model card measures by running the model on every evaluated text: accuracy (of
    the labelled texts, or the sequence metric), the confusion matrix and the share of unknown
    tokens. JSON-ready, so a re-run on the same model and texts reads it from the cache."""
    accuracy, confusion = None, None
    labelled = [ex for ex in examples if ex.label is not None]
    size = facts.batch_size(m, max(batch_size, 128))
    if m.is_classifier:  # every evaluated text goes through the model here, labelled or not
        probs = facts.predict_proba(m, [ex.text for ex in examples], batch_size=size)
    if m.is_classifier and labelled:
        has_label = np.array([ex.label is not None for ex in examples])
        pred = probs[has_label].argmax(1)
        true = facts.class_index(m, [ex.label for ex in labelled])
        accuracy = float((pred == true).mean())
        k = m.n_classes
        confusion = np.bincount(true * k + pred, minlength=k * k).reshape(k, k).tolist()
    if m.task in SEQUENCE_METRICS:
        accuracy = facts.sequence_accuracy(m, [ex.text for ex in examples], batch_size=size)
    return {"accuracy": accuracy, "confusion": confusion,
            "unknown_share": unknown_share(m, [ex.text for ex in examples], size),
            "truncated": truncated(m, [ex.text for ex in examples], size),
            # per evaluated example, in order: what reportgen compare pairs two reports on
            "probabilities": np.round(probs, 6).tolist() if m.is_classifier else None}


def model_card(m: ModelView, examples: list[Example], batch_size: int, evaluated: str,
               measured: dict | None = None) -> ModelCard:
    """The model's card; ``measured``: its ``measures`` on ``examples``, when already known."""
    measured = measured if measured is not None else measures(m, examples, batch_size)
    labelled = [ex for ex in examples if ex.label is not None]
    metric = SEQUENCE_METRICS.get(m.task, "accuracy")
    overlap = training_overlap(m, examples)
    if m.is_classifier and len(labelled) < len(examples) and labelled:
        evaluated += f" ({len(labelled):,} labelled)"
    return ModelCard(
        name=m.name,
        arch=m.arch,
        source=m.source,
        task=m.task,
        parameters=facts.parameter_count(m),
        classes=m.classes,
        vocab_size=m.vocab_size,
        encoder_kind=m.input_kind,
        accuracy=measured["accuracy"],
        checkpoint_accuracy=m.checkpoint_accuracy,
        layers=m.layers(),
        confusion=measured["confusion"],
        accuracy_metric=metric,
        batching="padded batches" if m.pad_batches else
        "one text per batch (the model's output depends on padding, so reportgen never pads it)",
        evaluated_on=evaluated,
        trained_on=trained_on(m),
        vectors=vectors(m),
        overlap=overlap[1] if overlap else None,
        overlap_count=overlap[0] if overlap else None,
        labelled=bool(labelled) or not m.is_classifier,
        embedding=facts.embedding_description(m),
        unknown_share=measured["unknown_share"],
        tokenizer=facts.tokenizer_description(m),
        reading=[*facts.reading(m), *cut_note(measured.get("truncated"), len(examples))],
        predictions=prediction_table(m, examples, measured.get("probabilities")),
    )


def prediction_table(m: ModelView, examples: list[Example],
                     probabilities: list | None) -> pd.DataFrame | None:
    """Every evaluated example's prediction: ``example_id`` (its row in the evaluated data),
    ``label``, ``predicted`` and ``p0``.. (the probability of each of the model's classes, in
    order)."""
    if probabilities is None or len(probabilities) != len(examples):
        return None
    probs = np.asarray(probabilities, dtype=np.float64).reshape(len(examples), -1)  # (N, K)
    frame = pd.DataFrame({"example_id": np.arange(len(examples), dtype=np.int64),
                          "label": [ex.label for ex in examples],
                          "predicted": [m.classes[int(i)] for i in probs.argmax(1)]})
    return frame.assign(**{f"p{k}": probs[:, k] for k in range(probs.shape[1])})


def examples_fingerprint(examples: list[Example]) -> str:
    """A short hash of the evaluated examples' texts and labels, in order."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(ex.text.encode("utf-8", "surrogatepass") + b"\x00")
        h.update((ex.label or "").encode() + b"\x01")
    return h.hexdigest()[:16]


def truncated(m: ModelView, texts: list[str], batch_size: int) -> dict[str, int]:
    """How many evaluated texts the model's length limit cuts, and the most tokens it kept of one
    (the analyses see the cut texts; the token views mark the cut, the model card says how
    often)."""
    cut = longest = 0
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        kept = [len(t) for t in m.encode(chunk).tokens]
        full = m.full_lengths(chunk)
        cut += sum(f > k for f, k in zip(full, kept, strict=True))
        longest = max([longest, *(k for f, k in zip(full, kept, strict=True) if f > k)])
    return {"texts": int(cut), "kept": int(longest)}


def cut_note(found: dict | None, evaluated: int) -> list[str]:
    """The model card's line on texts cut at the model's length limit ([] when none were)."""
    if not found or not found.get("texts"):
        return []
    n = found["texts"]
    line = (f"{n:,} of {evaluated:,} evaluated texts ({n / evaluated:.1%}) are longer than the "
            f"{found['kept']:,} tokens the model reads and were cut there (the analyses see the "
            "cut texts)")
    return [line]


def unknown_share(m: ModelView, texts: list[str], batch_size: int) -> float | None:
    """Share of the evaluated tokens (special ones aside) that the model read as unknown."""
    unknown = total = 0
    for start in range(0, len(texts), batch_size):
        for row in token_flags(m, m.encode(texts[start : start + batch_size])):
            unknown += sum(f == "unk" for f in row)
            total += sum(f != "special" for f in row)
    return unknown / total if total else None


def data_card(dataset: Dataset, split: str, examples: list[Example], total: int,
              label_map: dict[str, str] | None = None, *, detail_examples: int = 0) -> DataCard:
    counts = Counter(ex.label for ex in examples if ex.label is not None)
    lengths = Counter(len(word_tokens(ex.text)) for ex in examples)
    return DataCard(
        spec=dataset.spec,
        split=split,
        examples=len(examples),
        total_examples=total,
        classes=list(dataset.classes),
        class_counts={c: counts.get(c, 0) for c in dataset.classes},
        length_counts=dict(sorted(lengths.items())),
        labelled=sum(counts.values()),
        label_map=dict(label_map or {}),
        detail_examples=detail_examples or len(examples),
        fingerprint=examples_fingerprint(examples),
    )
