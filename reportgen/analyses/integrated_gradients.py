"""Integrated gradients for ``faithfulness``, with the first convolution's passes taken once.

Question: what does each token contribute to the predicted class along the straight path from the
zero (padding) embedding to the text (Sundararajan et al. 2017)?

Method: IG_i = e_i * sum_s w_s dF/de_i(a_s e), the Gauss-Legendre steps a_s and weights w_s of
Captum's ``IntegratedGradients`` (its default method, ``ig_steps`` steps). Captum runs the whole
model forward and backward at every step. For a model whose first layers are convolutions over
the embeddings (``conv_lookup.first_convs``), those layers are linear in e: their output at step s
is a_s P + b, P = W * x(e) the bias-free product of the text's conv input, and by linearity
sum_s w_s dF/de(a_s e) = W^T (sum_s w_s dF/dc_s), one transposed product for all steps. So P comes
from one pass, only the layers above the convolutions run at every step (the convolutions swapped
for their outputs a_s P + b), and one backward pass through the convolutions gives the sum.

Nothing is assumed: the first ``PROOF_TEXTS`` texts of every model's first batch are also
attributed by Captum and the shortcut is used only when it agrees (to 1e-4 of the largest
attribution); otherwise, and for every other model, Captum's ``IntegratedGradients`` runs as it
is. Both round differently: per-token sums agree to about 1e-6 of their size.

Outputs: per-token attributions (B, T, ...) as Captum's. Cost: the shortcut, one forward and one
backward pass of the convolutions per batch plus ``ig_steps`` passes of the layers above them;
Captum, ``ig_steps`` forward and backward passes of the whole model, ``chunk`` sequences at once.
"""

from __future__ import annotations

import weakref

import torch
from torch import nn

from reportgen.models.common import gradients
from reportgen.models.conv_lookup import ConvStandIn, first_convs, swapped
from reportgen.models.view import ModelView

_PROVEN: weakref.WeakKeyDictionary[nn.Module, bool] = weakref.WeakKeyDictionary()
# texts of a model's first batch that Captum also attributes, the proof: the shortcut's identity
# is one of the model's structure, which a few texts show as well as a batch (and cost an eighth)
PROOF_TEXTS = 8


class _Given(ConvStandIn):
    """Stands in for one Conv1d: returns the outputs prepared for the current call."""

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__(conv)
        self.value: torch.Tensor | None = None  # (N, C, L)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.value is None or x.size(0) != self.value.size(0):
            raise ValueError("given convolution output called on another batch")
        return self.value


