"""The analyses, one module each, in report order.

The registry name is also the module name, the CLI choice (``--only``/``--skip``), the TOML config
section, the cache folder and the page URL (``analyses/<name>.html``). Adding an analysis = one
module following ``reportgen.analyses.base`` + one line here + a README section + its tests.
"""

from __future__ import annotations

import importlib
from types import ModuleType

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

# Analyses of the specification that are not built yet; named so that --only gives a clear answer.
PLANNED: tuple[str, ...] = ()


def get(name: str) -> ModuleType:
    if name not in REGISTRY:
        raise KeyError(name)
    return importlib.import_module(f"reportgen.analyses.{name}")


def summaries() -> dict[str, str]:
    """Name -> one line (the module docstring's first line) for ``reportgen list``."""
    lines = {name: (get(name).__doc__ or "").strip().splitlines()[0] for name in REGISTRY}
    return {name: line.removeprefix(f"{name}: ") for name, line in lines.items()}
