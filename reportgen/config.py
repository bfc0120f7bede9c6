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
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportgen import analyses
from reportgen.data.dataset import SPLITS
from reportgen.errors import BadInput
from reportgen.memory import parse_budget
from reportgen.records import PRECISIONS


@dataclass(frozen=True)
class RunConfig:
    models: tuple[str, ...] = ()
    data: str | None = None
    out: str = "site"
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    device: str = "auto"
    split: str = "auto"  # test, else dev, else the whole data (said on the data card)
    max_examples: int | None = None
    # examples that keep per-token detail and that the costly analyses run on (0: every one)
    detail_examples: int = 2000
    seed: int = 0
    single_file: bool = False
    no_cache: bool = False
    quiet: bool = False
    text_col: str | None = None
    label_col: str | None = None
    label_map: dict[str, str] = field(default_factory=dict)  # data label -> model class
    cache_dir: str | None = None
    batch_size: int | str = "auto"  # auto: per model by free memory (reportgen.batching), or N
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (reportgen.batching)
    memory_budget: str = "auto"  # auto | none | a size such as 6GB (reportgen.memory)
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
    for written, value in (doc.get("run") or {}).items():
        key = _TOML_ALIASES.get(written, written)
        if key not in RUN_KEYS:
            problems.append(f"unknown key {key!r} in [run] (valid: {', '.join(sorted(RUN_KEYS))})")
        elif (problem := _type_problem(f"[run] {written} =", key, value)) is not None:
            problems.append(problem)  # the default stays, so the checks below still run
        else:
            run_values[key] = value
    for key, value in overrides.items():
        if value is None or value == ():
            continue
        flag = "--model" if key == "models" else "--" + key.replace("_", "-")
        if (problem := _type_problem(flag, key, value)) is not None:
            problems.append(problem)
        else:
            run_values[key] = value
    for key, value in run_values.items():  # a float field given an int: keep the field's type
        if _HINTS.get(key) is float:
            run_values[key] = float(value)
    for key in ("models", "only", "skip"):
        if key in run_values:
            value = run_values[key]
            run_values[key] = tuple([value] if isinstance(value, str) else value)
    params = {}
    for name in analyses.REGISTRY:
        params[name], more = _params(name, analyses.spec(name).params, doc.get(name) or {})
        problems.extend(more)
    try:
        config = RunConfig(**run_values, params=params)
    except TypeError as exc:
        raise BadInput(f"bad configuration: {exc}") from None
    problems.extend(_validate(config))
    if problems:
        raise BadInput("bad configuration:\n  - " + "\n  - ".join(problems))
    return config


_HINTS: dict[str, Any] = typing.get_type_hints(RunConfig)
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _type_problem(where: str, key: str, value: Any) -> str | None:
    """``None`` when ``value`` fits the type of RunConfig's field ``key``, else the message."""
    hint = _HINTS.get(key)
    if hint is None or _fits(value, hint):
        return None
    return f"{where} {_show(value)}: expected {_describe(hint)}, got {_kind(value)}"


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:  # a bool is an int to Python, not to a user
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:  # tuple[str, ...]: a list of strings, or one string
        items = [value] if isinstance(value, str) else value
        return isinstance(items, list | tuple) and all(_fits(v, args[0]) for v in items)
    if origin is dict:
        return isinstance(value, dict) and all(
            _fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items()
        )
    return True  # a type this check does not know is left to the code that uses it


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if origin is tuple:
        return f"a list of {_describe(args[0]).removeprefix('a ')}s"
    if origin is dict:
        return f"a table of {_describe(args[1]).removeprefix('a ')}s (key = value)"
    return _TYPE_NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def _kind(value: Any) -> str:
    if isinstance(value, list | tuple):
        odd = next((v for v in value if not isinstance(v, str)), None)
        return "a list" if odd is None else f"a list holding {_show(odd)} ({_kind(odd)})"
    if isinstance(value, dict):
        return "a table"
    return {bool: "a boolean", int: "an integer", float: "a decimal number", str: "a string"}.get(
        type(value), type(value).__name__
    )


def _show(value: Any) -> str:
    """``value`` as TOML would write it (short)."""
    text = json.dumps(list(value) if isinstance(value, tuple) else value, ensure_ascii=False,
                      default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _params(name: str, cls: type, values: dict[str, Any]) -> tuple[Any, list[str]]:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    problems = []
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            problems.append(f"unknown key {key!r} in [{name}] (valid: {', '.join(fields)})")
            continue
        default = getattr(cls(), key)
        if isinstance(default, tuple) and isinstance(value, list):  # TOML arrays are lists
            value = tuple(value)
        wrong = not isinstance(value, type(default)) and not (
            isinstance(default, float) and isinstance(value, int)
        )
        bool_for_number = isinstance(value, bool) and not isinstance(default, bool)
        if default is not None and (wrong or bool_for_number):
            problems.append(f"[{name}] {key} must be {type(default).__name__}, not {value!r}")
            continue
        kwargs[key] = value
    params = cls(**kwargs)
    validate = getattr(params, "validate", None)
    if validate is not None:
        problems.extend(validate())
    return params, problems


def _validate(c: RunConfig) -> list[str]:
    problems: list[str] = []
    known = set(analyses.REGISTRY)
    for flag, names in (("--only", c.only), ("--skip", c.skip)):
        for n in names:
            if n not in known:
                problems.append(f"{flag}: unknown analysis {n!r} "
                                f"(valid: {', '.join(analyses.REGISTRY)})")
    if not problems and not c.selected_analyses():
        given = " with ".join(f"{flag} {','.join(names)}" for flag, names in
                              (("--only", c.only), ("--skip", c.skip)) if names)
        problems.append(f"{given} leaves no analysis to run "
                        f"(analyses that can be run: {', '.join(analyses.REGISTRY)})")
    if c.split not in SPLITS:
        problems.append(f"--split must be one of {', '.join(SPLITS)}, not {c.split!r}")
    if c.max_examples is not None and c.max_examples < 1:
        problems.append("--max-examples must be at least 1")
    if c.detail_examples < 0:
        problems.append("--detail-examples must be 0 (every example) or a positive number")
    if not (c.batch_size == "auto" or isinstance(c.batch_size, int) and c.batch_size >= 1):
        problems.append(f"--batch-size must be auto or a whole number of at least 1, not "
                        f"{_show(c.batch_size)}")
    if c.precision not in PRECISIONS:
        problems.append(f"--precision must be one of {', '.join(PRECISIONS)}, "
                        f"not {_show(c.precision)}")
    try:
        parse_budget(c.memory_budget)
    except BadInput as exc:
        problems.append(exc.message)
    if not (c.page_budget_mb > 0 and c.site_budget_mb > 0):  # NaN too
        problems.append("size budgets must be positive")
    return problems