def captum_ig(model: ModelView, emb: torch.Tensor, mask: torch.Tensor, target: torch.Tensor,
              steps: int, chunk: int) -> torch.Tensor:
    """Captum's ``IntegratedGradients`` from the zero embedding: (B, T, ...) attributions."""
    from captum.attr import IntegratedGradients

    def forward(e: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return model.forward_from_embeddings(e, m)

    with gradients(model.module):
        return IntegratedGradients(forward).attribute(
            emb.clone(), baselines=torch.zeros_like(emb), target=target,
            additional_forward_args=(mask,), n_steps=steps,
            internal_batch_size=min(chunk, emb.size(0) * steps)).detach()


def conv_path_ig(model: ModelView, convs: list[tuple[str, nn.Conv1d]], emb: torch.Tensor,
                 mask: torch.Tensor, target: torch.Tensor, steps: int, chunk: int
                 ) -> torch.Tensor:
    """The same attributions with the first convolutions linear along the path (module doc)."""
    from captum.attr._utils.approximation_methods import approximation_parameters

    weights_of, alphas_of = approximation_parameters("gausslegendre")
    weights, alphas = weights_of(steps), alphas_of(steps)
    n = emb.size(0)
    seen: dict[str, torch.Tensor] = {}

    def keep_input(name: str):
        def hook(_module: nn.Module, inputs: tuple) -> None:
            seen[name] = inputs[0]  # (B, E, T): the conv's input, a function of e
        return hook

    with gradients(model.module):
        e = emb.detach().clone().requires_grad_(True)  # (B, T, E)
        handles = [conv.register_forward_pre_hook(keep_input(name)) for name, conv in convs]
        try:
            model.forward_from_embeddings(e, mask)  # only to read each conv's input
        finally:
            for h in handles:
                h.remove()
        products = {name: nn.functional.conv1d(seen[name], conv.weight, None, conv.stride,
                                               conv.padding, conv.dilation)  # (B, C, L)
                    for name, conv in convs}
        given = {name: _Given(conv) for name, conv in convs}
        total = {name: torch.zeros_like(p) for name, p in products.items()}  # sum_s w_s dF/dc_s
        per_pass = max(1, chunk // max(n, 1))  # steps run together
        for lo in range(0, steps, per_pass):
            group = range(lo, min(steps, lo + per_pass))
            scale = torch.tensor([alphas[s] for s in group], dtype=emb.dtype,
                                 device=emb.device).repeat_interleave(n)  # (G B,)
            leaves = {}
            for name, conv in convs:
                p = products[name].detach().repeat(len(group), 1, 1)  # (G B, C, L)
                out = p * scale[:, None, None]
                if conv.bias is not None:
                    out = out + conv.bias.detach()[None, :, None]
                leaves[name] = out.requires_grad_(True)
                given[name].value = leaves[name]
            with swapped(model.module, given):
                logits = model.forward_from_embeddings(
                    emb.detach().repeat(len(group), *([1] * (emb.dim() - 1))),
                    mask.repeat(len(group), 1))  # (G B, K)
            chosen = logits.gather(1, target.repeat(len(group))[:, None]).sum()
            grads = torch.autograd.grad(chosen, [leaves[name] for name, _ in convs])
            for (name, _), g in zip(convs, grads, strict=True):
                for i, s in enumerate(group):
                    total[name] += weights[s] * g[i * n : (i + 1) * n]
        for v in given.values():
            v.value = None
        # the vector-Jacobian product as the gradient of a scalar: the same numbers (d/dp of
        # sum(p * t) is 1 * t), and torch.autograd.grad without grad_outputs skips its shape
        # checks, whose first use imports sympy (half a second)
        paired = sum((products[name] * total[name]).sum() for name, _ in convs)
        back = torch.autograd.grad(paired, e)[0]
    return (emb * back).detach()  # (B, T, E): (e - 0) * the weighted sum of gradients


def integrated_gradients(model: ModelView, emb: torch.Tensor, mask: torch.Tensor,
                         target: torch.Tensor, steps: int, chunk: int) -> torch.Tensor:
    """(B, T, ...) integrated gradients from the zero embedding: the convolution-path shortcut
    where it is proven for the model (checked against Captum on the first batch's first texts),
    else Captum's."""
    convs = first_convs(model) if emb.dim() == 3 else []
    proven = _PROVEN.get(model.module)
    if not convs or proven is False:
        return captum_ig(model, emb, mask, target, steps, chunk)
    if proven is None:  # once per model, on the first texts of its first batch
        few = slice(0, PROOF_TEXTS)
        expected = captum_ig(model, emb[few], mask[few], target[few], steps, chunk)
        try:
            got = conv_path_ig(model, convs, emb[few], mask[few], target[few], steps, chunk)
            ok = got.shape == expected.shape and torch.allclose(
                got.float(), expected.float(), rtol=1e-4,
                atol=1e-4 * float(expected.abs().max()) + 1e-7)
        except Exception:  # noqa: BLE001 - any failure: Captum's path
            ok = False
        _PROVEN[model.module] = ok
        if not ok:
            return captum_ig(model, emb, mask, target, steps, chunk)
    return conv_path_ig(model, convs, emb, mask, target, steps, chunk)
