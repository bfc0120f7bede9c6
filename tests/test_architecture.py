"""The house rules of the codebase, held by the import graph (``tools/import_graph.py``):
no import from a lower layer up to a higher one, no import cycle, no module over ~400 lines, and
the renderer never imports torch."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 420  # "about 400": a module past this is split by responsibility


def _graph_tool():
    spec = importlib.util.spec_from_file_location("import_graph",
                                                  ROOT / "tools" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module
    spec.loader.exec_module(module)
    return module


tool = _graph_tool()


def test_every_module_has_a_layer() -> None:
    assert [m for m in tool.modules() if m != "reportgen" and tool.layer(m) is None] == []


def test_no_import_runs_from_a_lower_layer_up() -> None:
    assert tool.upward(tool.edges(tool.modules())) == []


def test_no_import_cycle() -> None:
    assert tool.cycles(tool.edges(tool.modules())) == []


def test_the_rules_catch_what_they_forbid() -> None:
    graph = {"reportgen.records": {"reportgen.site.pages"}, "reportgen.site.pages": set(),
             "reportgen.models.a": {"reportgen.models.b"},
             "reportgen.models.b": {"reportgen.models.a"}}
    assert tool.upward(graph) == [("reportgen.records", "reportgen.site.pages")]
    assert tool.cycles(graph) == [["reportgen.models.a", "reportgen.models.b"]]


def test_no_module_is_over_about_400_lines() -> None:
    long = {m: n for m, n in tool.line_counts(tool.modules()).items() if n > MAX_LINES}
    assert long == {}


def test_the_site_never_imports_torch() -> None:
    graph = tool.edges(tool.modules())
    site = [m for m in graph if tool.layer(m) == "site"]
    for module in site:
        text = tool.modules()[module].read_text()
        assert "import torch" not in text, module
    assert all(tool.layer(t) in ("ground", "analyses", "site") or t.startswith("reportgen.cache")
               for m in site for t in graph[m] if not t.startswith("reportgen.site"))
