"""Run configuration: code defaults < TOML file (``--config``) < command-line flags.

The TOML file has a ``[run]`` table with the options of ``reportgen run`` (same names as the flags,
with underscores: ``model = ["a.pt"]``, ``data = "mr:..."``, ``max_examples = 500``...) and one
table per analysis, named like the analysis, holding its ``Params`` fields::

    [run]
    data = "mr:../data/mr"
    max_examples = 500

    [saliency]
    heatmap_examples = 5

Every unknown key and bad value is collected into one error that names the valid choices.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportgen import analyses
from reportgen.data.dataset import SPLITS
from reportgen.errors import BadInput


@dataclass(frozen=True)
class RunConfig:
    models: tuple[str, ...] = ()
    data: str | None = None
    out: str = "site"
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    device: str = "auto"
    split: str = "test"
    max_examples: int | None = None
    seed: int = 0
    single_file: bool = False
    no_cache: bool = False
    quiet: bool = False
    text_col: str | None = None
    label_col: str | None = None
    cache_dir: str | None = None
    batch_size: int = 64
    page_budget_mb: float = 5.0
    site_budget_mb: float = 50.0
    params: dict[str, Any] = field(default_factory=dict)  # analysis name -> its Params

    def selected_analyses(self) -> list[str]:
        names = list(self.only) if self.only else list(analyses.REGISTRY)
        return [n for n in analyses.REGISTRY if n in names and n not in self.skip]

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "params"}
        d["models"] = list(self.models)
        d["only"], d["skip"] = list(self.only), list(self.skip)
        d["params"] = {name: dataclasses.asdict(p) for name, p in self.params.items()}
        return d


RUN_KEYS = {f.name for f in dataclasses.fields(RunConfig)} - {"params"}
_TOML_ALIASES = {"model": "models"}


def load_config(path: str | None, overrides: dict[str, Any]) -> RunConfig:
    """Merge defaults, the TOML file at ``path`` and the CLI ``overrides`` (None = not given)."""
    problems: list[str] = []
    doc: dict[str, Any] = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise BadInput(f"config file {path!r} does not exist")
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BadInput(f"config file {path!r} is not valid TOML: {exc}") from None
    valid_tables = ["run", *analyses.REGISTRY]
    for table in doc:
        if table not in valid_tables:
            problems.append(f"unknown section [{table}] (valid: {', '.join(valid_tables)})")
    run_values: dict[str, Any] = {}
    for key, value in (doc.get("run") or {}).items():
        key = _TOML_ALIASES.get(key, key)
        if key not in RUN_KEYS:
            problems.append(f"unknown key {key!r} in [run] (valid: {', '.join(sorted(RUN_KEYS))})")
        else:
            run_values[key] = value
    run_values.update({k: v for k, v in overrides.items() if v is not None and v != ()})
    for key in ("models", "only", "skip"):
        if key in run_values:
            value = run_values[key]
            run_values[key] = tuple([value] if isinstance(value, str) else value)
    params = {}
    for name in analyses.REGISTRY:
        module = analyses.get(name)
        params[name], more = _params(name, module.Params, doc.get(name) or {})
        problems.extend(more)
    try:
        config = RunConfig(**run_values, params=params)
    except TypeError as exc:
        raise BadInput(f"bad configuration: {exc}") from None
    problems.extend(_validate(config))
    if problems:
        raise BadInput("bad configuration:\n  - " + "\n  - ".join(problems))
    return config


def _params(name: str, cls: type, values: dict[str, Any]) -> tuple[Any, list[str]]:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    problems = []
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            problems.append(f"unknown key {key!r} in [{name}] (valid: {', '.join(fields)})")
            continue
        default = getattr(cls(), key)
        if default is not None and not isinstance(value, type(default)) and not (
            isinstance(default, float) and isinstance(value, int)
        ):
            problems.append(f"[{name}] {key} must be {type(default).__name__}, not {value!r}")
            continue
        kwargs[key] = value
    params = cls(**kwargs)
    validate = getattr(params, "validate", None)
    if validate is not None:
        problems.extend(validate())
    return params, problems


def _validate(c: RunConfig) -> list[str]:
    problems = []
    known = set(analyses.REGISTRY)
    planned = set(analyses.PLANNED)
    for flag, names in (("--only", c.only), ("--skip", c.skip)):
        for n in names:
            if n in planned:
                problems.append(f"{flag}: analysis {n!r} is specified but not built yet in this version")
            elif n not in known:
                problems.append(f"{flag}: unknown analysis {n!r} (valid: {', '.join(analyses.REGISTRY)})")
    if c.split not in SPLITS:
        problems.append(f"--split must be one of {', '.join(SPLITS)}, not {c.split!r}")
    if c.max_examples is not None and c.max_examples < 1:
        problems.append("--max-examples must be at least 1")
    if c.batch_size < 1:
        problems.append("batch_size must be at least 1")
    if c.page_budget_mb <= 0 or c.site_budget_mb <= 0:
        problems.append("size budgets must be positive")
    return problems
