"""The demo models' weights ship in the package, so the demo gives the same numbers on any machine.

Held here: every shipped checkpoint loads with ``torch.load(weights_only=True)`` and was trained
with today's demo settings (its key is current); its weights fingerprint and test accuracy are the
README's and the committed ``site/report.json``'s; the demo trains nothing when they are shipped,
honours a cached checkpoint whose key matches and replaces any other; the weights are in the wheel;
and (slow) a fresh demo run's ``report.json`` has the committed metrics (relative 1e-5 or
absolute 1e-6, for floating point across CPUs) and exactly its model accuracies.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from reportgen.cli import main
from reportgen.data.demo import demo_dataset
from reportgen.models import demo_models
from reportgen.models.checkpoint import load_checkpoint, save_checkpoint
from reportgen.models.demo_models import (
    DEMO_ARCHS,
    DEMO_SEED,
    demo_key,
    demo_model_path,
    install_demo_weights,
    shipped_path,
    train_demo_models,
    weights_fingerprint,
)

ROOT = Path(__file__).resolve().parent.parent
SITE_REPORT = ROOT / "site" / "report.json"
REGENERATE = 'reportgen run --out site --no-cache --cache-dir "$(mktemp -d)"'
ROW = re.compile(r"^\| `([\w-]+)` \| ([\d,]+) \| ([\d.]+)% \| `([0-9a-f]{16})` \| (\d+) KB \|$")


def readme_table() -> dict[str, tuple[int, str, str, int]]:
    """The demo section's table: arch -> (parameters, test accuracy, fingerprint, KB)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The demo\n", 1)[1].split("\n## ", 1)[0]
    rows = [ROW.match(line) for line in section.splitlines()]
    return {m[1]: (int(m[2].replace(",", "")), m[3], m[4], int(m[5])) for m in rows if m}


