"""The README documents every analysis and every analysis setting, and the CLI's options."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen import analyses
from reportgen.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", analyses.REGISTRY)
def test_every_analysis_has_a_section_and_documented_settings(name: str) -> None:
    assert f"### `{name}`" in README
    table = re.search(rf"\| `\[{name}\]` setting \|.*?\n\n", README, re.DOTALL)
    assert table, f"no settings table for [{name}]"
    for field in dataclasses.fields(analyses.spec(name).params):
        assert f"| `{field.name}` |" in table.group(0), field.name


def test_the_first_lines_give_the_install_and_test_commands() -> None:
    head = README.splitlines()[:8]
    assert any("pip install" in line and line.rstrip().endswith("reportgen run") for line in head)
    assert any(line.strip() == "python -m pytest -q" for line in head)
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pytest -q" in ci


@pytest.mark.parametrize("command", ["run", "train", "render", "list"])
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 4


def test_the_architecture_table_states_each_default_epochs() -> None:
    from reportgen.models.architectures import ARCHITECTURES

    for name, cls in ARCHITECTURES.items():
        row = next(line for line in README.splitlines()
                   if line.startswith("| `") and f"`{name}`" in line.split("|")[1])
        assert row.rstrip(" |").endswith(f"| {cls.train_defaults['epochs']}"), name


@pytest.mark.parametrize("flag", ["--single-file", "--skip", "--only", "--device", "--no-cache",
                                  "--detail-examples", "--batch-size", "--precision"])
def test_the_readme_shows_every_run_flag_a_user_reaches_for(flag: str) -> None:
    assert "reportgen run " in README and flag in README
