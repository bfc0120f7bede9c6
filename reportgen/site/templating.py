"""The Jinja2 environment: where templates come from, and the filters they use.

Templates live in the top-level ``templates/`` folder of the source tree, which the wheel ships as
``reportgen/templates``; ``template_dir()`` finds whichever is there. A user directory, when given,
comes first (``ChoiceLoader``), so any file can be overridden: ``base.html``, ``index.html``,
``analysis.html``, ``analyses/<name>.html`` (one analysis's page; extends ``analysis.html``),
``style.css``, ``render.js``. Autoescaping is on for every HTML template.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from reportgen.errors import BadInput

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # .../reportgen


def template_dir() -> Path:
    """The built-in templates: the installed package's copy, else the source tree's."""
    for candidate in (PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates"):
        if (candidate / "base.html").is_file():
            return candidate
    raise RuntimeError(f"reportgen's templates are missing (looked in {PACKAGE_DIR})")


def format_number(value: object, digits: int = 3) -> str:
    """Numbers for people: thousands separators, ``digits`` significant digits, '–' for missing."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        x = float(value)
        if math.isnan(x):
            return "–"
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if x == int(x) and abs(x) < 1e15:
            return f"{int(x):,}"
        if abs(x) >= 10**digits:
            return f"{x:,.0f}"
        return f"{x:.{digits}g}"
    return str(value)


def format_percent(value: object, digits: int = 1) -> str:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or math.isnan(value):
        return "–"
    return f"{float(value) * 100:.{digits}f}%"


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
    return Markup("\n").join(Markup("<p>{}</p>").format(p) for p in parts)


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
    )
    env.filters.update(
        num=format_number,
        pct=format_percent,
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
