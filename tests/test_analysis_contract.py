"""The contract every registered analysis keeps, checked on untrained reference models.

Tables have exactly their declared columns and no NaN, metrics are finite numbers, the same seed
gives the same tables, and every chart serialises to JSON (also when it has more than Altair's
default 5,000 rows: the site builder, not Altair, decides what becomes a PNG).
"""

from __future__ import annotations

import dataclasses
import json
import math

import pandas as pd
import pytest
import torch

from reportgen import analyses
from reportgen.analyses.base import RunContext
from reportgen.analyses.spec import combine_per_model
from reportgen.data.demo import demo_dataset
from reportgen.data.encoding import TextEncoder
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES
from reportgen.records import AnalysisResult
from reportgen.site.charts import data_rows


def combine_per_model_for(results: dict, _params: object) -> AnalysisResult:
    return combine_per_model(results)


ARCHS = ("kim-cnn", "yuan-cnn", "bilstm", "char-cnn", "seq2seq-ae", "byte-lstm-lm")


@pytest.fixture(scope="module")
def context() -> tuple[list[ModelAdapter], list, object]:
    data = demo_dataset(600)
    train = [ex.text for ex in data.split("train")]
    models = []
    for arch in ARCHS:
        cls = ARCHITECTURES[arch]
        encoder = TextEncoder.fit(cls.encoder_kind, train, max_len=40)
        torch.manual_seed(0)
        module = cls(cls.default_config(encoder.n_tokens, len(data.classes)))
        models.append(ModelAdapter(module, encoder, data.classes, name=arch, arch=arch,
                                   source=arch, task=cls.task))
    return models, data.split("test")[:40], data


@pytest.mark.parametrize("name", analyses.REGISTRY)
def test_analysis_contract(name: str, context: tuple) -> None:
    module = analyses.spec(name)
    params = module.params()
    assert params.validate() == []
    models, examples, dataset = context
    applicable = [m for m in models if module.skip_reason(m) is None]
    skipped = [m for m in models if module.skip_reason(m) is not None]
    assert all(isinstance(module.skip_reason(m), str) for m in skipped)
    assert all(n in analyses.REGISTRY for n in module.needs)
    combine = module.combine

    def one(analysis: str, m: ModelAdapter) -> AnalysisResult:
        """One model's result, its upstream analyses computed first (as the pipeline does)."""
        mod = analyses.spec(analysis)
        upstream = {n: one(n, m) for n in mod.needs}
        ctx = RunContext(m, examples, dataset, torch.device("cpu"), 0, batch_size=16,
                         upstream=upstream)
        return mod.compute(ctx, mod.params())

    def run_all() -> AnalysisResult:
        return combine({m.name: one(name, m) for m in applicable}, params)

    first, second = run_all(), run_all()
    assert set(first.tables) == set(module.tables)
    for table, frame in first.tables.items():
        assert list(frame.columns) == module.tables[table], table
        numeric = frame.select_dtypes("number")
        assert not numeric.isna().any().any(), table
        pd.testing.assert_frame_equal(frame, second.tables[table])
    assert all(isinstance(v, float) and math.isfinite(v) for v in first.metrics.values())
    assert first.metrics == second.metrics

    def has(metric: str) -> bool:  # overall, or per model (a headline is never pooled over models)
        return metric in first.metrics or all(f"{m.name}.{metric}" in first.metrics
                                              for m in applicable)

    assert has(module.headline)
    presentation = module.present(first, params)
    assert presentation.charts
    for chart in presentation.charts:
        json.dumps(chart.spec)
    for metric, baseline in module.baselines.items():
        assert has(metric) and has(baseline)
    if name == "saliency":  # every dimension of 300-d heatmaps: past Altair's 5,000-row guard
        full = module.present(first, dataclasses.replace(params, heatmap_dimensions=0))
        assert max(data_rows(c.spec) for c in full.charts) > 5000
        json.dumps([c.spec for c in full.charts])
