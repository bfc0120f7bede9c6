"""Device selection: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``."""

from __future__ import annotations

import re

import torch

from reportgen.errors import BadInput

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")


def resolve_device(spec: str = "auto") -> torch.device:
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if re.fullmatch(r"cuda(:\d+)?", spec):
        if not torch.cuda.is_available():
            raise BadInput(f"device {spec!r} was asked for but CUDA is not available here; "
                           "use 'auto' or 'cpu'")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise BadInput(f"device {spec!r}: only {torch.cuda.device_count()} "
                           "CUDA device(s) present")
        return torch.device(spec)
    raise BadInput(f"unknown device {spec!r}", choices=DEVICE_CHOICES)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return "cpu"


def device_key(device: torch.device) -> str:
    """What a cache key records of the device: its kind and, for a GPU, its model, not its index,
    so that the ranks of a torchrun job (cuda:0, cuda:1, ...) share their cached results."""
    if device.type == "cuda" and torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
