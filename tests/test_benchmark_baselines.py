"""benchmarks/analysis_baselines.py on tiny untrained models: its equality check, its one-at-a-time
patches (undone afterwards), and batched and baseline runs giving the same numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks import analysis_baselines as ab
from reportgen.analyses import neuron_sweep, optimization_solver, representations
from reportgen.data.dataset import Dataset, Example
from reportgen.data.encoding import TextEncoder
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES
from reportgen.records import AnalysisResult

TEXTS = ["a good film", "not a bad film at all , really", "dull", "the plot is fine but slow",
         "a fine , moving film", "bad"]


def reference(arch: str) -> ModelAdapter:
    cls = ARCHITECTURES[arch]
    encoder = TextEncoder.fit(cls.encoder_kind, TEXTS, max_len=64)
    torch.manual_seed(0)
    module = cls(cls.default_config(encoder.n_tokens, 2))
    return ModelAdapter(module, encoder, ["neg", "pos"], name=arch, arch=arch, source=arch,
                        task=cls.task)


def setup(arch: str) -> ab.Setup:
    examples = [Example(t, "pos" if i % 2 else "neg") for i, t in enumerate(TEXTS)]
    data = Dataset("t", {"test": examples}, ["neg", "pos"])
    return ab.Setup(reference(arch), examples, data, torch.device("cpu"), 0, 4,
                    {n: ab.analyses.spec(n).params() for n in ab.analyses.REGISTRY})


def result(metric: float, words: list[str], values: list[float]) -> AnalysisResult:
    return AnalysisResult(tables={"t": pd.DataFrame({"word": words, "value": values})},
                          metrics={"m": metric})


def test_the_check_finds_numbers_apart_and_words_that_differ() -> None:
    a = result(0.5, ["x", "y"], [1.0, math.nan])
    assert ab.compare_results(a, result(0.5, ["x", "y"], [1.0, math.nan])).same(1e-6)  # NaN = NaN
    apart = ab.compare_results(a, result(0.5 + 1e-3, ["x", "y"], [1.0, math.nan]))
    assert not apart.same(1e-4) and apart.where == "metric m" and apart.worst == pytest.approx(1e-3)
    big = ab.compare_results(result(1000.0, ["x"], [1.0]), result(1000.1, ["x"], [1.0]))
    assert big.worst == pytest.approx(1e-4, rel=1e-3)  # relative above 1
    words = ab.compare_results(a, result(0.5, ["x", "z"], [1.0, math.nan]))
    assert words.mismatches == ["t.word: 1 of 2 cells differ"] and "no:" in words.verdict(1e-4)
    assert not ab.compare_results(a, result(0.5, ["x", "y"], [1.0, 2.0])).same(1.0)  # NaN vs number


def test_patches_are_undone_even_after_an_error() -> None:
    from reportgen.models import facts

    model = reference("kim-cnn")
    before = (representations.represent, neuron_sweep._per_token,
              optimization_solver.window_function)
    plain = facts.predict_proba
    for name in ("representations", "neuron_sweep", "optimization"):
        with pytest.raises(RuntimeError), ab.one_at_a_time(name, model):
            assert facts.predict_proba is not plain and neuron_sweep.predict_proba is not plain
            raise RuntimeError
    assert facts.predict_proba is plain and neuron_sweep.predict_proba is plain
    assert (representations.represent, neuron_sweep._per_token,
            optimization_solver.window_function) == before


def test_one_text_at_a_time_gives_the_batched_numbers() -> None:
    s = setup("kim-cnn")
    names = ["representations", "variance_salience", "hidden_saliency"]
    s.prepare(names)
    for case in ab.cases(s, names):
        check = case.compare(case.batched(), case.baseline())
        assert check.same(1e-4), (case.label, check.verdict(1e-4), check.mismatches)
    cases = ab.cases(s, ["saliency"])  # the analysis against Captum, batched and per text
    assert [c.label for c in cases] == ["saliency", "saliency (per text)"]
    analysis = cases[0].batched()
    for case in cases:
        check = case.compare(analysis, case.baseline())
        assert check.same(1e-5) and check.compared > len(TEXTS), check.verdict(1e-5)


def test_per_token_states_row_by_row_match_the_batch() -> None:
    model = reference("lstm")
    batch = model.encode(TEXTS)
    layer = neuron_sweep._unit_layer(model, "features")
    whole = neuron_sweep._per_token(model, batch, layer, "features")
    rows = ab._row_by_row(neuron_sweep._per_token, model, batch, layer, "features")
    assert rows.shape == whole.shape
    for b, toks in enumerate(batch.tokens):
        np.testing.assert_allclose(rows[b, : len(toks)].numpy(), whole[b, : len(toks)].numpy(),
                                   rtol=1e-5, atol=1e-6)
