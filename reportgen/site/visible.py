"""Text from data, shown as it is: invisible and direction-changing characters become markers.

A dataset text may hold characters a page would act on instead of showing: a U+202E
(right-to-left override) reverses everything after it on screen, zero-width characters (U+200B,
U+FEFF, U+00AD...) make tokens that look empty, control characters vanish. Every such character
(Unicode categories Cc, Cf, Cs, Zl and Zp; tab and newline excepted) is replaced by a visible
marker, ``⟨U+202E⟩``:

- ``visible_text``: plain text, for where no markup is possible (titles, attributes, chart JSON,
  Markdown); the caller still escapes it;
- ``visible_html``: escaped HTML, the marker as ``<span class="cc" title="U+202E RIGHT-TO-LEFT
  OVERRIDE">⟨U+202E⟩</span>``, wrapped in ``<bdi>`` (``isolate=True``) so that right-to-left text
  (Arabic, Hebrew) reads right to left inside its own box and never reorders what is around it.

The site's Jinja environment applies ``visible_text`` to every plain string a template prints
(``finalize``), so no data string reaches a page unmarked, even in a user's own template; the
``vis`` filter (``visible_html``) gives the marked-up form where markup is possible.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from markupsafe import Markup, escape

HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
KEPT = frozenset("\t\n")
# control characters have no name in the Unicode database; the ones a text may hold
_CONTROL_NAMES = {
    0x00: "NULL",
    0x07: "BELL",
    0x08: "BACKSPACE",
    0x0B: "LINE TABULATION",
    0x0C: "FORM FEED",
    0x0D: "CARRIAGE RETURN",
    0x1B: "ESCAPE",
    0x7F: "DELETE",
    0x85: "NEXT LINE",
}


def is_hidden(char: str) -> bool:
    """Whether the page would act on ``char`` rather than show it."""
    return char not in KEPT and unicodedata.category(char) in HIDDEN_CATEGORIES


def marker(char: str) -> str:
    """The visible stand-in of one character: ``⟨U+202E⟩``."""
    return f"⟨U+{ord(char):04X}⟩"


def char_name(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE`` (control characters: their usual name)."""
    code = ord(char)
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(code)
    if not name:
        category = unicodedata.category(char)
        name = {"Cs": "SURROGATE", "Cc": "CONTROL CHARACTER"}.get(category, "FORMAT CHARACTER")
    return f"U+{code:04X} {name}"


def _clean(text: str) -> bool:
    """Fast path: no hidden character in ``text`` (``isprintable`` is False for all of them)."""
    return text.isprintable() or not any(is_hidden(c) for c in text)


def visible_text(text: Any) -> str:
    """``text`` as a string with each hidden character replaced by its marker (not escaped)."""
    text = str(text)
    if _clean(text):
        return text
    return "".join(marker(c) if is_hidden(c) else c for c in text)


def visible_html(text: Any, isolate: bool = True) -> Markup:
    """``text`` escaped, hidden characters as marked-up markers, in a ``<bdi>`` if ``isolate``."""
    text = str(text)
    if _clean(text):
        body = escape(text)
    else:
        parts: list[str] = []
        for c in text:
            if is_hidden(c):
                parts.append(
                    Markup('<span class="cc" title="{}">{}</span>').format(char_name(c), marker(c))
                )
            else:
                parts.append(escape(c))
        body = Markup("").join(parts)
    return Markup("<bdi>{}</bdi>").format(body) if isolate else Markup(body)


def finalize(value: Any) -> Any:
    """Jinja ``finalize``: every plain string a template prints gets its markers (then autoescape
    escapes it); markup the site made itself (``Markup``) and non-strings pass unchanged."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible_text(value)
    return value


def visible_json(value: Any) -> Any:
    """Every string (keys too) of a JSON tree with its markers: chart specs, labels in charts."""
    if isinstance(value, str):
        return visible_text(value)
    if isinstance(value, dict):
        return {
            visible_text(k) if isinstance(k, str) else k: visible_json(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [visible_json(v) for v in value]
    if isinstance(value, tuple):
        return tuple(visible_json(v) for v in value)
    return value
