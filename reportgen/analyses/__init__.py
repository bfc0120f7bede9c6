"""The analyses, one module each, in report order, each described by its ``AnalysisSpec``.

The registry name is also the module name, the CLI choice (``--only``/``--skip``), the TOML config
section, the cache folder and the page URL (``analyses/<name>.html``). Adding an analysis = one
module ending in ``SPEC = AnalysisSpec(...)`` (``reportgen.analyses.spec``) + one line here + a
README section + its tests (``docs/write-an-analysis.md`` walks through it).

``spec(name)`` imports the module and registers its spec on first use: the spec must name the
module it lives in, and its ``needs``/``uses`` must be registered analyses, else ``SpecError``.
"""

from __future__ import annotations

import importlib

from reportgen.analyses.spec import AnalysisSpec, SpecError

REGISTRY: tuple[str, ...] = (
    "representations",
    "saliency",
    "variance_salience",
    "hidden_saliency",
    "optimization",
    "matching_rate",
    "filter_top_words",
    "neuron_sweep",
    "faithfulness",
)

_SPECS: dict[str, AnalysisSpec] = {}


def spec(name: str) -> AnalysisSpec:
    """The registered spec of analysis ``name`` (``KeyError`` for a name not in ``REGISTRY``)."""
    if name not in REGISTRY:
        raise KeyError(name)
    if name not in _SPECS:
        module = importlib.import_module(f"reportgen.analyses.{name}")
        _SPECS[name] = register(getattr(module, "SPEC", None), module=name)
    return _SPECS[name]


def register(found: object, *, module: str, known: tuple[str, ...] = REGISTRY) -> AnalysisSpec:
    """Check a module's spec against the registry: ``SpecError`` naming what is wrong."""
    if not isinstance(found, AnalysisSpec):
        raise SpecError(f"reportgen.analyses.{module} must define SPEC = AnalysisSpec(...)")
    problems = []
    if found.name != module:
        problems.append(f"its name {found.name!r} is not its module's, {module!r}")
    for deps in ("needs", "uses"):
        unknown = [n for n in getattr(found, deps) if n not in known]
        if unknown:
            problems.append(f"{deps} names unknown analyses {unknown} (known: {', '.join(known)})")
    if problems:
        raise SpecError(f"analysis spec {found.name!r}: " + "; ".join(problems))
    return found


def specs() -> list[AnalysisSpec]:
    """Every registered spec, in report order."""
    return [spec(name) for name in REGISTRY]


def summaries() -> dict[str, str]:
    """Name -> one line (the module docstring's first line) for ``reportgen list``."""
    lines = {}
    for name in REGISTRY:
        doc = importlib.import_module(f"reportgen.analyses.{name}").__doc__ or ""
        lines[name] = doc.strip().splitlines()[0].removeprefix(f"{name}: ")
    return lines
