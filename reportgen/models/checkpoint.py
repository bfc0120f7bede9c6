"""One checkpoint file per trained model: weights, config, encoder (vocabulary), classes, metrics.

Everything besides the weights is plain Python data (str, int, float, bool, list, dict), so the
file loads with ``torch.load(weights_only=True)``: opening a checkpoint never runs code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from reportgen.data.encoding import TextEncoder
from reportgen.errors import BadInput

FORMAT = "reportgen-checkpoint"
FORMAT_VERSION = 1


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
    torch.save(payload, tmp)
    tmp.replace(path)


def _plain(value: Any) -> Any:
    """Only plain JSON types survive (a str subclass such as torch's version string would not
    load with weights_only=True)."""
    return json.loads(json.dumps(value, default=str))


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"model checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise BadInput(
            f"{str(path)!r} is not a reportgen checkpoint that loads safely "
            f"(torch.load with weights_only=True failed: {str(exc).splitlines()[0]})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise BadInput(f"{str(path)!r} is not a checkpoint written by 'reportgen train'")
    return Checkpoint(
        arch=payload["arch"],
        config=payload["config"],
        encoder=TextEncoder.from_dict(payload["encoder"]),
        classes=list(payload["classes"]),
        state_dict=payload["state_dict"],
        metrics=dict(payload.get("metrics", {})),
        info=dict(payload.get("info", {})),
    )
