"""The run's inputs: the dataset, the evaluated examples, the models, and their checks.

``load_dataset`` (``--data``, ``--label-map``), ``select_examples`` (``--split``,
``--max-examples``, seeded), ``load_models`` (``--model``; the demo models' shipped weights, copied
into the cache), ``check_models`` (each model reproduces its own forward and knows the data's
labels), and ``library_versions`` for the report. Bad input is ``BadInput`` (exit 2) before any
analysis runs.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import torch

from reportgen.config import RunConfig
from reportgen.data.dataset import Dataset, Example
from reportgen.errors import BadInput
from reportgen.models.facts import class_index
from reportgen.models.verify import verify
from reportgen.models.view import ModelView


# -- data ---------------------------------------------------------------------------------------
def load_dataset(config: RunConfig) -> Dataset:
    from reportgen.data.loaders import load_data

    if config.data is None:
        if config.models and list(config.models) != ["demo"]:
            raise BadInput("--data is required when --model is given (or use --model demo)")
        return load_data("demo")
    if not config.models:
        raise BadInput("--model is required when --data is given (or use --model demo)")
    dataset = load_data(config.data, text_col=config.text_col, label_col=config.label_col)
    return relabel(dataset, config.label_map) if config.label_map else dataset


def relabel(dataset: Dataset, label_map: dict[str, str]) -> Dataset:
    """The dataset with its labels renamed by ``label_map`` (labels not in the map stay)."""
    known = {ex.label for exs in dataset.splits.values() for ex in exs if ex.label is not None}
    unused = sorted(set(label_map) - known)
    if unused:
        raise BadInput(f"--label-map names labels the data does not have: {', '.join(unused)}",
                       choices=sorted(known))
    splits = {name: [Example(ex.text, label_map.get(ex.label, ex.label) if ex.label is not None
                             else None) for ex in exs]
              for name, exs in dataset.splits.items()}
    classes = list(dict.fromkeys(label_map.get(c, c) for c in dataset.classes))
    return Dataset(dataset.spec, splits, classes, dataset.description + " (labels renamed)")


def select_examples(dataset: Dataset, config: RunConfig) -> tuple[list[Example], int]:
    """The evaluated split, sampled down to ``--max-examples`` with the run's seed (order kept)."""
    examples = dataset.split(config.split)
    if not examples:
        raise BadInput(f"split {config.split!r} of {dataset.spec!r} has no examples")
    total = len(examples)
    if config.max_examples is not None and total > config.max_examples:
        rng = np.random.default_rng(config.seed)
        keep = np.sort(rng.choice(total, size=config.max_examples, replace=False))
        examples = [examples[i] for i in keep]
    return examples, total


# -- models -------------------------------------------------------------------------------------
def load_models(config: RunConfig, device: torch.device, root: Path,
                progress: bool) -> list[ModelView]:
    from reportgen.models.loading import adapter_from_checkpoint, load_model, unique_names

    specs = list(config.models) or ["demo"]
    adapters: list[ModelView] = []
    for spec in specs:
        if spec == "demo":
            from reportgen import distributed
            from reportgen.data.loaders import load_data
            from reportgen.models.checkpoint import load_checkpoint
            from reportgen.models.demo_models import train_demo_models

            # rank 0 finds the demo models in the cache (or copies the shipped ones there); the
            # other ranks read them
            paths = distributed.broadcast(
                train_demo_models(load_data("demo"), root, device=device, progress=progress, seed=0)
                if distributed.is_main() else None)
            for path in paths:
                ckpt = load_checkpoint(path)
                adapters.append(adapter_from_checkpoint(ckpt, name=ckpt.arch,
                                                        source=f"demo:{ckpt.arch}",
                                                        device=device))
        else:
            adapters.append(load_model(spec, device=device))
    unique_names(adapters)
    return adapters


def check_models(models: list[ModelView], examples: list[Example]) -> None:
    """Every model must reproduce its own forward through the adapter and know the data's labels.

    Checked on the first 16 texts plus the shortest and the longest ones, where models that need
    a minimum length or have a maximum one fail."""
    by_length = sorted(range(len(examples)), key=lambda i: (len(examples[i].text), i))
    chosen = dict.fromkeys([*range(min(16, len(examples))), *by_length[:4], *by_length[-2:]])
    texts = [examples[i].text for i in chosen]
    labels = [ex.label for ex in examples]
    for m in models:
        verify(m, texts)
        if m.is_classifier:
            class_index(m, labels)


def library_versions() -> dict[str, str]:
    """Versions of the libraries the numbers depend on, read from the installed packages' metadata
    (importing scikit-learn only to ask would cost a second)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": installed("pandas"),
        "altair": installed("altair"),
        "scikit-learn": installed("scikit-learn"),
        "platform": platform.platform(terse=True),
    }
