"""Batch size and precision per model: chosen once, after the models load, before the analyses.

Question: how many texts can one batch of an analysis hold on this machine without running out of
memory, and in which floating-point precision may the analyses compute without changing the
report's numbers beyond a stated tolerance?

Method (batch size, ``--batch-size auto``, the default): one probe per model, the kind of pass
saliency makes: a forward from the input embeddings and a backward to them, on one padded batch of
the ``PROBE_TEXTS`` longest evaluated texts (by characters), under the run's precision. Its peak
memory, divided by the texts in the batch, is the cost of one text (fixed costs included, so a
little over). On CUDA the peak is measured: ``torch.cuda.max_memory_allocated`` after
``reset_peak_memory_stats``, less what was allocated before. On CPU it is estimated: every tensor
saved for backward (``torch.autograd.graph.saved_tensors_hooks``; each storage once, the model's
parameters and buffers left out), plus the output, the input gradient and, once more, the largest
saved tensor (the gradient flowing through it during the backward). The batch size is then the
largest power of two, at most ``CAPS[device]`` (CPU 64: today's default, so CPU results, cache keys
and numbers stay as they were; CUDA 1024), whose estimate times ``SAFETY`` fits in
``MEMORY_SHARE[device]`` of the memory available: ``torch.cuda.mem_get_info`` (plus what PyTorch's
allocator holds unused) on CUDA; on CPU ``MemAvailable`` of ``/proc/meminfo``, lowered to a cgroup's
memory limit less its usage when a limit applies. Where neither can be read the cap is taken, and
the reason says so. Never below 1; a model that must not be padded stays at 1; an explicit
``--batch-size N`` is taken as it is (no probe). Under torchrun every process takes the smallest
choice of all, so all cut their work into the same batches.

On CUDA an analysis that still runs out of memory for a model is started again with that model's
batch size halved, down to 1 (``halve_on_oom``; ``reportgen.run.analysis`` records it on the
page and in the model's reason, and remembers the halved size in the cache so that the next
``auto`` run of the same model, texts and GPU switches to it at the same analysis and reads its
cached results). Not under torchrun, where the processes would no longer agree.

Method (precision, ``--precision``): ``auto`` is bf16 on a GPU that supports it
(``torch.cuda.is_bf16_supported``), and on a CPU with native bf16 matrix products (AVX512-BF16 or
AMX) when every model of the run is a Transformers model, whose cost is those products (measured
on this project's 2-core AMD EPYC: a MiniLM-size forward pass 2.6x faster, fp32 matrix products
182 GFLOP/s against bf16's 867); else fp32 (a reference model's numbers are the same on every
CPU); ``bf16`` and ``fp16`` run each analysis's compute
under ``torch.autocast`` for the run's device (``autocast``), except the analyses whose
spec says ``precision="fp32"`` (bf16 changed their numbers beyond the tolerance). fp32 runs no
autocast at all, so its
numbers and cache keys are those of before. The tolerance, measured on the demo models: every
share, rate and accuracy within 0.02 of fp32's, every other number within 2% (README, "Batch size
and precision"; ``tests/test_batching.py``). fp16 is for GPUs only (oneDNN has no fp16 LSTM).

Outputs: ``resolve_precision`` -> (precision, reason); ``resolve_batch_sizes`` -> per model a
``BatchChoice`` (size, reason such as "auto: 64 (cap), 0.3 MiB per text, 21.0 GiB available"),
shown in ``report.json`` (``batch_sizes``) and the run's configuration.

Cost: one forward and backward pass on ``PROBE_TEXTS`` texts per model with ``auto``; none with an
explicit batch size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

from reportgen import distributed, memory
from reportgen.data.dataset import Example
from reportgen.data.encoding import EncodedBatch
from reportgen.errors import BadInput
from reportgen.models import facts
from reportgen.models.common import gradients
from reportgen.models.view import ModelView
from reportgen.records import PRECISIONS

T = TypeVar("T")


CAPS = {"cpu": 64, "cuda": 1024}  # the largest batch auto picks, by device type (others: CPU's)
DEFAULT_BATCH = 64  # an explicit batch size's default before auto, and auto's fallback
MEMORY_SHARE = {"cuda": 0.8, "cpu": 0.5}  # of the available memory a batch may plan to use
SAFETY = 2.0  # the probe's estimate is multiplied by this before it must fit
PROBE_TEXTS = 8  # the longest evaluated texts, in one padded batch
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class BatchChoice:
    """One model's batch size and how it was chosen."""

    size: int
    reason: str  # how it was chosen, for the report


