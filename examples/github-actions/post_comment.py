"""Post ``reportgen compare``'s ``compare.md`` on a pull request, or update the comment posted
for it before: one comment per pull request, its body replaced on every run.

    python post_comment.py cmp/compare.md [--baseline main-report] [--pr N]

The earlier comment is the first one on the pull request that has the hidden marker line
``<!-- reportgen-compare -->`` of ``compare.md`` as a line of its own; it is edited (PATCH), or a
new one is posted (POST). Where ``compare.md`` was not written (no published report of main yet,
or a step before failed), a short comment with the same marker says why, so the comment never
goes stale.

Only the standard library. Read from the environment, as GitHub Actions sets it:
``GITHUB_TOKEN`` (required; never printed), ``GITHUB_API_URL`` (default https://api.github.com),
``GITHUB_REPOSITORY`` (owner/name), ``GITHUB_EVENT_PATH`` (the pull request's number, unless
``--pr``), ``GITHUB_SERVER_URL`` and ``GITHUB_RUN_ID`` (a link to the workflow run), and the
outcomes of the earlier steps: ``RUN_OUTCOME``, ``FETCH_OUTCOME``, ``COMPARE_OUTCOME``.
Exit code 0 when the comment is posted or updated, 1 when GitHub refuses it, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

MARKER = "<!-- reportgen-compare -->"
MAX_BODY = 65536  # GitHub's limit on a comment's body, in characters
HEADING = "### reportgen compare"


class Refused(Exception):
    """GitHub answered with an error status."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("body_file", help="compare.md written by 'reportgen compare'")
    parser.add_argument("--baseline", default=None, metavar="DIR",
                        help="where the published report of main was fetched to (to say why "
                             "there is no comparison when it is missing)")
    parser.add_argument("--pr", type=int, default=None, help="pull request number")
    parser.add_argument("--marker", default=MARKER)
    args = parser.parse_args(argv)

    token = os.environ.get("GITHUB_TOKEN", "")
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    if not token:
        return _bad("GITHUB_TOKEN is not set (env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }})")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        return _bad(f"GITHUB_REPOSITORY is not owner/name: {repo!r}")
    number = args.pr or _pr_number()
    if number is None:
        return _bad("no pull request number: not a pull_request event, and no --pr")

    body = _body(Path(args.body_file), args.marker, args.baseline)
    github = GitHub(api, token)
    try:
        existing = github.find_comment(repo, number, args.marker)
        if existing is None:
            made = github.call("POST", f"/repos/{repo}/issues/{number}/comments", {"body": body})
            print(f"posted the reportgen comment on #{number}: {made.get('html_url', '')}")
        else:
            made = github.call("PATCH", f"/repos/{repo}/issues/comments/{existing}",
                               {"body": body})
            print(f"updated the reportgen comment on #{number}: {made.get('html_url', '')}")
    except Refused as exc:
        print(f"post_comment: {exc}", file=sys.stderr)
        return 1
    return 0


def _bad(message: str) -> int:
    print(f"post_comment: {message}", file=sys.stderr)
    return 2


def _pr_number() -> int | None:
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return None
    event = json.loads(Path(path).read_text(encoding="utf-8"))
    number = (event.get("pull_request") or {}).get("number") or event.get("number")
    return int(number) if number else None


def _run_link() -> str:
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    run = os.environ.get("GITHUB_RUN_ID")
    return f"{server.rstrip('/')}/{repo}/actions/runs/{run}" if server and repo and run else ""


def _why_no_comparison(baseline: str | None) -> str:
    outcome = {k: os.environ.get(f"{k}_OUTCOME", "") for k in ("RUN", "FETCH", "COMPARE")}
    if outcome["RUN"] == "failure":
        return "the report of this pull request failed (`reportgen run`)"
    if outcome["FETCH"] == "failure":
        return "the published report of main could not be fetched"
    if baseline and not (Path(baseline) / "report.json").is_file():
        return ("no report of main has been published yet to compare with; it is published "
                "by this workflow on every push to main")
    if outcome["COMPARE"] == "failure":
        return "`reportgen compare` stopped with an error (bad input, or reports on other data)"
    return "`reportgen compare` wrote no compare.md"


def _body(path: Path, marker: str, baseline: str | None) -> str:
    link = _run_link()
    if path.is_file():
        text = path.read_text(encoding="utf-8").rstrip("\n")
        if marker not in (line.strip() for line in text.splitlines()):  # compare.md has it
            text = f"{marker}\n{text}"
        footer = f"\n\n<sub>[Workflow run]({link})</sub>" if link else ""
    else:
        why = _why_no_comparison(baseline)
        text = f"{HEADING}\n{marker}\n\nNo comparison this time: {why}."
        footer = f" [The workflow run]({link}) has the details." if link else ""
    if len(text) + len(footer) > MAX_BODY:  # compare.md stays well under; a guard all the same
        cut = "\n\n(cut to fit GitHub's limit on a comment)"
        text = text[:MAX_BODY - len(footer) - len(cut)] + cut
    return text + footer


class GitHub:
    """The few calls of GitHub's REST API this needs, with urllib."""

    def __init__(self, api: str, token: str) -> None:
        self.api, self._token = api, token

    def call(self, method: str, path_or_url: str, payload: dict | None = None):
        url = path_or_url if "://" in path_or_url else self.api + path_or_url
        data, body = (None if payload is None else json.dumps(payload).encode()), None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "reportgen-ci-comment",
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read()
                self.last_link = response.headers.get("Link", "")
        except urllib.error.HTTPError as exc:
            raise Refused(f"{method} {_path(url)}: HTTP {exc.code} {_message(exc)}"
                          f"{_hint(exc.code)}") from None
        except urllib.error.URLError as exc:
            raise Refused(f"{method} {_path(url)}: {exc.reason}") from None
        return json.loads(body) if body else {}

    def find_comment(self, repo: str, number: int, marker: str) -> int | None:
        """The id of the first comment on the pull request with ``marker`` as a line of its
        own (a comment that merely quotes the marker in a sentence is someone else's)."""
        url: str | None = f"/repos/{repo}/issues/{number}/comments?per_page=100"
        while url:
            for comment in self.call("GET", url):
                lines = (comment.get("body") or "").splitlines()
                if any(line.strip() == marker for line in lines):  # a line of its own
                    return int(comment["id"])
            url = _next_page(self.last_link)
        return None


def _next_page(link: str) -> str | None:
    match = re.search(r'<([^>]+)>\s*;\s*rel="next"', link or "")
    return match.group(1) if match else None


def _path(url: str) -> str:
    return re.sub(r"^[a-z]+://[^/]+", "", url)


def _message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("message", exc.reason))
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)


def _hint(code: int) -> str:
    if code in (401, 403):
        return (" (the job needs 'permissions: pull-requests: write'; a pull request from a "
                "fork gets a read-only GITHUB_TOKEN)")
    return ""


if __name__ == "__main__":
    sys.exit(main())
