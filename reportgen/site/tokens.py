"""Token views -> shaded text: each token's background shows its score, its tooltip the value.

One colour scale per view (the largest absolute score in the view is full colour), so texts in a
view compare with each other. Signed scores use a diverging scale (blue below zero, red above);
unsigned ones a single hue. Tokens stay inline text, so long texts wrap like prose. The builder only
computes colours and numbers here; the template escapes the token text (and marks its hidden
characters, ``reportgen.site.visible``).

Marks a reader needs to judge a text: a token out of the model's vocabulary (flag ``"unk"``: the
model read ``<unk>``, so it gets no shading, its score is ``<unk>``'s) and special tokens
(``[CLS]``, padding: muted, no shading) are kept out of the colour scale; tokens cut off at the
model's maximum length are counted after the text; each example says whether the model got it
right.

Boxes (``TokenScores.boxes``: a receptive field, a span) are drawn around runs of tokens, coloured
by rank. Overlapping boxes nest: each box gets a level (the lowest not used by a box it overlaps),
and level k draws its 2-pixel outline k bands in from the token's edge. Outlines are inset box
shadows on the tokens and on the gaps between tokens of the same box, so a box wraps with the text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from reportgen.records import TokenBox, TokenScores, TokenView
from reportgen.site.visible import visible_text

POSITIVE = (214, 54, 40)  # red
NEGATIVE = (37, 99, 205)  # blue
MAX_ALPHA = 0.85


# box colours by rank (1, 2, 3, ...), a colour-blind-safe qualitative set; cycles after the last
BOX_COLOURS = ((217, 95, 2), (117, 112, 179), (27, 158, 119), (231, 41, 138), (102, 166, 30))
BOX_WIDTH = 2  # pixels per nesting level

UNK_TITLE = "not in the model's vocabulary (<unk>)"
SPECIAL_TITLE = "special token"


@dataclass
class ShadedToken:
    text: str
    style: str  # CSS background colour, made only of numbers
    title: str  # the score, as the tooltip
    kind: str = ""  # "" (a known token) | "unk" | "special"
    box: str = ""  # CSS outline of the boxes around this token, made only of numbers
    gap: str = ""  # CSS outline for the gap after this token (boxes that go on to the next token)


@dataclass
class ShadedText:
    tokens: list[ShadedToken]
    model: str
    example_id: int
    label: str | None
    predicted: str | None
    caption: str
    truncated: int = 0  # tokens the model did not read (cut at its maximum length)
    correct: bool | None = None  # the prediction against the label; None: no label

    @property
    def verdict(self) -> str:
        """"right" | "wrong" | "no label" | "" (nothing to judge: no prediction, no label)."""
        if self.correct is not None:
            return "right" if self.correct else "wrong"
        return "no label" if self.label is None and self.predicted is not None else ""


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
    shaded: bool = True  # False: no colour scale (a view of boxes only)
    # marks used in the view, for its legend: unk, special, truncated, verdict, hidden, boxes
    marks: set[str] = field(default_factory=set)
    box_ranks: list[tuple[int, str]] = field(default_factory=list)  # (rank, CSS colour) in use


def control_pictures(text: str) -> str:
    """C0 control characters (word markers, padding) as their visible Unicode pictures."""
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


def box_colour(rank: int) -> str:
    r, g, b = BOX_COLOURS[(max(rank, 1) - 1) % len(BOX_COLOURS)]
    return f"rgb({r}, {g}, {b})"


def box_levels(boxes: list[TokenBox]) -> list[int]:
    """A nesting level per box: the lowest level that no overlapping box of lower rank holds."""
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i].rank, boxes[i].start, i))
    levels = [0] * len(boxes)
    for n, i in enumerate(order):
        taken = {levels[j] for j in order[:n]
                 if boxes[j].start <= boxes[i].end and boxes[i].start <= boxes[j].end}
        levels[i] = min(set(range(len(boxes) + 1)) - taken)
    return levels


SIDES = {"top": "0 {w}px", "bottom": "0 -{w}px", "left": "{w}px 0", "right": "-{w}px 0"}
GAP_SIDES = ("top", "bottom")
FILLER = "rgb(255, 255, 255)"  # an empty level under a deeper box: its band stays blank


def _outline(sides: dict[str, dict[int, str]], order: tuple[str, ...]) -> str:
    """CSS box-shadow for one token (or gap): per side, one 2-px band per level, level 0 outermost.

    Inset shadows paint first-on-top, so each level is a shadow as wide as the bands up to it,
    listed after the levels above it; a level with no box on that side is filled blank, so a deep
    box draws its own band and not a thick bar from the edge."""
    layers: list[tuple[int, int, str]] = []
    for n, side in enumerate(order):
        for level in range(max(sides[side], default=-1) + 1):
            colour = sides[side].get(level, FILLER)
            offset = SIDES[side].format(w=BOX_WIDTH * (level + 1))
            layers.append((level, n, f"inset {offset} 0 0 {colour}"))
    return f"box-shadow: {', '.join(css for *_, css in sorted(layers))}" if layers else ""


def box_outlines(boxes: list[TokenBox], n_tokens: int) -> tuple[list[str], list[str], list[str]]:
    """Per token: CSS of its outlines, CSS of the gap after it, and the boxes' tooltip text."""
    levels = box_levels(boxes)
    tokens = [{side: {} for side in SIDES} for _ in range(n_tokens)]  # side -> level -> colour
    gaps = [{side: {} for side in GAP_SIDES} for _ in range(n_tokens)]
    titles: list[list[str]] = [[] for _ in range(n_tokens)]
    for box, level in sorted(zip(boxes, levels, strict=True), key=lambda bl: bl[0].rank):
        lo, hi = max(box.start, 0), min(box.end, n_tokens - 1)
        colour = box_colour(box.rank)
        for p in range(lo, hi + 1):
            drawn = ["top", "bottom"] + ["left"] * (p == lo) + ["right"] * (p == hi)
            for side in drawn:
                tokens[p][side][level] = colour
            if p < hi:
                for side in GAP_SIDES:
                    gaps[p][side][level] = colour
            titles[p].append(f"box #{box.rank}" + (f": {box.label}" if box.label else ""))
    return ([_outline(t, tuple(SIDES)) for t in tokens], [_outline(g, GAP_SIDES) for g in gaps],
            [" · ".join(t) for t in titles])


