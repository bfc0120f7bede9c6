"""The typed contract of an analysis: one ``AnalysisSpec`` per module, checked when registered.

Each analysis module ends with ``SPEC = AnalysisSpec(...)`` and the registry
(``reportgen.analyses``) reads nothing else of the module. The fields:

- ``name``: the registry name (module, CLI choice, config section, cache folder, page URL);
- ``version``: bump when the numbers change (it is in every cache key);
- ``title``, ``headline`` (the metric on the index card), ``method``, ``how_to_read``,
  ``citation``: text for the page; ``headline_label`` names the headline for its method ("top
  token share of |dS/de|", not "top token share") and ``reference`` is the source it reproduces,
  short ("Li et al. 2016, Sec. 5"): both shown beside every headline, per model;
- ``params``: a frozen dataclass of its settings (the ``[name]`` section of the TOML config), every
  field with a default; its ``validate()`` (optional) lists problems with the values alone;
- ``tables``: table name -> declared columns (the contract test holds every result to them);
- ``compute(ctx, params) -> AnalysisResult``: the only place torch runs, for ONE model;
- ``present(result, params) -> Presentation``: pure tables -> charts and token views;
- ``skip_reason(model) -> str | None``: why it does not apply to a model (None: it applies);
- ``combine(results, params) -> AnalysisResult``: per-model results -> one (default: tables
  concatenated, metrics prefixed ``<model>.``);
- ``needs``: analyses whose results it reads (added to the run); ``uses``: analyses it reads when
  they ran (never added, ordered before it);
- ``sampled``: it reads the run's detail sample (its size goes into the cache key);
- ``baselines``: headline metric -> the metric a reader compares it with;
- ``precision``: ``"run"`` (the run's --precision) or ``"fp32"`` (always: bf16 changes its numbers);
- ``check_plan(params, facts) -> list[str]``: problems of the settings with this run's data and
  the other analyses' settings, found when the run is planned (exit 2 before any compute);
- ``memory_setting``: the setting a user lowers when the analysis reaches the run's memory budget
  (``reportgen.memory``; default: --max-examples or --batch-size).

A misspelt field is a ``TypeError`` where the module builds its spec, and a wrong value a
``SpecError`` when it is registered: both at import, never in the middle of a run.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reportgen.records import AnalysisResult

PRECISIONS = ("run", "fp32")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class SpecError(TypeError):
    """An analysis spec that cannot work (raised when it is built or registered)."""


@dataclass(frozen=True)
class PlanFacts:
    """What ``check_plan`` may look at: the evaluated data and every analysis's settings."""

    examples: int  # evaluated examples
    labelled: int  # of them, with a label
    classes: tuple[str, ...]
    params: Mapping[str, Any]  # analysis name -> its Params


def combine_per_model(results: dict[str, AnalysisResult], params: Any = None) -> AnalysisResult:
    """The default ``combine``: tables concatenated in model order (each already has a ``model``
    column), metrics prefixed ``<model>.``, notes prefixed with the model name (a note every model
    has, such as how the run sampled its examples, once and plain)."""
    import pandas as pd

    names = list(results)
    tables: dict[str, pd.DataFrame] = {}
    for table in dict.fromkeys(t for r in results.values() for t in r.tables):
        frames = [results[n].tables[table] for n in names if table in results[n].tables]
        # one model's empty table joined with the others' would turn number columns into objects
        frames = [f for f in frames if len(f)] or frames[:1]
        tables[table] = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    metrics = {f"{n}.{k}": v for n in names for k, v in results[n].metrics.items()}
    labels = {f"{n}.{k}": v for n in names for k, v in results[n].labels.items()}
    shared = set.intersection(*(set(results[n].notes) for n in names)) if len(names) > 1 else set()
    notes = list(dict.fromkeys(note for n in names for note in results[n].notes if note in shared))
    notes += [note if note.startswith(f"{n}: ") else f"{n}: {note}"  # never "kim: kim: ..."
              for n in names for note in results[n].notes if note not in shared]
    return AnalysisResult(tables=tables, metrics=metrics, notes=notes, labels=labels)


def _no_plan_problems(params: Any, facts: PlanFacts) -> list[str]:
    return []


@dataclass(frozen=True, kw_only=True)
class AnalysisSpec:
    name: str
    version: int
    title: str
    headline: str
    method: str
    how_to_read: str
    citation: str
    params: type
    tables: Mapping[str, list[str]]
    compute: Callable[..., AnalysisResult]
    present: Callable[..., Any]
    skip_reason: Callable[[Any], str | None]
    combine: Callable[..., AnalysisResult] = combine_per_model
    needs: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    sampled: bool = False
    baselines: Mapping[str, str] = field(default_factory=dict)
    precision: str = "run"
    precision_reason: str = ""  # why it computes in fp32, for the report
    check_plan: Callable[[Any, PlanFacts], list[str]] = _no_plan_problems
    headline_label: str = ""
    reference: str = ""
    memory_setting: str = ""

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise SpecError(f"analysis spec {self.name!r}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """What is wrong with this spec on its own (the registry adds what needs the others)."""
        out: list[str] = []
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            out.append(f"name must be snake_case, not {self.name!r}")
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            out.append(f"version must be a whole number >= 1, not {self.version!r}")
        for text in ("title", "headline", "method", "how_to_read", "citation"):
            if not isinstance(getattr(self, text), str) or not getattr(self, text).strip():
                out.append(f"{text} must be a non-empty string")
        out += _params_problems(self.params)
        if not isinstance(self.tables, Mapping) or not self.tables:
            out.append("tables must map each table name to its columns")
        else:
            for table, columns in self.tables.items():
                if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
                    out.append(f"tables[{table!r}] must be a list of column names")
        for fn in ("compute", "present", "skip_reason", "combine", "check_plan"):
            if not callable(getattr(self, fn)):
                out.append(f"{fn} must be callable")
        for deps in ("needs", "uses"):
            value = getattr(self, deps)
            if not (isinstance(value, tuple) and all(isinstance(n, str) for n in value)):
                out.append(f"{deps} must be a tuple of analysis names, not {value!r}")
            elif self.name in value:
                out.append(f"{deps} names the analysis itself")
        if not isinstance(self.sampled, bool):
            out.append("sampled must be True or False")
        if not isinstance(self.baselines, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.baselines.items()):
            out.append("baselines must map metric names to metric names")
        if self.precision not in PRECISIONS:
            out.append(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.precision == "fp32" and not self.precision_reason:
            out.append("precision 'fp32' needs its precision_reason")
        return out

    def default_params(self) -> Any:
        return self.params()


def _params_problems(cls: Any) -> list[str]:
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        return [f"params must be a dataclass type, not {cls!r}"]
    if not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        return ["params must be a frozen dataclass"]
    missing = [f.name for f in dataclasses.fields(cls)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    return [f"params field(s) without a default: {', '.join(missing)}"] if missing else []
