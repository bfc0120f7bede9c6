"""``--to TARGET``: ``git:REMOTE_OR_PATH[#BRANCH]``, ``s3://BUCKET/PREFIX`` or a folder.

``parse_target`` turns the spec into a target object and refuses, with ``BadInput``, an unknown
scheme (``ftp://...``, ``gs://...``) and options that do not apply to the target
(``--no-history`` outside git, ``--endpoint-url`` outside S3). A spec without a scheme is a
folder; ``file://PATH`` is one too. A folder whose name holds a colon can be given as ``./a:b``.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from reportgen.errors import BadInput
from reportgen.publish.targets.base import Target

SCHEMES = ("git:REMOTE_OR_PATH[#BRANCH]", "s3://BUCKET/PREFIX", "FOLDER")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def parse_target(spec: str, *, endpoint_url: str | None = None,
                 no_history: bool = False) -> Target:
    spec = spec.strip()
    if not spec:
        raise BadInput("--to is empty", choices=SCHEMES)
    match = _SCHEME.match(spec)
    scheme = match.group(1).lower() if match else ""
    if scheme != "s3" and endpoint_url:
        raise BadInput("--endpoint-url applies to s3:// targets only")
    if scheme != "git" and no_history:
        raise BadInput("--no-history applies to git: targets only")
    if scheme == "git":
        from reportgen.publish.targets.git import GitTarget

        location, _, branch = spec[len("git:"):].partition("#")
        return GitTarget(location, branch or "gh-pages", no_history=no_history)
    if scheme == "s3":
        if not spec.lower().startswith("s3://"):
            raise BadInput(f"--to {spec!r}: an S3 target is s3://BUCKET/PREFIX")
        from reportgen.publish.targets.s3 import S3Target

        bucket, _, prefix = spec[len("s3://"):].partition("/")
        return S3Target(bucket, prefix, endpoint_url=endpoint_url)
    if scheme == "file":
        parts = urlsplit(spec)
        if parts.netloc not in ("", "localhost"):
            raise BadInput(f"--to {spec!r}: a file:// target must be on this machine")
        spec = unquote(parts.path)
    elif match and len(scheme) > 1:
        raise BadInput(f"--to {spec!r}: unknown target scheme {scheme + ':'!r}", choices=SCHEMES)
    from reportgen.publish.targets.folder import FolderTarget

    return FolderTarget(Path(spec))
