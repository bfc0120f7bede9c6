"""Training, pretrained vectors and demo models, on small synthetic data
(CPU, seeded, no network)."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from reportgen.data.dataset import Dataset, Example
from reportgen.data.vocab import Vocab
from reportgen.errors import BadInput
from reportgen.models import demo_models
from reportgen.models.architectures import ARCHITECTURES, build_model
from reportgen.models.checkpoint import load_checkpoint, save_checkpoint
from reportgen.models.embeddings import load_vectors, read_vectors
from reportgen.models.train import resolve_device, train_model

POSITIVE, NEGATIVE = ["great", "superb", "lovely"], ["awful", "dull", "poor"]
FILLER = ["the", "a", "film", "movie", "plot", "actor", "scene", "story", "was", "is", "very",
          "quite", "rather", "and", "of"]

# Small dimensions and a high learning rate: each of these trains in a second or two.
TINY: dict[str, dict] = {
    "kim-cnn": {"emb_dim": 16, "filters": 8},
    "yuan-cnn": {"emb_dim": 16, "channels": [16, 16, 8]},
    "dilated-cnn": {"emb_dim": 16, "channels": 16},
    "rnn": {"emb_dim": 16, "hidden": 16},
    "lstm": {"emb_dim": 16, "hidden": 16},
    "bilstm": {"emb_dim": 16, "hidden": 16},
    "char-cnn": {"char_dim": 8, "filters": [8] * 7},
    "seq2seq-ae": {"emb_dim": 16, "hidden": 32},
    "byte-lstm-lm": {"emb_dim": 16, "hidden": 32},
}


def keyword_data(n_train: int = 240, n_test: int = 60, seed: int = 0) -> Dataset:
    """Texts of 3-8 filler words plus one keyword anywhere; the keyword alone decides the label."""
    rng = random.Random(seed)

    def example(i: int) -> Example:
        label = i % 2
        words = rng.sample(FILLER, rng.randint(3, 8))
        words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if label else NEGATIVE))
        return Example(" ".join(words), "pos" if label else "neg")

    return Dataset("synthetic", {"train": [example(i) for i in range(n_train)],
                                 "test": [example(i) for i in range(n_test)]})


def quick(arch: str, data: Dataset, **kw) -> object:
    overrides = {**TINY[arch], "lr": 1e-2, "batch_size": 16, "min_freq": 1,
                 **kw.pop("overrides", {})}
    return train_model(arch, data, epochs=kw.pop("epochs", 8), device="cpu", progress=False,
                       overrides=overrides, **kw)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return keyword_data()


@pytest.mark.parametrize("arch", [a for a, c in ARCHITECTURES.items() if c.task == "classify"])
def test_classifiers_learn_a_keyword_task(arch: str, data: Dataset) -> None:
    # The label is a function of one keyword, so a model that finds it scores 100%; 0.9 leaves room
    # for a carved dev split of 24 examples stopping training an epoch early.
    ckpt = quick(arch, data)
    assert ckpt.metrics["test_accuracy"] >= 0.9
    assert ckpt.classes == ["neg", "pos"]
    assert ckpt.metrics["epochs_run"] >= 1 and ckpt.metrics["train_seconds"] > 0
    assert ckpt.info["split_sources"]["dev"].startswith("seeded 10% of train")
    assert ckpt.info["splits"] == {"test": 60, "dev": 24, "train": 216}


def test_autoencoder_learns_to_copy() -> None:
    # 21 word types, each sentence a random draw: guessing scores ~1/16. Reconstructing new
    # sentences through a 64-unit code after 10 short epochs reaches ~0.41 (seed 0); 0.3 is well
    # clear of guessing and of the unigram baseline.
    ckpt = quick("seq2seq-ae", keyword_data(n_train=1000), epochs=10, overrides={"hidden": 64})
    assert ckpt.metrics["test_accuracy"] >= 0.3


def test_byte_lm_beats_the_frequency_baseline(data: Dataset) -> None:
    ckpt = quick("byte-lstm-lm", data, epochs=6)
    text = "".join(ex.text for ex in data.split("test"))
    most_common = max(text.count(c) for c in set(text)) / len(text)  # the space, ~17%
    assert ckpt.metrics["test_accuracy"] > most_common + 0.15
    assert 0 < ckpt.metrics["bits_per_byte"] < 8


def test_training_is_deterministic(data: Dataset) -> None:
    a, b = quick("lstm", data, epochs=3), quick("lstm", data, epochs=3)
    c = quick("lstm", data, epochs=3, seed=1)
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    assert {k: v for k, v in a.metrics.items() if k != "train_seconds"} == {
        k: v for k, v in b.metrics.items() if k != "train_seconds"
    }
    assert any(not torch.equal(a.state_dict[k], c.state_dict[k]) for k in a.state_dict)


def test_trained_checkpoint_round_trip(data: Dataset, tmp_path: Path) -> None:
    ckpt = quick("kim-cnn", data, epochs=2)
    save_checkpoint(ckpt, tmp_path / "m.pt")
    torch.load(tmp_path / "m.pt", weights_only=True)
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert loaded.metrics == pytest.approx(ckpt.metrics)
    assert loaded.info["seed"] == 0 and loaded.info["device"] == "cpu"
    model = build_model(loaded.arch, loaded.config)
    model.load_state_dict(loaded.state_dict)
    model.eval()
    ids = loaded.encoder.encode([ex.text for ex in data.split("test")]).ids
    with torch.no_grad():
        acc = (model(ids).argmax(-1)
               == torch.tensor([ex.label == "pos" for ex in data.split("test")])
               ).float().mean().item()
    assert acc == pytest.approx(ckpt.metrics["test_accuracy"])


# -- bad input -------------------------------------------------------------------------------------
def test_bad_inputs(data: Dataset) -> None:
    with pytest.raises(BadInput, match="unknown architecture 'gpt'.*kim-cnn.*bilstm"):
        train_model("gpt", data)
    unlabelled = Dataset("u", {"train": [Example(f"text {i}") for i in range(20)]})
    with pytest.raises(BadInput, match="without a label"):
        train_model("kim-cnn", unlabelled, progress=False)
    one_class = Dataset("one", {"train": [Example(f"text {i}", "x") for i in range(20)]})
    with pytest.raises(BadInput, match="at least two"):
        train_model("kim-cnn", one_class, progress=False)
    with pytest.raises(BadInput, match="too few"):
        train_model("kim-cnn", Dataset("t", {"train": [Example("a", "x"), Example("b", "y")]}))
    with pytest.raises(BadInput, match="unknown setting.*colour.*valid choices:.*filters"):
        train_model("kim-cnn", data, overrides={"colour": 1})
    with pytest.raises(BadInput, match="--epochs"):
        train_model("kim-cnn", data, epochs=0)
    with pytest.raises(BadInput, match="max_len"):
        train_model("kim-cnn", data, max_len=0)
    with pytest.raises(BadInput, match="unknown device 'gpu'"):
        train_model("kim-cnn", data, device="gpu")


def test_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(BadInput, match="auto, cpu, cuda, cuda:N"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BadInput, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_language_models_need_no_labels() -> None:
    texts = Dataset("u", {"train": [Example(f"some text number {i}") for i in range(30)]})
    ckpt = quick("byte-lstm-lm", texts, epochs=1)
    assert ckpt.classes == [] and "bits_per_byte" in ckpt.metrics


# -- pretrained vectors ----------------------------------------------------------------------------
def write_vectors(path: Path, words: list[str], dim: int, header: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    vecs = {w: rng.normal(size=dim).round(4).astype(np.float32) for w in words}
    lines = [f"{len(words)} {dim}"] if header else []
    lines += [w + " " + " ".join(f"{x:.4f}" for x in v) for w, v in vecs.items()]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return vecs


@pytest.mark.parametrize(("name", "header"), [("v.txt.gz", True), ("v.txt", False)])
def test_load_vectors(tmp_path: Path, name: str, header: bool) -> None:
    vecs = write_vectors(tmp_path / name, ["Great", "film", "zebra"], 6, header)
    vocab = Vocab(["<pad>", "<unk>", "great", "film", "unseen"])
    matrix, found = load_vectors(tmp_path / name, vocab, generator=torch.Generator().manual_seed(0))
    assert matrix.shape == (5, 6) and found == 2
    assert torch.equal(matrix[2], torch.from_numpy(vecs["Great"]))  # lower-cased fallback
    assert torch.equal(matrix[3], torch.from_numpy(vecs["film"]))
    assert torch.all(matrix[0] == 0)  # padding
    assert read_vectors(tmp_path / name)[1] == 6


def test_train_with_vectors_takes_their_dimension(data: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "v.txt.gz"
    write_vectors(path, POSITIVE + NEGATIVE + ["film", "movie"], 12, header=True)
    ckpt = quick("kim-cnn", data, epochs=1, embeddings=path, overrides={"emb_dim": 12})
    assert ckpt.config["emb_dim"] == 12
    assert ckpt.info["vectors"]["found"] == 8 and ckpt.info["vectors"]["dim"] == 12
    with pytest.raises(BadInput, match="emb_dim=16 differs from the 12-d"):
        quick("kim-cnn", data, embeddings=path)  # TINY sets emb_dim 16
    with pytest.raises(BadInput, match="word-level architecture"):
        quick("char-cnn", data, embeddings=path)


def test_bad_vector_files(tmp_path: Path) -> None:
    vocab = Vocab(["<pad>", "<unk>", "a"])
    with pytest.raises(BadInput, match="does not exist"):
        load_vectors(tmp_path / "missing.txt", vocab)
    bad = tmp_path / "bad.txt"
    bad.write_text("a 0.1 0.2 0.3\nb 0.1 0.2\n")
    with pytest.raises(BadInput, match="line 2: 2 values, expected 3"):
        load_vectors(bad, vocab)
    bad.write_text("a 0.1 x 0.3\n")
    with pytest.raises(BadInput, match="line 1: a value is not a number"):
        load_vectors(bad, vocab)
    binary = tmp_path / "w2v.bin"
    binary.write_bytes(b"3 2\n\xff\xfe\x00\x01")
    with pytest.raises(BadInput, match="binary word2vec"):
        load_vectors(binary, vocab)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(BadInput, match="empty"):
        load_vectors(tmp_path / "empty.txt", vocab)


# -- demo models ---------------------------------------------------------------------------------
def test_demo_models_are_trained_once_then_reused(tmp_path: Path, monkeypatch) -> None:
    small = keyword_data(n_train=120, n_test=20)
    monkeypatch.setattr(demo_models, "DEMO_EPOCHS", dict.fromkeys(demo_models.DEMO_ARCHS, 1))
    paths = demo_models.train_demo_models(small, tmp_path, device="cpu", progress=False)
    assert [p.name for p in paths] == [f"{a}.pt" for a in demo_models.DEMO_ARCHS]
    assert all(p.parent == tmp_path / "demo-models" for p in paths)

    def fail(*args, **kwargs):
        raise AssertionError("a cached demo model was retrained")

    monkeypatch.setattr(demo_models, "train_model", fail)
    assert demo_models.train_demo_models(small, tmp_path, device="cpu", progress=False) == paths
    paths[0].write_bytes(b"not a checkpoint")  # a broken file is retrained
    monkeypatch.undo()
    monkeypatch.setattr(demo_models, "DEMO_EPOCHS", dict.fromkeys(demo_models.DEMO_ARCHS, 1))
    demo_models.train_demo_models(small, tmp_path, device="cpu", progress=False)
    assert load_checkpoint(paths[0]).arch == demo_models.DEMO_ARCHS[0]


REAL_VECTORS = (Path(__file__).resolve().parents[2] / "shared" / "data" / "embeddings"
                / "minilm-300d.txt.gz")


@pytest.mark.skipif(not REAL_VECTORS.is_file(), reason="../shared/data is not present")
def test_real_vectors_file() -> None:
    vocab = Vocab(["<pad>", "<unk>", "terrible", "horrible", "football", "no-such-word-xyz"])
    matrix, found = load_vectors(REAL_VECTORS, vocab, generator=torch.Generator().manual_seed(0))
    assert matrix.shape == (6, 300) and found == 3
    cos = torch.nn.functional.cosine_similarity
    assert cos(matrix[2], matrix[3], dim=0) > cos(matrix[2], matrix[4], dim=0)
