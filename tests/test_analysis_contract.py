"""The contract every registered analysis keeps, checked on untrained reference models.

Tables have exactly their declared columns and no NaN, metrics are finite numbers, the same seed gives
the same tables, and every chart serialises to JSON (also when it has more than Altair's default
5,000 rows: the site builder, not Altair, decides what becomes a PNG).
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from reportgen import analyses
from reportgen.analyses.base import RunContext
from reportgen.data.demo import demo_dataset
from reportgen.data.encoding import TextEncoder
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES
from reportgen.site.charts import data_rows

ARCHS = ("kim-cnn", "yuan-cnn", "bilstm", "char-cnn", "seq2seq-ae", "byte-lstm-lm")


@pytest.fixture(scope="module")
def context() -> RunContext:
    data = demo_dataset(600)
    train = [ex.text for ex in data.split("train")]
    models = []
    for arch in ARCHS:
        cls = ARCHITECTURES[arch]
        encoder = TextEncoder.fit(cls.encoder_kind, train, max_len=40)
        torch.manual_seed(0)
        module = cls(cls.default_config(encoder.n_tokens, len(data.classes)))
        models.append(ModelAdapter(module, encoder, data.classes, name=arch, arch=arch, source=arch, task=cls.task))
    return RunContext(models, data.split("test")[:40], data, torch.device("cpu"), seed=0, batch_size=16)


@pytest.mark.parametrize("name", analyses.REGISTRY)
def test_analysis_contract(name: str, context: RunContext) -> None:
    module = analyses.get(name)
    params = module.Params()
    assert params.validate() == []
    applicable = [m for m in context.models if module.skip_reason(m) is None]
    skipped = [m for m in context.models if module.skip_reason(m) is not None]
    assert all(isinstance(module.skip_reason(m), str) for m in skipped)
    ctx = RunContext(applicable, context.examples, context.dataset, context.device, 0, batch_size=16)
    first, second = module.compute(ctx, params), module.compute(ctx, params)
    assert set(first.tables) == set(module.TABLES)
    for table, frame in first.tables.items():
        assert list(frame.columns) == module.TABLES[table], table
        numeric = frame.select_dtypes("number")
        assert not numeric.isna().any().any(), table
        pd.testing.assert_frame_equal(frame, second.tables[table])
    assert all(isinstance(v, float) and math.isfinite(v) for v in first.metrics.values())
    assert first.metrics == second.metrics
    assert module.HEADLINE in first.metrics
    presentation = module.present(first, params)
    assert presentation.charts
    for chart in presentation.charts:
        json.dumps(chart.spec)
    big = max(data_rows(c.spec) for c in presentation.charts)
    if name == "saliency":
        assert big > 5000  # 300-d heatmaps of two CNNs and a BiLSTM over one sentence
