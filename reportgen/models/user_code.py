"""Running a user's own model code: its exceptions carried out of hooks, told apart from
reportgen's, and hooks set aside while a failing text is located (for ``reportgen.models.user``).

Cost: nothing until the user's forward raises; then one traceback walk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from reportgen.errors import BadInput


class UserFailure(Exception):
    """Carries an exception of the user's forward out of the hooks, to be located and named."""

    def __init__(self, exc: Exception) -> None:
        super().__init__(str(exc))
        self.exc = exc


PACKAGE = Path(__file__).resolve().parents[1]


def raised_by_reportgen(exc: Exception) -> bool:
    """An exception of reportgen's own, or raised while reportgen's code ran inside the forward (a
    hook, or torch called from one): any frame below the user's module call in reportgen's files."""
    if type(exc).__module__.split(".")[0] == "reportgen":
        return True
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # below ``_run``
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE):
            return True
        tb = tb.tb_next
    return False


@contextmanager
def hooks_set_aside(module: nn.Module) -> Iterator[None]:
    """Every forward hook of ``module`` and its submodules removed while inside, then put back."""
    kinds = (
        "_forward_hooks",
        "_forward_pre_hooks",
        "_forward_hooks_with_kwargs",
        "_forward_hooks_always_called",
    )
    saved = [(m, k, getattr(m, k)) for m in module.modules() for k in kinds if hasattr(m, k)]
    for m, k, hooks in saved:
        setattr(m, k, type(hooks)())
    try:
        yield
    finally:
        for m, k, hooks in saved:
            setattr(m, k, hooks)


@contextmanager
def replace_output(module: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Replace a module's output while inside the block; the hook is removed even on error."""
    handle = module.register_forward_hook(lambda _m, _inp, out: fn(out))
    try:
        yield
    finally:
        handle.remove()


def single_embedding(module: nn.Module, source: str) -> str:
    names = [n for n, m in module.named_modules() if isinstance(m, nn.Embedding)]
    if len(names) != 1:
        raise BadInput(
            f"model {source!r}: cannot tell which embedding layer to analyse ({len(names)} found); "
            "name it with UserModel(embedding=...)",
            choices=names or ["(no nn.Embedding in the module)"],
        )
    return names[0]
