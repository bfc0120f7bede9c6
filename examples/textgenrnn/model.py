"""textgenrnn's pretrained character LSTM, ported to PyTorch from the Keras weights it ships.

    reportgen run --model examples/textgenrnn/model.py:textgenrnn_model --data txt:titles.txt \
        --only saliency          # labelled data is refused: see README.md here; study.py probes it

Source: the ``textgenrnn`` package on PyPI (Max Woolf, MIT licence, version 2.0.0; see LICENSE
here), whose ``textgenrnn_weights.hdf5`` (1.9 MB, Keras 2.1.5) and ``textgenrnn_vocab.json`` (464
characters) sit beside this file, unchanged. Its README: trained on "hundreds of thousands of text
documents from Reddit submissions", i.e. post titles, not reviews. Fetch them again with
``pip download textgenrnn==2.0.0 --no-deps`` and unpack ``textgenrnn/`` from the sdist.

The network, as ``textgenrnn/model.py`` builds it with the config in ``textgenrnn/textgenrnn.py``
(rnn_layers 2, rnn_size 128, dim_embeddings 100, max_length 40, not bidirectional)::

    ids (B, 40)         [<s>] + the text's characters, the last 40 kept, left-padded with id 0
                        (Keras pad_sequences); a character outside the vocabulary is id 0 too
    embedding (B,40,100)  465 x 100, no mask: both LSTMs read the padding positions
    rnn_1 (B, 40, 128)  LSTM, sigmoid gates, tanh, all positions returned
    rnn_2 (B, 40, 128)  LSTM on rnn_1's outputs
    rnn_concat (B,40,356) [embedding, rnn_1, rnn_2] at every position
    attention (B, 356)  AttentionWeightedAverage (from DeepMoji): a = exp(x.w - max) over the 40
                        positions, divided by (sum + 1e-7), the Keras epsilon; sum_t a_t x_t
    output (B, 465)     Dense 356 -> 465 with softmax: the next character (id 464, <s>, ends a text)

The weights file holds CuDNNLSTM weights (textgenrnn trained on a GPU): each LSTM's bias is (1024,),
the input biases then the recurrent ones, and each gate's (inputs, 128) block of the kernel holds
cuDNN's (128, inputs) matrix in row-major order. Keras converts them when it loads them into a
plain LSTM (per gate ``kernel.T.reshape(kernel.shape, order="F")``, recurrent blocks transposed,
the two biases summed); read as it lies, a kernel block ``reshape(128, inputs)`` is PyTorch's
``weight_ih`` block, a recurrent block is ``weight_hh``'s, and the two biases are ``bias_ih`` and
``bias_hh``. The gate order is i, f, c, o in Keras and in cuDNN, PyTorch's i, f, g, o: nothing to
reorder. The recurrent activation is the sigmoid: textgenrnn sets it for parity with CuDNNLSTM, and
the file (weights only: ``layer_names``, no ``model_config``) cannot say otherwise. Read without the
conversion, the weights give 48 nats per character on three English titles instead of 1.15.
``tests/test_textgenrnn.py`` checks this module against a NumPy forward pass built from the HDF5
arrays with Keras's own conversion.

For reportgen the model is what its Keras graph is: 40 character ids in, 465 next-character scores
out, so ``textgenrnn_model()`` declares it a 465-class classifier of the next character (a
``UserModel`` cannot be declared a language model: see README.md here). Every text
becomes exactly 40 ids, so reportgen never pads: textgenrnn's own left padding (id 0) is, as in
Keras, read by the LSTMs like any character, and ``pad_id`` names an id that never occurs.

Cost: a forward pass over 1,000 windows takes ~0.9 s on one CPU thread; a clamped pass runs the
LSTMs step by step in Python, ~1.4x that.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "textgenrnn_weights.hdf5"
VOCAB = HERE / "textgenrnn_vocab.json"
MAX_LENGTH = 40  # textgenrnn's config["max_length"]: the characters the model sees
META_TOKEN = "<s>"  # starts every text and, predicted, ends it
PAD_ID = 0  # Keras pad_sequences' padding, also every character outside the vocabulary
KERAS_EPSILON = 1e-7  # K.epsilon(), in the attention's denominator
Clamp = dict[int, float]  # unit (0-127: rnn_1, 128-255: rnn_2) -> value held after every step


def vocabulary(path: Path = VOCAB) -> list[str]:
    """id -> character: textgenrnn_vocab.json maps 464 characters (and ``<s>``) to 1..464."""
    stoi = json.loads(path.read_text(encoding="utf-8"))
    itos = ["<pad>"] * (max(stoi.values()) + 1)
    for char, i in stoi.items():
        itos[i] = char
    return itos


class AttentionWeightedAverage(nn.Module):
    """DeepMoji's attention pooling as textgenrnn uses it: one weight per channel scores each
    position, softmax over positions (no mask), weighted sum of the positions."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))  # Keras attention_W (C, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = x @ self.weight  # (B, T)
        ai = torch.exp(logits - logits.max(-1, keepdim=True).values)  # (B, T)
        weights = ai / (ai.sum(-1, keepdim=True) + KERAS_EPSILON)  # (B, T)
        return (x * weights[..., None]).sum(1)  # (B, C)


