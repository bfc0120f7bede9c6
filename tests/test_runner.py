"""Running analyses: dependency order, upstream results, per-model cache, keys that are never stale.

Fake analyses (plain modules built here) count their computations, so a test can see exactly which
(analysis, model) pairs were recomputed and which came from the cache.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch

from reportgen import analyses
from reportgen.analyses.spec import AnalysisSpec
from reportgen.data.dataset import Dataset, Example
from reportgen.errors import BadInput
from reportgen.models.adapter import HookedAdapter
from reportgen.models.facts import code_fingerprint, fingerprint
from reportgen.records import AnalysisResult, Presentation
from reportgen.run import analysis as runner
from reportgen.run.plan import plan
from tests.tiny_models import tanh_sum_model

COMPUTED: list[tuple[str, str]] = []


def fake(name: str, needs: tuple[str, ...] = ()) -> AnalysisSpec:
    @dataclass(frozen=True)
    class Params:
        scale: float = 1.0

    def compute(ctx, params) -> AnalysisResult:
        COMPUTED.append((name, ctx.model.name))
        upstream = sum(r.metrics["value"] for r in ctx.upstream.values())
        value = params.scale * len(ctx.examples) + upstream
        table = pd.DataFrame({"model": [ctx.model.name], "value": [value]})
        return AnalysisResult({"values": table}, {"value": value})

    return AnalysisSpec(
        name=name, version=1, title=name, headline="value", method="m", how_to_read="r",
        citation="c", needs=needs, params=Params, tables={"values": ["model", "value"]},
        skip_reason=lambda m: None, compute=compute,
        present=lambda result, params: Presentation(),
    )


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, AnalysisSpec]:
    fakes = {"a": fake("a"), "b": fake("b", ("a",)), "c": fake("c", ("b",)), "d": fake("d")}
    real_spec = analyses.spec
    monkeypatch.setattr(analyses, "REGISTRY", ("d", "c", "b", "a"))  # report order != need order
    monkeypatch.setattr(analyses, "spec", lambda n: fakes[n] if n in fakes else real_spec(n))
    COMPUTED.clear()
    return fakes


def model(name: str) -> HookedAdapter:
    user = tanh_sum_model()
    user.name = name
    return HookedAdapter(user, source=name, device="cpu")


def settings(tmp_path: Path, examples: list[Example] | None = None, **kw) -> runner.RunSettings:
    examples = examples or [Example("a b", "pos"), Example("b", "neg")]
    dataset = kw.pop("dataset", Dataset("t", {"test": examples}))
    return runner.RunSettings(examples, dataset, torch.device("cpu"), kw.pop("seed", 0),
                              kw.pop("batch_size", 64), tmp_path / "cache", **kw)


def run(names: list[str], models: list, run: runner.RunSettings,
        params: dict | None = None) -> dict:
    params = params or {}
    records = {}
    for name in plan(names):
        p = params.get(name, analyses.spec(name).params())
        records[name] = runner.run_analysis(name, p, models, run)
    return records


def test_plan_adds_needs_and_orders_them(registry) -> None:
    assert plan(["c"]) == ["a", "b", "c"]
    assert plan(["d", "c"]) == ["d", "a", "b", "c"]
    with pytest.raises(BadInput, match="c needs b, which --skip leaves out"):
        plan(["c"], skipped=("b",))
    registry["a"] = dataclasses.replace(registry["a"], needs=("c",))
    with pytest.raises(BadInput, match="cycle"):
        plan(["c"])


def test_uses_orders_without_adding_and_hands_over_what_ran(registry, tmp_path: Path) -> None:
    # d reads a when a runs; report order puts d first
    registry["d"] = dataclasses.replace(registry["d"], uses=("a",))
    assert plan(["d"]) == ["d"]  # not added
    assert plan(["d", "a"]) == ["a", "d"]  # ordered after it
    alone = run(["d"], [model("m")], settings(tmp_path))
    assert alone["d"].metrics == {"m.value": 2.0}  # 2 examples, nothing upstream
    both = run(["d", "a"], [model("m")], settings(tmp_path))
    assert both["d"].metrics == {"m.value": 4.0}  # 2 + a's 2: a different key, recomputed
    registry["a"] = dataclasses.replace(registry["a"], uses=("d",))
    with pytest.raises(BadInput, match="cycle: d -> a -> d"):
        plan(["d", "a"])


def test_only_runs_what_it_needs_and_hands_over_upstream_results(registry, tmp_path: Path) -> None:
    records = run(["c"], [model("m")], settings(tmp_path))
    assert list(records) == ["a", "b", "c"]
    assert COMPUTED == [("a", "m"), ("b", "m"), ("c", "m")]
    # a = 2 examples; b = 2 + a; c = 2 + b
    assert records["c"].metrics == {"m.value": 6.0}


def test_adding_a_model_computes_only_the_new_model(registry, tmp_path: Path) -> None:
    run(["c"], [model("m1")], settings(tmp_path))
    COMPUTED.clear()
    records = run(["c"], [model("m1"), model("m2")], settings(tmp_path))
    assert COMPUTED == [("a", "m2"), ("b", "m2"), ("c", "m2")]
    assert records["c"].metrics == {"m1.value": 6.0, "m2.value": 6.0}
    assert records["c"].tables["values"]["model"].tolist() == ["m1", "m2"]  # the combined view
    assert any("Read from the cache for m1" in n for n in records["c"].notes)


def test_upstream_changes_reach_downstream_keys(registry, tmp_path: Path) -> None:
    run(["c"], [model("m")], settings(tmp_path))
    COMPUTED.clear()
    params = {"a": registry["a"].params(scale=3.0)}
    records = run(["c"], [model("m")], settings(tmp_path), params)
    assert COMPUTED == [("a", "m"), ("b", "m"), ("c", "m")]  # b and c: new upstream keys
    assert records["c"].metrics == {"m.value": 10.0}


def test_every_input_of_the_numbers_is_in_the_key_and_nothing_else_recomputes(
    registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = settings(tmp_path)
    run(["d"], [model("m")], base)
    COMPUTED.clear()
    run(["d"], [model("m")], settings(tmp_path))  # the same again: all from the cache
    assert COMPUTED == []

    def recomputes(models=None, params=None, **kw) -> bool:
        COMPUTED.clear()
        run(["d"], models or [model("m")], settings(tmp_path, **kw), params)
        return COMPUTED == [("d", "m")]

    assert recomputes(params={"d": registry["d"].params(scale=2.0)})
    assert recomputes(seed=1)
    assert recomputes(batch_size=7)
    assert recomputes(examples=[Example("a b", "pos"), Example("b b", "neg")])
    other = [Example("a b", "pos"), Example("b", "neg")]
    assert recomputes(dataset=Dataset("t", {"test": other, "train": [Example("a", "neg")]}))
    m = model("m")
    with torch.no_grad():
        m.module.v[0] += 1.0
    assert recomputes(models=[m])
    m = model("m")
    m.encoder.vocab.itos[3] = "z"
    m.encoder.vocab.stoi = {t: i for i, t in enumerate(m.encoder.vocab.itos)}
    assert recomputes(models=[m])
    m = model("m")
    m.code_files.append(str(Path(__file__)))  # stands for an edited source file
    assert recomputes(models=[m])
    real_version = runner.__version__
    monkeypatch.setattr(runner, "__version__", "9.9.9")
    assert recomputes()
    monkeypatch.setattr(runner, "__version__", real_version)
    key = runner.result_key("d", registry["d"], registry["d"].params(), model("m"),
                            settings(tmp_path), {})
    cuda = settings(tmp_path)
    cuda.device = torch.device("cuda")  # a CPU result is never served to a CUDA run
    assert runner.result_key("d", registry["d"], registry["d"].params(), model("m"), cuda,
                             {}) != key
    # the ranks of a torchrun job on one kind of GPU share their keys; another GPU model does not
    with monkeypatch.context() as gpus:
        gpus.setattr(torch.cuda, "is_available", lambda: True)
        gpus.setattr(torch.cuda, "get_device_name",
                     lambda d: "H100" if d.index in (0, 1) else "A100")
        keys = []
        for index in (0, 1, 2):
            cuda.device = torch.device("cuda", index)
            keys.append(runner.result_key("d", registry["d"], registry["d"].params(), model("m"),
                                          cuda, {}))
    assert keys[0] == keys[1] != keys[2]
    COMPUTED.clear()
    run(["d"], [model("m")], settings(tmp_path))
    assert COMPUTED == []


def test_a_changed_user_source_file_changes_the_fingerprint(tmp_path: Path) -> None:
    from reportgen.models.loading import load_model

    source = '''
import torch
from torch import nn
import reportgen
from reportgen.data.vocab import Vocab
from reportgen.models.facts import code_fingerprint, fingerprint

class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(4, 2, padding_idx=0)
    def forward(self, ids):
        return self.emb(ids).sum(1) * SCALE

SCALE = 1.0

def build():
    torch.manual_seed(0)
    enc = reportgen.TextEncoder("word", Vocab(["<pad>", "<unk>", "a", "b"]))
    return reportgen.UserModel(M(), enc, ["x", "y"])
'''
    path = tmp_path / "mine.py"
    path.write_text(source)
    first = fingerprint(load_model(f"{path}:build", device=torch.device("cpu")))
    assert fingerprint(load_model(f"{path}:build", device=torch.device("cpu"))) == first
    path.write_text(source.replace("SCALE = 1.0", "SCALE = 2.0"))  # same weights, new code
    assert fingerprint(load_model(f"{path}:build", device=torch.device("cpu"))) != first


def test_reference_fingerprint_covers_the_architecture_source() -> None:
    from reportgen.models.architectures import cnn

    a = model("m")
    files = code_fingerprint(a)
    assert files == code_fingerprint(model("m"))
    kim = cnn.KimCNN(cnn.KimCNN.default_config(10, 2))
    from reportgen.data.encoding import TextEncoder
    from reportgen.data.vocab import Vocab
    from reportgen.models.adapter import ModelAdapter

    enc = TextEncoder("word", Vocab(["<pad>", "<unk>"] + [str(i) for i in range(8)]))
    adapter = ModelAdapter(kim, enc, ["a", "b"], name="k", arch="kim-cnn", source="k")
    original = code_fingerprint(adapter)
    adapter.code_files.append(str(Path(cnn.__file__).with_name("_common.py")))
    assert code_fingerprint(adapter) != original  # a file more -> a different hash
    assert dataclasses.is_dataclass(runner.RunSettings)
