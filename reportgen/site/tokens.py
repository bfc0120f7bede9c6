"""Token views -> shaded text: each token's background shows its score, its tooltip the value.

One colour scale per view (the largest absolute score in the view is full colour), so texts in a view
compare with each other. Signed scores use a diverging scale (blue below zero, red above); unsigned
ones a single hue. Tokens stay inline text, so long texts wrap like prose. The builder only computes
colours and numbers here; the template escapes the token text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from reportgen.site.record import TokenView

POSITIVE = (214, 54, 40)  # red
NEGATIVE = (37, 99, 205)  # blue
MAX_ALPHA = 0.85


@dataclass
class ShadedToken:
    text: str
    style: str  # CSS background colour, made only of numbers
    title: str  # the score, as the tooltip


@dataclass
class ShadedText:
    tokens: list[ShadedToken]
    model: str
    example_id: int
    label: str | None
    predicted: str | None
    caption: str


@dataclass
class PreparedTokenView:
    name: str
    title: str
    caption: str
    signed: bool
    joiner: str
    chars: bool  # character tokens: keep spaces and line breaks as they are
    scale_max: float
    legend: str  # CSS gradient of the colour scale
    rows: list[ShadedText] = field(default_factory=list)


def visible(text: str) -> str:
    """Control characters (word markers, padding) as their visible Unicode pictures."""
    return "".join(chr(0x2400 + ord(c)) if ord(c) < 32 and c not in "\n\t" else c for c in text)


def _rgba(rgb: tuple[int, int, int], alpha: float) -> str:
    return f"background-color: rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha:.3f})"


def shade(score: float, scale_max: float, signed: bool) -> str:
    """CSS for one score: transparent at zero, full colour at ``scale_max``."""
    if not math.isfinite(score) or scale_max <= 0:
        return _rgba(POSITIVE, 0.0)
    strength = min(abs(score) / scale_max, 1.0)
    colour = NEGATIVE if signed and score < 0 else POSITIVE
    return _rgba(colour, MAX_ALPHA * strength)


def format_score(score: float) -> str:
    return f"{score:.4g}" if math.isfinite(score) else str(score)


def prepare_token_view(view: TokenView) -> PreparedTokenView:
    scores = [abs(s) for row in view.rows for s in row.scores if math.isfinite(s)]
    scale_max = max(scores, default=0.0)
    all_tokens = [t for row in view.rows for t in row.tokens]
    chars = bool(all_tokens) and all(len(t) <= 1 for t in all_tokens)
    joiner = view.joiner if view.joiner is not None else ("" if chars else " ")
    full = f"rgba({POSITIVE[0]}, {POSITIVE[1]}, {POSITIVE[2]}, {MAX_ALPHA})"
    if view.signed:
        low = f"rgba({NEGATIVE[0]}, {NEGATIVE[1]}, {NEGATIVE[2]}, {MAX_ALPHA})"
        legend = f"linear-gradient(to right, {low}, rgba(255, 255, 255, 0), {full})"
    else:
        legend = f"linear-gradient(to right, rgba(255, 255, 255, 0), {full})"
    prepared = PreparedTokenView(
        name=view.name,
        title=view.title,
        caption=view.caption,
        signed=view.signed,
        joiner=joiner,
        chars=chars,
        scale_max=scale_max,
        legend=legend,
    )
    for row in view.rows:
        if len(row.tokens) != len(row.scores):
            raise ValueError(
                f"token view {view.name!r}: example {row.example_id} has {len(row.tokens)} tokens "
                f"but {len(row.scores)} scores"
            )
        tokens = [
            ShadedToken(visible(t), shade(float(s), scale_max, view.signed), format_score(float(s)))
            for t, s in zip(row.tokens, row.scores, strict=True)
        ]
        prepared.rows.append(
            ShadedText(tokens, row.model, row.example_id, row.label, row.predicted, row.caption)
        )
    return prepared