@dataclass
class Pass:
    """One pass over windows: next-character logits and what the layers held."""

    logits: torch.Tensor  # (B, V)
    rnn_1: torch.Tensor  # (B, T, H): rnn_1's hidden state at every position
    rnn_2: torch.Tensor  # (B, T, H)
    attention: torch.Tensor  # (B, E + 2H): the vector the output layer reads


class TextgenRNN(nn.Module):
    """Embedding -> 2 stacked LSTMs -> attention over [embedding, rnn_1, rnn_2] -> Dense."""

    def __init__(self, n_tokens: int = 465, dim_embeddings: int = 100, rnn_size: int = 128) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_tokens, dim_embeddings)
        self.rnn_1 = nn.LSTM(dim_embeddings, rnn_size, batch_first=True)
        self.rnn_2 = nn.LSTM(rnn_size, rnn_size, batch_first=True)
        self.attention = AttentionWeightedAverage(dim_embeddings + 2 * rnn_size)
        self.output = nn.Linear(dim_embeddings + 2 * rnn_size, n_tokens)

    @property
    def rnn_size(self) -> int:
        return self.rnn_1.hidden_size

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) -> next-character logits (B, V); softmax gives textgenrnn's probabilities."""
        return self.run(ids).logits

    def run(self, ids: torch.Tensor, clamp: Clamp | None = None) -> Pass:
        """The whole network on windows ``ids`` (B, T); ``clamp`` holds hidden units at fixed
        values after every step, so the recurrence, the next layer and the attention all read
        them (the LSTMs then run step by step)."""
        h = self.rnn_size
        clamp = clamp or {}
        emb = self.embedding(ids)  # (B, T, E)
        out_1 = _lstm(self.rnn_1, emb, {u: v for u, v in clamp.items() if u < h})  # (B, T, H)
        out_2 = _lstm(self.rnn_2, out_1, {u - h: v for u, v in clamp.items() if u >= h})
        pooled = self.attention(torch.cat([emb, out_1, out_2], -1))  # (B, E + 2H)
        return Pass(self.output(pooled), out_1, out_2, pooled)

    @torch.no_grad()
    def final_states(self, ids: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """Both LSTMs read each row of right-padded ``ids`` (B, T) up to its length from a zero
        state (no window: the whole text) -> ``h`` and ``c`` (B, 2H): rnn_1's units, then rnn_2's,
        at each row's last character."""
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths.cpu(),
                                                   batch_first=True, enforce_sorted=False)
        out_1, (h_1, c_1) = self.rnn_1(packed)
        _, (h_2, c_2) = self.rnn_2(out_1)
        return {"h": torch.cat([h_1[0], h_2[0]], -1), "c": torch.cat([c_1[0], c_2[0]], -1)}


def _lstm(lstm: nn.LSTM, x: torch.Tensor, clamp: Clamp) -> torch.Tensor:
    """``lstm`` over x (B, T, I) from a zero state -> outputs (B, T, H); with ``clamp``, step by
    step with those units of h set after every step."""
    if not clamp:
        return lstm(x)[0]
    units = torch.tensor(sorted(clamp), device=x.device)
    values = torch.tensor([clamp[u] for u in sorted(clamp)], dtype=x.dtype, device=x.device)
    state = None
    outputs = []
    for t in range(x.size(1)):
        _, (h, c) = lstm(x[:, t : t + 1], state)  # h, c (1, B, H): the step's output is h
        h = h.clone()
        h[..., units] = values
        state = (h, c)
        outputs.append(h[0])
    return torch.stack(outputs, 1)  # (B, T, H)


def load_keras_weights(module: TextgenRNN, path: Path = WEIGHTS) -> TextgenRNN:
    """The HDF5 arrays into ``module`` (see the module docstring for the CuDNNLSTM layout)."""
    import h5py

    with h5py.File(path, "r") as f:
        def get(layer: str, weight: str) -> torch.Tensor:
            return torch.from_numpy(f[f"{layer}/{layer}/{weight}:0"][()])

        with torch.no_grad():
            module.embedding.weight.copy_(get("embedding", "embeddings"))
            for name in ("rnn_1", "rnn_2"):
                lstm: nn.LSTM = getattr(module, name)
                kernel, recurrent = get(name, "kernel"), get(name, "recurrent_kernel")
                bias = get(name, "bias")  # (8H,): cuDNN's input biases, then its recurrent ones
                n_in, units = kernel.size(0), lstm.hidden_size
                blocks = kernel.split(units, 1)  # 4 x (I, H): gates i, f, c, o
                lstm.weight_ih_l0.copy_(torch.cat([b.reshape(units, n_in) for b in blocks]))
                lstm.weight_hh_l0.copy_(torch.cat(recurrent.split(units, 1)))  # 4 x (H, H)
                lstm.bias_ih_l0.copy_(bias[: 4 * units])
                lstm.bias_hh_l0.copy_(bias[4 * units :])
            module.attention.weight.copy_(get("attention", "attention_W")[:, 0])
            module.output.weight.copy_(get("output", "kernel").T)  # Keras (in, out) -> (out, in)
            module.output.bias.copy_(get("output", "bias"))
    return module.eval()


