"""Batch size by memory and precision (``reportgen.batching``): the arithmetic with injected memory
figures, the probe, halving on running out of GPU memory, bad values, and what auto and bf16 do to
the numbers of a whole run.

Tolerance of bf16 (stated in the README, "Batch size and precision"): on the demo models, every
metric of ``report.json`` that is a share, rate or accuracy (a number in [0, 1]) agrees with fp32
within ``RATE_TOLERANCE`` absolute, and every other number within ``RELATIVE_TOLERANCE`` of its
size. bf16 keeps 8 bits of mantissa (about 3 significant digits), which moves a score by up to
0.4% of its size; a rate over N texts moves by 1/N for each text whose decision sits that close to
a threshold, so 0.02 allows 2 such texts in 100. Measured (100 and 300 demo texts): at most 0.0034
on any rate (matching_rate, neuron_sweep's accuracies: one text in 300), 0.0014 on the
representations' scores, 0.0025 on faithfulness, below 0.0005 elsewhere. The analyses bf16
changed beyond that (their spec's ``precision="fp32"``) compute in fp32 in every run.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from reportgen import analyses, batching
from reportgen.analyses.base import RunContext
from reportgen.analyses.spec import AnalysisSpec
from reportgen.cli import main
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.errors import BadInput
from reportgen.models.adapter import HookedAdapter, ModelAdapter
from reportgen.models.architectures import ARCHITECTURES
from reportgen.records import AnalysisResult, Presentation
from reportgen.run import analysis as runner
from reportgen.run.batch_plan import BatchPlan
from reportgen.run.plan import plan
from tests.tiny_models import tanh_sum_model

RATE_TOLERANCE = 0.02  # absolute, for metrics in [0, 1]
RELATIVE_TOLERANCE = 0.02  # of max(|fp32 value|, 1), for the other metrics

WORDS = ["the", "a", "film", "plot", "good", "bad", "not", "very", "terrible", "great", "story",
         "acting"]


def lstm(name: str = "lstm") -> ModelAdapter:
    """An untrained small LSTM classifier over ``WORDS``."""
    cls = ARCHITECTURES["lstm"]
    encoder = TextEncoder.fit("word", [" ".join(WORDS)], max_len=200)
    torch.manual_seed(0)
    module = cls({**cls.default_config(encoder.n_tokens, 2), "emb_dim": 16, "hidden": 16})
    return ModelAdapter(module, encoder, ["neg", "pos"], name=name, arch="lstm", source=name)


def text(n: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(n))


# -- 1. the arithmetic ---------------------------------------------------------------------------
def test_ample_memory_gives_the_cap_and_tight_memory_a_smaller_power_of_two() -> None:
    mb = 2**20
    assert batching.choose_batch_size(1 * mb, 100 * 2**30, cap=64, share=0.5) == 64
    assert batching.choose_batch_size(1 * mb, 100 * 2**30, cap=1024, share=0.8) == 1024
    # a power of two
    assert batching.choose_batch_size(1 * mb, 100 * 2**30, cap=100, share=0.5) == 64
    # 40 MiB, half of it usable, 2 x 1 MiB per text: at most 10 texts -> 8
    assert batching.choose_batch_size(1 * mb, 40 * mb, cap=64, share=0.5) == 8
    assert batching.choose_batch_size(1 * mb, 1, cap=64, share=0.5) == 1  # never below 1
    assert batching.choose_batch_size(1 * mb, 0, cap=64, share=0.5) == 1
    assert batching.choose_batch_size(1 * mb, None, cap=64, share=0.5) == 64  # memory unknown
    for free_mb in range(1, 300, 7):  # always the largest power of two that fits
        n = batching.choose_batch_size(1 * mb, free_mb * mb, cap=64, share=0.5)
        assert n & (n - 1) == 0 and (n == 1 or n * 2 <= free_mb / 2)
        assert n == 64 or (2 * n) * 2 > free_mb / 2


def test_resolution_per_model_with_injected_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    examples = [Example(text(n), "pos") for n in (3, 40, 12)]
    model = lstm()
    per_text = batching.bytes_per_text(model,
                                       batching.longest_texts(examples, batching.PROBE_TEXTS))
    cpu, cuda = torch.device("cpu"), torch.device("cuda")

    def resolve(free: int | None, spec: int | str = "auto", device: torch.device = cpu,
                models=None):
        monkeypatch.setattr(batching, "available_memory", lambda _device: free)
        return batching.resolve_batch_sizes(models or [model], examples, spec, device)

    ample = resolve(64 * 2**30)["lstm"]
    assert (ample.size == 64 and ample.reason.startswith("auto: 64 (cap), ")
            and "per text" in ample.reason)
    # the GPU's cap (probed on CPU here)
    assert resolve(64 * 2**30, device=cuda)["lstm"].size == 1024
    tight = resolve(int(per_text * 2 * 20 / 0.5))["lstm"]  # room for 20 texts -> 16
    assert tight.size == 16 and "(cap)" not in tight.reason
    assert resolve(1)["lstm"].size == 1
    assert "may not fit" in resolve(1)["lstm"].reason
    assert resolve(None)["lstm"].reason.startswith("auto: 64 (cap; available memory unknown")
    unpadded = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    unpadded.pad_batches = False
    assert resolve(64 * 2**30, models=[unpadded])["tanh-sum"].size == 1
    assert resolve(64 * 2**30, 7, models=[unpadded])["tanh-sum"].size == 1

    def no_probe(*_args, **_kw):
        raise AssertionError("an explicit batch size probes nothing")

    monkeypatch.setattr(batching, "probe_bytes", no_probe)
    explicit = resolve(1, 7)["lstm"]  # however little memory: the number asked for
    assert (explicit.size, explicit.reason) == (7, "7 (--batch-size)")


def test_available_memory_reads_meminfo_and_a_cgroup_limit(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  32000000 kB\nMemFree:  1000 kB\nMemAvailable:  2000000 kB\n")
    assert batching._meminfo_available(meminfo) == 2000000 * 1024
    assert batching._meminfo_available(tmp_path / "none") is None
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("max\n")
    (v2 / "memory.current").write_text("100\n")
    assert batching._cgroup_headroom(v2) is None  # no limit
    (v2 / "memory.max").write_text("1000\n")
    assert batching._cgroup_headroom(v2) == 900
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (v1 / "memory" / "memory.usage_in_bytes").write_text("5\n")
    assert batching._cgroup_headroom(v1) is None  # v1's "no limit"
    (v1 / "memory" / "memory.limit_in_bytes").write_text("2000\n")
    assert batching._cgroup_headroom(v1) == 1995
    assert batching._cgroup_headroom(tmp_path / "nothing") is None
    here = batching.available_memory(torch.device("cpu"))
    assert here is None or here > 0


# -- 2. the probe --------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["lstm", "kim-cnn"])
def test_the_probe_grows_with_text_length_and_batch(arch: str) -> None:
    cls = ARCHITECTURES[arch]
    encoder = TextEncoder.fit("word", [" ".join(WORDS)], max_len=400)
    torch.manual_seed(0)
    model = ModelAdapter(cls(cls.default_config(encoder.n_tokens, 2)), encoder, ["neg", "pos"],
                         name=arch, arch=arch, source=arch)
    short, long = (batching.probe_bytes(model, [text(20)] * 4),
                   batching.probe_bytes(model, [text(200)] * 4))
    assert long > 5 * short  # 10x the tokens: activations grow with the length
    one, eight = (batching.probe_bytes(model, [text(50)]),
                  batching.probe_bytes(model, [text(50)] * 8))
    assert 6 * one < eight < 10 * one  # about linear in the batch
    per_text = batching.bytes_per_text(model, [text(50)] * 8)
    assert per_text == pytest.approx(eight / 8)
    emb = 50 * model.module.config["emb_dim"] * 4  # at least its embeddings and their gradient
    assert per_text > 2 * emb


def test_the_probe_takes_the_longest_texts() -> None:
    examples = [Example(text(n), None) for n in (5, 90, 3, 90, 40)]
    assert batching.longest_texts(examples, 2) == [text(90), text(90)]
    assert batching.longest_texts(examples, 9)[-1] == text(3)
    assert batching.longest_texts([], 8) == ["a"]


# -- 3. running out of GPU memory ----------------------------------------------------------------
def test_halve_on_oom_halves_down_to_one_then_raises() -> None:
    tried: list[int] = []

    def needs(limit: int):
        def compute(batch_size: int) -> int:
            tried.append(batch_size)
            if batch_size > limit:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
            return batch_size * 10
        return compute

    assert batching.halve_on_oom(needs(64), 64) == (640, 64)
    assert batching.halve_on_oom(needs(20), 64) == (160, 16)
    assert tried[-3:] == [64, 32, 16]
    with pytest.raises(torch.cuda.OutOfMemoryError):
        batching.halve_on_oom(needs(0), 8)
    assert tried[-4:] == [8, 4, 2, 1]
    with pytest.raises(torch.cuda.OutOfMemoryError):  # under torchrun: no retry
        batching.halve_on_oom(needs(20), 64, retry=False)


def _fitting_analysis(limit: int, name: str = "fits") -> AnalysisSpec:
    """A fake analysis that runs out of GPU memory above ``limit`` texts per batch and whose
    result says which batch size computed it."""

    @dataclass(frozen=True)
    class Params:
        pass

    def compute(ctx: RunContext, params: Params) -> AnalysisResult:
        if ctx.batch_size > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        batches = math.ceil(len(ctx.examples) / ctx.batch_size)
        value = float(batches) + float(torch.rand(()))  # the seed is set before every attempt
        frame = pd.DataFrame({"model": [ctx.model.name], "value": [value]})
        return AnalysisResult({"values": frame},
                              {"value": value, "batch_size": float(ctx.batch_size)})

    return AnalysisSpec(
        name=name, version=1, title=name, headline="value", method="m", how_to_read="r",
        citation="c", params=Params, tables={"values": ["model", "value"]},
        skip_reason=lambda m: None, compute=compute, present=lambda result, params: Presentation(),
    )


def test_an_analysis_out_of_gpu_memory_is_retried_at_half_the_batch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fitting_analysis(limit=16)
    real_spec = analyses.spec
    monkeypatch.setattr(analyses, "REGISTRY", ("fits",))
    monkeypatch.setattr(analyses, "spec", lambda n: fake if n == "fits" else real_spec(n))
    examples = [Example(text(i % 7 + 1), "pos") for i in range(100)]
    model = HookedAdapter(tanh_sum_model(), source="t", device="cpu")

    def settings(**kw) -> runner.RunSettings:
        return runner.RunSettings(examples, Dataset("t", {"test": examples}),
                                  torch.device("cpu"), 0,
                                  kw.pop("batch_size", 64), tmp_path / "cache", **kw)

    halved = settings(batches=BatchPlan(64, {"tanh-sum": 64}, {"tanh-sum": "auto: 64 (cap)"}))
    record = runner.run_analysis("fits", fake.params(), [model], halved)
    assert record.status == "ok", record.reason
    assert halved.batches.sizes == {"tanh-sum": 16}  # 64 -> 32 -> 16, for the rest of the run
    assert halved.batches.reasons["tanh-sum"] == (
        "auto: 64 (cap); halved to 16 in fits, which ran out of GPU memory at 64")
    assert any("ran out of GPU memory at batch size 64; computed with 16" in n
               for n in record.notes)
    direct = settings(batch_size=16, no_cache=True)
    again = runner.run_analysis("fits", fake.params(), [model], direct)
    assert again.metrics == record.metrics  # what a batch of 16 computes, to the last bit
    assert record.metrics["tanh-sum.batch_size"] == 16
    key_halved, _ = halved.results["fits"]["tanh-sum"]
    assert key_halved == direct.results["fits"]["tanh-sum"][0]  # cached under the size it used
    monkeypatch.setattr(analyses, "spec", lambda n: _fitting_analysis(limit=0))
    failed = runner.run_analysis("fits", fake.params(), [model],
                                 settings(batch_size=4, no_cache=True))
    assert failed.status == "failed" and "OutOfMemoryError" in failed.reason  # even 1 did not fit


def test_the_next_auto_run_halves_where_the_last_one_did_and_reads_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After an auto-sized model is halved in one analysis, that analysis's result is cached under
    the smaller size (the ones before it under the probe's size). The next auto run probes the same
    size: it must switch to the smaller size at the same analysis, so every result comes from the
    cache instead of running out of memory and recomputing."""
    early, fits = _fitting_analysis(limit=10**6, name="early"), _fitting_analysis(limit=16)
    real_spec = analyses.spec
    monkeypatch.setattr(analyses, "REGISTRY", ("early", "fits"))
    monkeypatch.setattr(analyses, "spec",
                        lambda n: {"early": early, "fits": fits}.get(n) or real_spec(n))
    examples = [Example(text(i % 7 + 1), "pos") for i in range(100)]
    model = HookedAdapter(tanh_sum_model(), source="t", device="cpu")

    def auto_run(probed: int, auto: bool = True, **kw) -> tuple[runner.RunSettings, list]:
        plan = BatchPlan(64, {"tanh-sum": probed}, {"tanh-sum": f"auto: {probed}"},
                         {"tanh-sum": probed} if auto else {})
        run = runner.RunSettings(examples, Dataset("t", {"test": examples}), torch.device("cpu"),
                                 0, 64, tmp_path / "cache", batches=plan, **kw)
        return run, [runner.run_analysis(n, early.params(), [model], run)
                     for n in ("early", "fits")]

    first, records = auto_run(64)
    assert first.batches.sizes == {"tanh-sum": 16}
    assert [r.metrics["tanh-sum.batch_size"] for r in records] == [64, 16]
    calls: list[int] = []
    def counting(spec: AnalysisSpec) -> AnalysisSpec:
        return dataclasses.replace(spec, compute=lambda ctx, params: calls.append(ctx.batch_size))

    early, fits = counting(early), counting(fits)
    monkeypatch.setattr(analyses, "spec",
                        lambda n: {"early": early, "fits": fits}.get(n) or real_spec(n))
    second, again = auto_run(64)
    assert calls == []  # both read from the cache: early at 64, fits at 16
    assert all(any("Read from the cache" in n for n in r.notes) for r in again)
    assert [r.metrics for r in again] == [r.metrics for r in records]
    assert second.batches.sizes == {"tanh-sum": 16}
    assert second.batches.reasons["tanh-sum"] == (
        "auto: 64; 16 from fits on: an earlier run ran out of GPU memory there at 64")
    assert any("an earlier run of the same model and texts ran out of GPU memory here at 64" in n
               for n in again[1].notes)
    # an explicit --batch-size, --no-cache, or a probe that finds room for more: no hint is taken
    for run, _ in (auto_run(64, auto=False), auto_run(64, no_cache=True), auto_run(128)):
        assert run.batches.sizes["tanh-sum"] != 16
    assert calls and 16 not in calls


