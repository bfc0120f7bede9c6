"""Hook points, capture/override, and what analyses read inside every reference architecture.

Each property is checked against an independent computation: conv maps against a masked conv
recomputed from the weights, recurrent states against the fused nn.LSTM / nn.RNN, a window's
activation against the same location inside a whole sentence, vocabulary vectors against the
embedding table, a clamp against the value read back.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reportgen.data.encoding import TextEncoder
from reportgen.models import internals
from reportgen.models.adapter import ModelAdapter
from reportgen.models.architectures import ARCHITECTURES
from reportgen.models.hooks import HookPoint, capture, hook_points, override, stop_after

TEXTS = ["the film is not good at all", "bad", "a fine and moving piece though long", "so dull"]


def adapter_for(arch: str, **overrides) -> ModelAdapter:
    cls = ARCHITECTURES[arch]
    encoder = TextEncoder.fit(cls.encoder_kind, TEXTS * 2, max_len=24)
    torch.manual_seed(0)
    config = {**cls.default_config(encoder.n_tokens, 2), **overrides}
    model = cls(config)
    with torch.no_grad():  # untrained biases are small; make ReLU units fire at padding if unmasked
        for m in model.modules():
            if isinstance(m, nn.Conv1d) and m.bias is not None:
                m.bias.uniform_(0.1, 0.3)
    return ModelAdapter(model, encoder, ["neg", "pos"], name=arch, arch=arch, source=arch,
                        task=cls.task)


def test_hook_points_hold_no_parameters_so_old_checkpoints_load() -> None:
    for arch, cls in ARCHITECTURES.items():
        model = adapter_for(arch).module
        points = hook_points(model)
        assert points, arch
        keys = set(model.state_dict())
        assert not any(k.startswith(name + ".") for name in points for k in keys), arch
        fresh = cls(model.config)
        fresh.load_state_dict(model.state_dict())  # the same keys as before hook points existed


def test_capture_override_and_stop_remove_their_hooks_even_after_errors() -> None:
    a = adapter_for("yuan-cnn")
    batch = a.encode(TEXTS)
    model = a.module
    with pytest.raises(RuntimeError, match="boom"), capture(model, ["conv_acts.0"]):
        raise RuntimeError("boom")

    def bad(_x: torch.Tensor) -> torch.Tensor:
        raise ValueError("bad override")

    with pytest.raises(ValueError), override(model, {"conv_acts.1": bad}):
        a.forward_from_embeddings(a.embed(batch.ids), batch.mask)
    with stop_after(model, "conv_acts.0"):
        a.forward_from_embeddings(a.embed(batch.ids), batch.mask)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with pytest.raises(KeyError, match="nope"), capture(model, ["nope"]):
        pass


def test_override_changes_what_the_next_layer_sees() -> None:
    a = adapter_for("yuan-cnn")
    batch = a.encode(TEXTS)
    emb = a.embed(batch.ids)
    with torch.no_grad(), override(a.module, {"features": torch.zeros_like}):
        zeroed = a.forward_from_embeddings(emb, batch.mask)
    assert torch.allclose(zeroed, a.module.out.bias.expand_as(zeroed))


@pytest.mark.parametrize("arch", ["kim-cnn", "yuan-cnn", "dilated-cnn", "char-cnn"])
def test_conv_activations_are_post_relu_and_zero_at_padding(arch: str) -> None:
    a = adapter_for(arch)
    batch = a.encode(TEXTS)
    lengths = [len(t) for t in batch.tokens]
    layers = internals.conv_layers(a)
    assert all(layer.activated for layer in layers)
    if arch == "char-cnn":  # per word slot: padded word slots are zero
        with torch.no_grad(), capture(a.module, [layer.read_at for layer in layers]) as seen:
            a.forward_from_embeddings(a.embed(batch.ids), batch.mask)
        for layer in layers:
            acts = seen[layer.read_at].reshape(len(TEXTS), -1, *seen[layer.read_at].shape[1:])
            for i, n in enumerate(lengths):
                assert acts[i, n:].abs().max() == 0 if n < acts.size(1) else True
                assert (acts[i, :n] >= 0).all() and acts[i, :n].abs().max() > 0
        return
    acts = internals.conv_activations(a, batch)
    for layer in layers:
        maps = acts[layer.name]  # (B, L, C)
        assert (maps >= 0).all() or arch == "dilated-cnn"  # residual sums may be negative
        for i, n in enumerate(lengths):
            for loc in range(maps.size(1)):
                start = layer.field.offset + loc * layer.field.jump
                sees_text = start + layer.field.size - 1 >= 0 and start <= n - 1
                if not sees_text:
                    assert maps[i, loc].abs().max() == 0, (layer.name, i, loc)
                elif (arch != "dilated-cnn" and layer.depth == 1
                      and 0 <= start <= n - layer.field.size):
                    assert maps[i, loc].abs().max() > 0  # a window inside the text: ReLU fires


def test_kim_conv_map_equals_a_masked_relu_conv_from_the_weights() -> None:
    a = adapter_for("kim-cnn")
    batch = a.encode(TEXTS)
    acts = internals.conv_activations(a, batch)
    emb = a.embed(batch.ids) * batch.mask[..., None]  # (B, T, E)
    for i, conv in enumerate(a.module.convs):
        k = conv.kernel_size[0]
        expected = F.relu(F.conv1d(emb.transpose(1, 2), conv.weight, conv.bias, padding=k - 1))
        expected = expected.transpose(1, 2)  # (B, T + k - 1, F)
        for b, toks in enumerate(batch.tokens):
            real = len(toks) + k - 1
            torch.testing.assert_close(acts[f"convs.{i}"][b, :real], expected[b, :real])


@pytest.mark.parametrize("arch", ["kim-cnn", "yuan-cnn", "dilated-cnn", "char-cnn"])
def test_window_forward_equals_the_location_inside_the_sentence(arch: str) -> None:
    a = adapter_for(arch)
    batch = a.encode(TEXTS[2:3])  # 7 words
    emb = a.embed(batch.ids)  # (1, T, E) or (1, T, C, E)
    for layer in internals.conv_layers(a):
        size = layer.field.size
        if arch == "char-cnn":
            with torch.no_grad(), capture(a.module, [layer.read_at]) as seen:
                a.forward_from_embeddings(emb, batch.mask)
            word_maps = seen[layer.read_at].transpose(1, 2)  # (T, L, C) per word slot
            window = emb[0, 1, 2 : 2 + size]  # characters 2 .. of word 1
            got = internals.window_forward(a, layer, window[None])
            torch.testing.assert_close(got[0], word_maps[1, 2], atol=1e-5, rtol=1e-5)
            continue
        maps = internals.conv_activations(a, batch)[layer.name][0]  # (L, C)
        for loc in range(maps.size(0)):
            start = layer.field.offset + loc * layer.field.jump
            if start < 0 or start + size > len(batch.tokens[0]):
                continue  # windows that reach past the text are checked with a mask below
            got = internals.window_forward(a, layer, emb[:, start : start + size])
            torch.testing.assert_close(got[0], maps[loc], atol=1e-5, rtol=1e-5)
        if size - 1 > emb.size(1):
            continue
        # a window hanging over the start of the text: positions before it masked
        loc = next((i for i in range(maps.size(0))
                    if layer.field.offset + i * layer.field.jump == -1), None)
        if loc is None:  # a 1x1 layer: no window starts before the text
            continue
        window = torch.cat([torch.zeros_like(emb[:, :1]), emb[:, : size - 1]], 1)
        mask = torch.ones(1, size, dtype=torch.bool)
        mask[0, 0] = False
        got = internals.window_forward(a, layer, window, mask)
        torch.testing.assert_close(got[0], maps[loc], atol=1e-5, rtol=1e-5)


def test_window_forward_is_differentiable() -> None:
    a = adapter_for("yuan-cnn")
    layer = internals.conv_layer(a, "convs.1")
    assert layer.field.size == 9
    x = torch.randn(3, 9, a.module.config["emb_dim"], requires_grad=True)
    out = internals.window_forward(a, layer, x)  # (3, 64)
    assert out.shape == (3, 64)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.abs().sum() > 0


@pytest.mark.parametrize("arch", ["rnn", "lstm", "bilstm", "seq2seq-ae", "byte-lstm-lm"])
def test_recurrent_states_at_every_step_match_the_fused_module(arch: str) -> None:
    a = adapter_for(arch)
    batch = a.encode(TEXTS)
    traces = internals.recurrent_states(a, batch)
    name = {"seq2seq-ae": "encoder", "byte-lstm-lm": "rnn"}.get(arch, "rnn")
    trace = traces[name]
    rnn = dict(a.module.named_modules())[name]
    assert (trace.cell is not None) == isinstance(rnn, nn.LSTM)
    B = batch.mask.size(0)
    units = rnn.hidden_size * (2 if rnn.bidirectional else 1)
    assert trace.hidden.shape[1:] == (B, trace.outputs.size(1), units)
    if arch in ("rnn", "lstm", "bilstm", "byte-lstm-lm"):  # the outputs the model itself hooks
        with torch.no_grad(), capture(a.module, ["rnn_out"]) as seen:
            a.forward_from_embeddings(a.embed(batch.ids), batch.mask)
        for i, toks in enumerate(batch.tokens):  # real positions (the LM runs unpacked)
            n = len(toks)
            torch.testing.assert_close(trace.outputs[i, :n], seen["rnn_out"][i, :n], atol=1e-5,
                                       rtol=1e-5)
    if arch == "lstm":  # the cell state at step t = c_n of the fused LSTM on the first t + 1 tokens
        x = a.embed(batch.ids[:1]) * batch.mask[:1, :, None]
        for t in range(len(batch.tokens[0])):
            _, (_, c_n) = rnn(x[:, : t + 1])
            torch.testing.assert_close(trace.cell[0, 0, t], c_n[0, 0], atol=1e-5, rtol=1e-5)


def test_sequence_states_and_unit_features_on_every_architecture() -> None:
    for arch in ARCHITECTURES:
        a = adapter_for(arch)
        batch = a.encode(TEXTS)
        states = internals.sequence_states(a, batch)
        assert states, arch
        assert all(s.size(0) == len(TEXTS) and s.dim() == 3 for s in states.values()), arch
        feats = internals.unit_features(a, batch)
        assert all(f.shape[0] == len(TEXTS) and f.dim() == 2 and torch.isfinite(f).all()
                   for f in feats.values()), arch
        rep = getattr(a.module, "sentence_representation", None)
        if rep is not None and "features" in feats:
            torch.testing.assert_close(feats["features"], rep(a.embed(batch.ids), batch.mask))


def test_unit_features_read_in_one_pass_what_two_passes_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Reference models: the pooled features and the per-position states come from one forward
    pass, with the values of ``output_features`` and ``unit_states`` (pooled here by hand)."""
    merged = 0
    for arch in ARCHITECTURES:
        a = adapter_for(arch)
        if a.task == "seq2seq":
            continue
        batch = a.encode(TEXTS)
        calls: list[int] = []
        with monkeypatch.context() as patch:
            inner = a.forward_from_embeddings

            def counted(*args, inner=inner, calls=calls, **kw):
                calls.append(1)
                return inner(*args, **kw)

            patch.setattr(a, "forward_from_embeddings", counted)
            found = internals.unit_features(a, batch)
        vector = internals.output_features(a, batch)
        per_position = internals.unit_states(a, batch)
        if vector is not None:
            assert torch.equal(found["features"], vector), arch
        if "features" in hook_points(a.module):
            assert len(calls) == 1, arch  # one pass for both
            merged += 1
        for name, values in per_position.items():  # (B, T', U)
            if values.size(1) != batch.mask.size(1):
                m = values.abs().sum(-1) > 0
            else:
                m = batch.mask
            w = m[..., None].float()
            mean = (values * w).sum(1) / w.sum(1).clamp(min=1)
            top = values.masked_fill(~m[..., None], float("-inf")).max(1).values.nan_to_num(
                neginf=0.0)
            assert torch.equal(found[f"{name}:mean"], mean), (arch, name)
            assert torch.equal(found[f"{name}:max"], top), (arch, name)
    assert merged >= 2  # kim-cnn and yuan-cnn at least