def token_kind(flag: str) -> str:
    """A ``TokenScores.flags`` entry as a display kind: "" | "unk" | "special"."""
    if not flag:
        return ""
    return "unk" if flag == "unk" else "special"


def _flags(row: TokenScores, view: str) -> list[str]:
    if not row.flags:
        return [""] * len(row.tokens)
    if len(row.flags) != len(row.tokens):
        raise ValueError(
            f"token view {view!r}: example {row.example_id} has {len(row.tokens)} tokens "
            f"but {len(row.flags)} flags"
        )
    return [token_kind(f) for f in row.flags]


def _token(
    text: str, score: float, kind: str, flag: str, scale_max: float, signed: bool
) -> ShadedToken:
    value = format_score(score)
    if kind == "unk":
        return ShadedToken(control_pictures(text), "", f"{UNK_TITLE} · score {value}", kind)
    if kind == "special":
        title = SPECIAL_TITLE if flag == "special" else f"{SPECIAL_TITLE} ({flag})"
        return ShadedToken(control_pictures(text), "", f"{title} · score {value}", kind)
    return ShadedToken(control_pictures(text), shade(score, scale_max, signed), value)


def prepare_token_view(view: TokenView) -> PreparedTokenView:
    for row in view.rows:
        if len(row.tokens) != len(row.scores):
            raise ValueError(
                f"token view {view.name!r}: example {row.example_id} has {len(row.tokens)} tokens "
                f"but {len(row.scores)} scores"
            )
        for box in row.boxes:
            if not 0 <= box.start <= box.end < len(row.tokens):
                raise ValueError(
                    f"token view {view.name!r}: example {row.example_id} has a box over tokens "
                    f"{box.start}..{box.end}, outside its {len(row.tokens)} tokens"
                )
    kinds = [_flags(row, view.name) for row in view.rows]
    scores = [  # the colour scale: known tokens only (an <unk>'s score is not its word's)
        abs(s)
        for row, row_kinds in zip(view.rows, kinds, strict=True)
        for s, kind in zip(row.scores, row_kinds, strict=True)
        if math.isfinite(s) and not kind
    ]
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
        shaded=view.shaded,
    )
    ranks: set[int] = set()
    for row, row_kinds in zip(view.rows, kinds, strict=True):
        flags = row.flags or [""] * len(row.tokens)
        tokens = [
            _token(t, float(s), kind, flag, scale_max, view.signed)
            for t, s, kind, flag in zip(row.tokens, row.scores, row_kinds, flags, strict=True)
        ]
        if not view.shaded:
            for t in tokens:
                t.style, t.title = "", t.title if t.kind else ""
        if row.boxes:
            outlines, gaps, titles = box_outlines(row.boxes, len(tokens))
            for t, outline, gap, title in zip(tokens, outlines, gaps, titles, strict=True):
                t.box, t.gap = outline, gap
                if title:
                    t.title = f"{t.title} · {title}" if t.title else title
            ranks.update(b.rank for b in row.boxes)
            prepared.marks.add("boxes")
        shaded = ShadedText(
            tokens,
            row.model,
            row.example_id,
            row.label,
            row.predicted,
            row.caption,
            truncated=max(0, int(row.truncated or 0)),
            correct=row.correct,
        )
        prepared.rows.append(shaded)
        prepared.marks.update(k for k in row_kinds if k)
        if shaded.truncated:
            prepared.marks.add("truncated")
        if shaded.verdict:
            prepared.marks.add("verdict")
        if any(visible_text(t.text) != t.text for t in tokens):
            prepared.marks.add("hidden")
    prepared.box_ranks = [(r, box_colour(r)) for r in sorted(ranks)]
    return prepared
