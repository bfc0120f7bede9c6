"""One backward pass for every gradient attribution of a batch, shared by the analyses of a run.

Question: saliency, gradient x input and the hidden-location scores are all read off the gradient
of one class score; why pay a forward and a backward pass for each of them?

Method: one forward pass of a batch with hooks on the requested conv layers (``models.hooks``),
then one ``torch.autograd.grad`` of S_c, the score of the predicted class (or of a given target),
with respect to the input embeddings e and every requested activation a at once. From that one
gradient:

- first-derivative saliency (Li et al. 2016, Sec. 5): |dS/de| per dimension, and its L2 norm over
  dimensions per token;
- gradient x input (Shrikumar et al. 2016; Captum's ``InputXGradient``): sum over dimensions of
  dS/de * e per token, signed;
- hidden-location scores (Yuan et al. 2019, Sec. 3.1): (dS/da_i) . a_i per location i of each
  requested layer, NaN where the location sees no token of the text.

``SharedGradients`` is the run's store of what later analyses read from the pass ``saliency``
makes (the first of them to run): each text's location scores for ``hidden_saliency`` and its
gradient x input for ``faithfulness``, only for the examples and layers the run's plan says they
will read (``run.plan.shared_gradients``), and only from passes of the predicted class at the
model's batch size (the values an analysis computing alone would get, bit for bit: the same
batches, the same kernels). An analysis finding a batch missing (a cached ``saliency``, another
torchrun rank's batch, a halved batch size) computes it itself. A consumer's entries are dropped
once it has run.

Cost: one forward and one backward pass per batch, for all three; the store holds a few floats
per token of the texts its consumers will read.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from reportgen.data.encoding import EncodedBatch
from reportgen.models.common import gradients
from reportgen.models.conv import ConvLayer
from reportgen.models.hooks import capture, to_btc
from reportgen.models.view import ModelView


@dataclass
class GradientBatch:
    tokens: list[list[str]]  # per example
    mats: list[np.ndarray]  # per example: (T, E) |dS/de| (empty when inputs=False)
    vecs: list[np.ndarray]  # per example: (T,) saliency, the L2 norm of dS/de over dimensions
    gxi: list[np.ndarray]  # per example: (T,) gradient x input, summed over dimensions, signed
    layer_scores: list[np.ndarray]  # per requested layer: (B, L) (dS/da_i) . a_i, NaN: no token
    predicted: np.ndarray  # (B,) class indices
    probs: np.ndarray  # (B, K) class probabilities of the same forward pass
    batch: EncodedBatch | None = None  # the encoded texts (no need to tokenise them again)


def gradient_batch(model: ModelView, texts: list[str], targets: list[int] | None = None,
                   layers: list[ConvLayer] | tuple = (), inputs: bool = True) -> GradientBatch:
    """One forward and one backward pass over ``texts``. ``targets`` None: differentiate the
    predicted class; a negative target (an unlabelled text) differentiates its predicted class.
    ``inputs`` False: no gradient with respect to the embeddings (location scores only)."""
    return batch_gradients(model, model.encode(texts), targets, layers, inputs)


def batch_gradients(model: ModelView, batch: EncodedBatch, targets: list[int] | None = None,
                    layers: list[ConvLayer] | tuple = (), inputs: bool = True) -> GradientBatch:
    """``gradient_batch`` of a batch already encoded."""
    points = list(dict.fromkeys(layer.read_at for layer in layers))
    with gradients(model.module):
        emb = model.embed(batch.ids).detach()  # (B, T, E) or (B, T, C, E) for spelled words
        if inputs:
            emb.requires_grad_(True)
        with capture(model.module, points) as seen:
            logits = model.forward_from_embeddings(emb, batch.mask)  # (B, K)
        acts = [seen[p] for p in points]  # each in its hook point's layout, e.g. (B, C, L)
        predicted = logits.argmax(-1)  # (B,)
        target = predicted
        if targets is not None:
            given = torch.as_tensor(targets, device=logits.device)  # (B,)
            target = torch.where(given >= 0, given, predicted)
        score = logits.gather(1, target[:, None]).sum()
        wrt = ([emb] if inputs else []) + acts
        grads = list(torch.autograd.grad(score, wrt))
    lengths = [len(t) for t in batch.tokens]
    mats: list[np.ndarray] = []
    vecs: list[np.ndarray] = []
    gxi: list[np.ndarray] = []
    if inputs:
        grad = grads.pop(0).detach()
        signed = (grad * emb.detach()).float().flatten(2).sum(-1).cpu().numpy()  # (B, T)
        grad = grad.float().abs()
        if grad.dim() == 4:  # character-spelled words: (B, T, C, E) -> per token and dimension
            per_dim = grad.sum(2)  # (B, T, E)
            per_token = grad.pow(2).sum((2, 3)).sqrt()  # (B, T)
        else:
            per_dim = grad  # (B, T, E)
            per_token = grad.pow(2).sum(-1).sqrt()  # (B, T)
        per_dim_np, per_token_np = per_dim.cpu().numpy(), per_token.cpu().numpy()
        mats = [per_dim_np[i, :n] for i, n in enumerate(lengths)]
        vecs = [per_token_np[i, :n] for i, n in enumerate(lengths)]
        gxi = [signed[i, :n] for i, n in enumerate(lengths)]
    by_point = dict(zip(points, zip(acts, grads, strict=True), strict=True))
    layer_scores = []
    for layer in layers:
        act, grad_a = by_point[layer.read_at]
        scores = to_btc((grad_a * act).detach(), layer.layout).sum(-1).float().cpu().numpy()
        layer_scores.append(_unseen_as_nan(scores, layer, lengths, batch.ids.size(1)))
    probs = torch.softmax(logits.detach().float(), -1).cpu().numpy()  # (B, K), as predict_proba
    return GradientBatch(batch.tokens, mats, vecs, gxi, layer_scores, predicted.cpu().numpy(),
                         probs, batch)


def _unseen_as_nan(scores: np.ndarray, layer: ConvLayer, lengths: list[int],
                   width: int) -> np.ndarray:
    """(B, L) scores with NaN at every location whose receptive field holds no token of its text
    (and, for a layer as long as the input, at the padding positions)."""
    n_locations = scores.shape[1]
    where = np.arange(n_locations)  # (L,)
    start = layer.field.offset + where * layer.field.jump  # (L,) first input position seen
    n = np.asarray(lengths)[:, None]  # (B, 1)
    sees = (start[None, :] <= n - 1) & (start[None, :] + layer.field.size - 1 >= 0)  # (B, L)
    if n_locations == width:
        sees &= where[None, :] < n
    scores[~sees] = np.nan
    return scores


@dataclass
class TextGradients:
    """What the store keeps of one text's pass (only what a later analysis will read)."""

    tokens: list[str]
    predicted: int
    probs: np.ndarray  # (K,)
    layers: dict[str, np.ndarray] = field(default_factory=dict)  # layer name -> (L,) scores
    gxi: np.ndarray | None = None  # (T,) gradient x input


