"""What analyses may read inside a model, the same way for reference, user and Transformers models.

The adapter stays narrow (encode, embed, forward_from_embeddings, layers, conv_chains,
conv_outputs, token_vectors); everything here is a free function built on it, on the hook points of
``reportgen.models.hooks`` and on the step-by-step recurrences of ``reportgen.models.recurrence``.
A model without the part an analysis needs raises ``NotApplicable`` with a reason for the page.

- ``conv_layers`` / ``conv_activations``: every conv/pool layer's activation after its
  nonlinearity (B, L, C), with the layer's receptive field (size, jump, offset), so that location i
  maps to input positions ``location_span`` (Yuan et al. 2019's hidden locations, at any depth);
- ``window_forward``: a layer's activation at the one location whose receptive field is exactly a
  given input window (input optimisation needs only that window);
- ``recurrent_states``: hidden and cell states of every recurrent layer at every step;
- ``sequence_states``: per-position hidden states by layer (recurrent outputs, conv maps,
  Transformer layers);
- ``unit_states``: per-position values of the units neuron analyses read and clamp: the
  ``sequence_states``, except for models that name their neurons (Transformers: each layer's MLP
  units, ``mlp_units``);
- ``output_features``: the vector the output layer reads (the ``features`` hook point, or the input
  of an adapter's ``output_layer``);
- ``unit_features``: one vector of units per text (that vector, final states, units pooled over time);
- ``clamp_units`` / ``generate``: hold units fixed at every step, for classifiers and for
  generating text from a language model (the sentiment-neuron sweeps);
- ``vocabulary_vectors``: the vectors of every vocabulary entry with special tokens marked (for the
  character CNN, word vectors built from characters), for nearest-word search;
- ``display_tokens``: the text of each token for display, word pieces marked as continuations;
  ``word_spans``: those tokens grouped into the words a reader sees (pieces joined, special tokens
  on their own), for merging per-token scores into per-word ones.

Cost: each function is one batched forward pass (``window_forward`` stops after the layer);
``recurrent_states`` and ``clamp_units`` re-run recurrences step by step in Python, about T times
slower than cuDNN/oneDNN's fused kernels but exact and differentiable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from reportgen.data.encoding import EncodedBatch
from reportgen.data.vocab import UNK_ID
from reportgen.models.adapter import ModelAdapter, ReceptiveField, receptive_fields
from reportgen.models.hooks import HookPoint, capture, capture_inputs, override, stop_after, to_btc
from reportgen.models.recurrence import RecurrentTrace, recurrent_modules, unrolled


class NotApplicable(Exception):
    """The model has no such part; the message is the reason shown on the report page."""


# -- convolutions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvLayer:
    name: str  # the Conv1d / pool module
    read_at: str  # the module whose output is read: a hook point after the nonlinearity, else ``name``
    layout: str  # axes of that output, "B C T" or "B T C"
    field: ReceptiveField  # in input positions of ``axis``
    chain: int  # which sequential chain of the model (Kim's parallel widths are separate chains)
    depth: int  # 1-based position within the chain
    channels: int | None
    axis: str  # "tokens", or "chars" for character-spelled words
    activated: bool  # True when ``read_at`` is after the nonlinearity


_ACTIVATIONS = (nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.ReLU6)


def conv_layers(adapter: ModelAdapter) -> list[ConvLayer]:
    """Every conv/pool layer of the model's conv chains, input side first, chain by chain."""
    modules = dict(adapter.module.named_modules())
    outputs = adapter.conv_outputs()
    axis = "chars" if adapter.encoder is not None and adapter.encoder.kind == "word_chars" else "tokens"
    layers = []
    for c, chain in enumerate(adapter.conv_chains()):
        fields = receptive_fields([modules[n] for n in chain])
        for depth, (name, field_) in enumerate(zip(chain, fields, strict=True), start=1):
            read_at = outputs.get(name, name)
            point = modules[read_at]
            if isinstance(point, HookPoint):
                layout = point.layout
            else:  # a Conv2d over the text (kernel (k, E)) keeps a width-1 axis, as do its activations
                layout = "B C T 1" if isinstance(modules[name], nn.Conv2d) else "B C T"
            channels = getattr(modules[name], "out_channels", None)
            layers.append(ConvLayer(name, read_at, layout, field_, c, depth, channels, axis,
                                    activated=read_at != name))
    if not layers:
        trace = getattr(adapter, "conv_trace", None)  # a user's model: what tracing found
        found = "; ".join(trace.notes) if trace is not None else ""
        if found:
            raise NotApplicable(
                f"{adapter.name} has no convolutional layers over the text ({found}); if it has, "
                "name them: UserModel(..., conv_chains=[['convs.0'], ['convs.1']]), one list per "
                "stack, input side first")
        raise NotApplicable(f"{adapter.name} has no convolutional layers")
    return layers


