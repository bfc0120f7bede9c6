"""One checkpoint file per trained model: weights, config, encoder (vocabulary), classes, metrics.

Everything besides the weights is plain Python data (str, int, float, bool, list, dict), so the
file loads with ``torch.load(weights_only=True)``: opening a checkpoint never runs code.
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from reportgen.data.encoding import TextEncoder
from reportgen.errors import BadInput

FORMAT = "reportgen-checkpoint"
FORMAT_VERSION = 1
_KEYS = ("arch", "config", "encoder", "classes", "state_dict")
_SPECS = ("give --model a checkpoint written by 'reportgen train', FILE.py:FUNC, "
          "package.module:FUNC, hf:DIR_OR_NAME or demo (see 'reportgen list')")


@dataclass
class Checkpoint:
    arch: str
    config: dict[str, Any]
    encoder: TextEncoder
    classes: list[str]
    state_dict: dict[str, torch.Tensor]
    metrics: dict[str, float] = field(default_factory=dict)  # test_accuracy, dev_accuracy, ...
    info: dict[str, Any] = field(default_factory=dict)  # data spec, seed, epochs, versions


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> None:
    from reportgen import __version__

    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "reportgen_version": __version__,
        "arch": ckpt.arch,
        "config": _plain(ckpt.config),
        "encoder": ckpt.encoder.to_dict(),
        "classes": list(ckpt.classes),
        "state_dict": {k: v.detach().cpu() for k, v in ckpt.state_dict.items()},
        "metrics": {k: float(v) for k, v in ckpt.metrics.items()},
        "info": _plain(ckpt.info),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(payload, tmp)
        tmp.replace(path)
    except BaseException:  # Ctrl-C or a full disk: no half-written file left beside the old one
        tmp.unlink(missing_ok=True)
        raise


def _plain(value: Any) -> Any:
    """Only plain JSON types survive (a str subclass such as torch's version string would not
    load with weights_only=True)."""
    return json.loads(json.dumps(value, default=str))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint at ``path``; anything else is ``BadInput`` saying what the file is.

    The message never repeats torch's advice to retry with ``weights_only`` off: that would run
    whatever code the file holds.
    """
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"model {str(path)!r} is a folder, not a checkpoint file "
                       f"(a Transformers model folder is hf:{path}); {_SPECS}")
    if not path.is_file():
        raise BadInput(f"model checkpoint {str(path)!r} does not exist")
    with path.open("rb") as f:
        head = f.read(8)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # torch's zip or pickle
        raise BadInput(f"{str(path)!r} is not a reportgen checkpoint: it is {_what(path, head)}, "
                       f"not a PyTorch file; {_SPECS}")
    try:
        with warnings.catch_warnings():  # torch's remarks on odd pickles are not the user's concern
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input problem
        why = _why(path, exc)
        raise BadInput(f"{str(path)!r} is not a reportgen checkpoint: {why}; {_SPECS}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise BadInput(f"{str(path)!r} is a PyTorch file but not a checkpoint written by "
                       f"'reportgen train' (saved by another tool?); {_SPECS}")
    missing = [k for k in _KEYS if k not in payload]
    if missing:
        raise BadInput(f"{str(path)!r} is a damaged reportgen checkpoint "
                       f"(no {', '.join(missing)}); "
                       "train it again with 'reportgen train'")
    return Checkpoint(
        arch=payload["arch"],
        config=payload["config"],
        encoder=TextEncoder.from_dict(payload["encoder"]),
        classes=list(payload["classes"]),
        state_dict=payload["state_dict"],
        metrics=dict(payload.get("metrics", {})),
        info=dict(payload.get("info", {})),
    )


def _what(path: Path, head: bytes) -> str:
    """A few words on a file that is not a PyTorch file, from its first bytes."""
    if not head:
        return "empty"
    if head[:2] == b"\x1f\x8b":
        return "gzip-compressed"
    with path.open("rb") as f:
        sample = f.read(1024)
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(sample) - 3 or b"\x00" in sample:  # not just a cut multi-byte char
            return "binary data of an unknown format"
    return "a text file" if b"\x00" not in sample else "binary data of an unknown format"


def _why(path: Path, exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a PyTorch-looking file (not torch's advice)."""
    if zipfile.is_zipfile(path):
        try:
            names = zipfile.ZipFile(path).namelist()
        except (zipfile.BadZipFile, OSError):
            names = []
        if not any(n.endswith("data.pkl") for n in names):
            return "it is a zip archive, not a PyTorch file"
    text = str(exc)
    if "Weights only load failed" in text:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        what = f" ({found.group(1)})" if found else ""
        return (f"it holds Python objects{what} that a safe load (torch.load with "
                "weights_only=True) refuses, so it was written by another tool or is corrupt")
    return f"it is truncated or corrupt ({type(exc).__name__})"
