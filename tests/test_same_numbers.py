"""Refactoring never changes a number: the demo's ``report.json`` from the code before the
renovation of issue 20 (commit ``BASELINE``) and from this checkout, both recomputed on this
machine with the same seed, have identical metrics for every analysis whose ``version`` did not
change since, and identical model accuracies.

An analysis whose numbers change on purpose bumps its spec's ``version``; from then on this test
leaves that analysis out (and says so), so it keeps guarding the rest.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from reportgen import analyses

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "f2846d3"  # main just before the renovation (issue 20)


def _baseline_tree(dest: Path) -> Path:
    """The package and templates of ``BASELINE``, unpacked into ``dest``."""
    try:
        archive = subprocess.run(["git", "archive", BASELINE, "reportgen", "templates"], cwd=ROOT,
                                 check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        if not (ROOT / ".git").exists():
            pytest.skip("not a git checkout: the baseline commit cannot be read")
        raise AssertionError(f"cannot read commit {BASELINE} (a shallow clone?): {exc}") from exc
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def _demo_report(code: Path, out: Path, cache: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": os.environ.get(
        "OMP_NUM_THREADS", "2")}
    done = subprocess.run([sys.executable, "-m", "reportgen", "run", "--out", str(out), "--quiet",
                           "--no-cache", "--cache-dir", str(cache)], check=False, cwd=code, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def _old_versions(tree: Path) -> dict[str, int]:
    found = {}
    for name in analyses.REGISTRY:
        path = tree / "reportgen" / "analyses" / f"{name}.py"
        match = re.search(r"^VERSION = (\d+)", path.read_text(), re.MULTILINE) if path.exists() else None
        if match:
            found[name] = int(match.group(1))
    return found


def test_the_demo_numbers_equal_those_before_the_renovation(tmp_path: Path) -> None:
    old_tree = _baseline_tree(tmp_path / "before")
    cache = tmp_path / "cache"  # shared: the demo models are trained once, by the first run
    before = _demo_report(old_tree, tmp_path / "site-before", cache)
    after = _demo_report(ROOT, tmp_path / "site-after", cache)
    assert [(m["name"], m["accuracy"]) for m in after["models"]] == \
        [(m["name"], m["accuracy"]) for m in before["models"]]
    old = _old_versions(old_tree)
    unchanged = [n for n in analyses.REGISTRY if old.get(n) == analyses.spec(n).version]
    changed = sorted(set(analyses.REGISTRY) - set(unchanged))
    print(f"compared: {', '.join(unchanged)}; versions bumped since {BASELINE}: {changed or 'none'}")
    assert unchanged, "every analysis changed its version: compare against a newer baseline"
    for name in unchanged:
        a, b = before["analyses"][name], after["analyses"][name]
        assert (a["status"], a["reason"]) == (b["status"], b["reason"]), name
        assert a["metrics"] == b["metrics"], name  # exactly: the same floats
