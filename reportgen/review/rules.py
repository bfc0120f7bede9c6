"""``--fail-on``: the regressions that fail a CI job.

Question: which differences should stop a merge?

Method: a rule is ``NAME OP THRESHOLD``: ``NAME`` is ``accuracy`` (the model cards') or
``<analysis>.<metric>`` (``faithfulness.comprehensiveness``), optionally ``@<model>`` to apply it
to one model pair only (by its old or new name); ``OP`` is ``<``, ``<=``, ``>`` or ``>=``;
``THRESHOLD`` a number (``-0.01``, or ``-1%``). Rules are comma-separated on the command line, or
a TOML file (``--fail-on rules.toml``) with a ``[fail_on]`` table of ``NAME = "OP THRESHOLD"``
(or a list of such strings). A rule *fails* for a model pair when the difference ``new - old`` is
significant (its interval excludes 0, or McNemar's p < 0.05 for accuracy; a metric without an
interval: any difference) and satisfies ``OP THRESHOLD``: ``accuracy<-0.01`` fails on a
significant drop of more than one point. A rule that does not parse, or names a metric neither
report has, is ``BadInput`` (exit 2) naming it; a failed rule makes ``reportgen compare`` exit
with ``REGRESSION`` (3) after writing its files.

Outputs: ``Rule`` (parsed) and ``RuleResult`` (one per rule and model pair it applies to).

Cost: none to speak of.
"""

from __future__ import annotations

import difflib
import operator
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from reportgen.errors import BadInput
from reportgen.review.metrics import MetricDiff

REGRESSION = 3  # exit code: a --fail-on rule failed
OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
_RULE = re.compile(
    r"^\s*(?P<name>[A-Za-z_][\w.\-]*?)(?:@(?P<model>[^<>=\s]+))?\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<value>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<pct>%)?\s*$")
EXAMPLE = 'accuracy<-0.01,faithfulness.comprehensiveness<-0.02'


@dataclass(frozen=True)
class Rule:
    text: str
    name: str  # accuracy | <analysis>.<metric>
    op: str
    threshold: float
    model: str | None = None

    def __str__(self) -> str:
        where = f"@{self.model}" if self.model else ""
        return f"{self.name}{where} {self.op} {self.threshold:g}"


@dataclass
class RuleResult:
    rule: Rule
    model: str | None  # the pair's label
    diff: float | None
    significant: bool
    failed: bool
    detail: str  # the metric's verdict and method


def parse_rule(text: str, origin: str = "--fail-on") -> Rule:
    match = _RULE.match(text)
    if match is None:
        raise BadInput(f"{origin}: {text.strip()!r} is not a rule; write NAME OP NUMBER, e.g. "
                       f"{EXAMPLE!r} (OP: <, <=, >, >=; NAME@MODEL for one model)")
    value = float(match["value"]) / (100 if match["pct"] else 1)
    return Rule(text.strip(), match["name"], match["op"], value, match["model"])


def _from_toml(path: Path) -> list[Rule]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"--fail-on: cannot read {str(path)!r} ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"--fail-on: {str(path)!r} is not valid TOML ({exc})") from None
    table = data.get("fail_on")
    if not isinstance(table, dict) or not table:
        raise BadInput(f"--fail-on: {str(path)!r} has no [fail_on] table of rules, e.g. "
                       '[fail_on] accuracy = "< -0.01"')
    rules = []
    for name, spec in table.items():
        specs = spec if isinstance(spec, list) else [spec]
        for one in specs:
            if not isinstance(one, str):
                raise BadInput(f"--fail-on: {str(path)!r}: [fail_on] {name} = {one!r} is not a "
                               'string such as "< -0.01"')
            rules.append(parse_rule(f"{name}{one}", f"--fail-on {path.name} [fail_on] {name}"))
    return rules


def parse_rules(value: str | None) -> list[Rule]:
    """Rules from ``--fail-on``: a TOML file (ends in .toml, or an existing file), or rules."""
    if value is None or not value.strip():
        return []
    path = Path(value.strip())
    if path.suffix.lower() == ".toml" or path.is_file():
        if not path.is_file():
            raise BadInput(f"--fail-on: {value!r} looks like a TOML file, but there is none")
        return _from_toml(path)
    return [parse_rule(part) for part in value.split(",") if part.strip()] or \
        [parse_rule(value)]


def _applies(rule: Rule, row: MetricDiff) -> bool:
    if row.name != rule.name or row.model is None:
        return False
    if rule.model is None:
        return True
    return rule.model in (row.model, *row.model.split(" → "))


def check_names(rules: list[Rule], rows: list[MetricDiff]) -> None:
    """``BadInput`` for a rule whose metric neither report has (with the nearest names)."""
    names = sorted({r.name for r in rows if r.model is not None})
    for rule in rules:
        if not any(_applies(rule, r) for r in rows):
            near = difflib.get_close_matches(rule.name, names, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else \
                f"; the metrics are named like {', '.join(names[:4])}"
            where = f" for model {rule.model!r}" if rule.model else ""
            raise BadInput(f"--fail-on: rule {rule.text!r} names {rule.name!r}{where}, which "
                           f"neither report has{hint}")


def evaluate(rules: list[Rule], rows: list[MetricDiff]) -> list[RuleResult]:
    """Each rule against every model pair it names."""
    results = []
    for rule in rules:
        for row in rows:
            if not _applies(rule, row):
                continue
            significant = row.changed
            passes = row.diff is not None and OPS[rule.op](row.diff, rule.threshold)
            detail = f"{row.verdict}; {row.method}" if row.method else row.verdict
            results.append(RuleResult(rule, row.model, row.diff, significant,
                                      significant and passes, detail))
    return results
