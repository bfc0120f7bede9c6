"""Fetch the newest published report (``latest/``) from where ``reportgen publish`` put it.

    python fetch_published.py TARGET DIR [--endpoint-url URL]

TARGET is what ``reportgen publish --to`` was given:

- ``s3://BUCKET/PREFIX``: the objects under ``PREFIX/latest/``, with boto3 (a dependency of
  reportgen); credentials and region from boto3's usual chain (``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, a profile or a role; ``AWS_REGION``, else us-east-1), and
  ``--endpoint-url`` (or ``REPORTGEN_S3_ENDPOINT_URL``) for a host other than AWS;
- ``git:REMOTE_OR_PATH[#BRANCH]`` (default branch gh-pages): the ``latest/`` folder of the
  branch's last commit, with the git command line. A remote name (``git:origin``) is fetched by
  the repository in the current folder, so it uses the credentials actions/checkout left there.

Where nothing was published yet (no ``latest/report.json``), DIR is not created and the exit code
is still 0: the next step sees that there is nothing to compare with. Exit code 1 when the
target cannot be read, 2 on bad input. DIR must not exist yet.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/:\s]+@[^/:\s]+:")
_REMOTE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


class Unreadable(Exception):
    """The target exists (or should) but could not be read."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="s3://BUCKET/PREFIX or git:REMOTE_OR_PATH[#BRANCH]")
    parser.add_argument("out", help="folder to write the report to (must not exist)")
    parser.add_argument("--endpoint-url", default=os.environ.get("REPORTGEN_S3_ENDPOINT_URL"),
                        help="S3-compatible host (default: $REPORTGEN_S3_ENDPOINT_URL)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        print(f"fetch_published: {out} exists already", file=sys.stderr)
        return 2
    try:
        if args.target.startswith("s3://"):
            files = _from_s3(args.target, args.endpoint_url or None)
        elif args.target.startswith("git:"):
            files = _from_git(args.target[4:])
        else:
            print(f"fetch_published: {args.target!r} is neither s3://BUCKET/PREFIX nor "
                  "git:REMOTE_OR_PATH[#BRANCH]", file=sys.stderr)
            return 2
    except Unreadable as exc:
        print(f"fetch_published: cannot read {_scrub(args.target)}: {exc}", file=sys.stderr)
        return 1
    if "report.json" not in files:
        print(f"nothing published at {_scrub(args.target)} yet (no latest/report.json): "
              "no report to compare with")
        return 0
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for rel, data in files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    tmp.rename(out)
    print(f"fetched the published report ({len(files)} files) from {_scrub(args.target)} "
          f"into {out}")
    return 0


def _safe(rel: str) -> str | None:
    """``rel`` if it is a plain relative path inside the report, else None (skipped)."""
    parts = PurePosixPath(rel).parts
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return None
    return rel


def _scrub(text: str) -> str:
    """A URL's user and password left out of messages."""
    return re.sub(r"(://)[^/@\s]+@", r"\1***@", text)


# S3 ---------------------------------------------------------------------------------------------
def _from_s3(target: str, endpoint_url: str | None) -> dict[str, bytes]:
    import boto3
    import botocore.exceptions

    bucket, _, prefix = target[len("s3://"):].partition("/")
    prefix = prefix.strip("/")
    latest = f"{prefix}/latest/" if prefix else "latest/"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    client = boto3.client("s3", endpoint_url=endpoint_url,
                          region_name=region or ("us-east-1" if endpoint_url else None))
    files: dict[str, bytes] = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                     Prefix=latest):
            for obj in page.get("Contents", []):
                rel = _safe(obj["Key"][len(latest):])
                if rel is not None:
                    files[rel] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}") from None
    return files


# git --------------------------------------------------------------------------------------------
def _git(*args: str, cwd: Path | str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], check=False, cwd=cwd, capture_output=True,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})


def _from_git(location: str) -> dict[str, bytes]:
    location, _, branch = location.partition("#")
    branch = branch or "gh-pages"
    if not location:
        raise Unreadable("git: needs a repository: git:PATH, git:URL or git:REMOTE")
    with tempfile.TemporaryDirectory(prefix="reportgen-fetch-") as tmp:
        if not _URL.match(location) and not Path(location).exists() \
                and _REMOTE_NAME.match(location):
            repo, source = Path.cwd(), location  # a remote of the checkout: its credentials
        else:
            source = location if _URL.match(location) else str(Path(location).resolve())
            repo = Path(tmp) / "fetch.git"
            _check(_git("init", "-q", "--bare", str(repo)), "git init")
        heads = _check(_git("ls-remote", "--heads", source, f"refs/heads/{branch}", cwd=repo),
                       "git ls-remote")
        if not heads.stdout.strip():
            return {}  # no such branch: nothing published yet
        _check(_git("fetch", "-q", "--depth", "1", source, f"refs/heads/{branch}", cwd=repo),
               "git fetch")
        listed = _check(_git("ls-tree", "-d", "--name-only", "FETCH_HEAD", "latest", cwd=repo),
                        "git ls-tree")
        if not listed.stdout.strip():
            return {}  # the branch has no latest/ (yet)
        archive = _check(_git("archive", "--format=tar", "FETCH_HEAD", "latest", cwd=repo),
                         "git archive")
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith("latest/"):
                rel = _safe(member.name[len("latest/"):])
                extracted = tar.extractfile(member)
                if rel is not None and extracted is not None:
                    files[rel] = extracted.read()
    return files


def _check(done: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise Unreadable(f"{what}: {_scrub(err[-1] if err else f'exit {done.returncode}')}")
    return done


if __name__ == "__main__":
    sys.exit(main())
