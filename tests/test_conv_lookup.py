"""First-layer convolutions as lookups (``reportgen.models.conv_lookup``): faithfulness's edited
copies scored through the lookups give the model's own logits, the model is left as it was, and a
model whose first convolution does not read the plain embeddings is scored as it is."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reportgen.data.encoding import TextEncoder
from reportgen.models import conv_lookup
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES
from reportgen.models.conv_lookup import EditScorer

TEXTS = ["the film is not good at all", "bad", "a fine and moving piece though long", "so dull",
         "not bad at all , a fine film"]


def adapter_for(arch: str, seed: int = 0) -> ModelAdapter:
    cls = ARCHITECTURES[arch]
    encoder = TextEncoder.fit(cls.encoder_kind, TEXTS * 2, max_len=24)
    torch.manual_seed(seed)
    model = cls({**cls.default_config(encoder.n_tokens, 2), "emb_dim": 24})
    model.eval()
    return ModelAdapter(model, encoder, ["neg", "pos"], name=arch, arch=arch, source=arch,
                        task=cls.task)


def edited_copies(batch, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random deletions of each text's tokens, moved left and re-padded: (N, T) ids and mask."""
    rows, masks = [], []
    width = batch.ids.size(1)
    for b in range(batch.ids.size(0)):
        n = int(batch.mask[b].sum())
        for _ in range(4):
            keep = torch.rand(n, generator=generator) > 0.4
            kept = batch.ids[b, :n][keep]
            row = torch.zeros(width, dtype=torch.long)
            row[: kept.numel()] = kept
            rows.append(row)
            masks.append(torch.arange(width) < kept.numel())
    return torch.stack(rows), torch.stack(masks)


@pytest.mark.parametrize("arch", ["kim-cnn", "yuan-cnn", "dilated-cnn"])
def test_lookups_give_the_models_logits_and_leave_it_as_it_was(arch: str) -> None:
    model = adapter_for(arch)
    conv_lookup._PROVEN.pop(model.module, None)
    before = [(name, type(m)) for name, m in model.module.named_modules()]
    batch = model.encode(TEXTS)
    ids, mask = edited_copies(batch, torch.Generator().manual_seed(1))
    keep = mask.any(1)  # an edit always keeps a token (or a special one)
    ids, mask = ids[keep], mask[keep]
    with torch.no_grad():
        expected = model.forward_from_embeddings(model.embed(ids), mask)
    scorer = EditScorer(model, batch.ids)
    assert scorer.lookups, "every reference CNN here has first-layer convolutions over tokens"
    scorer.logits(ids, mask)  # the first chunk proves the lookups
    assert conv_lookup._PROVEN[model.module] is True and scorer.lookups is not None
    got = scorer.logits(ids, mask)  # now through the lookups
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert [(name, type(m)) for name, m in model.module.named_modules()] == before
    # the lookups really replace the products: a changed conv weight is not seen by them
    with torch.no_grad():
        first = dict(model.module.named_modules())[next(iter(scorer.lookups))]
        first.weight.mul_(2)
        changed = model.forward_from_embeddings(model.embed(ids), mask)
    assert not torch.allclose(scorer.logits(ids, mask), changed, atol=1e-4)


class ScaledCNN(nn.Module):
    """Embeddings scaled by 3 before the convolution: a lookup of W . e(v) would be a third of
    the truth, so the proof must refuse it."""

    def __init__(self, n_tokens: int) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.emb = nn.Embedding(n_tokens, 8, padding_idx=0)
        self.conv = nn.Conv1d(8, 6, 3, padding=1)
        self.out = nn.Linear(6, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.emb(ids).transpose(1, 2) * 3.0
        return self.out(torch.relu(self.conv(x)).max(-1).values)


def test_a_first_convolution_over_something_else_is_scored_as_the_model_is() -> None:
    from reportgen.models.adapter import HookedAdapter, UserModel

    enc = TextEncoder.fit("word", TEXTS * 2, max_len=24)
    model = HookedAdapter(UserModel(ScaledCNN(enc.n_tokens), enc, ["neg", "pos"], name="scaled"),
                          source="s", device="cpu")
    model.module.eval()
    batch = model.encode(TEXTS)
    ids, mask = edited_copies(batch, torch.Generator().manual_seed(2))
    ids, mask = ids[mask.any(1)], mask[mask.any(1)]
    scorer = EditScorer(model, batch.ids)
    with torch.no_grad():
        expected = model.forward_from_embeddings(model.embed(ids), mask)
    assert scorer.lookups is not None  # the view finds the convolution over the tokens
    torch.testing.assert_close(scorer.logits(ids, mask), expected, rtol=0, atol=0)
    assert conv_lookup._PROVEN[model.module] is False and scorer.lookups is None  # refused
    torch.testing.assert_close(scorer.logits(ids, mask), expected, rtol=0, atol=0)
