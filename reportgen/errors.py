"""Errors a user can act on.

``BadInput`` is the one exception for bad user input (a missing file, an unknown SPEC, a column that
is not there...). The CLI prints its message once, without a traceback, and exits with code 2.
Anything else that escapes is an internal error (exit code 1).
"""

from __future__ import annotations

from collections.abc import Iterable

import click


class BadInput(click.ClickException):
    """Bad input from the user: one clear message, exit code 2, nothing written."""

    exit_code = 2

    def __init__(self, message: str, choices: Iterable[str] | None = None) -> None:
        if choices is not None:
            message = f"{message} (valid choices: {', '.join(choices)})"
        super().__init__(message)

    def format_message(self) -> str:
        return self.message
