"""examples/textgenrnn: the PyTorch port of textgenrnn's pretrained character LSTM.

The port is checked against a forward pass written here in NumPy straight from the HDF5 arrays,
with the CuDNNLSTM -> LSTM conversion Keras applies when it loads them (per gate
``kernel.T.reshape(kernel.shape, order="F")``, recurrent blocks transposed, the two biases summed),
where the port instead reads each block as it lies; then through reportgen as a user model. Needs
h5py (the dev extra); the weights ship in examples/textgenrnn/ (1.9 MB, MIT)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

h5py = pytest.importorskip("h5py", reason="h5py reads the Keras weights: pip install h5py")

HERE = Path(__file__).resolve().parents[1] / "examples" / "textgenrnn"
WEIGHTS, VOCAB = HERE / "textgenrnn_weights.hdf5", HERE / "textgenrnn_vocab.json"
pytestmark = pytest.mark.skipif(
    not WEIGHTS.is_file(),
    reason=f"{WEIGHTS} missing: pip download textgenrnn==2.0.0 --no-deps, unpack textgenrnn/")

STRINGS = ["What is the best way to learn", "Show HN: ", "", "a",
           "TIL that the Great Wall of China is not visible from space, says NASA",
           "i thought the film was"]


def _example():
    spec = importlib.util.spec_from_file_location("textgenrnn_model", HERE / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example():
    return _example()


@pytest.fixture(scope="module")
def port(example):
    return example.load_textgenrnn()


# -- an independent forward pass, in NumPy, from the HDF5 file -------------------------------------
def _keras_arrays() -> dict[str, np.ndarray]:
    with h5py.File(WEIGHTS, "r") as f:
        return {name: np.asarray(f[name], dtype=np.float64) for name in _names(f)}


def _names(f) -> list[str]:
    found: list[str] = []
    f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
    return found


def _from_cudnn(kernel, recurrent, bias):
    """Keras's conversion of CuDNNLSTM weights for a plain LSTM (keras/engine/saving.py)."""
    gates = 4
    kernel = np.hstack([k.T.reshape(k.shape, order="F") for k in np.hsplit(kernel, gates)])
    recurrent = np.hstack([k.T for k in np.hsplit(recurrent, gates)])
    return kernel, recurrent, np.sum(np.split(bias, 2), axis=0)


