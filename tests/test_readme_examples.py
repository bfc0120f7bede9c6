"""The README's configuration example runs as printed (issue 21: it ended in "saliency: failed"
because its extra sentences and the paper's are unlabelled), on a tiny model and a small labelled
CSV standing in for its checkpoints and MR."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from click.testing import CliRunner

from reportgen.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "tiny_models.py"


def _readme_config() -> dict:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"### Configuration.*?```toml\n(.*?)```", readme, re.DOTALL)
    assert block, "the README's configuration example is gone"
    return tomllib.loads(block.group(1))


def test_the_readme_configuration_example_runs(tmp_path: Path) -> None:
    config = _readme_config()
    assert config["saliency"]["target"] == "label" and config["saliency"]["sentences"]
    rows = [("a b" if i % 2 else "b a a", "pos" if i % 2 else "neg") for i in range(60)]
    csv = tmp_path / "data.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    config["run"] = {**config["run"], "model": [f"{TINY}:tanh_sum_model"], "data": f"csv:{csv}",
                     "split": "all"}
    lines = []
    for table, values in config.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path = tmp_path / "run.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "site"
    result = CliRunner().invoke(main, ["run", "--config", str(path), "--out", str(out),
                                       "--only", "saliency", "--quiet",
                                       "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["analyses"]["saliency"]["status"] == "ok", report["analyses"]["saliency"]
