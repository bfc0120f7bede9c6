"""Reference architectures, one registry: ``reportgen train ARCH`` and checkpoints use these names."""

from __future__ import annotations

from reportgen.models.base import TextModel

ARCHITECTURES: dict[str, type[TextModel]] = {}
