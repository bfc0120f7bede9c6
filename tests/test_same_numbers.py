"""Refactoring never changes a number: the demo's ``report.json`` from the code of commit
``BASELINE`` and from this checkout, both recomputed on this machine with the same seed, have
identical metrics for every analysis whose ``version`` did not change since, and identical model
accuracies, for the models both demos have.

Both runs analyse the weights this checkout ships: the baseline's cache is filled with them first,
under the demo keys the baseline itself computes, so it trains nothing.

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
from reportgen.models.demo_models import install_demo_weights

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# main before batches of texts of about the same length everywhere (issue 23); the first baseline,
# f2846d3 (main just before the renovation of issue 20), had every analysis's version bumped since
BASELINE = "d821899"


def _baseline_tree(dest: Path) -> Path:
    """The package and templates of ``BASELINE``, unpacked into ``dest``."""
    try:
        archive = subprocess.run(["git", "archive", BASELINE, "reportgen", "templates"], cwd=ROOT,
                                 check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        if not (ROOT / ".git").exists():
            pytest.skip("not a git checkout: the baseline commit cannot be read")
        pytest.skip(f"commit {BASELINE} is not in this clone (shallow?): {exc}")
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


def _old_demo_keys(code: Path) -> dict[str, str]:
    """Demo architecture -> the cache key the code in ``code`` computes for its demo model."""
    script = ("import json; from reportgen.data.loaders import load_data; "
              "from reportgen.models.demo_models import DEMO_ARCHS, demo_key; "
              "d = load_data('demo'); "
              "print(json.dumps({a: demo_key(a, d, 0) for a in DEMO_ARCHS}))")
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-c", script], check=True, cwd=code, env=env,
                          capture_output=True, text=True, timeout=300)
    return json.loads(done.stdout)


def _per_model(metrics: dict, models: list[str]) -> dict[str, dict]:
    """``<model>.<metric>`` keys of ``models``; the rest (pooled over models) under ``""``."""
    out: dict[str, dict] = {m: {} for m in ["", *models]}
    for key, value in metrics.items():
        model = next((m for m in models if key.startswith(f"{m}.")), "")
        out[model][key] = value
    return out


def _old_versions(tree: Path) -> dict[str, int]:
    found = {}
    for name in analyses.REGISTRY:
        path = tree / "reportgen" / "analyses" / f"{name}.py"
        text = path.read_text() if path.exists() else ""
        match = re.search(r"^VERSION = (\d+)", text, re.MULTILINE)
        if match:
            found[name] = int(match.group(1))
    return found


def test_the_demo_numbers_equal_those_of_the_baseline_commit(tmp_path: Path) -> None:
    old_tree = _baseline_tree(tmp_path / "before")
    cache = tmp_path / "cache"  # shared; the baseline finds this checkout's shipped weights in it
    keys = _old_demo_keys(old_tree)
    install_demo_weights(cache, list(keys), keys=keys)
    before = _demo_report(old_tree, tmp_path / "site-before", cache)
    after = _demo_report(ROOT, tmp_path / "site-after", cache)
    old_models, new_models = ([m["name"] for m in r["models"]] for r in (before, after))
    both = [m for m in old_models if m in new_models]
    assert both == list(keys), f"the demo lost models: {sorted(set(keys) - set(both))}"
    accuracy = {m["name"]: m["accuracy"] for m in after["models"]}
    assert [(m["name"], m["accuracy"]) for m in before["models"]] == \
        [(m, accuracy[m]) for m in old_models]
    same_models = old_models == new_models
    old = _old_versions(old_tree)
    unchanged = [n for n in analyses.REGISTRY if old.get(n) == analyses.spec(n).version]
    changed = sorted(set(analyses.REGISTRY) - set(unchanged))
    print(f"compared: {', '.join(unchanged)} on {', '.join(both)}"
          f"{'' if same_models else ' (per model only: the demos have other models)'}; "
          f"versions bumped since {BASELINE}: {changed or 'none'}")
    assert unchanged, "every analysis changed its version: compare against a newer baseline"
    for name in unchanged:
        a, b = before["analyses"][name], after["analyses"][name]
        assert a["status"] == b["status"], name
        a_parts = _per_model(a["metrics"], old_models)
        b_parts = _per_model(b["metrics"], new_models)
        for model in both:
            assert a_parts[model] == b_parts[model], (name, model)  # exactly: the same floats
        if same_models:
            assert a["reason"] == b["reason"], name
            assert a_parts[""] == b_parts[""], name