# -- 4. keys, precision and bad values ----------------------------------------------------------
def test_auto_keys_equal_explicit_keys_and_only_low_precision_changes_them(tmp_path: Path) -> None:
    examples = [Example("a b", "pos"), Example("b", "neg")]
    model = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    mod = analyses.spec("saliency")

    def key(**kw) -> str:
        run = runner.RunSettings(examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0,
                                 kw.pop("batch_size", 64), tmp_path, **kw)
        return runner.result_key("saliency", mod, mod.params(), model, run, {})

    explicit = key(batch_size=64)
    auto_64 = BatchPlan(7, {"tanh-sum": 64})
    assert key(batch_size=7, batches=auto_64) == explicit  # auto's 64 = --batch-size 64
    assert key(precision="fp32") == explicit
    assert key(batches=BatchPlan(64, {"tanh-sum": 32})) != explicit
    assert key(precision="bf16") != explicit != key(precision="fp16")
    sweep = analyses.spec("neuron_sweep")  # computes in fp32 in every run: one key for both
    run = runner.RunSettings(examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0, 64,
                             tmp_path)
    fp32_key = runner.result_key("neuron_sweep", sweep, sweep.params(), model, run, {})
    run.precision = "bf16"
    assert runner.result_key("neuron_sweep", sweep, sweep.params(), model, run, {}) == fp32_key
    assert runner.analysis_precision(sweep, "bf16") == "fp32"
    assert runner.analysis_precision(mod, "bf16") == "bf16"