# -- precision ------------------------------------------------------------------------------------
def resolve_precision(spec: str, device: torch.device, fp32_analyses: Sequence[str] = (),
                      models: Sequence[ModelView] | None = None,
                      native_bf16: bool | None = None) -> tuple[str, str]:
    """``--precision`` -> (fp32 | bf16 | fp16, the reason for the report); ``fp32_analyses``: the
    analyses whose specs keep them in fp32 whatever the run's precision. ``models``: the run's,
    once loaded (before, ``auto`` on CPU is fp32: the choice is checked, not made);
    ``native_bf16``: whether the CPU multiplies bf16 natively (default: asked of torch)."""
    spec = (spec or "auto").strip().lower()
    if spec not in PRECISIONS:
        raise BadInput(f"unknown precision {spec!r}", choices=PRECISIONS)
    kept = f"; {', '.join(fp32_analyses)} in fp32" if fp32_analyses else ""
    if spec == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16", "auto: bf16 (the GPU supports it)" + kept
        if device.type == "cpu" and models and all(is_transformers(m) for m in models):
            if native_bf16 if native_bf16 is not None else cpu_multiplies_bf16():
                return "bf16", ("auto: bf16 (Transformers models on a CPU with native bf16 "
                                "matrix products; --precision fp32 for fp32)" + kept)
            return "fp32", "auto: fp32 (CPU without native bf16 matrix products)"
        return "fp32", f"auto: fp32 ({'the GPU has no bf16' if device.type == 'cuda' else 'CPU'})"
    if spec == "fp16" and device.type == "cpu":  # oneDNN has no fp16 LSTM; slower than fp32 too
        raise BadInput("--precision fp16 is for GPUs; on CPU use bf16 or fp32", choices=PRECISIONS)
    if spec != "fp32" and not torch.amp.is_autocast_available(device.type):
        raise BadInput(f"--precision {spec}: torch has no autocast for device {device.type!r}; "
                       "use fp32", choices=PRECISIONS)
    return spec, f"{spec} (asked for)" + (kept if spec != "fp32" else "")


def is_transformers(model: ModelView) -> bool:
    """Whether ``model`` is a Transformers model (``hf:`` architecture)."""
    return str(getattr(model, "arch", "")).startswith("hf:")


def cpu_multiplies_bf16() -> bool:
    """Whether this CPU has native bf16 matrix products (AVX512-BF16 or AMX tiles), where
    oneDNN's bf16 products run several times faster than fp32's; False where torch cannot say."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(bool(getattr(cpu, name)()) for name in checks if hasattr(cpu, name))
    except Exception:  # noqa: BLE001 - an unknown CPU: fp32
        return False


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to the precision's dtype on the device's type; nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


# -- batch size -----------------------------------------------------------------------------------
def resolve_batch_sizes(models: Sequence[ModelView], examples: Sequence[Example],
                        spec: int | str, device: torch.device,
                        precision: str = "fp32") -> dict[str, BatchChoice]:
    """Model name -> its ``BatchChoice``: ``spec`` as it is when an integer, else chosen by
    memory."""
    choices = {m.name: _resolve_one(m, examples, spec, device, precision) for m in models}
    return _agree(choices)


def _resolve_one(model: ModelView, examples: Sequence[Example], spec: int | str,
                 device: torch.device, precision: str) -> BatchChoice:
    """One model's choice: 1 if never padded, an explicit ``spec``, else the probe's."""
    if not model.pad_batches:
        return BatchChoice(1, "1: the model reads padding, so one text per batch")
    if isinstance(spec, int):
        return BatchChoice(facts.batch_size(model, spec), f"{spec} (--batch-size)")
    cap = CAPS.get(device.type, CAPS["cpu"])
    texts = longest_texts(examples, PROBE_TEXTS)
    try:
        per_text = bytes_per_text(model, texts, precision)
    except torch.cuda.OutOfMemoryError:
        _empty_cache()
        return BatchChoice(1, "auto: 1 (one text alone ran out of memory in the probe)")
    except BadInput:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. no gradient path: the analyses will say so
        return BatchChoice(min(cap, DEFAULT_BATCH),
                           f"auto: {min(cap, DEFAULT_BATCH)} (the memory probe failed: "
                           f"{type(exc).__name__})")
    available = available_memory(device)
    share = MEMORY_SHARE.get(device.type, MEMORY_SHARE["cpu"])
    size = choose_batch_size(per_text, available, cap, share)
    return BatchChoice(size, _reason(size, cap, per_text, available, share))


def choose_batch_size(per_text: float, available: int | None, cap: int, share: float) -> int:
    """The largest power of two <= ``cap`` whose ``per_text`` bytes times ``SAFETY`` fit in
    ``share`` of ``available`` bytes; ``cap`` (as a power of two) when the memory is unknown;
    >= 1."""
    size = 1 << max(0, int(cap).bit_length() - 1)  # the largest power of two <= cap
    if available is None:
        return size
    budget = share * available
    while size > 1 and size * per_text * SAFETY > budget:
        size //= 2
    return size


def _reason(size: int, cap: int, per_text: float, available: int | None, share: float) -> str:
    """``"auto: 64 (cap), 0.3 MiB per text, 21.0 GiB available"``."""
    if available is None:
        return f"auto: {size} (cap; available memory unknown here), {_size(per_text)} per text"
    tight = size * per_text * SAFETY > share * available
    why = " (cap)" if size == cap else " (may not fit even so)" if tight else ""
    return f"auto: {size}{why}, {_size(per_text)} per text, {_size(available)} available"


def _size(n: float) -> str:
    """Bytes for a reader: ``"0.3 MiB"``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def longest_texts(examples: Sequence[Example], n: int) -> list[str]:
    """The ``n`` longest texts (by characters; the first of equals), longest first."""
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i].text), i))
    return [examples[i].text for i in order[:n]] or ["a"]


