"""The output folder: only reportgen's own folders are replaced, files the user added survive a
rebuild, unwritable destinations are refused before any compute, one writer at a time, and
``reportgen train`` checks its ``--out FILE`` before training."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import main
from reportgen.errors import BadInput
from reportgen.records import RunRecord
from reportgen.site import output_dir
from reportgen.site.builder import build_site
from reportgen.site.manifest import MANIFEST_NAME
from reportgen.site.output_dir import (
    describe_kept,
    lock,
    lock_path,
    preflight,
    preflight_file,
    user_files,
)
from tests.site_fixtures import PAGES, make_record

REPO = Path(__file__).resolve().parent.parent
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="module")
def record() -> RunRecord:
    return make_record()


def _snapshot(root: Path) -> dict[str, object]:
    """Every entry under ``root``: file bytes, folders, link targets."""
    out: dict[str, object] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = path.read_bytes()
    return out


def _fail(*_args: object, **_kwargs: object) -> None:
    pytest.fail("called although the destination was refused")


def _read_only(monkeypatch: pytest.MonkeyPatch, exc: OSError) -> None:
    """As on a read-only mount, where root's permission bits say nothing: the probe fails."""

    def probe(folder: Path) -> None:
        raise exc

    monkeypatch.setattr(output_dir, "_probe_write", probe)


# someone else's folder ---------------------------------------------------------------------------
def test_a_folder_with_someone_elses_report_json_is_not_replaced(
    record: RunRecord, tmp_path: Path
) -> None:
    thesis = tmp_path / "thesis"
    (thesis / "src").mkdir(parents=True)
    (thesis / "report.json").write_text('{"coverage": 91.5}', encoding="utf-8")
    (thesis / "thesis.tex").write_text("\\chapter{Results}", encoding="utf-8")
    (thesis / "src" / "main.py").write_text("print('hi')\n", encoding="utf-8")
    before, beside = _snapshot(thesis), sorted(os.listdir(tmp_path))
    with pytest.raises(BadInput, match="holds no reportgen report") as info:
        build_site(record, thesis)
    message = str(info.value)
    assert str(thesis) in message and "report.json alone" in message
    assert "choose a new or empty folder" in message
    assert _snapshot(thesis) == before
    assert sorted(os.listdir(tmp_path)) == beside  # no staging folder, lock or probe left


