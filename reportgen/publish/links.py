"""Every relative link and asset of a site resolves inside it, before anything is uploaded.

Each ``href`` and ``src`` of every ``.html`` page is read with the standard library's HTML parser
(the contents of ``<script>`` and ``<style>`` are not markup and are not read). Links with a scheme
(``https:``, ``mailto:``, ``data:``, ...), protocol-relative ones (``//host/x``) and bare fragments
(``#part``) point elsewhere and are not checked. Every other link, stripped of its query and
fragment and percent-decoded, must name a file of the site, relative to its page: a folder link
(``runs/x/`` or ``runs/x``) needs that folder's ``index.html``. A link that climbs out of the site
(``../../elsewhere``) or starts with ``/`` (it breaks as soon as the site is served under a
sub-path such as ``https://host/repo/``) is broken too.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

from reportgen.errors import BadInput

ATTRIBUTES = ("href", "src")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
SHOWN = 5  # broken links named in the message before "and N more"


@dataclass(frozen=True)
class Broken:
    page: str
    attribute: str
    link: str
    why: str

    def __str__(self) -> str:
        return f"{self.page}: {self.attribute}={self.link!r} {self.why}"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ATTRIBUTES and value is not None:
                self.found.append((name, value))


def page_links(html: str) -> list[tuple[str, str]]:
    """``(attribute, value)`` of every ``href`` and ``src`` in a page, in order."""
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.found


def target_of(page: str, link: str) -> str | None:
    """The site path a link of ``page`` points to; None for links that leave the site on purpose
    (a scheme, ``//``, a bare fragment). Raises ``ValueError`` with the reason for a bad one."""
    link = link.strip()
    if not link or link.startswith(("#", "//")) or _SCHEME.match(link):
        return None
    path = unquote(urlsplit(link).path)
    if not path:  # "?x" only: the page itself
        return None
    if path.startswith("/"):
        raise ValueError("starts with '/', which breaks when the site is served under a sub-path")
    folder = path.endswith("/")
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
    if joined == ".." or joined.startswith("../"):
        raise ValueError("points outside the folder")
    if joined == ".":
        return "index.html"
    return f"{joined}/index.html" if folder else joined


def broken_links(
    pages: Iterable[tuple[str, str]], exists: Callable[[str], bool]
) -> list[Broken]:
    """The broken links of ``pages`` (``(path, html)``), given which site paths exist."""
    found: list[Broken] = []
    for page, html in pages:
        for attribute, link in page_links(html):
            try:
                target = target_of(page, link)
            except ValueError as exc:
                found.append(Broken(page, attribute, link, str(exc)))
                continue
            if target is None or exists(target) or exists(f"{target}/index.html"):
                continue
            found.append(Broken(page, attribute, link, f"names {target}, which is not there"))
    return found


def check_links(
    pages: Iterable[tuple[str, str]], exists: Callable[[str], bool], where: str
) -> None:
    """``BadInput`` naming the broken links of ``pages``, if any (see ``broken_links``)."""
    broken = broken_links(pages, exists)
    if not broken:
        return
    shown = "; ".join(str(b) for b in broken[:SHOWN])
    more = f" (and {len(broken) - SHOWN} more)" if len(broken) > SHOWN else ""
    noun = "link" if len(broken) == 1 else "links"
    raise BadInput(
        f"{where} has {len(broken)} broken {noun}, so nothing was published: {shown}{more}; "
        "fix or remove them (every link of a published site must resolve inside it)"
    )