def _keras_lstm(x, kernel, recurrent, bias):
    """Keras LSTM, sigmoid recurrent activation: x (T, I) -> h at every step (T, H)."""
    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    units = recurrent.shape[0]
    h, c, out = np.zeros(units), np.zeros(units), []
    for t in range(x.shape[0]):
        z = x[t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[k * units:(k + 1) * units] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.array(out)


def _keras_probabilities(w: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """textgenrnn's Keras graph on one window of 40 ids -> next-character probabilities (V,)."""
    x = w["embedding/embedding/embeddings:0"][ids]  # (40, 100)
    seq = [x]
    for name in ("rnn_1", "rnn_2"):
        params = _from_cudnn(*(w[f"{name}/{name}/{k}:0"] for k in ("kernel", "recurrent_kernel",
                                                                   "bias")))
        seq.append(_keras_lstm(seq[-1], *params))
    concat = np.concatenate(seq, axis=1)  # (40, 356)
    logits = concat @ w["attention/attention/attention_W:0"][:, 0]
    ai = np.exp(logits - logits.max())
    pooled = (concat * (ai / (ai.sum() + 1e-7))[:, None]).sum(0)  # (356,)
    z = pooled @ w["output/output/kernel:0"] + w["output/output/bias:0"]
    e = np.exp(z - z.max())
    return e / e.sum()


def _keras_window(text: str) -> list[int]:
    """textgenrnn_encode_sequence(([<s>] + list(text))[-40:]), with pad_sequences' left padding."""
    vocab = json.loads(VOCAB.read_text(encoding="utf-8"))
    ids = [vocab.get(c, 0) for c in ["<s>", *text]][-40:]
    return [0] * (40 - len(ids)) + ids


# -- the tests -----------------------------------------------------------------------------------
def test_port_equals_numpy_forward_from_the_hdf5(example, port) -> None:
    w = _keras_arrays()
    encoder = example.Encoder()
    ids = [_keras_window(s) for s in STRINGS]
    assert [encoder.window(s) for s in STRINGS] == ids
    expected = np.stack([_keras_probabilities(w, row) for row in ids])  # (N, 465)
    with torch.no_grad():
        got = torch.softmax(port(torch.tensor(ids)).double(), -1).numpy()
    assert got.shape == (len(STRINGS), 465)
    assert np.abs(got - expected).max() < 1e-5


def test_port_reads_english_and_continues_plausibly(example, port) -> None:
    encoder = example.Encoder()
    title = "What is the best way to learn a new language?"
    with torch.no_grad():  # the probability of each next character of the title given its prefix
        logp = torch.log_softmax(port(example.windows(encoder, [title[:i] for i in range(
            len(title))])), -1)
    nats = -logp[torch.arange(len(title)), torch.tensor(encoder.ids(title)[1:])].mean()
    assert float(nats) < 2.0  # measured 1.0; a uniform guess over 465 ids is 6.1
    greedy = example.generate(port, encoder, ["What is the "], 12, temperature=0.0)[0]
    assert greedy[0].isalpha() or greedy[0] == " "
    assert sum(c.isalpha() or c == " " for c in greedy) >= 10


def test_a_clamp_holds_the_unit_and_no_clamp_is_the_fused_pass(example, port) -> None:
    encoder = example.Encoder()
    ids = example.windows(encoder, STRINGS[:3])
    with torch.no_grad():
        fused = port.run(ids)
        held = port.run(ids, clamp={5: 0.9, 130: -0.9})
        second = port.run(ids, clamp={130: -0.9})  # rnn_2 only: rnn_1 runs fused and unchanged
    assert torch.all(held.rnn_1[..., 5] == 0.9) and torch.all(held.rnn_2[..., 2] == -0.9)
    assert not torch.allclose(held.logits, fused.logits, atol=1e-3)
    assert torch.equal(second.rnn_1, fused.rnn_1)
    others = [u for u in range(128) if u != 2]  # step 0 of the step-by-step pass: as fused
    assert torch.allclose(second.rnn_2[:, 0, others], fused.rnn_2[:, 0, others], atol=1e-6)


def test_whole_text_final_states_are_the_last_step_of_the_pass(example, port) -> None:
    encoder = example.Encoder()
    texts = ["a fine film .", "dull"]
    rows = [encoder.ids(t) for t in texts]
    ids = torch.zeros(2, max(map(len, rows)), dtype=torch.long)
    for b, row in enumerate(rows):
        ids[b, : len(row)] = torch.tensor(row)
    final = port.final_states(ids, torch.tensor([len(r) for r in rows]))["h"]  # (2, 256)
    with torch.no_grad():
        one = port.run(torch.tensor([rows[1]]))  # the short text alone, no padding at all
    assert torch.allclose(final[1], torch.cat([one.rnn_1[0, -1], one.rnn_2[0, -1]]), atol=1e-6)


def test_generation_is_seeded_and_clamps_change_it(example, port) -> None:
    encoder = example.Encoder()
    a = example.generate(port, encoder, ["this movie is"], 15, temperature=0.5, seed=3)
    b = example.generate(port, encoder, ["this movie is"], 15, temperature=0.5, seed=3)
    assert a == b and len(a[0]) <= 15
    clamped = example.generate(port, encoder, ["this movie is"], 15, temperature=0.0,
                               clamp={u: 1.0 for u in range(128, 256)})
    assert clamped != example.generate(port, encoder, ["this movie is"], 15, temperature=0.0)


def _cli(*args: str):
    from click.testing import CliRunner

    from reportgen.cli import main

    return CliRunner().invoke(main, ["run", "--model", f"{HERE / 'model.py'}:textgenrnn_model",
                                     *args, "--quiet"], catch_exceptions=False)


def test_reportgen_runs_it_as_a_user_model_on_unlabelled_text(tmp_path: Path) -> None:
    """As a user runs it: the CLI loads FILE.py:FUNC, checks the split forward and the padding,
    and explains it as a 465-class classifier of the next character."""
    texts = tmp_path / "titles.txt"
    texts.write_text("What is the best way to learn\nShow HN: a tiny text editor\nthe acting\n",
                     encoding="utf-8")
    result = _cli("--data", f"txt:{texts}", "--only", "saliency", "--out", str(tmp_path / "site"),
                  "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "site" / "report.json").read_text(encoding="utf-8"))
    (card,) = report["models"]
    assert card["name"] == "textgenrnn" and len(card["classes"]) == 465
    assert card["unknown_share"] == 0.0
    assert report["analyses"]["saliency"]["status"] == "ok"


def test_labelled_data_is_refused_while_a_user_model_cannot_be_a_language_model(
        tmp_path: Path) -> None:
    """Why study.py exists: a UserModel is a classifier whose classes must include the data's
    labels, and textgenrnn's classes are characters. When UserModel can declare a language model,
    this test, study.py's docstring and the README paragraph change together."""
    result = _cli("--data", "demo", "--only", "neuron_sweep", "--max-examples", "20",
                  "--out", str(tmp_path / "site"), "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 2
    assert "does not know: 'negative', 'positive'" in result.output


def test_the_study_runs_end_to_end_on_a_small_sample() -> None:
    spec = importlib.util.spec_from_file_location("textgenrnn_study", HERE / "study.py")
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    result = study.run("demo", n_train=60, n_dev=30, n_test=60, samples=1, length=8,
                       temperature=0.5, seed=0)
    assert set(result["readings"]) == set(study.READINGS)
    for reading in result["readings"].values():
        assert reading["units"] == 256
        for rule in ("post", "kmeans"):
            assert 0.0 <= reading["best_unit_kmeans"][f"{rule}_test"] <= 1.0
    gen = result["generation"]
    assert len(gen["free"]["samples"]) == len(study.PROMPTS)
    assert all(text.startswith(p) for text, p in zip(gen["positive end"]["samples"],
                                                     study.PROMPTS, strict=True))
    assert "clamped generation" in study.summary(result)
