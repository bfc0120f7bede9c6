"""Every registered architecture honours the TextModel contract (CPU, tiny vocabularies, seeded)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from reportgen.data.encoding import TextEncoder, token_mask
from reportgen.errors import BadInput
from reportgen.models.adapter import receptive_fields
from reportgen.models.architectures import ARCHITECTURES, build_model, get_architecture
from reportgen.models.architectures.cnn import YuanCNN
from reportgen.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

TEXTS = ["a good film", "not a bad film at all , really", "dull", "the plot is fine but slow"]
ARCHS = sorted(ARCHITECTURES)


def encoder_for(kind: str) -> TextEncoder:
    return TextEncoder.fit(kind, TEXTS, max_len=64)


# Config variants besides the defaults that must honour the contract too.
VARIANTS = {"yuan-cnn+agnews": ("yuan-cnn", YuanCNN.variant_for_data("agnews:x"))}
ARCHS = [*ARCHS, *VARIANTS]


def tiny(arch: str, seed: int = 0) -> tuple[nn.Module, TextEncoder]:
    arch, changes = VARIANTS.get(arch, (arch, {}))
    cls = ARCHITECTURES[arch]
    enc = encoder_for(cls.encoder_kind)
    torch.manual_seed(seed)
    return cls({**cls.default_config(enc.n_tokens, 3), **changes}).eval(), enc


def test_registry_names_match_classes() -> None:
    assert set(ARCHITECTURES) >= {"kim-cnn", "yuan-cnn", "rnn", "lstm", "bilstm", "char-cnn",
                                  "dilated-cnn", "seq2seq-ae", "byte-lstm-lm"}
    for name, cls in ARCHITECTURES.items():
        assert cls.arch == name
        assert cls.task in ("classify", "autoencode", "lm")
        assert cls.citation and cls.summary and cls.__doc__


def test_unknown_architecture_lists_the_registered_ones() -> None:
    with pytest.raises(BadInput, match="unknown architecture 'transformer'.*kim-cnn"):
        get_architecture("transformer")
    with pytest.raises(BadInput):
        build_model("nope", {})


@pytest.mark.parametrize("arch", ARCHS)
def test_shapes_and_split_forward(arch: str) -> None:
    model, enc = tiny(arch)
    batch = enc.encode(TEXTS)
    B, T = batch.ids.shape[:2]
    emb = model.embed(batch.ids)
    assert emb.shape[:-1] == batch.ids.shape  # (B, T, E) or (B, T, C, E)
    out = model(batch.ids)
    if model.task == "classify":
        assert out.shape == (B, 3)
    else:
        assert out.shape == (B, T, enc.n_tokens)
    split = model.forward_from_embeddings(emb, token_mask(batch.ids))
    assert torch.equal(out, split)
    hidden = model.hidden_states(emb, batch.mask)
    assert hidden.shape[:2] == (B, T)
    assert torch.all(hidden[~batch.mask] == 0)  # nothing leaks into padding


@pytest.mark.parametrize("arch", ARCHS)
def test_padding_never_changes_an_example(arch: str) -> None:
    model, enc = tiny(arch)
    batch = enc.encode(TEXTS, min_len=20)  # extra padding for everyone
    with torch.no_grad():
        together = model(batch.ids)
        for i, text in enumerate(TEXTS):
            alone_batch = enc.encode([text])
            alone = model(alone_batch.ids)[0]
            if model.task == "classify":
                torch.testing.assert_close(together[i], alone, atol=1e-5, rtol=1e-5)
            else:
                n = alone.shape[0]
                torch.testing.assert_close(together[i, :n], alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_gradients_reach_every_input_embedding(arch: str) -> None:
    model, enc = tiny(arch)
    batch = enc.encode(TEXTS[1:2])
    emb = model.embed(batch.ids).detach().requires_grad_(True)
    out = model.forward_from_embeddings(emb, batch.mask)
    out[..., 0].sum().backward()
    assert emb.grad is not None
    per_token = emb.grad.abs().flatten(2).sum(-1)[0]  # (T,)
    assert torch.all(per_token > 0)


@pytest.mark.parametrize("arch", ARCHS)
def test_conv_chains_name_conv_modules(arch: str) -> None:
    model, _ = tiny(arch)
    modules = dict(model.named_modules())
    for chain in model.conv_chains():
        assert chain and all(isinstance(modules[name], nn.Conv1d) for name in chain)


def _sizes(model: nn.Module, chain: list[str]) -> list[int]:
    modules = dict(model.named_modules())
    return [rf.size for rf in receptive_fields([modules[n] for n in chain])]


def test_receptive_fields_are_the_documented_ones() -> None:
    kim, _ = tiny("kim-cnn")
    assert [_sizes(kim, c) for c in kim.conv_chains()] == [[3], [4], [5]]
    yuan, _ = tiny("yuan-cnn")
    assert [_sizes(yuan, c) for c in yuan.conv_chains()] == [[5, 9, 13]]
    dilated, _ = tiny("dilated-cnn")
    assert [_sizes(dilated, c) for c in dilated.conv_chains()] == [[1, 3, 7, 15, 31]]
    chars, _ = tiny("char-cnn")
    assert [_sizes(chars, c) for c in chars.conv_chains()] == [[k] for k in range(1, 8)]
    for arch in ("rnn", "lstm", "bilstm", "seq2seq-ae", "byte-lstm-lm"):
        assert tiny(arch)[0].conv_chains() == []


def test_yuan_agnews_variant() -> None:
    assert YuanCNN.variant_for_data("agnews:/data/ag") == {"channels": [512, 256, 128, 64]}
    assert YuanCNN.variant_for_data("mr:/data/mr") == {}
    cfg = {**YuanCNN.default_config(20, 4), **YuanCNN.variant_for_data("agnews:x")}
    assert _sizes(YuanCNN(cfg), YuanCNN(cfg).conv_chains()[0]) == [5, 9, 13, 17]


def test_char_cnn_reads_spelled_words() -> None:
    model, enc = tiny("char-cnn")
    batch = enc.encode(TEXTS)
    assert batch.ids.dim() == 3 and model.embed(batch.ids).dim() == 4  # (B, T, C), (B, T, C, E)
    assert model.encoder_kind == "word_chars"


@pytest.mark.parametrize("arch", ARCHS)
def test_checkpoint_round_trip(arch: str, tmp_path: Path) -> None:
    model, enc = tiny(arch)
    classes = ["a", "b", "c"] if model.task == "classify" else []
    ckpt = Checkpoint(model.arch, model.config, enc, classes, model.state_dict(),
                      {"test_accuracy": 0.5})
    path = tmp_path / f"{arch}.pt"
    save_checkpoint(ckpt, path)
    torch.load(path, weights_only=True)  # no code runs when a checkpoint opens
    loaded = load_checkpoint(path)
    rebuilt = build_model(loaded.arch, loaded.config)
    rebuilt.load_state_dict(loaded.state_dict)
    rebuilt.eval()
    ids = loaded.encoder.encode(TEXTS).ids
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(ids), model(ids), atol=0, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_same_seed_same_weights(arch: str) -> None:
    a, _ = tiny(arch, seed=3)
    b, _ = tiny(arch, seed=3)
    c, _ = tiny(arch, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)