@dataclass
class SharedGradients:
    """A run's store of gradient-pass results, per (model, batch size) and example id."""

    layers: dict[str, list[ConvLayer]] = field(default_factory=dict)  # model -> hidden's layers
    gxi_ids: frozenset[int] = frozenset()  # examples whose gradient x input faithfulness reads
    _texts: dict[tuple[str, int], dict[int, TextGradients]] = field(default_factory=dict)

    def wanted(self, model: str) -> bool:
        return bool(self.layers.get(model)) or bool(self.gxi_ids)

    def put(self, model: str, batch_size: int, ids: list[int], out: GradientBatch) -> None:
        """Keep what the consumers will read of one batch's pass (``ids``: its example ids)."""
        names = [layer.name for layer in self.layers.get(model, [])]
        store = self._texts.setdefault((model, batch_size), {})
        for b, example_id in enumerate(ids):
            if not names and example_id not in self.gxi_ids:
                continue
            # one string object per distinct token: 100,000 texts keep pointers, not copies
            store[example_id] = TextGradients(
                [sys.intern(t) for t in out.tokens[b]], int(out.predicted[b]), out.probs[b],
                {name: out.layer_scores[j][b] for j, name in enumerate(names)},
                out.gxi[b] if example_id in self.gxi_ids and out.gxi else None)

    def get(self, model: str, batch_size: int, ids: list[int], *, layers: list[ConvLayer] = (),
            gxi: bool = False) -> list[TextGradients] | None:
        """Every one of ``ids``'s records holding ``layers`` (and gradient x input), else None."""
        store = self._texts.get((model, batch_size), {})
        found = [store.get(i) for i in ids]
        if any(r is None or (gxi and r.gxi is None) or any(lay.name not in r.layers
                                                           for lay in layers) for r in found):
            return None
        return found

    def done(self, analysis: str) -> None:
        """``analysis`` has run: what only it reads is dropped."""
        if analysis == "hidden_saliency":  # only faithfulness's detail texts stay
            self.layers = {}
            self._texts = {key: {i: r for i, r in store.items() if i in self.gxi_ids}
                           for key, store in self._texts.items()}
            for store in self._texts.values():
                for record in store.values():
                    record.layers = {}
        elif analysis == "faithfulness":
            self.gxi_ids = frozenset()
            for store in self._texts.values():
                for record in store.values():
                    record.gxi = None
        if not self.layers and not self.gxi_ids:
            self._texts.clear()
