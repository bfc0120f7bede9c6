"""Bring your own model: outputs of any common form, the model's own tokenizer, a declared minimum
length, and errors in the user's code as exit 2 naming the model, the exception and the text.

Every expected number is worked out here from the tiny models' hand-set weights."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import reportgen
from reportgen.cli import main
from reportgen.data.user_tokenizer import Tokenizer
from reportgen.errors import BadInput
from reportgen.evaluation import unknown_share
from reportgen.models.adapter import HookedAdapter, UserCodeError, UserModel, read_logits
from reportgen.models.facts import predict_proba, reading
from reportgen.models.verify import verify
from reportgen.models.view import NotApplicable

ITOS = ["[PAD]", "[UNK]", "good", "bad", "film", "don't"]  # the user's own ids: pad 0, unk 1


class Scorer(nn.Module):
    """score = sum of the embeddings (1-d): good +1, bad -1, don't -2 (a masked sum, so padding
    adds 0); ``shape`` picks the output form."""

    def __init__(self, shape: str = "two") -> None:
        super().__init__()
        self.shape = shape
        self.words = nn.Embedding(len(ITOS), 1, padding_idx=0)
        with torch.no_grad():
            self.words.weight.copy_(torch.tensor([[0.0], [0.0], [1.0], [-1.0], [0.0], [-2.0]]))

    def forward(self, ids: torch.Tensor):
        s = (self.words(ids)[..., 0] * ids.ne(0)).sum(1)  # (B,)
        two = torch.stack([-s, s], -1)  # (B, 2)
        return {
            "two": two,
            "tuple": (two, torch.zeros(ids.shape)),
            "dict": {"logits": two, "attention": None},
            "one": s[:, None],  # (B, 1): a sigmoid logit
            "flat": s,  # (B,)
            "three": torch.stack([s, s, s], -1),
        }[self.shape]


def split_words(text: str) -> list[str]:
    return text.lower().split()


def scorer(shape: str = "two", **kw) -> HookedAdapter:
    user = UserModel(Scorer(shape), Tokenizer(split_words, vocab=ITOS), ["neg", "pos"], name="s",
                     **kw)
    return HookedAdapter(user, source="scorer.py:build", device="cpu")


@pytest.mark.parametrize("shape", ["two", "tuple", "dict"])
def test_logits_from_a_tensor_a_tuple_or_a_dict(shape: str) -> None:
    model = scorer(shape)
    probs = predict_proba(model, ["good film", "bad", "good good"])
    # logits (-s, s): p(pos) = sigmoid(2 s) for s = 1, -1, 2
    np.testing.assert_allclose(probs[:, 1], [1 / (1 + math.exp(-2 * s)) for s in (1, -1, 2)],
                               rtol=1e-6)
    verify(model, ["good film", "bad"])
    assert ("first element of the tuple" in model.output_note) == (shape == "tuple")
    assert ("'logits' entry" in model.output_note) == (shape == "dict")


@pytest.mark.parametrize("shape", ["one", "flat"])
def test_a_single_logit_is_a_sigmoid(shape: str) -> None:
    model = scorer(shape)
    probs = predict_proba(model, ["good film", "bad", "film"])
    # one logit s: p(pos) = sigmoid(s) for s = 1, -1, 0
    # (not a 52%-one-class softmax over one column)
    np.testing.assert_allclose(probs[:, 1], [1 / (1 + math.exp(-s)) for s in (1, -1, 0)], rtol=1e-6)
    assert probs.argmax(1).tolist() == [1, 0, 0] or probs[2, 1] == pytest.approx(0.5)
    assert "read as a sigmoid" in reading(model)[0]


def test_any_other_shape_is_refused_naming_it() -> None:
    with pytest.raises(BadInput,
                       match=r"returns shape \(2, 3\); expected \(B, 2\) for its 2 classes, "
                             r"or \(B, 1\) / \(B,\) for one sigmoid logit"):
        verify(scorer("three"), ["good", "bad film"])
    with pytest.raises(BadInput, match="returns str, not logits"):
        read_logits("logits", 2)


def test_the_models_own_tokenizer_is_used_and_unknowns_counted() -> None:
    model = scorer()
    batch = model.encode(["Don't like good film", "bad"])
    # the user's ids, not reportgen's word tokenizer ("don't" stays one known token)
    assert batch.tokens[0] == ["don't", "like", "good", "film"]
    assert batch.ids.tolist() == [[5, 1, 2, 4], [3, 0, 0, 0]]
    assert batch.flags == [["", "unk", "", ""], [""]]
    # 1 unknown ("like") of 4 + 1 + 2 = 7 tokens
    assert (unknown_share(model, ["don't like good film", "bad", "good film"], 2)
            == pytest.approx(1 / 7))
    vocab = model.vocabulary()
    texts, vectors, special = vocab.tokens, vocab.vectors, vocab.special.tolist()
    assert texts == ITOS and special == [True, False, False, False, False, False]
    assert vectors[:, 0].tolist() == [0.0, 0.0, 1.0, -1.0, 0.0, -2.0]


def test_tokenizer_that_returns_ids_with_its_own_pad_id() -> None:
    itos = ["a", "b", "<unk>", "<pad>"]  # pad is id 3: the placeholder ids must respect it
    tok = Tokenizer(lambda t: [{"a": 0, "b": 1}.get(w, 2) for w in t.split()], vocab=itos)
    assert (tok.pad_id, tok.unk_id) == (3, 2)
    batch = tok.encode(["a b", "z"])
    assert (batch.ids.tolist() == [[0, 1], [2, 3]]
            and batch.mask.tolist() == [[True, True], [True, False]])
    assert batch.tokens == [["a", "b"], ["<unk>"]] and batch.flags == [["", ""], ["unk"]]

    class PadAware(nn.Module):  # counts the non-pad ids it is given
        def __init__(self) -> None:
            super().__init__()
            self.e = nn.Embedding(4, 1)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            n = ids.ne(3).sum(1).float() + 0 * self.e(ids).sum((1, 2))  # (B,)
            return torch.stack([torch.zeros_like(n), n], -1)

    model = HookedAdapter(UserModel(PadAware(), tok, ["x", "y"]), source="t", device="cpu")
    logits = model.forward_from_embeddings(model.embed(batch.ids), batch.mask)
    assert logits[:, 1].tolist() == [2.0, 1.0]  # the mask, seen through the model's own pad id


def test_a_reportgen_vocab_must_start_with_pad_and_unk() -> None:
    assert reportgen.Vocab is reportgen.data.vocab.Vocab
    with pytest.raises(ValueError, match=r"reportgen.Tokenizer\(fn, vocab=itos\)"):
        reportgen.Vocab(["a", "<pad>"])


class NeedsFive(nn.Module):
    """A convolution of kernel 5 without padding: fewer than 5 positions and PyTorch raises."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(len(ITOS), 2, padding_idx=0)
        self.conv = nn.Conv1d(2, 2, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.conv(self.emb(ids).transpose(1, 2)).amax(-1)  # (B, 2)


def test_a_declared_minimum_length_pads_short_texts() -> None:
    declared = HookedAdapter(UserModel(NeedsFive(), Tokenizer(split_words, vocab=ITOS), ["n", "p"],
                                       min_len=5, pad_batches=False),
                             source="five.py:build", device="cpu")
    assert declared.encode(["good"]).ids.shape == (1, 5)
    verify(declared, ["good", "good bad film good bad film"])
    assert reading(declared) == [
        "texts shorter than 5 tokens are padded to 5 (the model's minimum length)"]


class ThreeThenFive(nn.Module):
    """Two convolutions without padding, kernels 3 then 5: receptive fields 3 and 7, so a text
    needs 7 tokens before the second one has a position to compute."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(len(ITOS), 2, padding_idx=0)
        self.convs = nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU(), nn.Conv1d(3, 2, 5))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.convs(self.emb(ids).transpose(1, 2)).amax(-1)  # (B, 2)


class HiddenFive(nn.Module):
    """NeedsFive's kernel through F.conv1d: no module for tracing to find, so no chain to read."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(len(ITOS), 2, padding_idx=0)
        self.weight = nn.Parameter(torch.randn(2, 2, 5))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv1d(self.emb(ids).transpose(1, 2), self.weight).amax(-1)


def test_an_undeclared_minimum_length_comes_from_the_traced_chain() -> None:
    from reportgen.models.internals import conv_layers

    chained = HookedAdapter(UserModel(ThreeThenFive(), Tokenizer(split_words, vocab=ITOS),
                                      ["n", "p"], pad_batches=False),
                            source="chain.py:build", device="cpu")
    verify(chained, ["good", "good bad film good bad film good bad"])  # "good" alone: padded to 7
    assert [c.field.size for c in conv_layers(chained)] == [3, 7]
    assert chained.min_len == 7 and chained.encode(["good"]).ids.shape == (1, 7)
    assert reading(chained) == [("texts shorter than 7 tokens are padded to 7 (the model's minimum "
                                 "length)")]
    five = HookedAdapter(UserModel(NeedsFive(), Tokenizer(split_words, vocab=ITOS), ["n", "p"],
                                   pad_batches=False), source="five.py:build", device="cpu")
    verify(five, ["good bad film good bad", "good"])
    assert five.min_len == 5
    padded = scorer("two")  # no convolution: nothing to pad
    assert padded.min_len == 1 and reading(padded) == []


def test_a_minimum_length_tracing_cannot_see_is_named_at_load() -> None:
    hidden = HookedAdapter(UserModel(HiddenFive(), Tokenizer(split_words, vocab=ITOS), ["n", "p"],
                                     pad_batches=False), source="five.py:build", device="cpu")
    with pytest.raises(UserCodeError) as caught:
        verify(hidden, ["good bad film good bad", "good"])
    message = caught.value.message
    assert message.startswith(
        "model 'model' (five.py:build): the model's forward raised RuntimeError")
    assert "on the text 'good'" in message and "UserModel(..., min_len=N)" in message


# end to end, through the CLI ----------------------------------------------------------------------
USER_FILE = '''
import torch
from torch import nn
import reportgen

ITOS = ["[PAD]", "[UNK]", "good", "bad", "film", "don't"]

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lookup = nn.Embedding(6, 1, padding_idx=0)
        with torch.no_grad():
            self.lookup.weight.copy_(torch.tensor([[0.0], [0.0], [1.0], [-1.0], [0.0], [-2.0]]))

    def forward(self, ids):
        s = (self.lookup(ids)[..., 0] * ids.ne(0)).sum(1)
        if (ids == 4).all(1).any():
            raise ValueError("cannot score a text of films only")
        return torch.stack([-s, s], -1), None          # (logits, attention)

def build():
    tok = reportgen.Tokenizer(lambda t: t.lower().split(), vocab=ITOS)
    return reportgen.UserModel(Classifier(), tok, ["neg", "pos"], name="gru clf")
'''


def _run(tmp_path: Path, data: str) -> tuple[object, Path]:
    (tmp_path / "clf.py").write_text(USER_FILE, encoding="utf-8")
    csv = tmp_path / "d.csv"
    csv.write_text(data, encoding="utf-8")
    out = tmp_path / "site"
    result = CliRunner().invoke(main, [
        "run", "--model", f"{tmp_path / 'clf.py'}:build", "--data", f"csv:{csv}", "--out", str(out),
        "--cache-dir", str(tmp_path / "c"), "--quiet", "--only", "saliency"],
        catch_exceptions=False)
    return result, out


def test_end_to_end_tuple_output_and_own_tokenizer(tmp_path: Path) -> None:
    result, out = _run(tmp_path, "text,label\ngood film,pos\nbad film,neg\ndon't like film,neg\n"
                                 "good good,pos\n")
    assert result.exit_code == 0, result.output
    card = json.loads((out / "report.json").read_text())["models"][0]
    assert card["accuracy"] == 1.0  # s = 1, -1, -2, 2
    assert card["unknown_share"] == pytest.approx(1 / 9)  # "like" of 2 + 2 + 3 + 2 tokens
    assert card["embedding"] == "lookup: token embeddings, 6 x 1"
    assert card["reading"] == ["logits: the first element of the tuple the forward returns"]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "of the evaluated tokens were read as unknown" in page and "analysed embedding" in page


def test_an_error_in_the_users_forward_is_exit_2_naming_the_text(tmp_path: Path) -> None:
    first, out = _run(tmp_path, "text,label\ngood film,pos\n")
    assert first.exit_code == 0, first.output
    before = (out / "index.html").read_text(encoding="utf-8")
    result, out = _run(tmp_path, "text,label\ngood film,pos\nfilm film,neg\n")
    assert result.exit_code == 2
    assert ("clf.py:build" in result.output
            and "ValueError: cannot score a text of films only" in result.output)
    assert "on the text 'film film'" in result.output and "Traceback" not in result.output
    assert (out / "index.html").read_text(encoding="utf-8") == before  # the last report, kept


class Head(nn.Module):
    """Embedding -> masked mean -> hidden Linear + tanh -> ``out`` Linear (the logits), with a
    decoy Linear of the same output size that the logits do not come from; ``scale`` multiplies
    the logits after the last layer."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(len(ITOS), 4, padding_idx=0)
        self.hidden = nn.Linear(4, 3)
        self.decoy = nn.Linear(3, 2)
        self.out = nn.Linear(3, 2)
        self.scale = scale

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        m = ids.ne(0).float()[..., None]  # (B, T, 1)
        h = torch.tanh(self.hidden((self.emb(ids) * m).sum(1) / m.sum(1).clamp(min=1)))  # (B, 3)
        self.decoy(h)
        return self.out(h) * self.scale  # (B, 2)


def test_the_output_layer_is_found_by_tracing_and_checked() -> None:
    model = HookedAdapter(UserModel(Head(), Tokenizer(split_words, vocab=ITOS), ["n", "p"]),
                          source="h.py:build", device="cpu")
    verify(model, ["good film", "bad"])
    assert model.output_layer() == "out"  # the decoy has the right shape but not the logits
    scaled = HookedAdapter(UserModel(Head(scale=2.0), Tokenizer(split_words, vocab=ITOS),
                                     ["n", "p"]),
                           source="h.py:build", device="cpu")
    verify(scaled, ["good film", "bad"])
    with pytest.raises(NotApplicable, match="no linear layer's output is its logits"):
        scaled.output_layer()  # no layer's output is the logits
    one = scorer("one")
    with pytest.raises(NotApplicable):
        one.output_layer()  # no linear layer at all


# conv layers found by tracing ---------------------------------------------------------------------
class KimConv2d(nn.Module):
    """Kim et al.'s CNN as many users write it: parallel Conv2d of kernels (k, E) over (B, 1, T, E),
    relu, max over time, in an nn.ModuleList registered widest first; a decoy Conv2d never used."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.lookup = nn.Embedding(len(ITOS), 4, padding_idx=0)
        self.branches = nn.ModuleList([nn.Conv2d(1, 3, (k, 4), padding=(k - 1, 0)) for k in (3, 2)])
        self.unused = nn.Conv2d(1, 1, (2, 2))
        self.fc = nn.Linear(6, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.lookup(ids).unsqueeze(1)  # (B, 1, T, E)
        pooled = [torch.relu(conv(x)).squeeze(3).amax(2) for conv in self.branches]  # (B, 3) each
        return self.fc(torch.cat(pooled, 1))


class Stack(nn.Module):
    """A Conv1d stack under other names, registered out of order: body.b runs first, then
    body.a (dilation 2), then a max pool."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.lookup = nn.Embedding(len(ITOS), 4, padding_idx=0)
        self.body = nn.ModuleDict({"a": nn.Conv1d(3, 3, 3, dilation=2, padding=2),
                                   "b": nn.Conv1d(4, 3, 3, padding=1), "pool": nn.MaxPool1d(2)})
        self.fc = nn.Linear(3, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.lookup(ids).transpose(1, 2)  # (B, E, T)
        h = self.body["pool"](torch.relu(self.body["a"](torch.relu(self.body["b"](x)))))
        return self.fc(h.amax(2))


def _user(module: nn.Module) -> HookedAdapter:
    model = HookedAdapter(UserModel(module, Tokenizer(split_words, vocab=ITOS), ["n", "p"],
                                    pad_batches=False), source="u.py:build", device="cpu")
    verify(model, ["good film good bad film", "bad film"])
    return model


def test_conv_chains_are_the_data_flow_not_the_module_order() -> None:
    from reportgen.models.internals import conv_layers

    kim = _user(KimConv2d())
    found = kim.conv_chains()
    assert found.chains == [["branches.0"], ["branches.1"]]  # parallel: one chain each
    assert any("unused: a Conv2d" in n or "unused: not used" in n for n in found.notes)
    assert [(c.name, c.field.size, c.field.offset, c.layout) for c in conv_layers(kim)] == [
        ("branches.0", 3, -2, "B C T 1"), ("branches.1", 2, -1, "B C T 1")]
    stack = _user(Stack())
    assert stack.conv_chains().chains == [["body.b", "body.a", "body.pool"]]
    # b: size 3, offset -1; a: + (3 - 1) * 2 = 7, offset -1 - 2 = -3; pool k2 s2: 8, jump 2
    assert [(c.field.size, c.field.jump, c.field.offset) for c in conv_layers(stack)] == [
        (3, 1, -1), (7, 1, -3), (8, 2, -3)]
    assert ([card.name for card in kim.layers() if card.kind == "conv"]
            == ["branches.0", "branches.1"])


def test_hidden_saliency_on_a_conv2d_user_model_by_hand() -> None:
    from reportgen.analyses import hidden_saliency
    from reportgen.models.internals import conv_layer

    model = _user(KimConv2d())
    layer = conv_layer(model)  # branches.0: kernel (3, 4), padding 2
    _, scores, predicted, _ = hidden_saliency.location_scores(model, layer, ["good bad film"])
    # independently: the class score's gradient w.r.t. the conv's output,
    # dotted with it per location
    net = model.module
    ids = torch.tensor([[2, 3, 4]])
    x = net.lookup(ids).unsqueeze(1)
    act = net.branches[0](x)  # (1, 3, 5, 1): pre-activation, read where the model reads it
    pooled = [torch.relu(act).squeeze(3).amax(2), torch.relu(net.branches[1](x)).squeeze(3).amax(2)]
    logits = net.fc(torch.cat(pooled, 1))
    c = int(logits.argmax())
    (grad,) = torch.autograd.grad(logits[0, c], act)
    expected = (grad * act).squeeze(3)[0].sum(0)  # (5,) locations
    assert predicted[0] == c and len(scores[0]) == 5
    np.testing.assert_allclose(scores[0], expected.detach().numpy(), rtol=1e-5, atol=1e-7)


class ImageLikeConv(nn.Module):
    """A Conv2d with a (2, 2) kernel over (B, 1, T, E): it mixes embedding dimensions, so it is not
    a convolution over the text alone."""

    def __init__(self) -> None:
        super().__init__()
        self.lookup = nn.Embedding(len(ITOS), 4, padding_idx=0)
        self.patch = nn.Conv2d(1, 2, (2, 2))
        self.fc = nn.Linear(2, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(self.patch(self.lookup(ids).unsqueeze(1)).amax((2, 3)))


def test_when_no_text_convolution_is_found_the_message_says_what_was_and_what_to_write() -> None:
    from reportgen.models.internals import NotApplicable, conv_layers

    model = _user(ImageLikeConv())
    with pytest.raises(NotApplicable) as caught:
        conv_layers(model)
    message = str(caught.value)
    assert "patch: a Conv2d whose kernel (2, 2) does not span its input's last axis (4,)" in message
    assert "UserModel(..., conv_chains=[['convs.0'], ['convs.1']])" in message


# review fixes -------------------------------------------------------------------------------------
def test_a_squeezed_output_of_one_text_and_a_wrong_batch_axis() -> None:
    logits, _ = read_logits(torch.tensor([0.5, 1.5]), 2, batch=1)  # (K,) from .squeeze() of (1, K)
    assert logits.tolist() == [[0.5, 1.5]]
    logits, how = read_logits(torch.tensor(2.0), 2, batch=1)  # 0-d from .squeeze() of (1, 1)
    assert logits.tolist() == [[0.0, 2.0]] and "sigmoid" in how
    with pytest.raises(BadInput,
                       match=r"shape \(3,\) for 2 texts: the first axis must be the batch"):
        read_logits(torch.zeros(3), 2, batch=2)


class Picky(nn.Module):
    """Raises when an embedding value is above 5: only the word 'bad' (embedding 10) trips it."""

    def __init__(self) -> None:
        super().__init__()
        self.words = nn.Embedding(len(ITOS), 1, padding_idx=0)
        with torch.no_grad():
            self.words.weight.copy_(torch.tensor([[0.0], [0.0], [1.0], [10.0], [0.0], [0.0]]))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.words(ids)[..., 0]  # (B, T)
        if bool((e > 5).any()):
            raise ValueError("value out of range")
        s = e.sum(1)
        return torch.stack([-s, s], -1)


def test_the_text_named_is_the_one_that_fails_through_the_embedding_hook() -> None:
    model = HookedAdapter(UserModel(Picky(), Tokenizer(split_words, vocab=ITOS), ["n", "p"]),
                          source="picky.py:build", device="cpu")
    with pytest.raises(UserCodeError, match="on the text 'good bad'"):
        predict_proba(model, ["good", "film good", "good bad", "film"])
    # an error raised by reportgen's own hook is reportgen's, not blamed on the model
    from reportgen.models.hooks import override

    with pytest.raises(IndexError), override(model.module, {"words": lambda out: out[:, :, 99]}):
        predict_proba(model, ["good"])


def test_a_transformers_tokenizer_marks_unk_as_unknown_and_joins_pieces() -> None:
    transformers = pytest.importorskip("transformers")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "film", "in", "##vi", "##gor",
             "##ating"]
    hf = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(words)})
    tok = Tokenizer(hf)
    assert (tok.pad_id, tok.unk_id) == (0, 1) and 1 not in tok.special_ids
    batch = tok.encode(["invigorating zzz film"])
    assert batch.tokens[0] == ["[CLS]", "in", "##vi", "##gor", "##ating", "[UNK]", "film", "[SEP]"]
    assert batch.flags[0] == ["special", "", "", "", "", "unk", "", "special"]

    class Sum(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.e = nn.Embedding(len(words), 1, padding_idx=0)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            s = self.e(ids).sum((1, 2))
            return torch.stack([-s, s], -1)

    model = HookedAdapter(UserModel(Sum(), hf, ["n", "p"]), source="t", device="cpu")
    shown = model.display_tokens(model.encode(["invigorating film"]))[0]
    assert [(t.text, t.joins_previous, t.special) for t in shown] == [
        ("[CLS]", False, True), ("in", False, False), ("vi", True, False), ("gor", True, False),
        ("ating", True, False), ("film", False, False), ("[SEP]", False, True)]
    # specials aside
    assert unknown_share(model, ["invigorating zzz film"], 4) == pytest.approx(1 / 6)


def test_faithfulness_repads_with_the_models_own_pad_id() -> None:
    from reportgen.analyses import faithfulness_edits

    itos = ["film", "good", "<unk>", "<pad>"]  # id 0 is a real word; the pad id is 3

    class Unmasked(nn.Module):  # sums every position's embedding: padding must read the pad row
        def __init__(self) -> None:
            super().__init__()
            self.e = nn.Embedding(4, 1, padding_idx=3)
            with torch.no_grad():
                self.e.weight.copy_(torch.tensor([[4.0], [1.0], [0.0], [0.0]]))

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            s = self.e(ids).sum((1, 2))
            return torch.stack([torch.zeros_like(s), s], -1)

    tok = Tokenizer(split_words, vocab=itos)
    model = HookedAdapter(UserModel(Unmasked(), tok, ["n", "p"]), source="t", device="cpu")
    batch = model.encode(["good good", "good"])
    target = torch.tensor([1, 1])
    p = faithfulness_edits.probability(model, batch, [[0], [0]], keep=False, target=target,
                                       special=[[False, False], [False]])
    # deleting one 'good': s = 1 (not 1 + 4, had the row been padded with id 0, 'film'); "good"
    # alone emptied: s = 0
    np.testing.assert_allclose(p, [1 / (1 + math.exp(-1)), 0.5], rtol=1e-6)


def test_clamping_the_output_layers_input_of_a_user_model() -> None:
    from reportgen.models.internals import clamp_units, output_features

    model = HookedAdapter(UserModel(Head(), Tokenizer(split_words, vocab=ITOS), ["n", "p"]),
                          source="h.py:build", device="cpu")
    verify(model, ["good film", "bad"])
    batch = model.encode(["good film"])
    h = output_features(model, batch)  # (1, 3): what ``out`` reads
    h[:, 1] = 5.0
    expected = model.module.out(h)  # by hand: the output layer on the clamped vector
    with clamp_units(model, "features", {1: 5.0}):
        got = model.forward_from_embeddings(model.embed(batch.ids), batch.mask)
    torch.testing.assert_close(got, expected)
