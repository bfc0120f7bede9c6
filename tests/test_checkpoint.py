"""Checkpoints hold only plain data and load with weights_only=True."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reportgen.data.encoding import TextEncoder
from reportgen.errors import BadInput
from reportgen.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint


def test_version_strings_and_tuples_become_plain_data(tmp_path: Path) -> None:
    encoder = TextEncoder.fit("word", ["a b", "b c"])
    info = {"torch": torch.__version__, "shape": (1, 2)}  # TorchVersion is a str subclass
    ckpt = Checkpoint("lstm", {"hidden": 4}, encoder, ["neg", "pos"], {"w": torch.ones(2)},
                      {"test_accuracy": 0.5}, info)
    path = tmp_path / "m.pt"
    save_checkpoint(ckpt, path)
    raw = torch.load(path, weights_only=True)
    assert type(raw["info"]["torch"]) is str and raw["info"]["shape"] == [1, 2]
    loaded = load_checkpoint(path)
    assert loaded.encoder.vocab.itos == encoder.vocab.itos
    assert loaded.metrics == {"test_accuracy": 0.5}
    assert torch.equal(loaded.state_dict["w"], torch.ones(2))


def test_a_pickled_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "reportgen-checkpoint", "payload": Path("x")}, path)
    with pytest.raises(BadInput, match="weights_only"):
        load_checkpoint(path)