def test_clamping_a_recurrent_unit_holds_it_at_every_step() -> None:
    a = adapter_for("lstm")
    batch = a.encode(TEXTS)
    emb = a.embed(batch.ids)
    with torch.no_grad():
        before = a.forward_from_embeddings(emb, batch.mask)
        with (internals.clamp_units(a, "rnn", {3: 0.9}),
              capture(a.module, ["rnn_out", "features"]) as seen):
            after = a.forward_from_embeddings(emb, batch.mask)
    for i, toks in enumerate(batch.tokens):
        assert torch.allclose(seen["rnn_out"][i, : len(toks), 3], torch.tensor(0.9))
    assert torch.allclose(seen["features"][:, 3], torch.tensor(0.9))
    assert not torch.allclose(before, after)
    # other units moved too: the clamp reached later steps through the recurrence
    with torch.no_grad(), capture(a.module, ["rnn_out"]) as free:
        a.forward_from_embeddings(emb, batch.mask)
    assert not torch.allclose(free["rnn_out"][0, 2:, 0], seen["rnn_out"][0, 2:, 0])
    assert all(not m._forward_hooks for m in a.module.modules())
    with internals.clamp_units(a, "features", {0: 5.0}), capture(a.module, ["features"]) as seen:
        a.forward_from_embeddings(emb, batch.mask)
    assert torch.all(seen["features"][:, 0] == 5.0)


