"""Credentials never reach a message: ``scrub(text)`` before anything is printed.

Credentials come only from the environment and the usual configuration files (boto3's chain,
git's URL or SSH setup); reportgen takes none on its command line. Still, they can surface in an
error a library raises: a URL with ``user:token@``, a signature error quoting a key. ``scrub``
replaces, in any text:

- the user information of every URL (``https://user:token@host`` -> ``https://***@host``);
- the value of every environment variable whose name says it is a secret (``*SECRET*``,
  ``*TOKEN*``, ``*PASSWORD*``, ``*_KEY*``, ``*CREDENTIAL*``, ``*SESSION*``), and every value
  handed to ``remember`` (the keys boto3 found in a config file).
"""

from __future__ import annotations

import os
import re

_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSW|_KEY|CREDENTIAL|SESSION|AUTH", re.IGNORECASE)
_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")
MIN_LENGTH = 4  # shorter values would blank out ordinary words
_remembered: set[str] = set()


def remember(*secrets: str | None) -> None:
    """Scrub these values too (credentials read from a config file)."""
    _remembered.update(s for s in secrets if s and len(s) >= MIN_LENGTH)


def _secret_values() -> list[str]:
    values = {v for name, v in os.environ.items() if _SECRET_NAME.search(name)}
    values |= _remembered
    return sorted((v for v in values if len(v) >= MIN_LENGTH), key=len, reverse=True)


def scrub(text: object) -> str:
    """``text`` with credentials replaced by ``***``."""
    out = _USERINFO.sub("***@", str(text))
    for value in _secret_values():
        out = out.replace(value, "***")
    return out