def test_precision_auto_is_fp32_on_cpu_and_bf16_runs_under_autocast() -> None:
    cpu = torch.device("cpu")
    assert batching.resolve_precision("auto", cpu) == ("fp32", "auto: fp32 (CPU)")
    assert batching.resolve_precision("BF16", cpu)[0] == "bf16"
    fp32 = [s.name for s in analyses.specs() if s.precision == "fp32"]
    assert fp32 == ["optimization", "neuron_sweep"]
    assert "optimization, neuron_sweep in fp32" in batching.resolve_precision("bf16", cpu, fp32)[1]
    with pytest.raises(BadInput, match="fp16 is for GPUs"):
        batching.resolve_precision("fp16", cpu)
    with pytest.raises(BadInput, match="auto, fp32, bf16, fp16"):
        batching.resolve_precision("fp8", cpu)
    x, w = torch.randn(2, 3), torch.randn(3, 3)
    with batching.autocast("fp32", cpu):
        assert (x @ w).dtype == torch.float32
    with batching.autocast("bf16", cpu):
        assert (x @ w).dtype == torch.bfloat16


def invoke(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.parametrize(("args", "needle"), [
    (["--batch-size", "0"], "--batch-size must be auto or a whole number of at least 1, not 0"),
    (["--batch-size", "-3"], "--batch-size must be auto or a whole number of at least 1, not -3"),
    (["--batch-size", "big"],
     '--batch-size must be auto or a whole number of at least 1, not "big"'),
    (["--precision", "fp8"], '--precision must be one of auto, fp32, bf16, fp16, not "fp8"'),
    (["--precision", "fp16", "--device", "cpu"], "fp16 is for GPUs; on CPU use bf16 or fp32"),
])
def test_bad_batch_size_or_precision_exits_2_naming_the_choices(
        args: list[str], needle: str, tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = invoke(["run", *args, "--out", str(out), "--cache-dir", str(tmp_path / "c"),
                     "--quiet"])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output and result.output.count("--") <= 3
    assert not out.exists()


def test_batch_size_and_precision_from_the_config_file(tmp_path: Path) -> None:
    from reportgen.config import load_config

    toml = tmp_path / "run.toml"
    toml.write_text('[run]\nbatch_size = 32\nprecision = "bf16"\n')
    config = load_config(str(toml), {})
    assert (config.batch_size, config.precision) == (32, "bf16")
    assert load_config(None, {}).batch_size == "auto" and load_config(None, {}).precision == "auto"
    toml.write_text('[run]\nbatch_size = "big"\n')
    with pytest.raises(BadInput, match="--batch-size must be auto or a whole number"):
        load_config(str(toml), {})


# -- 5. whole runs on the demo models -----------------------------------------------------------
@pytest.mark.slow
def test_every_analysis_runs_under_bf16_autocast_on_cpu() -> None:
    """Every analysis on every reference architecture it applies to, under CPU autocast to bf16:
    nothing may hand a bf16 tensor to numpy or compare it with an fp32 one."""
    from reportgen.data.demo import demo_dataset

    data = demo_dataset(600)
    train = [ex.text for ex in data.split("train")]
    examples = data.split("test")[:24]
    ran = 0
    for arch in ("kim-cnn", "yuan-cnn", "dilated-cnn", "rnn", "bilstm", "char-cnn", "seq2seq-ae",
                 "byte-lstm-lm"):
        cls = ARCHITECTURES[arch]
        encoder = TextEncoder.fit(cls.encoder_kind, train, max_len=40)
        torch.manual_seed(0)
        model = ModelAdapter(cls(cls.default_config(encoder.n_tokens, 2)), encoder, data.classes,
                             name=arch, arch=arch, source=arch, task=cls.task)
        results: dict[str, AnalysisResult] = {}
        for name in plan(list(analyses.REGISTRY)):
            spec = analyses.spec(name)
            if spec.skip_reason(model) is not None or any(n not in results for n in spec.needs):
                continue
            ctx = RunContext(model, examples, data, torch.device("cpu"), 0, batch_size=8,
                             upstream={n: results[n] for n in (*spec.needs, *spec.uses)
                                       if n in results})
            with batching.autocast("bf16", torch.device("cpu")):
                results[name] = spec.compute(ctx, spec.params())
            ran += 1
            assert all(math.isfinite(v) for v in results[name].metrics.values()), (arch, name)
    assert ran >= 30


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """report.json of three runs of the demo models on 100 demo texts: auto (fp32), --batch-size
    64 recomputed, and bf16. The first trains the demo models into the fixture's cache."""
    root = tmp_path_factory.mktemp("batching")
    reports = {}
    for name, extra in (("auto", []), ("64", ["--batch-size", "64", "--no-cache"]),
                        ("bf16", ["--precision", "bf16"])):
        out = root / name
        result = invoke(["run", "--model", "demo", "--data", "demo", "--max-examples", "100",
                         "--out", str(out), "--cache-dir", str(root / "cache"), "--quiet", *extra])
        assert result.exit_code == 0, result.output
        reports[name] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return reports


def metrics(report: dict) -> dict[str, dict[str, float]]:
    return {name: a["metrics"] for name, a in report["analyses"].items()}


@pytest.mark.slow
def test_auto_on_cpu_is_64_and_gives_the_numbers_of_batch_size_64(demo_runs: dict) -> None:
    auto, explicit = demo_runs["auto"], demo_runs["64"]
    assert auto["config"]["batch_size"] == "auto" and explicit["config"]["batch_size"] == 64
    assert auto["batch_sizes"] == explicit["batch_sizes"] == dict.fromkeys(
        ["rnn", "lstm", "bilstm", "kim-cnn", "char-cnn", "byte-lstm-lm"], 64)
    reasons = auto["config"]["resolved"]["batch_size_reasons"]
    assert all(r.startswith("auto: 64 (cap), ") and "per text" in r for r in reasons.values())
    assert explicit["config"]["resolved"]["batch_size_reasons"]["rnn"] == "64 (--batch-size)"
    assert auto["config"]["resolved"]["precision"] == "fp32"
    assert all(a["status"] == "ok" for a in auto["analyses"].values())
    assert metrics(auto) == metrics(explicit)  # recomputed: the same numbers, bit for bit


def bf16_differences(fp32: dict, bf16: dict) -> dict[str, tuple[float, str]]:
    """Per analysis: the largest difference in units of its tolerance, and the metric."""
    worst: dict[str, tuple[float, str]] = {}
    for name, values in metrics(fp32).items():
        for key, a in values.items():
            b = metrics(bf16)[name][key]
            if a is None:
                assert b is None, (name, key)
                continue
            rate = 0 <= a <= 1 and 0 <= b <= 1 and not key.endswith(("examples", "units", "unit"))
            scale = RATE_TOLERANCE if rate else RELATIVE_TOLERANCE * max(abs(a), 1.0)
            worst[name] = max(worst.get(name, (0.0, "")), (abs(a - b) / scale, key))
    return worst


@pytest.mark.slow
def test_bf16_changes_no_metric_beyond_the_stated_tolerance(demo_runs: dict) -> None:
    fp32, bf16 = demo_runs["auto"], demo_runs["bf16"]
    assert bf16["config"]["resolved"]["precision"] == "bf16"
    assert [a["status"] for a in bf16["analyses"].values()] == ["ok"] * len(bf16["analyses"])
    assert set(metrics(bf16)) == set(metrics(fp32))
    for name, values in metrics(fp32).items():
        assert set(metrics(bf16)[name]) == set(values), name
    worst = bf16_differences(fp32, bf16)
    beyond = {name: w for name, w in worst.items() if w[0] > 1.0}
    assert not beyond, beyond