def test_generate_greedy_from_the_byte_lm_matches_its_full_forward() -> None:
    a = adapter_for("byte-lstm-lm")
    prompt = "the film"
    (ids,) = internals.generate_ids(a, [prompt], steps=5)
    (text,) = internals.generate(a, [prompt], steps=5)
    assert len(ids) == 5 and text == a.encoder.decode_ids(ids)
    # first generated byte = argmax of the full forward's last position (padding excluded)
    batch = a.encode([prompt])
    with torch.no_grad():
        logits = a.forward_from_embeddings(a.embed(batch.ids), batch.mask)[0, -1]
    logits[0] = float("-inf")
    assert ids[0] == int(logits.argmax())
    same = internals.generate(a, [prompt, prompt], steps=5)
    assert same == [text, text]
    clamped = {v: internals.generate(a, [prompt], steps=12, clamp={0: v})[0] for v in (-1.0, 1.0)}
    assert clamped[-1.0] != clamped[1.0]
    with pytest.raises(internals.NotApplicable):
        internals.generate(adapter_for("lstm"), ["x"], 3)


def test_vocabulary_vectors_and_special_tokens() -> None:
    a = adapter_for("yuan-cnn")
    vocab = internals.vocabulary_vectors(a)
    assert (vocab.tokens[:2] == ["<pad>", "<unk>"] and vocab.special[:2].all()
            and not vocab.special[2:].any())
    torch.testing.assert_close(vocab.vectors, a.module.emb.weight)
    c = adapter_for("char-cnn")
    words = internals.vocabulary_vectors(c)
    assert words.space == "char-cnn word vectors" and words.tokens == c.encoder.vocab.itos
    i = words.tokens.index("film")
    batch = c.encode(["film"])
    with torch.no_grad():
        expected = c.module.hidden_states(c.embed(batch.ids), batch.mask)[0, 0]
    torch.testing.assert_close(words.vectors[i], expected, atol=1e-5, rtol=1e-5)