def conv_layer(adapter: ModelAdapter, name: str | None = None) -> ConvLayer:
    """The conv layer called ``name`` (None: the first)."""
    layers = conv_layers(adapter)
    if name is None:
        return layers[0]
    for layer in layers:
        if name in (layer.name, layer.read_at):
            return layer
    raise NotApplicable(f"{adapter.name} has no conv layer {name!r} "
                        f"(layers: {', '.join(layer.name for layer in layers)})")


def conv1d_weight(conv: nn.Module) -> torch.Tensor:
    """A text convolution's weight as a Conv1d's, (filters, embedding, k): a Conv2d over
    (B, 1, T, E) with kernel (k, E) holds it as (filters, 1, k, E)."""
    w = conv.weight.detach()
    if isinstance(conv, nn.Conv2d):
        return w[:, 0].transpose(1, 2)  # (F, k, E) -> (F, E, k)
    return w


def following_activation(module: nn.Module, conv_name: str) -> str | None:
    """For user models: the activation module registered right after ``conv_name`` in the same
    parent (an ``nn.Sequential`` of conv, ReLU, ...), else None."""
    parent_name, _, child = conv_name.rpartition(".")
    parent = dict(module.named_modules())[parent_name]
    names = list(parent._modules)
    i = names.index(child)
    if i + 1 < len(names) and isinstance(parent._modules[names[i + 1]], _ACTIVATIONS):
        return f"{parent_name}.{names[i + 1]}" if parent_name else names[i + 1]
    return None


def location_span(field_: ReceptiveField, location: int, n_inputs: int) -> tuple[int, int]:
    """Input positions [start, end] (inclusive, clipped to the text) seen by ``location``."""
    start = field_.offset + location * field_.jump
    return max(start, 0), min(start + field_.size - 1, n_inputs - 1)