def bytes_per_text(model: ModelView, texts: Sequence[str], precision: str = "fp32") -> float:
    """``probe_bytes`` of ``texts`` in one batch, per text; on running out of memory (CUDA), the
    batch is halved down to one text, which raises if it still does not fit."""
    texts = list(texts)
    while True:
        try:
            return probe_bytes(model, texts, precision) / len(texts)
        except torch.cuda.OutOfMemoryError:
            if len(texts) == 1:
                raise
        _empty_cache()
        texts = texts[: len(texts) // 2]


def probe_bytes(model: ModelView, texts: Sequence[str], precision: str = "fp32") -> int:
    """Peak bytes of one forward from the input embeddings and backward to them over ``texts`` in
    one padded batch: measured on CUDA, estimated from the saved tensors elsewhere."""
    batch = model.encode(list(texts))
    device = model.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        _forward_backward(model, batch, precision)
        torch.cuda.synchronize(device)
        return max(0, torch.cuda.max_memory_allocated(device) - before)
    fixed = {_storage(t)[0] for t in (*model.module.parameters(), *model.module.buffers())}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr, nbytes = _storage(t)
        if ptr not in fixed:
            saved[ptr] = max(saved.get(ptr, 0), nbytes)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        emb, out = _forward_backward(model, batch, precision)
    emb_bytes = emb.numel() * emb.element_size()
    return (sum(saved.values()) + out.numel() * out.element_size() + emb_bytes
            + max(saved.values(), default=0))


def _forward_backward(model: ModelView, batch: EncodedBatch, precision: str
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Saliency's pass: embeddings -> output -> gradient of its sum w.r.t. the embeddings."""
    with autocast(precision, model.device), gradients(model.module):
        emb = model.embed(batch.ids).detach().requires_grad_(True)  # (B, T, E) or (B, T, C, E)
        out = model.forward_from_embeddings(emb, batch.mask)  # (B, K) or (B, T, V)
        torch.autograd.grad(out.float().sum(), emb)
    return emb.detach(), out.detach()


def _storage(t: torch.Tensor) -> tuple[int, int]:
    """(address, bytes) of the memory behind ``t``; a tensor without storage counts its own size."""
    try:
        storage = t.untyped_storage()
        return storage.data_ptr(), storage.nbytes()
    except (RuntimeError, NotImplementedError):
        return id(t), t.numel() * t.element_size()


def _agree(choices: dict[str, BatchChoice]) -> dict[str, BatchChoice]:
    """Under torchrun, every process takes the smallest batch size any process chose."""
    if not distributed.active() or not choices:
        return choices
    import torch.distributed as dist

    sizes = torch.tensor([c.size for c in choices.values()], dtype=torch.int64)
    if dist.get_backend() == "nccl":
        sizes = sizes.cuda()
    dist.all_reduce(sizes, op=dist.ReduceOp.MIN)
    agreed = {}
    for (name, c), size in zip(choices.items(), sizes.tolist(), strict=True):
        agreed[name] = c if size == c.size else BatchChoice(
            int(size),
            f"{c.reason}; {size}: the smallest over {distributed.world_size()} processes")
    return agreed


# -- memory ---------------------------------------------------------------------------------------
def available_memory(device: torch.device) -> int | None:
    """Bytes a batch could use now on ``device``; None where it cannot be read."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if device.type != "cpu":
        return None
    return memory.available_bytes()


# where the machine's memory is read (``reportgen.memory``), under the names the tests know
_meminfo_available = memory.meminfo_available
_cgroup_headroom = memory.cgroup_headroom


# -- running out of memory ------------------------------------------------------------------------
def halve_on_oom(compute: Callable[[int], T], batch_size: int, *, retry: bool = True
                 ) -> tuple[T, int]:
    """(``compute(batch_size)``, the batch size it succeeded with): on
    ``torch.cuda.OutOfMemoryError`` the CUDA cache is emptied and ``compute`` is called again with
    half the batch size, down to 1; the error is raised at 1, or at once when ``retry`` is false."""
    while True:
        try:
            return compute(batch_size), batch_size
        except torch.cuda.OutOfMemoryError:
            if batch_size <= 1 or not retry:
                raise
        _empty_cache()  # outside the except block: the traceback no longer holds the tensors
        batch_size //= 2


def _empty_cache() -> None:
    """Hand CUDA's cached blocks back after running out of memory (nothing without CUDA)."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