def test_not_applicable_is_said_clearly() -> None:
    with pytest.raises(internals.NotApplicable, match="no convolutional layers"):
        internals.conv_layers(adapter_for("lstm"))
    with pytest.raises(internals.NotApplicable, match="no recurrent layer"):
        internals.recurrent_states(adapter_for("kim-cnn"), adapter_for("kim-cnn").encode(TEXTS))


def test_user_model_conv_read_after_its_relu_module() -> None:
    from reportgen.data.vocab import Vocab
    from reportgen.models.adapter import HookedAdapter, UserModel

    class Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words = nn.Embedding(6, 4, padding_idx=0)
            self.body = nn.Sequential(nn.Conv1d(4, 3, 3, padding=1), nn.ReLU())
            self.out = nn.Linear(3, 2)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            h = self.body(self.words(ids).transpose(1, 2))  # (B, 3, T)
            h = h.masked_fill(ids.eq(0)[:, None], 0)
            return self.out(h.max(-1).values)

    enc = TextEncoder("word", Vocab(["<pad>", "<unk>", "a", "b", "c", "d"]))
    a = HookedAdapter(UserModel(Seq(), enc, ["x", "y"]), source="t", device="cpu")
    (layer,) = internals.conv_layers(a)
    assert ((layer.name, layer.read_at, layer.activated, layer.field.size)
            == ("body.0", "body.1", True, 3))
    maps = internals.conv_activations(a, a.encode(["a b c"]))["body.0"]
    assert maps.shape == (1, 3, 3) and (maps >= 0).all()


def test_hook_point_layout_is_shown() -> None:
    assert "B C T" in repr(HookPoint("B C T"))


@pytest.mark.parametrize("arch", ["kim-cnn", "yuan-cnn", "dilated-cnn"])
def test_window_shortcut_is_used_only_when_it_equals_the_model(arch: str) -> None:
    a = adapter_for(arch)
    for layer in internals.conv_layers(a):
        fn = internals.window_function(a, layer)
        expected_shortcut = layer.depth == 1
        assert (fn.__name__ in ("relu", "linear")) == expected_shortcut, (arch, layer.name)
        x = torch.randn(7, layer.field.size, a.module.emb.embedding_dim)
        mask = torch.ones(7, layer.field.size, dtype=torch.bool)
        if layer.field.size > 1:  # a window reaching past the start of the text
            mask[:3, 0] = False
        torch.testing.assert_close(fn(x, mask), internals.window_forward(a, layer, x, mask),
                                   atol=1e-5, rtol=1e-5)
    # dilated-cnn's first layer is a 1x1 projection without a nonlinearity: the linear shortcut
    if arch == "dilated-cnn":
        assert internals.window_function(a, internals.conv_layer(a, "proj")).__name__ == "linear"


def test_window_shortcut_refused_for_a_nonlinearity_it_does_not_know() -> None:
    a = adapter_for("yuan-cnn")
    layer = internals.conv_layer(a)
    with override(a.module, {"conv_acts.0": torch.tanh}):
        assert internals.window_function(a, layer).__name__ == "<lambda>"  # the generic path
