"""The Jinja2 environment: where templates come from, and the filters they use.

Templates live in the top-level ``templates/`` folder of the source tree, which the wheel ships as
``reportgen/templates``; ``template_dir()`` finds whichever is there. A user directory, when given,
comes first (``ChoiceLoader``), so any file can be overridden: ``base.html``, ``index.html``,
``analysis.html``, ``analyses/<name>.html`` (one analysis's page; extends ``analysis.html``),
``style.css``, ``render.js``. Autoescaping is on for every HTML template, and every string a
template prints has its invisible and direction-changing characters shown as markers
(``reportgen.site.visible``). Numbers go through one function, ``format_value`` (filter ``num``).
"""

from __future__ import annotations

import math
import numbers
import re
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from reportgen.errors import BadInput
from reportgen.site.visible import finalize, visible_html

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # .../reportgen


def template_dir() -> Path:
    """The built-in templates: the installed package's copy, else the source tree's."""
    for candidate in (PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates"):
        if (candidate / "base.html").is_file():
            return candidate
    raise RuntimeError(f"reportgen's templates are missing (looked in {PACKAGE_DIR})")


PERCENT_WORDS = ("accuracy", "share", "rate", "frequency", "fraction")  # metric name parts
_PERCENT = re.compile(r"(?:^|_)(?:" + "|".join(PERCENT_WORDS) + r")(?:_|$)")


def is_percent_metric(name: str | None) -> bool:
    """Whether a metric (``top_token_share``, ``kim-sst2.matching_rate``) is a share of a whole:
    its name (after any ``<model>.``) holds accuracy, share, rate, frequency or fraction."""
    return bool(name) and _PERCENT.search(str(name).rpartition(".")[2]) is not None


def format_value(
    value: object, name: str | None = None, *, percent: bool | None = None, digits: int = 3
) -> str:
    """The one number format of the site and of summary.md.

    A share, accuracy or rate in [0, 1] (``percent=True``, or ``name`` a metric such as
    ``top_token_share``, see ``is_percent_metric``) as a percentage with one decimal: 41.2%;
    whole numbers with thousands separators: 1,234,567; other numbers with ``digits`` significant
    digits: 0.412, 12.3, 4,560; '–' for missing; strings as they are.
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if not isinstance(value, numbers.Real):
        return str(value)
    x = float(value)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    as_percent = percent if percent is not None else is_percent_metric(name)
    if as_percent and (percent or 0.0 <= x <= 1.0):
        return f"{x * 100:.1f}%"
    if isinstance(value, numbers.Integral) or (x == int(x) and abs(x) < 1e15):
        return f"{int(x):,}"
    if abs(x) >= 10**digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"




def format_percent(value: object) -> str:
    """A share as a percentage: ``format_value(value, percent=True)``."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return "–"
    return format_value(value, percent=True)


def format_seconds(value: object) -> str:
    if not isinstance(value, numbers.Real) or math.isnan(value):
        return "–"
    s = float(value)
    if s < 0.1:
        return "< 0.1 s"
    if s < 60:
        return f"{s:.1f} s"
    minutes, rest = divmod(round(s), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def format_count(value: object) -> str:
    """Short counts for big numbers: 1.2M, 35.4k."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return "–"
    n = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f}{suffix}"
    return f"{int(n)}"


def paragraphs(text: str | None) -> Markup:
    """Plain text -> escaped ``<p>`` paragraphs (split on blank lines)."""
    if not text:
        return Markup("")
    parts = [p.strip() for p in str(text).replace("\r\n", "\n").split("\n\n") if p.strip()]
    paragraph = Markup("<p>{}</p>")
    return Markup("\n").join(paragraph.format(visible_html(p, isolate=False)) for p in parts)


def make_environment(user_dir: Path | None = None) -> jinja2.Environment:
    """The environment: ``user_dir`` (if any) first, then the built-in templates."""
    loaders: list[jinja2.BaseLoader] = []
    if user_dir is not None:
        user_dir = Path(user_dir)
        if not user_dir.is_dir():
            raise BadInput(f"template directory {str(user_dir)!r} does not exist")
        loaders.append(jinja2.FileSystemLoader(str(user_dir)))
    loaders.append(jinja2.FileSystemLoader(str(template_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml"), default_for_string=True, default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=finalize,  # every printed string: hidden characters as visible markers
    )
    env.filters.update(
        num=format_value,  # value|num, value|num('top_token_share'), value|num(percent=True)
        pct=format_percent,
        vis=visible_html,  # data text: escaped, hidden characters marked, direction isolated
        secs=format_seconds,
        count=format_count,
        paragraphs=paragraphs,
    )
    env.globals["escape"] = escape
    return env


def read_static(env: jinja2.Environment, name: str) -> str:
    """A file from the template directories as it is (CSS, JS), honouring user overrides."""
    if env.loader is None:
        raise RuntimeError("the template environment has no loader")
    source, _, _ = env.loader.get_source(env, name)
    return source
