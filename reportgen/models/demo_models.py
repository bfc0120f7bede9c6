"""The demo models: small reference models shipped with the package, trained on the demo corpus.

``reportgen run`` with no ``--model`` analyses these side by side, as Li et al. (2016) compare a
tanh RNN, an LSTM and a BiLSTM, next to Kim's CNN, an lm_1b-style character CNN (the character path
of ``filter_top_words``) and a byte-level LSTM language model (``neuron_sweep``'s clamped
generation). Dimensions and epochs are cut so all six train on the ~6,000-sentence corpus in about
two minutes on one CPU thread, and the two added last cost the demo run about 25 s of CPU.

Weights: their checkpoints ship in the package (``demo_weights/<arch>.pt``, under 1 MB in all,
a third of it the training-text hashes), so every machine analyses the same weights and gets the
same numbers (training is bit-identical only for the same CPU kind and thread count: the shipped
ones were trained with one thread). ``scripts/train_demo_models.py`` retrains them.

Cache: ``CACHE_DIR/demo-models/<arch>.pt``, an ordinary checkpoint whose ``info["demo_key"]`` hashes
everything the training depends on (architecture, settings, seed, the corpus fingerprint, this
module's ``DEMO_VERSION``, the package version). A file whose key matches is reused; otherwise the
shipped checkpoint is copied there when its key matches (``install_demo_weights``), and only a
model with neither (settings changed since the weights were shipped) is trained and cached.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from reportgen.data.dataset import Dataset
from reportgen.errors import BadInput
from reportgen.models.checkpoint import load_checkpoint, save_checkpoint
from reportgen.models.train import train_model

# 3: weights shipped in the package, char-cnn and byte-lstm-lm added (a cache of version 2 holds
# weights trained on its own machine: not reused); 2: checkpoints carry training-text hashes
DEMO_VERSION = 3
DEMO_ARCHS: tuple[str, ...] = ("rnn", "lstm", "bilstm", "kim-cnn", "char-cnn", "byte-lstm-lm")
# Per-architecture overrides of the default config and training settings, and epochs.
DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "rnn": {"emb_dim": 48, "hidden": 48, "lr": 3e-3, "patience": 2},
    "lstm": {"emb_dim": 48, "hidden": 48, "lr": 3e-3, "patience": 2},
    "bilstm": {"emb_dim": 48, "hidden": 48, "lr": 3e-3, "patience": 2},
    "kim-cnn": {"emb_dim": 64, "filters": 32, "patience": 2},
    "char-cnn": {"char_dim": 8, "filters": [4, 4, 8, 8, 8, 8, 8], "highway_layers": 1,
                 "lr": 3e-3, "patience": 2},
    "byte-lstm-lm": {"emb_dim": 16, "hidden": 48, "lr": 1e-2, "patience": 2},
}
DEMO_EPOCHS: dict[str, int] = {"rnn": 6, "lstm": 6, "bilstm": 6, "kim-cnn": 6, "char-cnn": 6,
                               "byte-lstm-lm": 12}
WEIGHTS_DIR = Path(__file__).resolve().parent / "demo_weights"
DEMO_SEED = 0  # the demo models' training seed, whatever a run's --seed


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


def shipped_path(arch: str) -> Path:
    """The checkpoint of ``arch`` that ships in the package."""
    return WEIGHTS_DIR / f"{arch}.pt"


def weights_fingerprint(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Hash of a checkpoint's weights alone (names, dtypes, shapes, values): the README's column."""
    h = hashlib.sha256()
    for name, value in sorted(state_dict.items()):
        t = value.detach().cpu().contiguous()
        h.update(f"{name} {t.dtype} {tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def _key_of(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        return load_checkpoint(path).info.get("demo_key")
    except BadInput:  # unreadable or not a checkpoint: replaced
        return None


def _copy(source: Path, target: Path) -> None:
    """``source``'s bytes to ``target``, atomically (a reader never sees half a file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    try:
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _install(arch: str, cache_root: Path, key: str) -> bool:
    """Copy the shipped checkpoint of ``arch`` into the cache if it carries ``key``; whether the
    cache now holds a checkpoint with that key."""
    target = demo_model_path(cache_root, arch)
    if _key_of(target) == key:
        return True
    if _key_of(shipped_path(arch)) != key:
        return False  # none shipped, or stale: DEMO_SETTINGS, the corpus or the version changed
    _copy(shipped_path(arch), target)
    return True


def install_demo_weights(
    cache_root: Path,
    archs: Iterable[str] | None = None,
    *,
    keys: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Copy the shipped checkpoints into ``cache_root/demo-models/<arch>.pt`` -> {arch: path}.

    Without ``keys``, an architecture is installed when its shipped checkpoint's
    ``info["demo_key"]`` is the key this code computes for the demo corpus (its settings have not
    changed since the weights were shipped); a cached file that already has that key is kept.
    ``keys`` ({arch: key}) writes the given key into each copy instead, unconditionally: how a test
    lets another version of reportgen, which computes its own key, find these weights in a cache.
    """
    installed: dict[str, Path] = {}
    demo = None
    for arch in DEMO_ARCHS if archs is None else tuple(archs):
        target = demo_model_path(cache_root, arch)
        if keys is not None:
            ckpt = load_checkpoint(shipped_path(arch))
            ckpt.info["demo_key"] = keys[arch]
            save_checkpoint(ckpt, target)
            installed[arch] = target
            continue
        if demo is None:
            from reportgen.data.demo import demo_dataset

            demo = demo_dataset()
        if _install(arch, cache_root, demo_key(arch, demo, DEMO_SEED)):
            installed[arch] = target
    return installed


def train_demo_models(
    dataset: Dataset,
    cache_dir: Path,
    *,
    device: str | torch.device = "auto",
    progress: bool = True,
    seed: int = DEMO_SEED,
    shipped: bool = True,
    archs: Iterable[str] | None = None,
) -> list[Path]:
    """Checkpoint paths of the demo models (``DEMO_ARCHS`` order, or ``archs``) in ``cache_dir``.

    A cached checkpoint whose key matches is used as it is; else the shipped one, copied into the
    cache, when its key matches (``shipped``, the default: it does for the demo corpus and seed
    ``DEMO_SEED``); else the model is trained and cached (the retrain script: ``shipped=False``).
    """
    paths = []
    for arch in DEMO_ARCHS if archs is None else tuple(archs):
        path = demo_model_path(cache_dir, arch)
        key = demo_key(arch, dataset, seed)
        if _key_of(path) == key or (shipped and _install(arch, cache_dir, key)):
            paths.append(path)
            continue
        if shipped and progress and dataset.spec == "demo" and shipped_path(arch).is_file():
            print(f"demo: the shipped {arch} weights were trained with other settings; training "
                  "it here (scripts/train_demo_models.py ships new ones)", file=sys.stderr,
                  flush=True)
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
