"""Several processes on one run, with PyTorch's own distributed engine.

Question: how does a run spread over N processes (one machine or several) and still give the same
numbers as one process?

Method: ``torchrun --nproc-per-node N -m reportgen run ...`` (or ``reportgen`` under torchrun) sets
``RANK`` / ``WORLD_SIZE``; ``start`` then joins the process group (gloo on CPU, NCCL on GPUs, one
GPU per local rank). Every rank loads the models and the data. A per-example analysis cuts its work
into the same batches as one process would, computes batches ``rank, rank + N, ...``
(``my_batches``), and ``gather_batches`` hands every rank all batches' results in the one-process
order, so the tables and every number computed from them are those of one process, value for value.
Whatever is not split (probe phrases, fitting probes) runs on every rank alike; ``filter_top_words``
merges each rank's top windows with a total order (value, then the earlier text and location), so
the grouping of batches does not matter. Cache hits are agreed on by all
ranks (``all_agree``) so they never wait on each other; only rank 0 writes the cache and the site.

Cost: one all-gather of each analysis's per-batch results (Python objects through gloo/NCCL).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def requested() -> bool:
    """Whether torchrun (or the user) asked for more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def worker() -> bool:
    """True in a torchrun process other than rank 0 (read from the environment, before joining)."""
    return requested() and int(os.environ.get("RANK", "0")) != 0


def start(device: torch.device) -> torch.device:
    """Join the process group torchrun describes; returns the device this rank computes on (its
    own GPU, ``cuda:LOCAL_RANK``, when ``device`` is a GPU)."""
    if not requested() or active():
        return device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    return device


def stop() -> None:
    if active():
        dist.destroy_process_group()


def my_batches(starts: Sequence[int]) -> list[int]:
    """This rank's share of the batch starts: every ``world_size``-th, from its rank."""
    return list(starts)[rank() :: world_size()]


def gather_batches(parts: dict[int, T]) -> list[T]:
    """Every rank's ``{batch start: result}`` merged, in batch order (the one-process order)."""
    if active():
        gathered: list[dict[int, T] | None] = [None] * world_size()
        dist.all_gather_object(gathered, parts)
        merged: dict[int, T] = {}
        for part in gathered:
            merged.update(part or {})
        parts = merged
    return [parts[k] for k in sorted(parts)]


def all_agree(flag: bool) -> bool:
    """True only when ``flag`` is true on every rank."""
    if not active():
        return flag
    value = torch.tensor([1 if flag else 0], dtype=torch.int64)
    if dist.get_backend() == "nccl":
        value = value.cuda()
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