def committed_report() -> dict:
    if not SITE_REPORT.is_file():
        pytest.skip("no committed site/report.json in this checkout")
    return json.loads(SITE_REPORT.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo must never train while its weights ship: any training here fails the test."""

    def refuse(arch, *args, **kwargs):
        raise AssertionError(f"the demo trained {arch} although its weights are shipped")

    monkeypatch.setattr(demo_models, "train_model", refuse)


def test_every_demo_model_ships_and_loads_without_running_code() -> None:
    demo = demo_dataset()
    total = 0
    for arch in DEMO_ARCHS:
        path = shipped_path(arch)
        assert path.is_file(), f"{path} missing: python scripts/train_demo_models.py"
        payload = torch.load(path, map_location="cpu", weights_only=True)  # never runs code
        assert payload["arch"] == arch
        ckpt = load_checkpoint(path)
        assert ckpt.info["demo_key"] == demo_key(arch, demo, DEMO_SEED), (
            f"the shipped {arch} weights were trained with other demo settings: "
            f"python scripts/train_demo_models.py --arch {arch}, then {REGENERATE}")
        assert ckpt.info["seed"] == DEMO_SEED
        assert ckpt.info["data_fingerprint"] == demo.fingerprint()
        total += path.stat().st_size
    assert total < 1.5 * 2**20, f"the shipped weights take {total / 2**20:.2f} MiB"


def test_readme_and_committed_site_state_the_shipped_weights() -> None:
    table = readme_table()
    assert list(table) == list(DEMO_ARCHS), "README's demo table lists other models"
    models = {m["name"]: m for m in committed_report()["models"]}
    assert list(models) == list(DEMO_ARCHS), f"site/ has other models: {REGENERATE}"
    for arch in DEMO_ARCHS:
        ckpt = load_checkpoint(shipped_path(arch))
        params, accuracy, fingerprint, kb = table[arch]
        assert weights_fingerprint(ckpt.state_dict) == fingerprint, arch
        assert f"{ckpt.metrics['test_accuracy']:.2%}" == f"{accuracy}%", arch
        assert sum(v.numel() for v in ckpt.state_dict.values()) == params, arch
        assert round(shipped_path(arch).stat().st_size / 1024) == kb, arch
        assert models[arch]["checkpoint_accuracy"] == ckpt.metrics["test_accuracy"], (
            f"site/ was made with other {arch} weights: {REGENERATE}")
        assert models[arch]["parameters"] == params, arch


def test_a_fresh_cache_gets_the_shipped_weights_and_no_training(tmp_path: Path) -> None:
    paths = train_demo_models(demo_dataset(), tmp_path, device="cpu", progress=False)
    assert paths == [demo_model_path(tmp_path, a) for a in DEMO_ARCHS]
    for arch, path in zip(DEMO_ARCHS, paths, strict=True):
        assert path.read_bytes() == shipped_path(arch).read_bytes(), arch
    assert install_demo_weights(tmp_path) == dict(zip(DEMO_ARCHS, paths, strict=True))


def test_a_cached_checkpoint_with_the_current_key_is_honoured(tmp_path: Path) -> None:
    """A model trained into the cache with today's settings (the retrain path) is used as it is."""
    path = demo_model_path(tmp_path, "rnn")
    mine = load_checkpoint(shipped_path("rnn"))
    mine.state_dict = {k: v + 1 for k, v in mine.state_dict.items()}
    mine.info["mine"] = True
    save_checkpoint(mine, path)
    before = path.read_bytes()
    assert train_demo_models(demo_dataset(), tmp_path, progress=False, archs=["rnn"]) == [path]
    assert path.read_bytes() == before


def test_a_stale_or_broken_cached_checkpoint_is_replaced_by_the_shipped_one(tmp_path: Path) -> None:
    """A cache of demo version 2 holds weights trained on its own machine: they give way."""
    stale = load_checkpoint(shipped_path("lstm"))
    stale.info["demo_key"] = "0123456789abcdef"
    save_checkpoint(stale, demo_model_path(tmp_path, "lstm"))
    demo_model_path(tmp_path, "kim-cnn").write_text("not a checkpoint")
    train_demo_models(demo_dataset(), tmp_path, progress=False, archs=["lstm", "kim-cnn"])
    for arch in ("lstm", "kim-cnn"):
        assert demo_model_path(tmp_path, arch).read_bytes() == shipped_path(arch).read_bytes()


def test_installing_with_given_keys_serves_another_version_of_reportgen(tmp_path: Path) -> None:
    """How tests/test_same_numbers.py lets an older reportgen find these weights in its cache."""
    installed = install_demo_weights(tmp_path, ["rnn", "kim-cnn"], keys={"rnn": "a" * 16,
                                                                         "kim-cnn": "b" * 16})
    assert sorted(installed) == ["kim-cnn", "rnn"]
    for arch, key in (("rnn", "a" * 16), ("kim-cnn", "b" * 16)):
        ckpt = load_checkpoint(installed[arch])
        assert ckpt.info["demo_key"] == key
        shipped = load_checkpoint(shipped_path(arch))
        assert weights_fingerprint(ckpt.state_dict) == weights_fingerprint(shipped.state_dict)


def test_changed_settings_train_that_model_instead_of_using_stale_weights(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trained = []

    def fake_train(arch, dataset, **kwargs):
        trained.append((arch, kwargs["overrides"]))
        ckpt = load_checkpoint(shipped_path(arch))
        ckpt.info = {}
        return ckpt

    changed = {**demo_models.DEMO_SETTINGS, "rnn": {**demo_models.DEMO_SETTINGS["rnn"], "lr": 1e-3}}
    monkeypatch.setattr(demo_models, "DEMO_SETTINGS", changed)
    monkeypatch.setattr(demo_models, "train_model", fake_train)
    paths = train_demo_models(demo_dataset(), tmp_path, progress=False, archs=["rnn", "lstm"])
    assert [a for a, _ in trained] == ["rnn"] and trained[0][1]["lr"] == 1e-3
    assert load_checkpoint(paths[0]).info["demo_key"] == demo_key("rnn", demo_dataset(), DEMO_SEED)
    assert paths[1].read_bytes() == shipped_path("lstm").read_bytes()


def test_the_weights_are_in_the_wheel(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="needs hatchling to build the wheel")
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
                   cwd=ROOT, check=True, capture_output=True)
    (wheel,) = tmp_path.glob("reportgen-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        for arch in DEMO_ARCHS:
            name = f"reportgen/models/demo_weights/{arch}.pt"
            assert zf.read(name) == shipped_path(arch).read_bytes(), name


def close(a: float, b: float) -> bool:
    """Equal to a relative 1e-5 or an absolute 1e-6 (NaN equals NaN: a metric undefined on both).

    Not bit-equal: float32 kernels round differently on another CPU's instruction set (AVX2 vs
    AVX-512), and a metric that is the difference of two probabilities near each other keeps only
    that rounding's absolute size: on the CI machine, kim-cnn's ``negation_flip_not_bad`` of
    0.02646369 came out 6e-8 lower, 2e-6 of its value."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)


@pytest.mark.slow
def test_a_fresh_demo_run_gives_the_committed_numbers(tmp_path: Path) -> None:
    """The README's first command on a fresh machine (an empty cache) rewrites site/report.json
    with the same numbers: model accuracies exactly, every metric as ``close`` says."""
    committed = committed_report()
    out = tmp_path / "site"
    result = CliRunner().invoke(main, ["run", "--out", str(out), "--cache-dir",
                                       str(tmp_path / "cache"), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    fresh = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [(m["name"], m["accuracy"]) for m in fresh["models"]] == \
        [(m["name"], m["accuracy"]) for m in committed["models"]], REGENERATE
    assert list(fresh["analyses"]) == list(committed["analyses"]), REGENERATE
    off = []
    for name, was in committed["analyses"].items():
        now = fresh["analyses"][name]
        assert now["status"] == was["status"], (name, REGENERATE)
        assert sorted(now["metrics"]) == sorted(was["metrics"]), (name, REGENERATE)
        off += [f"{name}.{k}: {was['metrics'][k]!r} -> {v!r}" for k, v in now["metrics"].items()
                if not close(v, was["metrics"][k])]
    assert not off, f"site/ is stale ({REGENERATE}):\n" + "\n".join(off[:20])