@torch.no_grad()
def conv_activations(
    adapter: ModelAdapter, batch: EncodedBatch, names: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """Conv layer name -> its activation (B, L, C) on ``batch`` (reference models: zero at
    locations that see only padding)."""
    layers = [layer for layer in conv_layers(adapter) if names is None or layer.name in names]
    with capture(adapter.module, [layer.read_at for layer in layers]) as seen:
        adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
    return {layer.name: to_btc(seen[layer.read_at], layer.layout) for layer in layers}


def window_forward(
    adapter: ModelAdapter, layer: ConvLayer, window: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Activation (N, C) of ``layer`` at the location whose receptive field is exactly ``window``.

    ``window``: (N, S, E) input embeddings with S = the layer's receptive field size (for
    character models, characters of one word); ``mask`` (N, S) marks real positions (default all).
    Differentiable in ``window``. The model runs only up to the layer.
    """
    size, jump, offset = layer.field.size, layer.field.jump, layer.field.offset
    if window.size(1) != size:
        raise ValueError(f"window of {window.size(1)} positions; {layer.name} sees {size}")
    if offset % jump:
        raise NotApplicable(f"{layer.name}: no location's receptive field starts at position 0")
    location = -offset // jump
    n = window.size(0)
    if mask is None:
        mask = torch.ones(n, size, dtype=torch.bool, device=window.device)
    if layer.axis == "chars":  # one word slot of ``size`` characters
        emb, token_mask = window[:, None], mask.any(1, keepdim=True)  # (N, 1, S, E), (N, 1)
    else:
        emb, token_mask = window * mask[..., None].to(window.dtype), mask
    with capture(adapter.module, [layer.read_at]) as seen, stop_after(adapter.module, layer.read_at):
        adapter.forward_from_embeddings(emb, token_mask)
    acts = to_btc(seen[layer.read_at], layer.layout)  # (N', L, C); for chars N' = N words
    return acts[:, location]  # (N, C)


def window_function(adapter: ModelAdapter, layer: ConvLayer, probes: int = 64):
    """``window_forward`` for ``layer``, or an exact shortcut when one is proven on probes.

    For a first-layer ``nn.Conv1d`` the activation of one location is f(W . window + b) with f the
    identity or a ReLU: one matrix product instead of running the model's padded convolution over
    every position of the window. Which f (if any) the model applies is not assumed: both are
    compared with ``window_forward`` on ``probes`` random windows (some positions masked), and the
    shortcut is used only when it agrees to 1e-5; otherwise ``window_forward`` itself is returned.
    """
    conv = dict(adapter.module.named_modules())[layer.name]
    generic = lambda x, mask=None: window_forward(adapter, layer, x, mask)
    if layer.depth != 1 or layer.axis != "tokens" or not isinstance(conv, nn.Conv1d) or conv.groups != 1:
        return generic
    k, d = conv.kernel_size[0], conv.dilation[0]
    weight = conv.weight.detach().permute(0, 2, 1).reshape(conv.out_channels, -1)  # (C, k * E)
    bias = conv.bias.detach() if conv.bias is not None else None

    def linear(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            x = x * mask[..., None].to(x.dtype)
        taps = x[:, : (k - 1) * d + 1 : d]  # (N, k, E)
        out = taps.reshape(x.size(0), -1) @ weight.T  # (N, C)
        return out + bias if bias is not None else out

    def relu(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.relu(linear(x, mask))

    g = torch.Generator().manual_seed(0)
    dim = conv.in_channels
    x = (torch.randn(probes, layer.field.size, dim, generator=g) * 2).to(weight)
    mask = torch.rand(probes, layer.field.size, generator=g) > 0.2
    mask[:, layer.field.size // 2] = True  # the location itself is inside the text
    with torch.no_grad(), torch.autocast(weight.device.type, enabled=False):  # proven in fp32
        expected = generic(x, mask)
        for shortcut in (relu, linear):
            got = shortcut(x, mask)
            if torch.allclose(got, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()) + 1e-6):
                return shortcut
    return generic


# -- recurrences and per-position states -------------------------------------------------------
def recurrent_states(adapter: ModelAdapter, batch: EncodedBatch) -> dict[str, RecurrentTrace]:
    """Recurrent module name -> hidden (and LSTM cell) states of every layer at every step."""
    rnns = recurrent_modules(adapter.module)
    if not rnns:
        raise NotApplicable(f"{adapter.name} has no recurrent layer")
    traces: dict[str, list[RecurrentTrace]] = {name: [] for name, _ in rnns}
    with torch.no_grad(), _all_unrolled(adapter.module, traces):
        adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
    return {name: found[-1] for name, found in traces.items() if found}


@contextmanager
def _all_unrolled(module: nn.Module, traces: dict[str, list[RecurrentTrace]]) -> Iterator[None]:
    from contextlib import ExitStack

    with ExitStack() as stack:
        for name, found in traces.items():
            stack.enter_context(unrolled(module, name, traces=found))
        yield


def sequence_states(adapter: ModelAdapter, batch: EncodedBatch) -> dict[str, torch.Tensor]:
    """Layer name -> per-position hidden states (B, T', H), input side first."""
    own = getattr(adapter, "layer_states", None)
    if own is not None:  # Transformers: every layer's hidden states
        return own(batch)
    points = {n: p for n, p in _hook_points(adapter).items()
              if p.layout.replace(" ", "") in ("BTC", "BCT")}
    if points:
        with torch.no_grad(), capture(adapter.module, list(points)) as seen:
            adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
        return {n: to_btc(seen[n], points[n].layout) for n in points if n in seen
                and seen[n].size(0) == batch.ids.size(0)}
    states: dict[str, torch.Tensor] = {}
    if recurrent_modules(adapter.module):
        states.update({n: t.outputs for n, t in recurrent_states(adapter, batch).items()})
    try:
        states.update(conv_activations(adapter, batch))
    except NotApplicable:
        pass
    if not states:
        raise NotApplicable(f"{adapter.name} exposes no per-position hidden states")
    return states


def mlp_units(adapter: ModelAdapter) -> list[str] | None:
    """Dotted names of the modules whose outputs are the model's neurons, when the adapter names
    them (Transformers: each layer's feed-forward activation, ``HFAdapter.mlp_points``); None when
    it does not (the units are then its per-position hidden states). ``NotApplicable`` with the
    reason when the adapter should name them but cannot."""
    points = getattr(adapter, "mlp_points", None)
    return None if points is None else list(points())


def unit_states(adapter: ModelAdapter, batch: EncodedBatch) -> dict[str, torch.Tensor]:
    """Module name -> per-position unit values (B, T', U) for neuron analyses: each ``mlp_units``
    module's output where the model names them, else ``sequence_states``. Every key is a module of
    the model (or a recurrent layer), so ``clamp_units`` can hold its units."""
    names = mlp_units(adapter)
    if names is None:
        return sequence_states(adapter, batch)
    with torch.no_grad(), capture(adapter.module, names) as seen:
        adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
    return {n: seen[n] for n in names}


def output_features(adapter: ModelAdapter, batch: EncodedBatch) -> torch.Tensor | None:
    """(B, D): the vector the output layer reads: the ``features`` hook point of reference models,
    else the input of the adapter's ``output_layer`` (Transformers: the classification head's last
    linear layer: BERT's pooled [CLS], DistilBERT's and RoBERTa's projected [CLS] / <s>); None when
    the model names neither."""
    if "features" in _hook_points(adapter):
        name, reader = "features", capture
    elif getattr(adapter, "output_layer", ""):
        name, reader = adapter.output_layer, capture_inputs  # type: ignore[attr-defined]
    else:
        return None
    with torch.no_grad(), reader(adapter.module, [name]) as seen:
        adapter.forward_from_embeddings(adapter.embed(batch.ids), batch.mask)
    return seen[name]


def _hook_points(adapter: ModelAdapter) -> dict[str, HookPoint]:
    return {n: m for n, m in adapter.module.named_modules() if isinstance(m, HookPoint)}


@torch.no_grad()
def unit_features(adapter: ModelAdapter, batch: EncodedBatch) -> dict[str, torch.Tensor]:
    """Name -> one vector of units per text (B, U): the representation the output layer reads
    (``features``: a final state, pooled maps, a Transformer's sentence vector), and each
    ``unit_states`` layer pooled over real positions (``<layer>:mean``, ``<layer>:max``; recurrent
    layers also ``<layer>:final``)."""
    out: dict[str, torch.Tensor] = {}
    mask = batch.mask
    assert mask is not None
    pooled = output_features(adapter, batch)
    if pooled is not None:
        out["features"] = pooled
    if recurrent_modules(adapter.module) and "features" not in _hook_points(adapter):
        for name, trace in recurrent_states(adapter, batch).items():
            out[f"{name}:final"] = _final_state(trace, mask)
    for name, states in unit_states(adapter, batch).items():
        if states.size(1) != mask.size(1):  # wide convolutions: positions are not tokens
            m = states.abs().sum(-1) > 0  # (B, L) locations that see a real token
        else:
            m = mask
        w = m[..., None].to(states.dtype)  # (B, L, 1)
        out[f"{name}:mean"] = (states * w).sum(1) / w.sum(1).clamp(min=1)
        out[f"{name}:max"] = states.masked_fill(~m[..., None], float("-inf")).max(1).values.nan_to_num(
            neginf=0.0)
    return out


def _final_state(trace: RecurrentTrace, mask: torch.Tensor) -> torch.Tensor:
    """(B, D*H): the forward half at each example's last real step, the backward half at step 0."""
    outputs = trace.outputs  # (B, T, D*H)
    last = mask.long().sum(1).clamp(min=1) - 1  # (B,)
    forward = outputs[torch.arange(outputs.size(0)), last]  # (B, D*H)
    if trace.final is not None and outputs.size(-1) == 2 * _hidden(trace):
        h = outputs.size(-1) // 2
        return torch.cat([forward[:, :h], outputs[:, 0, h:]], -1)
    return forward


def _hidden(trace: RecurrentTrace) -> int:
    final = trace.final[0] if isinstance(trace.final, tuple) else trace.final
    return int(final.size(-1))


@contextmanager
def clamp_units(adapter: ModelAdapter, layer: str, units: dict[int, float],
                cell: bool = False) -> Iterator[None]:
    """Hold ``units`` of ``layer`` at fixed values during the block.

    A recurrent module is re-run step by step with the units set after every step, so the clamp
    reaches later steps through the recurrence (``cell``: LSTM cell states too); any other module or
    hook point has those units of its output overwritten (at every position).
    """
    modules = dict(adapter.module.named_modules())
    output_layer = getattr(adapter, "output_layer", "")
    if layer == "features" and layer not in modules and output_layer:
        # the representation the output layer reads (``output_features``): set on its input
        index = torch.tensor(sorted(units))
        values = torch.tensor([units[u] for u in sorted(units)])

        def set_input(_m: nn.Module, inputs: tuple) -> tuple:
            x = inputs[0].clone()
            x[..., index.to(x.device)] = values.to(x)
            return (x, *inputs[1:])

        handle = modules[output_layer].register_forward_pre_hook(set_input)
        try:
            yield
        finally:
            handle.remove()
        return
    if layer not in modules:
        raise NotApplicable(f"{adapter.name} has no layer {layer!r}")
    if isinstance(modules[layer], nn.RNNBase):
        with unrolled(adapter.module, layer, clamp=units, clamp_cell=cell):
            yield
        return
    index = torch.tensor(sorted(units))
    values = torch.tensor([units[u] for u in sorted(units)])

    module = modules[layer]
    if isinstance(module, HookPoint):
        layout = module.layout.replace(" ", "")
    elif isinstance(module, nn.Conv2d):  # a Conv2d over the text: (B, C, T, 1)
        layout = "BCT1"
    elif isinstance(module, (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)):  # channels on the second axis
        layout = "BCT"
    else:
        layout = "BTC"

    def fix(out: torch.Tensor) -> torch.Tensor:
        out = out.clone()
        if layout in ("BCT", "BCT1"):
            tail = (None,) * (out.dim() - 2)
            out[:, index.to(out.device)] = values.to(out)[(slice(None), *tail)]
        else:
            out[..., index.to(out.device)] = values.to(out)
        return out

    with override(adapter.module, {layer: fix}):
        yield


def generate(
    adapter: ModelAdapter,
    prompts: Sequence[str],
    steps: int,
    clamp: dict[int, float] | None = None,
    temperature: float = 0.0,
    seed: int = 0,
) -> list[str]:
    """Continue each prompt by ``steps`` tokens (decoded to text); see ``generate_ids``."""
    ids = generate_ids(adapter, prompts, steps, clamp, temperature, seed)
    return [adapter.encoder.decode_ids(row) for row in ids]


@torch.no_grad()
def generate_ids(
    adapter: ModelAdapter,
    prompts: Sequence[str],
    steps: int,
    clamp: dict[int, float] | None = None,
    temperature: float = 0.0,
    seed: int = 0,
) -> list[list[int]]:
    """Continue each prompt by ``steps`` token ids from a language model that has ``step``
    (greedy when ``temperature`` is 0, else sampled with a seeded generator), holding ``clamp``
    units of its recurrent state fixed at every step, prompt included."""
    step = getattr(adapter.module, "step", None)
    if adapter.task != "lm" or step is None:
        raise NotApplicable(f"{adapter.name} is not a language model with a step interface")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    for prompt in prompts:
        ids = adapter.encode([prompt]).ids[0].tolist()
        state, logits = None, None
        for token in ids:
            logits, state = step(torch.tensor([token], device=adapter.device), state, clamp)
        generated: list[int] = []
        for _ in range(steps):
            assert logits is not None
            scores = logits[0].float().cpu()
            scores[0] = float("-inf")  # never emit padding
            if temperature > 0:
                token = int(torch.multinomial(torch.softmax(scores / temperature, -1), 1, generator=gen))
            else:
                token = int(scores.argmax())
            generated.append(token)
            logits, state = step(torch.tensor([token], device=adapter.device), state, clamp)
        out.append(generated)
    return out


# -- vocabulary and display ------------------------------------------------------------------
@dataclass
class VocabVectors:
    tokens: list[str]  # the text of each entry
    vectors: torch.Tensor  # (V, E) in the space the model's first layer reads (chars: word vectors)
    special: np.ndarray  # (V,) bool: padding, unknown and other special tokens
    space: str  # "embedding" or "char-cnn word vectors"


@torch.no_grad()
def vocabulary_vectors(adapter: ModelAdapter) -> VocabVectors:
    """Every vocabulary entry's vector, for nearest-word search (special tokens marked)."""
    tokens, vectors, special, space = adapter.token_vectors()
    return VocabVectors(tokens, vectors, np.asarray(special, dtype=bool), space)


@dataclass(frozen=True)
class TokenText:
    text: str  # what to show
    joins_previous: bool  # a word-piece continuation: shown attached to the token before
    special: bool  # [CLS], [SEP], <s>, ...


def piece_row(tokens: Sequence[str], special: Sequence[bool], starts_marked: bool) -> list[TokenText]:
    """Subword tokens as display tokens: special ones stand alone; '##ing' (WordPiece) joins the
    piece before; 'Ġword' / '▁word' (byte BPE, SentencePiece) start a word, and where a tokenizer
    marks starts (``starts_marked``), an unmarked piece continues the word before it."""
    row: list[TokenText] = []
    for t, is_special in zip(tokens, special, strict=True):
        if is_special:
            row.append(TokenText(t, False, True))
        elif t.startswith("##"):
            row.append(TokenText(t[2:], True, False))
        elif t.startswith(("Ġ", "▁")):
            row.append(TokenText(t[1:], False, False))
        else:
            row.append(TokenText(t, starts_marked and bool(row) and not row[-1].special, False))
    return row


def marks_word_starts(vocabulary: Iterable[str]) -> bool:
    """Whether a subword vocabulary marks word *starts* (Ġ / ▁): a tenth or more of its entries
    start with a mark (WordPiece vocabularies have next to none)."""
    entries = list(vocabulary)
    marked = sum(t.startswith(("Ġ", "▁")) for t in entries)
    return marked > 0 and marked >= 0.1 * len(entries)


def token_flags(adapter: ModelAdapter, batch: EncodedBatch) -> list[list[str]]:
    """Per token: "unk" (out of the model's vocabulary), "special" ([CLS], [SEP]...) or ""."""
    if batch.flags is not None:  # the encoder knew (a user's own tokenizer)
        return [list(row) for row in batch.flags]
    tokenizer = getattr(adapter, "tokenizer", None)
    if tokenizer is not None:
        unk = tokenizer.unk_token
        shown = display_tokens(adapter, batch)
        return [["special" if t.special else "unk" if raw == unk else "" for t, raw in zip(row, toks, strict=True)]
                for row, toks in zip(shown, batch.tokens, strict=True)]
    if adapter.encoder.kind in ("word", "char"):
        ids = batch.ids.cpu()
        return [["unk" if int(ids[i, j]) == UNK_ID else "" for j in range(len(toks))]
                for i, toks in enumerate(batch.tokens)]
    return [[""] * len(toks) for toks in batch.tokens]  # bytes, spelled words: nothing unknown


def full_lengths(adapter: ModelAdapter, texts: Sequence[str]) -> list[int]:
    """Tokens per text before the model's length limit cuts it."""
    tokenizer = getattr(adapter, "tokenizer", None)
    if tokenizer is not None:
        return [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]
    return [adapter.encoder.full_length(t) for t in texts]


def display_tokens(adapter: ModelAdapter, batch: EncodedBatch) -> list[list[TokenText]]:
    """The display text of every token of ``batch`` (Transformers word pieces included)."""
    own = getattr(adapter, "display_tokens", None)
    if own is not None:
        return own(batch)
    return [[TokenText(t, False, False) for t in toks] for toks in batch.tokens]


@dataclass(frozen=True)
class WordSpan:
    text: str  # the pieces' display texts joined
    start: int  # first token position
    stop: int  # one past the last token position
    special: bool  # a special token ([CLS], <s>...), always a word of its own


def word_spans(row: Sequence[TokenText]) -> list[WordSpan]:
    """The words a reader sees in one text's display tokens: a continuation piece joins the word
    before it (never a special token's), every other token starts a word."""
    spans: list[WordSpan] = []
    for i, tok in enumerate(row):
        if tok.joins_previous and spans and not tok.special and not spans[-1].special:
            last = spans[-1]
            spans[-1] = WordSpan(last.text + tok.text, last.start, i + 1, False)
        else:
            spans.append(WordSpan(tok.text, i, i + 1, tok.special))
    return spans
