"""``publish(DIR, TARGET)``, stage by stage: read DIR -> check its links -> read the target ->
plan -> warn -> (dry run: list the changes) -> apply.

Everything that can be checked without the target is checked first (DIR, its links, the
options), so bad input costs no network. Each stage raises ``BadInput`` for what the user can
fix; nothing is written before the plan is complete.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from reportgen.errors import BadInput
from reportgen.publish.links import check_links
from reportgen.publish.plan import Plan, build_plan
from reportgen.publish.source import Source, load_source, published_url
from reportgen.publish.targets import parse_target
from reportgen.publish.targets.base import Target

Echo = Callable[[str], None]
_URL = re.compile(r"^https?://[^\s<>\"'`]+$")
SHOW_SKIPPED = 5


@dataclass
class Outcome:
    source: Source
    target: Target
    plan: Plan
    dry_run: bool
    url: str | None
    rewrite: bool = False  # --no-history squashed the branch

    def lines(self) -> list[str]:
        """What the command prints on success."""
        p, s = self.plan, self.source
        counts = f"{len(p.added)} added, {len(p.changed)} changed, {len(p.removed)} removed"
        page = "index.html" if s.kind == "run" else "compare.html"
        where = self.url or self.target.location(f"{s.prefix}{page}")
        squash = " (the branch's history replaced by one commit)" if self.rewrite else ""
        if self.dry_run:
            total = len(p.added) + len(p.changed) + len(p.removed)
            out = [(f"Dry run: publishing {s.kind} {s.id} to {self.target.name} would change "
                    f"{total} files ({counts}, {p.unchanged} unchanged){squash}; nothing was "
                    "uploaded.")]
            out += [f"  + {path}" for path in p.added]
            out += [f"  ~ {path}" for path in p.changed]
            out += [f"  - {path}" for path in p.removed]
            return out
        if p.empty and not self.rewrite:
            return [(f"{s.kind.capitalize()} {s.id} is already published at "
                     f"{self.target.name}, unchanged: {where}")]
        return [f"Published {s.kind} {s.id} to {self.target.name} ({counts}){squash}: {where}"]


def check_base_url(base_url: str | None) -> str | None:
    if base_url is None:
        return None
    base_url = base_url.strip()
    if not _URL.match(base_url):
        raise BadInput(f"--base-url {base_url!r} is not an http:// or https:// address")
    return base_url


def check_site(source: Source) -> None:
    """Every relative link of DIR's pages resolves inside DIR (``BadInput`` naming the others)."""
    present = {f.rel for f in source.files}
    pages = []
    for f in source.files:
        if f.rel.endswith((".html", ".htm")):
            try:
                pages.append((f.rel, f.path.read_text(encoding="utf-8", errors="replace")))
            except OSError as exc:
                raise BadInput(f"DIR: cannot read {f.rel} ({exc.strerror or exc})") from None
    check_links(pages, present.__contains__, f"DIR {str(source.root)!r}")


def publish(
    directory: str,
    to: str,
    *,
    base_url: str | None = None,
    endpoint_url: str | None = None,
    no_history: bool = False,
    dry_run: bool = False,
    warn: Echo = print,
    on_target: Callable[[Target], None] | None = None,
) -> Outcome:
    """Publish DIR (a report or a compare folder) to the target ``to``."""
    base_url = check_base_url(base_url)
    target = parse_target(to, endpoint_url=endpoint_url, no_history=no_history)
    source = load_source(directory)
    target.check_source(source.root)
    check_site(source)
    if source.skipped:
        shown = ", ".join(source.skipped[:SHOW_SKIPPED])
        more = f" and {len(source.skipped) - SHOW_SKIPPED} more" if len(source.skipped) > \
            SHOW_SKIPPED else ""
        warn(f"not published (hidden files and links are never published): {shown}{more}")
    if on_target is not None:
        on_target(target)
    with target.session(writing=not dry_run):
        target.load()
        plan = build_plan(source, target, base_url)
        for line in plan.warnings:
            warn(f"warning: {line}")
        rewrite = target.rewrites()
        if not dry_run and (not plan.empty or rewrite):
            target.apply(plan, warn)
    url = published_url(base_url, source.id, folder=source.folder) if base_url else None
    return Outcome(source, target, plan, dry_run, url, rewrite)
