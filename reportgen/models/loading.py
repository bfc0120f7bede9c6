"""Model SPEC -> adapter.

- a path to a checkpoint written by ``reportgen train`` (loaded with ``weights_only=True``);
- ``FILE.py:FUNC`` or ``package.module:FUNC``: the user's own code, run because the SPEC names it;
  ``FUNC()`` returns a ``reportgen.models.user.UserModel``;
- ``hf:DIR_OR_NAME``: a Transformers sequence classifier (optional extra);
- ``demo``: the demo models, shipped with the package (see ``reportgen.models.demo_models``).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import torch

from reportgen.errors import BadInput
from reportgen.models.checkpoint import Checkpoint, load_checkpoint
from reportgen.models.reference import ReferenceAdapter
from reportgen.models.user import UserAdapter, UserModel
from reportgen.models.view import ModelView

MODEL_FORMATS: dict[str, str] = {
    "FILE.pt": "a checkpoint written by 'reportgen train'",
    "FILE.py:FUNC": "your own PyTorch model: "
    "FUNC() returns reportgen.UserModel(module, encoder, classes)",
    "package.module:FUNC": "the same, from an importable module",
    "hf:DIR_OR_NAME": "a Transformers sequence classifier (pip install 'reportgen[hf]')",
    "demo": "the demo models: small models trained on the demo corpus, shipped with the package",
}


def adapter_from_checkpoint(
    ckpt: Checkpoint, *, name: str, source: str, device: torch.device
) -> ReferenceAdapter:
    from reportgen.models.architectures import ARCHITECTURES

    if ckpt.arch not in ARCHITECTURES:
        raise BadInput(
            f"checkpoint {source!r} has unknown architecture {ckpt.arch!r}", choices=ARCHITECTURES
        )
    cls = ARCHITECTURES[ckpt.arch]
    module = cls(ckpt.config)
    try:
        module.load_state_dict(ckpt.state_dict)
    except RuntimeError as exc:
        raise BadInput(
            f"checkpoint {source!r} does not match its architecture: {str(exc).splitlines()[0]}"
        ) from None
    adapter = ReferenceAdapter(
        module,
        ckpt.encoder,
        ckpt.classes,
        name=name,
        arch=ckpt.arch,
        source=source,
        task=cls.task,
        checkpoint_accuracy=ckpt.metrics.get("test_accuracy"),
        device=device,
    )
    adapter.training = dict(ckpt.info)  # data spec, splits, vectors, training-text hashes
    return adapter


def load_model(spec: str, *, device: torch.device, name: str | None = None) -> ModelView:
    """Load one (non-demo) model SPEC."""
    if spec.startswith("hf:"):
        from reportgen.models.hf import HFAdapter

        adapter = HFAdapter(spec[3:], source=spec, device=device)
        if name:
            adapter.name = name
        return adapter
    path_part, _, func = spec.rpartition(":")
    if path_part and func.isidentifier() and not Path(spec).exists():
        user = _call_user_function(path_part, func, spec)
        if name:
            user.name = name
        elif user.name is None:
            user.name = func
        adapter = UserAdapter(user, source=spec, device=device)
        if path_part.endswith(".py"):
            adapter.code_files.append(str(Path(path_part).resolve()))
        else:  # package.module:FUNC: the module's file, whose build() may change
            found = getattr(sys.modules.get(path_part), "__file__", None)
            if found:
                adapter.code_files.append(str(Path(found).resolve()))
        return adapter
    path = Path(spec)
    if not path.exists():
        raise BadInput(f"model {spec!r}: no such file", choices=MODEL_FORMATS)
    ckpt = load_checkpoint(path)
    return adapter_from_checkpoint(ckpt, name=name or path.stem, source=spec, device=device)


def _call_user_function(target: str, func: str, spec: str) -> UserModel:
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise BadInput(f"model {spec!r}: no such file {target!r}")
        mod_name = f"reportgen_user_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's code: named, not a traceback
            raise BadInput(f"model {spec!r}: running {target} raised {_describe(exc)}") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise BadInput(f"model {spec!r}: cannot import {target!r} ({exc})") from None
        except Exception as exc:  # noqa: BLE001
            raise BadInput(f"model {spec!r}: importing {target} raised {_describe(exc)}") from None
    fn = getattr(module, func, None)
    if not callable(fn):
        raise BadInput(f"model {spec!r}: {target!r} has no function {func!r}")
    try:
        user = fn()
    except BadInput as exc:
        raise BadInput(f"model {spec!r}: {exc.message}") from None
    except Exception as exc:  # noqa: BLE001
        raise BadInput(f"model {spec!r}: {func}() raised {_describe(exc)}") from None
    if not isinstance(user, UserModel):
        raise BadInput(
            f"model {spec!r}: {func}() must return reportgen.UserModel, got {type(user).__name__}"
        )
    return user


def _describe(exc: Exception) -> str:
    """``Type: first line of the message``, and where in the user's file it was raised."""
    import traceback

    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if "reportgen" not in Path(f.filename).parts
    ]
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}{where}"


def unique_names(adapters: list[ModelView]) -> None:
    """Make model names unique within a report (``lstm``, ``lstm-2``, ...)."""
    seen: dict[str, int] = {}
    for a in adapters:
        n = seen.get(a.name, 0)
        seen[a.name] = n + 1
        if n:
            a.name = f"{a.name}-{n + 1}"
