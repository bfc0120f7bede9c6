"""``compare.md``: the review as a pull-request comment.

Question: what should a CI job post on the pull request that retrained the model?

Method: a comment GitHub renders, under its limit of 65,536 characters per comment
(``LIMIT``, with a margin): a heading, then a hidden marker line (``MARKER``) a CI job searches for
to update its own comment instead of adding one, the ``--fail-on`` verdict, the headline deltas
(accuracy and each analysis's headline, per model, with 95% intervals), then what changed:
flipped predictions, the other metrics that moved, explanation agreement, the words that moved,
filters, units. Sections are added in that order while they fit; a section that does not fit is
cut to the rows that do, and a last line says what was left out. Text from the data (examples,
words, labels, model names) is escaped: Markdown and HTML characters, table pipes, and ``@`` and
``#`` (no mention or issue link from a dataset), line breaks as spaces.

Outputs: ``compare_markdown(comparison) -> str``.
"""

from __future__ import annotations

import re

from reportgen.review import formatting as f
from reportgen.review.compare import Comparison
from reportgen.review.metrics import MetricDiff

MARKER = "<!-- reportgen-compare -->"
GITHUB_LIMIT = 65_536
LIMIT = GITHUB_LIMIT - 1_536  # room for a CI job's own lines around the file
TEXT_CHARS = 160  # characters of an example's text in a table
FLIPS_SHOWN = 10
_SPECIAL = re.compile(r"([\\`*_\[\]~|])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "@": "&#64;", "#": "&#35;"}


def md(text: object, limit: int | None = None) -> str:
    """Untrusted text as literal Markdown inside a table cell."""
    s = " ".join(str(text).split())
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    s = "".join(_ENTITIES.get(ch, ch) for ch in s)
    return _SPECIAL.sub(r"\\\1", s)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _metric_rows(rows: list[MetricDiff]) -> list[str]:
    head = ["| model | metric | old | new | new − old | 95% interval | verdict |",
            "|---|---|---:|---:|---:|---|---|"]
    body = [_row([md(m.model), md(m.name) + (f" ({md(m.what)})" if m.what.startswith("old:")
                                             else ""),
                  f.value(m, "old"),
                  f.value(m, "new"), f.delta(m) if m.verdict != "no change" else "no change",
                  f.interval(m), f"**{f.verdict(m)}**" if m.changed else f.verdict(m)])
            for m in rows]
    return head + body + [""]


def _side(c: Comparison, which: str) -> str:
    r = c.old if which == "old" else c.new
    return f"**{which.upper()}** {md(r.path.name)} ({md(r.created)}, {len(r.models)} model" + \
        ("s" if len(r.models) != 1 else "") + ")"


def _head(c: Comparison) -> list[str]:
    d = c.new.data
    lines = ["### reportgen compare", MARKER, "",
             f"{_side(c, 'old')} → {_side(c, 'new')}"]
    if c.same_data:
        lines.append(f"Data {md(d.get('spec'))} ({md(d.get('split'))}, {c.new.examples:,} "
                     f"examples), the same in both (fingerprint {md(c.new.fingerprint)}).")
    else:
        lines.append(f"**Different data** (fingerprints {md(c.old.fingerprint)} and "
                     f"{md(c.new.fingerprint)}): only aggregate metrics compared, without "
                     "intervals.")
    if c.pairing:
        lines.append(md(c.pairing))
    if c.only_old or c.only_new:
        lines.append("Unmatched models: " + "; ".join(
            f"{side} {', '.join(md(n) for n in names)}" for side, names in
            (("only in OLD:", c.only_old), ("only in NEW:", c.only_new)) if names))
    if c.rules:
        failed = c.failed
        if failed:
            lines.append(f"\n**❌ {len(failed)} `--fail-on` rule{'s' if len(failed) != 1 else ''} "
                         "failed:** " + "; ".join(
                             f"{md(r.rule.text)} on {md(r.model)} ({f.signed(r.diff, False)})"
                             for r in failed))
        else:
            rules = ", ".join(md(r.text) for r in c.rules)
            lines.append(f"\n**✅ No `--fail-on` rule failed** ({rules}).")
    return lines + [""]


def _flip_section(c: Comparison, shown: int) -> list[str]:
    lines = ["#### Predictions that flipped", ""]
    for s in c.flips:
        if s.note:
            lines.append(f"- {md(s.pair.label)}: {md(s.note)}")
            continue
        kinds = ", ".join(f"{v:,} {k}" for k, v in s.by_kind().items() if v)
        ways = ", ".join(f"{md(k)}: {v:,}" for k, v in s.by_direction().items())
        lines.append(f"- **{md(s.pair.label)}**: {s.count:,} of {s.examples:,} examples flipped"
                     + (f" ({kinds}; {ways})" if s.count else ""))
    for s in c.flips:
        if not s.flips or shown <= 0:
            continue
        summary = f"{md(s.pair.label)}: the {min(shown, s.count)} largest flips"
        lines += ["", f"<details><summary>{summary}</summary>", "",
                  "| example | label | old | new | kind | text |", "|---:|---|---|---|---|---|"]
        for x in s.flips[:shown]:
            lines.append(_row([str(x.example_id), md(x.label if x.label is not None else "–"),
                               f"{md(x.old_predicted)} ({f.probability(x.old_p_old)})",
                               f"{md(x.new_predicted)} ({f.probability(x.new_p_new)})", x.kind,
                               md(x.text, TEXT_CHARS) if x.text else "_not stored_"]))
        lines += ["", "</details>"]
    return lines + [""]


def _explanations(c: Comparison) -> list[str]:
    lines = []
    for a in c.agreements:
        if not a.examples:
            why = md(a.reason) if a.reason else (f"the two models read all "
                                                 f"{a.read_differently:,} shared examples "
                                                 "differently")
            lines.append(f"- {md(a.pair.label)}, {md(a.title)}: not comparable, {why}")
            continue
        sign = f", sign agreement {f.rate(a.mean('sign_agreement'))}" if a.source.signed else ""
        lines.append(f"- {md(a.pair.label)}, {md(a.title)}: mean Spearman "
                     f"{f.number(a.mean('spearman'))}, top-3 overlap "
                     f"{f.rate(a.mean('top_k_overlap'))}{sign} over {a.examples:,} examples")
    for w in c.words:
        moved = ", ".join(f"{md(r.word)} {r.old_rank}→{r.new_rank}" for r in
                          w.moves.head(8).itertuples())
        lines.append(f"- {md(w.pair.label)}, words by saliency: rank correlation "
                     f"{f.number(w.rank_correlation)} over {w.shared:,} words"
                     + (f"; moved most: {moved}" if moved else ""))
    for m in c.filters:
        new_p = ", ".join(md(p) for p in m.new_patterns()) or "none"
        gone = ", ".join(md(p) for p in m.vanished_patterns()) or "none"
        lines.append(f"- {md(m.pair.label)}, filters: {len(m.matched):,} of {m.old_filters:,} old "
                     f"filters matched (mean Jaccard {f.number(m.mean_jaccard)}), "
                     f"{len(m.appeared):,} new, {len(m.vanished):,} vanished; new patterns: "
                     f"{new_p}; vanished patterns: {gone}")
    for u in c.units:
        same = {True: " (the same unit)", False: " (another unit)", None: ""}[u.same_unit]
        lines.append(f"- {md(u.pair.label)}, best unit: {u.old_unit} → {u.new_unit}{same}, "
                     "zero-shot "
                     f"accuracy {f.rate(u.old_zero_shot)} → {f.rate(u.new_zero_shot)}")
    return ["#### Explanations", "", *lines, ""] if lines else []


def _fits(parts: list[str], extra: list[str]) -> bool:
    return len("\n".join(parts + extra)) + 400 <= LIMIT


def compare_markdown(c: Comparison, page: str = "compare.html") -> str:
    out = _head(c)
    left_out: list[str] = []
    headline = [m for m in c.metrics if m.headline and m.model is not None]
    others = [m for m in c.metrics if not m.headline and m.model is not None]
    moved = [m for m in others if m.changed and m.has_interval]
    untested = [m for m in others if m.verdict == "changed" and not m.has_interval]
    # (name, head, body, tail): a body may be cut (tables: after their two header lines)
    sections: list[tuple[str, list[str], list[str], list[str]]] = [
        ("headline deltas", ["#### Headline deltas", ""], _metric_rows(headline), []),
    ]
    if c.same_data or c.flips:
        sections.append(("flipped predictions", [], _flip_section(c, FLIPS_SHOWN), []))
    if moved:
        sections.append(("other metrics that changed", [
            "#### Other metrics that changed (95% interval excludes 0)", ""], _metric_rows(moved),
            []))
    sections.append(("explanations", [], _explanations(c), []))
    if untested:
        summary = f"{len(untested)} metrics without an interval (not means over examples) differ"
        sections.append(("metrics without an interval",
                         [f"<details><summary>{summary}</summary>", ""], _metric_rows(untested),
                         ["</details>", ""]))
    for name, head, body, tail in sections:
        if _fits(out, head + body + tail):
            out += head + body + tail
            continue
        kept = body[:2]
        for line in body[2:]:
            if not _fits(out, head + kept + [line] + tail):
                break
            kept.append(line)
        if len(kept) > 2 and kept[0].startswith("|") and _fits(out, head + kept + tail):
            out += head + kept + [""] + tail
            left_out.append(f"{name} (cut to {len(kept) - 2} of {len(body) - 2} rows)")
        else:
            left_out.append(name)
    unchanged = sum(1 for m in c.metrics if m.verdict == "no change" and m.model is not None)
    out.append(f"{unchanged:,} of {sum(1 for m in c.metrics if m.model is not None):,} metrics: "
               f"no change. Every number, with its interval: `{page}`, `compare.json` "
               f"(compare took {c.seconds:.1f} s).")
    if left_out:
        out.append(f"\n_Truncated to stay under GitHub's {GITHUB_LIMIT:,}-character comment limit: "
                   f"{'; '.join(left_out)} left out; see `{page}` for everything._")
    return "\n".join(out).rstrip() + "\n"