def test_a_damaged_manifest_does_not_make_a_report(record: RunRecord, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious", encoding="utf-8")
    escaping = {"format": "reportgen-site", "format_version": 1,
                "files": [{"path": "../thesis.tex", "size": 1}]}
    for text in ("not json", '{"format": "something-else", "files": []}', json.dumps(escaping)):
        (out / MANIFEST_NAME).write_text(text, encoding="utf-8")
        before = _snapshot(out)
        with pytest.raises(BadInput, match="holds no reportgen report"):
            build_site(record, out)
        assert _snapshot(out) == before


def test_an_empty_folder_is_fine_and_every_site_has_a_manifest(
    record: RunRecord, tmp_path: Path
) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    preflight(out)
    result = build_site(record, out)
    assert result.index == out / "index.html" and result.kept == ()
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["format"] == "reportgen-site" and manifest["reportgen_version"]
    listed = {f["path"]: f["size"] for f in manifest["files"]}
    on_disk = {k: len(v) for k, v in _snapshot(out).items() if isinstance(v, bytes)}
    del on_disk[MANIFEST_NAME]
    assert listed == on_disk
    assert set(PAGES) <= set(listed) and "report.json" in listed
    assert user_files(out) == []


# files the user added ----------------------------------------------------------------------------
def test_user_files_survive_a_rebuild_and_stale_pages_go(record: RunRecord, tmp_path: Path) -> None:
    out = tmp_path / "report"
    build_site(record, out)
    (out / "NOTES.txt").write_text("to check: fig 3", encoding="utf-8")
    (out / "screens").mkdir()
    (out / "screens" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (out / "analyses" / "my-comments.md").write_text("inside a reportgen folder", encoding="utf-8")
    mine = {k: v for k, v in _snapshot(out).items() if k.startswith(("NOTES", "screens"))}
    mine["analyses/my-comments.md"] = b"inside a reportgen folder"
    assert user_files(out) == ["NOTES.txt", "analyses/my-comments.md", "screens/"]

    # single-file: the pages under analyses/, assets/ and data/ are no longer written
    result = build_site(record, out, single_file=True)
    assert result.kept == ("NOTES.txt", "analyses/my-comments.md", "screens/")
    after = _snapshot(out)
    assert {k: after.get(k) for k in mine} == mine  # byte-identical
    assert not (out / "analyses" / "saliency.html").exists()
    assert not (out / "assets").exists() and not (out / "data").exists()
    assert sorted(after) == sorted(
        [*mine, "analyses", "index.html", "report.json", "summary.md", MANIFEST_NAME]
    )
    listed = {f["path"] for f in json.loads((out / MANIFEST_NAME).read_text())["files"]}
    assert not listed & set(mine)  # the user's files stay the user's

    # and once more, back to the full site: still kept, still the user's
    assert build_site(record, out).kept == result.kept
    after = _snapshot(out)
    assert {k: after.get(k) for k in mine} == mine
    assert set(PAGES) <= set(after)
    assert describe_kept(result.kept) == (
        "kept 3 files you added: NOTES.txt, analyses/my-comments.md, screens/"
    )


def test_user_file_where_the_new_report_writes_is_refused(
    record: RunRecord, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    build_site(record, out, single_file=True)  # writes no analyses/ pages
    (out / "analyses").mkdir()
    (out / "analyses" / "saliency.html").write_text("my own page", encoding="utf-8")
    (out / "NOTES.txt").write_text("notes", encoding="utf-8")
    before, beside = _snapshot(out), sorted(os.listdir(tmp_path))
    with pytest.raises(BadInput, match="analyses/saliency.html") as info:
        build_site(record, out)  # the full site writes analyses/saliency.html
    assert "never overwrites" in str(info.value)
    assert _snapshot(out) == before
    assert sorted(os.listdir(tmp_path)) == beside


def test_user_file_where_every_site_writes_is_refused_before_compute(tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    manifest = {"format": "reportgen-site", "format_version": 1, "reportgen_version": "0",
                "files": [{"path": "index.html", "size": 1}]}
    (out / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    (out / "summary.md").write_text("mine", encoding="utf-8")
    with pytest.raises(BadInput, match="summary.md"):
        preflight(out)


# destinations that cannot be written -------------------------------------------------------------
@pytest.mark.skipif(IS_ROOT, reason="root ignores permission bits (the probe tests cover it)")
def test_read_only_parent_is_refused(record: RunRecord, tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        with pytest.raises(BadInput, match="cannot write in"):
            build_site(record, parent / "site")
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


@pytest.mark.parametrize(
    "exc",
    [OSError(errno.EROFS, os.strerror(errno.EROFS)), PermissionError(errno.EACCES, "Denied")],
    ids=["read-only mount", "permission"],
)
def test_unwritable_out_is_refused_before_anything_is_written(
    record: RunRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: OSError
) -> None:
    old = tmp_path / "old"
    build_site(record, old)
    before = _snapshot(old)
    _read_only(monkeypatch, exc)
    monkeypatch.setattr("reportgen.site.builder._SiteWriter", _fail)  # nothing is rendered
    for out in (tmp_path / "new", old):
        with pytest.raises(BadInput, match="cannot write in") as info:
            build_site(record, out)
        assert exc.strerror in str(info.value) and str(out) in str(info.value)
    assert sorted(os.listdir(tmp_path)) == ["old"]
    assert _snapshot(old) == before


def test_files_in_the_way_are_refused(record: RunRecord, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(BadInput, match="not a directory"):
        build_site(record, tmp_path / "file")
    with pytest.raises(BadInput, match="is a file, not a folder"):
        build_site(record, tmp_path / "file" / "deeper" / "site")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(BadInput, match="symbolic link"):
        build_site(record, tmp_path / "link")
    assert sorted(os.listdir(tmp_path)) == ["file", "link", "real"]
    assert list((tmp_path / "real").iterdir()) == []


def test_cli_run_checks_out_before_any_compute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reportgen.run.pipeline._build", _fail)  # after the guard
    _read_only(monkeypatch, OSError(errno.EROFS, os.strerror(errno.EROFS)))
    result = CliRunner().invoke(main, ["run", "--out", str(tmp_path / "site"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "Read-only file system" in result.output and "Traceback" not in result.output


def test_cli_render_checks_out_before_reading_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reportgen.run.pipeline._render", _fail)  # after the guard
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "report.json").write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(main, ["render", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "holds no reportgen report" in result.output


# one writer at a time ----------------------------------------------------------------------------
HOLDER = """
import sys
from reportgen.site.output_dir import lock
with lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_second_writer_is_refused_while_another_process_holds_the_lock(
    record: RunRecord, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        expected = f"another reportgen run (pid {holder.pid}) is writing {out}"
        with pytest.raises(BadInput, match="wait for it to finish") as info, lock(out):
            pytest.fail("two writers")
        assert expected in str(info.value)
        with pytest.raises(BadInput, match=f"pid {holder.pid}"):
            build_site(record, out)
        assert not out.exists()
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    assert not lock_path(out).exists()  # the holder removed its lock file
    with lock(out):
        pass
    assert build_site(record, out).index.is_file()


def test_second_open_file_description_conflicts_in_the_same_process(tmp_path: Path) -> None:
    out = tmp_path / "site"
    fd = os.open(lock_path(out), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"4242\n")
        with pytest.raises(BadInput, match=r"another reportgen run \(pid 4242\)"), lock(out):
            pass
    finally:
        os.close(fd)
    with lock(out):
        assert lock_path(out).read_text().strip() == str(os.getpid())
    assert not lock_path(out).exists()


def test_lock_is_released_after_an_exception_and_is_reentrant(tmp_path: Path) -> None:
    out = tmp_path / "site"
    with pytest.raises(RuntimeError, match="boom"), lock(out):
        with lock(out):  # the pipeline holds it, build_site takes it again
            pass
        raise RuntimeError("boom")
    assert not lock_path(out).exists()
    fd = os.open(lock_path(out), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it any more
    finally:
        os.close(fd)


def test_another_thread_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "site"
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with lock(out):
                pass
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            errors.append(exc)

    with lock(out):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert len(errors) == 1 and isinstance(errors[0], BadInput)
    assert f"pid {os.getpid()}" in str(errors[0])


# reportgen train --out FILE ----------------------------------------------------------------------
@pytest.fixture()
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reportgen.models.train.train_model", _fail)
    monkeypatch.setattr("reportgen.data.loaders.load_data", _fail)


def _train(out: Path) -> object:
    return CliRunner().invoke(main, ["train", "kim-cnn", "--data", "demo", "--out", str(out)])


def test_train_refuses_an_out_under_a_file_before_training(
    tmp_path: Path, no_training: None
) -> None:
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    result = _train(tmp_path / "notes.txt" / "kim.pt")
    assert result.exit_code == 2, result.output
    assert "is a file, not a folder" in result.output and "notes.txt" in result.output
    assert "Traceback" not in result.output


def test_train_refuses_an_unwritable_out_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_training: None
) -> None:
    _read_only(monkeypatch, OSError(errno.EROFS, os.strerror(errno.EROFS)))
    out = tmp_path / "models" / "kim.pt"
    result = _train(out)
    assert result.exit_code == 2, result.output
    assert str(out) in result.output and "Read-only file system" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(IS_ROOT, reason="root ignores permission bits (the probe test covers it)")
def test_train_refuses_a_read_only_folder(tmp_path: Path, no_training: None) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = _train(folder / "kim.pt")
    finally:
        folder.chmod(0o755)
    assert result.exit_code == 2, result.output
    assert "cannot write in" in result.output


def test_train_refuses_a_folder(tmp_path: Path, no_training: None) -> None:
    result = _train(tmp_path)
    assert result.exit_code == 2 and "is a folder" in result.output


def test_preflight_file_accepts_new_and_existing_files(tmp_path: Path) -> None:
    preflight_file(tmp_path / "a" / "b" / "kim.pt")
    (tmp_path / "old.pt").write_bytes(b"x")
    preflight_file(tmp_path / "old.pt")
    assert sorted(os.listdir(tmp_path)) == ["old.pt"]  # checks write nothing
