"""Transformers classifiers (``hf:DIR``): tiny random BERT, DistilBERT and RoBERTa models built from
configs (nothing is downloaded), checked against computations made here on the Transformers
model itself: the split forward, saliency of words made of pieces, shares without special tokens,
MLP units as neurons, the sentence vector, and a whole ``reportgen run``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

transformers = pytest.importorskip("transformers")

from reportgen import analyses
from reportgen.analyses import (
    faithfulness,
    neuron_sweep,
    representations,
    saliency,
    variance_salience,
)
from reportgen.analyses.base import RunContext
from reportgen.cli import main
from reportgen.data.dataset import Dataset, Example
from reportgen.errors import BadInput
from reportgen.models import internals
from reportgen.models.facts import predict_proba
from reportgen.models.hf import HFAdapter, looks_local, quiet_transformers
from reportgen.models.hooks import capture
from reportgen.models.verify import verify

V5 = int(transformers.__version__.split(".")[0]) >= 5
SPECIAL_PIECES = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PIECES = SPECIAL_PIECES + ["a", "an", "the", "film", "plot", "is", "good", "bad", "not", "in",
                           "##vi", "##gor", "##ating", "ter", "##ri", "##ble", "very"]
TEXTS = ["an invigorating film", "the plot is terrible", "a good film", "not good",
         "terrible terrible film", "the film is not terrible", "a very good plot", "invigorating"]
LABELS = ["pos", "neg", "pos", "neg", "neg", "pos", "pos", "pos"]
LABEL_IDS = {"id2label": {0: "neg", 1: "pos"}, "label2id": {"neg": 0, "pos": 1}}


# -- tiny models -------------------------------------------------------------------------------
def _quiet_save(model, tokenizer, folder: Path) -> Path:
    with quiet_transformers():
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder


def _wordpiece(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    if V5:
        return transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(PIECES)})
    (folder / "vocab.txt").write_text("\n".join(PIECES) + "\n", encoding="utf-8")
    return transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))


def _byte_bpe(folder: Path):
    """A byte-level BPE whose merges spell 'Ġinvigorating' as 'Ġin' 'vig' 'orating'."""
    merges: list[tuple[str, str]] = []
    for piece in ["Ġin", "vig", "orating", "Ġfilm", "an", "Ġgood", "good", "Ġbad", "Ġnot", "not",
                  "Ġthe", "the", "Ġplot", "Ġis", "Ġa", "Ġvery", "Ġterrible", "terrible"]:
        merges += [(piece[:i], piece[i]) for i in range(1, len(piece))]
    merges = list(dict.fromkeys(merges))
    vocab = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", *"abcdefghijklmnopqrstuvwxyz", "Ġ",
             *dict.fromkeys(a + b for a, b in merges)]
    ids = {w: i for i, w in enumerate(vocab)}
    if V5:
        return transformers.RobertaTokenizerFast(vocab=ids, merges=merges), len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(ids), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n"
                                       + "\n".join(f"{a} {b}" for a, b in merges) + "\n",
                                       encoding="utf-8")
    return transformers.RobertaTokenizerFast(vocab_file=str(folder / "vocab.json"),
                                             merges_file=str(folder / "merges.txt")), len(vocab)


def build_bert(folder: Path) -> Path:
    tokenizer = _wordpiece(folder / "vocab")
    config = transformers.BertConfig(
        vocab_size=len(PIECES), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, num_labels=2, initializer_range=0.3,
        **LABEL_IDS)
    torch.manual_seed(0)
    return _quiet_save(transformers.BertForSequenceClassification(config), tokenizer,
                       folder / "bert")


def build_distilbert(folder: Path) -> Path:
    tokenizer = _wordpiece(folder / "vocab")
    config = transformers.DistilBertConfig(
        vocab_size=len(PIECES), dim=16, n_layers=2, n_heads=2, hidden_dim=32,
        max_position_embeddings=64, num_labels=2, initializer_range=0.3, **LABEL_IDS)
    torch.manual_seed(1)
    return _quiet_save(transformers.DistilBertForSequenceClassification(config), tokenizer,
                       folder / "distilbert")


def build_roberta(folder: Path) -> Path:
    tokenizer, n = _byte_bpe(folder / "bpe")
    config = transformers.RobertaConfig(
        vocab_size=n, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=66, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, type_vocab_size=1, num_labels=2, initializer_range=0.3, **LABEL_IDS)
    torch.manual_seed(2)
    return _quiet_save(transformers.RobertaForSequenceClassification(config), tokenizer,
                       folder / "roberta")


BUILDERS = {"bert": build_bert, "distilbert": build_distilbert, "roberta": build_roberta}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {name: build(root) for name, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def bert(folders: dict[str, Path]) -> HFAdapter:
    return HFAdapter(str(folders["bert"]), source=f"hf:{folders['bert']}", device="cpu")


def own_model(folder: Path):
    """The same weights loaded straight through Transformers, for independent computations."""
    with quiet_transformers():
        return transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()


def own_batch(folder: Path, texts: list[str]):
    with quiet_transformers():
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    return tokenizer(texts, padding=True, return_tensors="pt"), tokenizer


def context(model: HFAdapter, texts=TEXTS, labels=LABELS, **splits) -> RunContext:
    examples = [Example(t, y) for t, y in zip(texts, labels, strict=True)]
    data = Dataset("t", {"test": examples, **splits})
    return RunContext(model, examples, data, torch.device("cpu"), 0, batch_size=4)


# -- loading -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(BUILDERS))
def test_split_forward_equals_the_models_own_logits(kind: str, folders: dict[str, Path]) -> None:
    adapter = HFAdapter(str(folders[kind]), source=f"hf:{folders[kind]}", device="cpu")
    assert adapter.arch == f"hf:{kind}" and adapter.classes == ["neg", "pos"]
    enc, _ = own_batch(folders[kind], TEXTS)  # padded: texts of different lengths
    with torch.no_grad():
        own = own_model(folders[kind])(input_ids=enc["input_ids"],
                                       attention_mask=enc["attention_mask"]).logits
        batch = adapter.encode(TEXTS)
        split = adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
    assert torch.equal(batch.ids, enc["input_ids"])
    torch.testing.assert_close(split, own, rtol=1e-5, atol=1e-6)
    assert float(own.std(0).max()) > 1e-3  # the texts get different logits: the check has teeth
    verify(adapter, TEXTS)  # split == own, and alone == padded


@pytest.mark.parametrize("spec", ["nope/model", "./absent", "{tmp}/no/such/dir", "{tmp}/missing"])
def test_a_missing_local_folder_is_no_such_folder(spec: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = spec.format(tmp=tmp_path)
    (tmp_path / "nope").mkdir()  # "nope/model": its first part is a local folder
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadInput) as err:
        HFAdapter(path, source=f"hf:{path}", device="cpu")
    message = err.value.format_message()
    assert f"no such folder {path!r}" in message
    assert "Repo id" not in message


def test_a_folder_without_a_saved_model_says_so(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="has no config.json"):
        HFAdapter(str(tmp_path), source=f"hf:{tmp_path}", device="cpu")


def test_what_looks_like_a_local_path() -> None:
    assert (looks_local("/abs/model") and looks_local("./m") and looks_local("../m")
            and looks_local("~/m"))
    assert looks_local("a/b/c") and looks_local("dir/")
    assert not looks_local("distilbert/distilbert-base-uncased-finetuned-sst-2-english")
    assert not looks_local("bert-base-uncased")


def test_loading_prints_nothing_and_restores_the_settings(folders: dict[str, Path],
                                                          capfd: pytest.CaptureFixture) -> None:
    from transformers.utils import logging as hf_logging

    before = (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled())
    capfd.readouterr()
    HFAdapter(str(folders["distilbert"]), source="hf:x", device="cpu")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()) == before


def test_cli_missing_folder_exits_2_with_the_message(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label\ngood film,pos\n", encoding="utf-8")
    missing = tmp_path / "no-model"
    result = CliRunner().invoke(main, ["run", "--model", f"hf:{missing}", "--data", f"csv:{data}",
                                       "--out", str(tmp_path / "site"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert f"no such folder {str(missing)!r}" in result.output
    assert not (tmp_path / "site").exists()


# -- display: words from pieces ----------------------------------------------------------------
def test_pieces_become_words_for_wordpiece_and_byte_bpe(folders: dict[str, Path]) -> None:
    for kind, expected in (("bert", ["[CLS]", "an", "invigorating", "film", "[SEP]"]),
                           ("roberta", ["<s>", "an", "invigorating", "film", "</s>"])):
        adapter = HFAdapter(str(folders[kind]), source="hf:x", device="cpu")
        batch = adapter.encode(["an invigorating film"])
        spans = internals.word_spans(internals.display_tokens(adapter, batch)[0])
        assert [s.text for s in spans] == expected
        assert [s.special for s in spans] == [True, False, False, False, True]
        assert [s.stop - s.start for s in spans][2] == (4 if kind == "bert" else 3)


def test_the_unknown_token_is_an_unknown_word_not_a_special_token(bert: HFAdapter) -> None:
    batch = bert.encode(["a zzz film"])
    assert batch.tokens[0] == ["[CLS]", "a", "[UNK]", "film", "[SEP]"]
    assert internals.token_flags(bert, batch)[0] == ["special", "", "unk", "", "special"]


# -- saliency ----------------------------------------------------------------------------------
def independent_saliency(folder: Path, texts: list[str]):
    """Per text: the pieces, |d logit_pred / d inputs_embeds| per piece, and the special flags,
    computed on the Transformers model directly."""
    model = own_model(folder)
    enc, tokenizer = own_batch(folder, texts)
    emb = model.get_input_embeddings()(enc["input_ids"]).detach().requires_grad_(True)  # (B, T, E)
    logits = model(inputs_embeds=emb, attention_mask=enc["attention_mask"]).logits  # (B, K)
    score = logits.gather(1, logits.argmax(-1, keepdim=True)).sum()
    (grad,) = torch.autograd.grad(score, emb)
    norms = grad.norm(dim=-1).numpy()  # (B, T)
    out = []
    for b in range(len(texts)):
        n = int(enc["attention_mask"][b].sum())
        pieces = tokenizer.convert_ids_to_tokens(enc["input_ids"][b, :n])
        special = [p in ("[CLS]", "[SEP]") for p in pieces]
        out.append((pieces, norms[b, :n], special))
    return out


def merge_wordpieces(pieces: list[str], values: np.ndarray, special: list[bool]):
    """(word, summed value, special) by the '##' rule, written out here on purpose."""
    words: list[list] = []
    for p, v, s in zip(pieces, values, special, strict=True):
        if p.startswith("##") and words and not words[-1][2]:
            words[-1][0] += p[2:]
            words[-1][1] += float(v)
        else:
            words.append([p, float(v), s])
    return words


def test_saliency_sums_pieces_into_words_and_leaves_special_tokens_out(
        bert: HFAdapter, folders: dict[str, Path]) -> None:
    params = saliency.Params(min_word_count=1)
    result = saliency.combine({bert.name: saliency.compute(context(bert), params)}, params)
    tokens = result.tables["tokens"]
    expected = independent_saliency(folders["bert"], TEXTS)
    tops, tops_with_specials, pieces_rows = [], [], 0
    for i, (pieces, norms, special) in enumerate(expected):
        words = merge_wordpieces(pieces, norms, special)
        got = tokens[tokens["example_id"] == i].sort_values("position")
        assert got["token"].tolist() == [w[0] for w in words]
        np.testing.assert_allclose(got["saliency"], [w[1] for w in words], rtol=1e-4, atol=1e-8)
        assert got["flag"].tolist() == ["special" if w[2] else "" for w in words]
        plain = np.array([w[1] for w in words if not w[2]])
        np.testing.assert_allclose(got["share"],
                                   [0.0 if w[2] else w[1] / plain.sum() for w in words],
                                   rtol=1e-4, atol=1e-8)
        tops.append(plain.max() / plain.sum())
        tops_with_specials.append(norms.max() / norms.sum())
        pieces_rows += len(pieces)
    row = tokens[(tokens["example_id"] == 0) & (tokens["token"] == "invigorating")]
    assert row["pieces"].tolist() == [4]  # in ##vi ##gor ##ating
    # the headline: mean over texts of the top word's share, [CLS] and [SEP] counted nowhere
    assert result.metrics["top_token_share"] == pytest.approx(float(np.mean(tops)), rel=1e-4)
    assert result.metrics["top_token_share"] != pytest.approx(float(np.mean(tops_with_specials)),
                                                              rel=1e-3)
    n_words = [sum(not w[2] for w in merge_wordpieces(*e)) for e in expected]
    assert result.metrics["uniform_top_token_share"] == pytest.approx(
        float(np.mean([1 / n for n in n_words])))
    # pieces, as the model reads them, keep their own saliency (faithfulness deletes by them)
    pieces = result.tables["pieces"]
    assert len(pieces) == pieces_rows
    first = pieces[pieces["example_id"] == 0].sort_values("position")
    assert first["token"].tolist() == expected[0][0]
    np.testing.assert_allclose(first["saliency"], expected[0][1], rtol=1e-4, atol=1e-8)
    by_text = faithfulness._saliency_by_text(result.tables, bert.name)
    np.testing.assert_allclose(by_text[3], expected[3][1], rtol=1e-4, atol=1e-8)
    # the ranking: words, never pieces or special tokens
    ranked = set(result.tables["words"]["word"])
    assert "invigorating" in ranked and "terrible" in ranked
    assert not ranked & {"[CLS]", "[SEP]", "##vi", "vi", "##ble", "in", "ter"}
    assert any("sum of its pieces' saliencies" in note for note in result.notes)
    # the token view: words, [CLS]/[SEP] shown and marked, shading relative to the top word
    view = saliency.present(result, params).token_views[0]
    shown = next(r for r in view.rows if r.example_id == 0)
    assert shown.tokens == ["[CLS]", "an", "invigorating", "film", "[SEP]"]
    assert shown.flags == ["special", "", "", "", "special"]
    assert (max(s for s, f in zip(shown.scores, shown.flags, strict=True) if not f)
            == pytest.approx(1.0))


def test_saliency_of_a_reference_model_is_unchanged_by_the_merge() -> None:
    from reportgen.models.adapter import HookedAdapter
    from tests.tiny_models import tanh_sum_model

    adapter = HookedAdapter(tanh_sum_model(), source="t", device="cpu")
    examples = [Example("a b", "pos")]
    ctx = RunContext(adapter, examples, Dataset("t", {"test": examples}), torch.device("cpu"), 0)
    result = saliency.compute(ctx, saliency.Params())
    assert result.tables["pieces"].empty and result.tables["tokens"]["pieces"].tolist() == [1, 1]
    assert len(result.notes) == 1  # no word-piece note


# -- the other analyses ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["hidden_saliency", "optimization", "matching_rate",
                                  "filter_top_words"])
def test_conv_analyses_skip_with_the_reason(name: str, bert: HFAdapter) -> None:
    reason = analyses.spec(name).skip_reason(bert)
    assert reason == "bert has no convolutional layers"


def test_mlp_units_are_the_neurons_and_can_be_clamped(bert: HFAdapter,
                                                      folders: dict[str, Path]) -> None:
    points = internals.mlp_units(bert)
    assert points == [f"bert.encoder.layer.{i}.intermediate.intermediate_act_fn" for i in range(2)]
    batch = bert.encode(TEXTS[:3])
    states = internals.unit_states(bert, batch)
    model = own_model(folders["bert"])
    with torch.no_grad():  # independently: GELU(W x + b) of layer 0's feed-forward input
        seen = {}
        dense = model.bert.encoder.layer[0].intermediate.dense
        handle = dense.register_forward_hook(lambda _m, _i, out: seen.__setitem__("pre", out))
        model(input_ids=batch.ids, attention_mask=batch.mask.long())
        handle.remove()
    torch.testing.assert_close(states[points[0]], torch.nn.functional.gelu(seen["pre"]),
                               rtol=1e-5, atol=1e-6)
    assert states[points[1]].shape == (3, batch.ids.size(1), 32)
    # pooled over real positions only
    feats = internals.unit_features(bert, batch)
    m = batch.mask[..., None].float()
    torch.testing.assert_close(feats[f"{points[1]}:mean"],
                               (states[points[1]] * m).sum(1) / m.sum(1))
    # clamping unit 5 of layer 1 holds it at every position and moves the output
    with (internals.clamp_units(bert, points[1], {5: 3.0}),
          capture(bert.module, [points[1]]) as held):
        clamped = predict_proba(bert, TEXTS[:3])
    assert torch.all(held[points[1]][..., 5] == 3.0)
    assert not np.allclose(clamped, predict_proba(bert, TEXTS[:3]))


def test_the_sentence_vector_is_what_the_classifier_reads(bert: HFAdapter,
                                                          folders: dict[str, Path]) -> None:
    batch = bert.encode(TEXTS[:3])
    vector = internals.output_features(bert, batch)
    model = own_model(folders["bert"])
    with torch.no_grad():
        hidden = model(input_ids=batch.ids, attention_mask=batch.mask.long(),
                       output_hidden_states=True).hidden_states
        pooled = model.bert.pooler(hidden[-1])  # tanh(W h_[CLS] + b)
    torch.testing.assert_close(vector, pooled, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model.classifier(pooled), bert.forward(batch), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(representations.represent(bert, TEXTS[:3]), pooled.numpy(),
                               rtol=1e-5, atol=1e-6)
    states = internals.sequence_states(bert, batch)  # layers: hidden states, named by their module
    assert list(states) == ["bert.embeddings", "bert.encoder.layer.0", "bert.encoder.layer.1"]
    torch.testing.assert_close(states["bert.encoder.layer.1"], hidden[-1])


def test_distilbert_and_roberta_name_their_units_and_sentence_vector(
        folders: dict[str, Path]) -> None:
    for kind, point, head in (("distilbert", "distilbert.transformer.layer.0.ffn.activation",
                               "classifier"),
                              ("roberta",
                               "roberta.encoder.layer.0.intermediate.intermediate_act_fn",
                               "classifier.out_proj")):
        adapter = HFAdapter(str(folders[kind]), source="hf:x", device="cpu")
        assert internals.mlp_units(adapter)[0] == point and adapter.output_layer() == head
        kinds = [card.kind for card in adapter.layers()]
        assert kinds == ["embedding", "transformer", "mlp", "transformer", "mlp", "linear"]
        assert neuron_sweep.skip_reason(adapter) is None


def test_variance_salience_leaves_special_tokens_out_of_the_mean(
        bert: HFAdapter, folders: dict[str, Path]) -> None:
    result = variance_salience.compute(context(bert), variance_salience.Params())
    model = own_model(folders["bert"])
    enc, tokenizer = own_batch(folders["bert"], [TEXTS[0]])
    pieces = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    with torch.no_grad():
        emb = model.get_input_embeddings()(enc["input_ids"])[0]  # (T, E)
    special = [p in ("[CLS]", "[SEP]") for p in pieces]
    words_only = emb[[not s for s in special]]
    per_piece = ((emb - words_only.mean(0)) ** 2).sum(-1).numpy() * ~np.array(special)
    words = merge_wordpieces(pieces, per_piece, special)
    got = result.tables["tokens"]
    got = got[got["example_id"] == 0].sort_values("position")
    assert got["token"].tolist() == [w[0] for w in words]
    np.testing.assert_allclose(got["salience"], [w[1] for w in words], rtol=1e-4, atol=1e-7)


def test_neuron_sweep_representations_and_faithfulness_run(bert: HFAdapter) -> None:
    train = [Example(t, y) for t, y in zip(TEXTS * 3, LABELS * 3, strict=True)]
    ctx = context(bert, train=train)
    sweep = neuron_sweep.compute(ctx, neuron_sweep.Params(seeds=1, random_units=3, sweep_values=3,
                                                          sweep_texts=4))
    units = sweep.tables["units"]
    assert len(units) == 32  # the MLP units of the view chosen: intermediate_size of one layer
    assert ".intermediate.intermediate_act_fn:" in sweep.notes[0]
    traces = sweep.tables["traces"]
    assert traces.empty or traces["token"].iloc[0] == "[CLS]"
    reps = representations.compute(ctx, representations.Params(random_words=0))
    assert reps.tables["phrases"]["dimension"].max() == 15  # the 16-d pooled [CLS] vector
    over = reps.tables["over_time"]
    assert "[CLS]" not in set(over["token"])
    ctx.upstream = {"saliency": saliency.compute(ctx, saliency.Params())}
    faith = faithfulness.compute(ctx, faithfulness.Params(ig_steps=4))
    assert faith.tables["texts"]["example_id"].nunique() == len(TEXTS)
    assert all(np.isfinite(v) for v in faith.metrics.values())


# -- the whole run -----------------------------------------------------------------------------
def test_reportgen_run_on_a_transformers_folder(tmp_path: Path, folders: dict[str, Path]) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label\n"
                    + "".join(f"{t},{y}\n" for t, y in zip(TEXTS * 3, LABELS * 3, strict=True)),
                    encoding="utf-8")
    out = tmp_path / "site"
    result = CliRunner().invoke(main, ["run", "--model", f"hf:{folders['bert']}",
                                       "--data", f"csv:{data}", "--out", str(out),
                                       "--cache-dir", str(tmp_path / "c"), "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    status = {name: a["status"] for name, a in report["analyses"].items()}
    assert status["saliency"] == "ok" and status["variance_salience"] == "ok"
    for name in ("hidden_saliency", "optimization", "matching_rate", "filter_top_words"):
        assert status[name] == "skipped"
        assert "no convolutional layers" in report["analyses"][name]["reason"]
    assert {n for n, s in status.items() if s == "ok"} == {
        "representations", "saliency", "variance_salience", "neuron_sweep", "faithfulness"}, status
    words = (out / "data" / "saliency" / "words.csv").read_text(encoding="utf-8")
    assert "invigorating" in words and "##" not in words and "[CLS]" not in words


def test_auto_precision_on_cpu_is_bf16_for_transformers_where_the_cpu_has_it(
        tmp_path: Path, folders: dict[str, Path]) -> None:
    """auto: bf16 for a Transformers model on a CPU with native bf16 products (fp32 elsewhere),
    and bf16 keeps a Transformers run's metrics within the tolerance stated for the demo models
    (README, "Batch size and precision": shares, rates, accuracies within 0.02 absolute, or one
    text where a text is more; every other number within 2% of max(|fp32|, 1))."""
    from reportgen import batching

    data = tmp_path / "d.csv"
    rows = [(t, y) for t, y in zip(TEXTS * 8, LABELS * 8, strict=True)]
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    reports = {}
    for precision in ("auto", "fp32", "bf16"):
        out = tmp_path / precision
        result = CliRunner().invoke(main, ["run", "--model", f"hf:{folders['bert']}",
                                           "--data", f"csv:{data}", "--out", str(out),
                                           "--precision", precision, "--skip", "neuron_sweep",
                                           "--cache-dir", str(tmp_path / "c"), "--quiet"],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        reports[precision] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    resolved = reports["auto"]["config"]["resolved"]
    native = batching.cpu_multiplies_bf16()
    assert resolved["precision"] == ("bf16" if native else "fp32")
    assert ("Transformers models on a CPU with native bf16" in resolved["precision_reason"]) \
        == native
    rate_tolerance = max(0.02, 1 / len(rows) + 1e-9)
    compared = moved = 0
    for name, analysis in reports["fp32"]["analyses"].items():
        if analysis["status"] != "ok":
            continue
        other = reports["bf16"]["analyses"][name]["metrics"]
        for key, a in analysis["metrics"].items():
            b = other[key]
            if a is None or b is None:
                assert a is b, (name, key)
                continue
            rate = 0 <= a <= 1 and 0 <= b <= 1 and not key.endswith(("examples", "units", "unit"))
            bound = rate_tolerance if rate else 0.02 * max(abs(a), 1.0)
            assert abs(a - b) <= bound, (name, key, a, b)
            compared += 1
            moved += a != b
    assert compared >= 20 and moved > 0  # bf16 did compute: some numbers moved, within bounds
    # with the same models, a reference model in the run keeps auto at fp32 on every CPU
    fake = [type("M", (), {"arch": "hf:bert"})(), type("M", (), {"arch": "kim-cnn"})()]
    cpu = torch.device("cpu")
    assert batching.resolve_precision("auto", cpu, (), fake, native_bf16=True)[0] == "fp32"
    assert batching.resolve_precision("auto", cpu, (), fake[:1], native_bf16=True)[0] == "bf16"
    assert batching.resolve_precision("auto", cpu, (), fake[:1], native_bf16=False) == (
        "fp32", "auto: fp32 (CPU without native bf16 matrix products)")
    assert batching.resolve_precision("fp32", cpu, (), fake[:1], native_bf16=True)[0] == "fp32"
