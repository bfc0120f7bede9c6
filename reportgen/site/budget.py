"""Size budget of a site:
a page over ``page_budget_mb`` or a site over ``site_budget_mb`` is an error.

Report generators are often blamed for pages of hundreds of megabytes that crash browsers; reportgen
keeps pages small by design (tables shown in part, full tables as CSV, large heatmaps as PNG) and
checks the result before the new site replaces the old one, so an over-budget build changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reportgen.errors import BadInput

MB = 1_000_000


class SiteTooLarge(BadInput):
    """A page or the whole site is over its size budget."""


def format_size(n_bytes: int) -> str:
    return f"{n_bytes / MB:.1f} MB" if n_bytes >= 100_000 else f"{n_bytes / 1000:.0f} kB"


def directory_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def check_budget(
    page_sizes: Mapping[str, int],
    site_size: int,
    *,
    page_budget_mb: float,
    site_budget_mb: float,
) -> None:
    """Raise ``SiteTooLarge`` naming every page over budget, or the site, with how to raise it.

    ``page_sizes`` maps a page's path in the site to its weight (its HTML plus the images it owns).
    """
    if page_budget_mb <= 0 or site_budget_mb <= 0:
        raise BadInput("size budgets must be positive numbers of megabytes")
    problems = [
        f"{name} is {format_size(size)}"
        for name, size in sorted(page_sizes.items())
        if size > page_budget_mb * MB
    ]
    if problems:
        raise SiteTooLarge(
            f"page over the {page_budget_mb:g} MB page budget: {'; '.join(problems)}. "
            "Evaluate fewer examples (--max-examples), or raise the budget "
            "(page_budget_mb = ... in the [run] table of the --config file)"
        )
    if site_size > site_budget_mb * MB:
        raise SiteTooLarge(
            f"the site is {format_size(site_size)}, over the {site_budget_mb:g} MB site budget. "
            "Evaluate fewer examples (--max-examples), or raise the budget "
            "(site_budget_mb = ... in the [run] table of the --config file)"
        )