def load_textgenrnn(path: Path = WEIGHTS) -> TextgenRNN:
    """The pretrained model, in eval mode on the CPU."""
    return load_keras_weights(TextgenRNN(), path)


class Encoder:
    """textgenrnn's character encoding: ``[<s>] + list(text)``, unknown characters id 0."""

    def __init__(self, itos: Sequence[str] | None = None) -> None:
        self.itos = list(itos or vocabulary())
        self.stoi = {c: i for i, c in enumerate(self.itos) if i != PAD_ID}
        self.meta_id = self.stoi[META_TOKEN]

    def ids(self, text: str) -> list[int]:
        """The whole text, ``<s>`` first."""
        return [self.meta_id] + [self.stoi.get(c, PAD_ID) for c in text]

    def window(self, text: str) -> list[int]:
        """The 40 ids textgenrnn's generation reads to predict the character after ``text``: the
        last 40 of ``[<s>] + text``, left-padded with 0 (``textgenrnn_encode_sequence``)."""
        return _left_pad(self.ids(text)[-MAX_LENGTH:])

    def first_window(self, text: str) -> list[int]:
        """The 40 ids textgenrnn's ``encode_text_vectors`` reads: ``[<s>] + text[:40]``, of which
        Keras keeps the last 40 (the text's first 40 characters; ``<s>`` too when shorter)."""
        return _left_pad(self.ids(text[:MAX_LENGTH])[-MAX_LENGTH:])

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.itos[i] for i in ids if i not in (PAD_ID, self.meta_id))


def _left_pad(ids: list[int]) -> list[int]:
    return [PAD_ID] * (MAX_LENGTH - len(ids)) + ids


def windows(encoder: Encoder, texts: Sequence[str], first: bool = False) -> torch.Tensor:
    """(B, 40) windows of ``texts``: the last 40 characters, or the first 40 (``first``)."""
    encode = encoder.first_window if first else encoder.window
    return torch.tensor([encode(t) for t in texts], dtype=torch.long)


@torch.no_grad()
def generate(
    module: TextgenRNN,
    encoder: Encoder,
    prefixes: Sequence[str],
    length: int,
    temperature: float = 0.5,
    seed: int = 0,
    clamp: Clamp | None = None,
) -> list[str]:
    """Continue each prefix by up to ``length`` characters as ``textgenrnn_generate`` does: the
    window of the last 40 ids is re-read from scratch for every character, p ** (1/T) sampled
    (textgenrnn's log(p + 1e-7) / T), id 0 replaced by the second most likely id, a text ended
    by ``<s>``. ``clamp`` holds units at every step of every window (seeded; all rows at once)."""
    gen = torch.Generator().manual_seed(seed)
    texts = [encoder.ids(p) for p in prefixes]
    done = [False] * len(texts)
    for _ in range(length):
        batch = torch.tensor([_left_pad(t[-MAX_LENGTH:]) for t in texts])  # (B, 40)
        probs = torch.softmax(module.run(batch, clamp).logits.double(), -1)  # (B, V)
        if temperature > 0:
            scores = torch.exp(torch.log(probs + KERAS_EPSILON) / temperature)
            picks = torch.multinomial(scores / scores.sum(-1, keepdim=True), 1, generator=gen)[:, 0]
        else:
            picks = probs.argmax(-1)
        second = probs.argsort(-1, descending=True)[:, 1]
        for b, pick in enumerate(picks.tolist()):
            if done[b]:
                continue
            pick = int(second[b]) if pick == PAD_ID else pick
            texts[b].append(pick)
            done[b] = pick == encoder.meta_id
        if all(done):
            break
    return [encoder.decode(t[len(encoder.ids(p)):]) for t, p in zip(texts, prefixes, strict=True)]


def textgenrnn_model():
    """The pretrained textgenrnn for ``reportgen run --model model.py:textgenrnn_model``: a
    465-class classifier of the character after each text's last 40 characters."""
    import reportgen

    encoder = Encoder()
    itos = encoder.itos
    tokenizer = reportgen.Tokenizer(encoder.window, vocab=itos, pad_id=len(itos),
                                    special_ids=[PAD_ID, encoder.meta_id], max_len=MAX_LENGTH)
    classes = [f"next {c!r}" for c in itos]
    return reportgen.UserModel(load_textgenrnn(), tokenizer, classes=classes, name="textgenrnn",
                               embedding="embedding")
