"""An S3 bucket (or an S3-compatible host: ``--endpoint-url``) as the target, with boto3.

``s3://BUCKET/PREFIX``: the published tree goes under PREFIX (none: the bucket's root).
Credentials come only from boto3's usual chain -- ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` (/ ``AWS_SESSION_TOKEN``), ``AWS_PROFILE`` and ``~/.aws/credentials``,
an instance role -- and are scrubbed from every message; the region from ``AWS_REGION`` /
``AWS_DEFAULT_REGION`` or the config file (``us-east-1`` for another host when none is set).

Each file is one ``PutObject`` with its ``Content-Type`` and ``Cache-Control``:

- short (``max-age=60``): every ``index.html``, ``report.json``, ``runs.json``, ``summary.md``
  and everything under ``latest/``, which change when a run is published;
- long (``max-age=31536000, immutable``): ``assets/`` (a run's own, and the runs index's CSS,
  which is named by its content);
- ``max-age=3600`` for the rest of a run (its pages, tables).

The phases of the plan run in order: a run's files, its pages last; only then ``latest/``, and
the runs index last of all; files that a phase no longer has are deleted after its uploads.
Interrupting leaves what was published before intact: the new run's folder may be partial, but
no page links to it until the index is written (publishing again completes it). A file is left
alone when the bucket already holds it: same size and an ``ETag`` that is its MD5 (single-part
uploads, which these are).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reportgen.errors import BadInput
from reportgen.publish.plan import Item, Plan
from reportgen.publish.secrets import remember, scrub
from reportgen.publish.targets.base import Echo, Target

SHORT = "public, max-age=60"
LONG = "public, max-age=31536000, immutable"
DEFAULT = "public, max-age=3600"
SHORT_NAMES = ("index.html", "report.json", "runs.json", "summary.md", "compare.json",
               "compare.md")
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".gz": "application/gzip",
}
DELETE_BATCH = 1000


def content_type(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if name == "CNAME" or name == ".nojekyll":
        return "text/plain; charset=utf-8"
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def cache_control(path: str) -> str:
    parts = path.split("/")
    if parts[0] == "latest" or parts[-1] in SHORT_NAMES:
        return SHORT
    if "assets" in parts[:-1]:
        return LONG
    return DEFAULT


class S3Target(Target):
    def __init__(self, bucket: str, prefix: str, *, endpoint_url: str | None = None) -> None:
        if not bucket:
            raise BadInput("--to s3://: give a bucket, s3://BUCKET/PREFIX")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if endpoint_url is not None and not re.match(r"^https?://[^\s/]+", endpoint_url):
            raise BadInput(f"--endpoint-url {endpoint_url!r} is not an http:// or https:// address")
        self.endpoint_url = endpoint_url
        self.name = f"s3://{bucket}/{self.prefix}"
        self.interrupted = (
            f"interrupted; {self.name}: the runs index and the runs published before are "
            "unchanged (publish again to complete the new run)"
        )
        self._objects: dict[str, tuple[int, str]] = {}

    @contextmanager
    def session(self, writing: bool = True) -> Iterator[None]:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:  # pragma: no cover - a dependency
            raise BadInput("s3:// targets need boto3: pip install boto3") from None
        session = boto3.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise BadInput(
                f"--to {self.name}: no credentials found; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or ~/.aws/credentials)"
            )
        frozen = credentials.get_frozen_credentials()
        remember(frozen.access_key, frozen.secret_key, frozen.token)
        region = session.region_name or ("us-east-1" if self.endpoint_url else None)
        self.client = session.client(
            "s3", endpoint_url=self.endpoint_url, region_name=region,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )
        yield

    def _fail(self, what: str, exc: BaseException) -> BadInput:
        return BadInput(scrub(f"--to {self.name}: {what} ({type(exc).__name__}: {exc})"))

    def _errors(self) -> tuple[type[BaseException], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        return (BotoCoreError, ClientError)

    def load(self) -> None:
        self._objects = {}
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(self.prefix):]
                    if key and not key.endswith("/"):
                        self._objects[key] = (int(obj["Size"]), str(obj.get("ETag", "")).strip('"'))
        except self._errors() as exc:
            raise self._fail("cannot list the bucket", exc) from None

    def listing(self) -> dict[str, int]:
        return {k: size for k, (size, _) in self._objects.items()}

    def read(self, path: str) -> bytes | None:
        if path not in self._objects:
            return None
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + path)["Body"].read()
        except self._errors() as exc:
            raise self._fail(f"cannot read {path}", exc) from None

    def same(self, path: str, item: Item) -> bool:
        found = self._objects.get(path)
        if found is None or found[0] != item.size:
            return False
        return found[1] == hashlib.md5(item.read(), usedforsecurity=False).hexdigest()

    def _put(self, item: Item) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.prefix + item.path, Body=item.read(),
            ContentType=content_type(item.path), CacheControl=cache_control(item.path),
        )

    def _delete(self, paths: list[str]) -> None:
        for start in range(0, len(paths), DELETE_BATCH):
            batch = paths[start:start + DELETE_BATCH]
            result: dict[str, Any] = self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": self.prefix + p} for p in batch], "Quiet": True,
            })
            if result.get("Errors"):
                first = result["Errors"][0]
                raise BadInput(scrub(f"--to {self.name}: could not delete {first.get('Key')} "
                                     f"({first.get('Code')}: {first.get('Message')})"))

    def apply(self, plan: Plan, echo: Echo) -> None:
        for phase in plan.phases:
            for item in phase.writes:
                try:
                    self._put(item)
                except self._errors() as exc:
                    raise self._fail(f"uploading {item.path} failed; the runs index is "
                                     "unchanged", exc) from None
            if phase.removes:
                try:
                    self._delete(phase.removes)
                except self._errors() as exc:
                    raise self._fail("deleting old files failed", exc) from None

    def location(self, path: str = "") -> str:
        return f"{self.name}{path}"
