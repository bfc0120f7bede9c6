"""The demo models: small reference models trained on the demo corpus on first use, then cached.

``reportgen run`` with no ``--model`` analyses these side by side, as Li et al. (2016) compare a
tanh RNN, an LSTM and a BiLSTM, next to Kim's CNN. Dimensions and epochs are cut so all four train
in well under two minutes on a 2-core CPU on a ~6,000-sentence corpus.

Cache: ``CACHE_DIR/demo-models/<arch>.pt``, an ordinary checkpoint whose ``info["demo_key"]`` hashes
everything the training depends on (architecture, settings, seed, the corpus fingerprint, this
module's ``DEMO_VERSION``). A file whose key matches is reused; a missing, unreadable or stale one is
retrained and replaced.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from reportgen.data.dataset import Dataset
from reportgen.errors import BadInput
from reportgen.models.checkpoint import load_checkpoint, save_checkpoint
from reportgen.models.train import train_model

DEMO_VERSION = 2  # 2: checkpoints carry training-text hashes
DEMO_ARCHS: tuple[str, ...] = ("rnn", "lstm", "bilstm", "kim-cnn")
# Per-architecture overrides of the default config and training settings, and epochs.
DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "rnn": {"emb_dim": 48, "hidden": 48, "lr": 3e-3, "patience": 2},
    "lstm": {"emb_dim": 48, "hidden": 48, "lr": 3e-3, "patience": 2},
    "bilstm": {"emb_dim": 48, "hidden": 48, "lr": 3e-3, "patience": 2},
    "kim-cnn": {"emb_dim": 64, "filters": 32, "patience": 2},
}
DEMO_EPOCHS: dict[str, int] = {"rnn": 6, "lstm": 6, "bilstm": 6, "kim-cnn": 6}


def demo_key(arch: str, dataset: Dataset, seed: int) -> str:
    """Hash of everything a demo model's training depends on."""
    from reportgen import __version__

    payload = {
        "arch": arch,
        "settings": DEMO_SETTINGS.get(arch, {}),
        "epochs": DEMO_EPOCHS.get(arch),
        "seed": seed,
        "data": dataset.fingerprint(),
        "demo_version": DEMO_VERSION,
        "reportgen": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def demo_model_path(cache_dir: Path, arch: str) -> Path:
    return Path(cache_dir) / "demo-models" / f"{arch}.pt"


def _cached(path: Path, key: str) -> bool:
    if not path.is_file():
        return False
    try:
        return load_checkpoint(path).info.get("demo_key") == key
    except BadInput:  # unreadable or not a checkpoint: retrain over it
        return False


def train_demo_models(
    dataset: Dataset,
    cache_dir: Path,
    *,
    device: str | torch.device = "auto",
    progress: bool = True,
    seed: int = 0,
) -> list[Path]:
    """Checkpoint paths of the demo models (``DEMO_ARCHS`` order), training those not cached yet."""
    paths = []
    for arch in DEMO_ARCHS:
        path = demo_model_path(cache_dir, arch)
        key = demo_key(arch, dataset, seed)
        if not _cached(path, key):
            ckpt = train_model(
                arch,
                dataset,
                epochs=DEMO_EPOCHS.get(arch),
                device=str(device),
                seed=seed,
                progress=progress,
                overrides=DEMO_SETTINGS.get(arch),
            )
            ckpt.info["demo_key"] = key
            save_checkpoint(ckpt, path)
        paths.append(path)
    return paths
