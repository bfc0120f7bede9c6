"""optimization's objective and solver (Yuan, Chen, Hu and Ji 2019, Sec. 3.2, Eq. 7): the
similarity term, the objective with its three terms, each term's share of it, the seeded Xavier
starts and batched Adam with the convergence test. ``optimization`` runs them; tests and
benchmarks call them directly (re-exported there).

Cost: ``optimise`` runs up to the step cap of forward and backward passes of the layer's window
function on (N, S, E) windows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from reportgen.models.common import gradients
from reportgen.models.conv import WindowAffine, window_forward, window_function
from reportgen.models.view import ModelView


def similarity(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 7 of the paper, Sim(X) = 1/N sum_{i,j} cos(x_i, x_j) over every ordered pair of the N
    real vectors of each window, i = j included: x (N, S, E), mask (N, S) -> (N,); 0 for a window
    with no real vector. One vector gives 1; N equal directions give N.

    For unit vectors u_i, sum_{i,j} u_i . u_j = |sum_i u_i|^2, so no (S, S) matrix is formed."""
    m = mask.to(x.dtype)  # (N, S)
    unit = torch.nn.functional.normalize(x, dim=-1) * m[..., None]  # (N, S, E), masked out = 0
    n = m.sum(1)  # (N,)
    pair_sum = unit.sum(1).pow(2).sum(-1)  # (N,)
    return torch.where(n > 0, pair_sum / n.clamp(min=1), torch.zeros_like(n))


def objective(adapter: ModelView, layer, x: torch.Tensor, mask: torch.Tensor, target: torch.Tensor,
              l1: float, l2: float, forward=None) -> tuple[torch.Tensor, ...]:
    """(objective, activation term, norm term, similarity term, activation cosine), each (N,), for
    windows x (N, S, E). ``forward``: the window function (default ``window_forward``)."""
    xm = x * mask[..., None].to(x.dtype)  # (N, S, E): padding positions stay zero
    forward = forward or (lambda w, m: window_forward(adapter, layer, w, m))
    act = forward(xm, mask)  # (N, C)
    activation = (act * target).sum(-1)  # (N,)
    norm = xm.pow(2).sum((1, 2))  # (N,)
    sim = similarity(xm, mask)  # (N,)
    cosine = torch.nn.functional.cosine_similarity(act, target, dim=-1)  # (N,)
    return activation - l1 * norm + l2 * sim, activation, norm, sim, cosine


def affine_ascent(affine: WindowAffine, x: torch.Tensor, mask: torch.Tensor, target: torch.Tensor,
                  l1: float, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The objective (N,) and its gradient with respect to x (N, S, E), worked out by hand for a
    proven first-layer shortcut (``WindowAffine``): the same function ``objective`` differentiates
    with autograd, in a third of the element-wise passes. With m the mask, xm = x m, u_i = xm_i /
    |xm_i| and s = sum_i m_i u_i over the n real positions:

    - activation a . a', a = f(W taps(xm) + b): d/d taps = (a' * f'(pre)) W;
    - norm |xm|^2: 2 xm;
    - similarity |s|^2 / n: 2 m_i (s - (u_i . s) u_i) / (n |xm_i|) (``normalize``'s floor of
      1e-12 on |xm_i| kept: below it u_i = xm_i / 1e-12, whose derivative is 1 / 1e-12);

    each times m, as x enters only through xm. Every (N, S, E) temporary is a read and a write of
    megabytes, so the terms are folded: unit vectors are never formed (s = sum_i scale_i xm_i as a
    batched product, scale_i = m_i / |xm_i|), and the similarity term's two parts become one
    multiply of xm and one batched product."""
    m = mask.to(x.dtype)[..., None]  # (N, S, 1)
    xm = x * m  # (N, S, E)
    n_rows, k, d = x.size(0), affine.kernel, affine.dilation
    span = (k - 1) * d + 1
    taps = xm[:, :span:d]  # (N, k, E)
    pre = taps.reshape(n_rows, -1) @ affine.weight.T  # (N, C)
    if affine.bias is not None:
        pre = pre + affine.bias
    act = torch.relu(pre) if affine.relu else pre
    activation = (act * target).sum(-1)  # (N,)
    length = torch.linalg.vector_norm(xm, dim=-1, keepdim=True)  # (N, S, 1)
    norm = length.pow(2).sum((1, 2))  # (N,)
    scale = m / length.clamp(min=1e-12)  # (N, S, 1): (N, S, E) divisions become products
    s = torch.bmm(scale.transpose(1, 2), xm)  # (N, 1, E): sum of the unit vectors
    count = m.sum(1)[:, 0]  # (N,)
    real = (count > 0).to(x.dtype)
    sim = s.pow(2).sum((1, 2)) / count.clamp(min=1) * real  # (N,)
    value = activation - l1 * norm + l2 * sim
    back = target * (pre > 0).to(x.dtype) if affine.relu else target  # (N, C)
    # d sim / d xm_i = (ds - (u_i . ds) u_i) / |xm_i|, ds = 2 l2 s / n (0 without real positions);
    # with u_i = scale_i xm_i the second part is scale_i^3 (xm_i . ds) xm_i
    ds = s * ((2 * l2) * real / count.clamp(min=1))[:, None, None]  # (N, 1, E)
    along = torch.bmm(xm, ds.transpose(1, 2)) * (length > 1e-12).to(x.dtype)  # (N, S, 1)
    grad = xm * ((-2 * l1) - scale.pow(3) * along)  # (N, S, E): norm term and the radial part
    grad.baddbmm_(scale, ds)  # + scale_i ds: (N, S, 1) @ (N, 1, E); 0 where m is 0
    tap_grad = (back @ affine.weight).view(n_rows, k, -1)  # (N, k, E)
    grad[:, :span:d].addcmul_(tap_grad, m[:, :span:d])
    return value, grad


def term_shares(activation: torch.Tensor, norm: torch.Tensor, sim: torch.Tensor, l1: float,
                l2: float) -> torch.Tensor:
    """Each term's share of the objective's magnitude, |term| / (|a . a'| + l1 |X|^2 + l2 |Sim|):
    (N,) x 3 -> (N, 3), rows summing to 1 (0 where every term is 0)."""
    parts = torch.stack([activation.abs(), l1 * norm.abs(), l2 * sim.abs()], -1)  # (N, 3)
    total = parts.sum(-1, keepdim=True)
    return torch.where(total > 0, parts / total.clamp(min=1e-30), torch.zeros_like(parts))


def xavier_start(keys: list[tuple[int, int]], seed: int, size: int, dim: int) -> torch.Tensor:
    """(N, S, E) Xavier-uniform starts, each from its own generator seeded by (seed, example,
    rank)."""
    bound = math.sqrt(6.0 / (size + dim))
    rows = []
    for example_id, rank in keys:
        g = torch.Generator().manual_seed((seed * 1_000_003 + example_id * 101 + rank) % 2**63)
        rows.append((torch.rand(size, dim, generator=g) * 2 - 1) * bound)
    return torch.stack(rows)


class Adam:
    """torch.optim.Adam's update (its defaults, no weight decay, no amsgrad) on one tensor, without
    the optimizer object, whose constructor imports torch._dynamo (a second per process here).

    Where this torch has a fused Adam kernel for the tensor's device (``torch._fused_adam_``: CPU
    since torch 2.4, CUDA), a step is that one pass over x and its two moment buffers: 3.6x faster
    than seven passes on (939, 5, 300) windows here, rounding a little differently (3.6e-5 apart
    after 300 steps). Otherwise, or with ``fused=False``, the step is torch's step-by-step update:
    the same operations in the same order, bit for bit (a test compares both with torch's)."""

    def __init__(self, x: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, fused: bool = True) -> None:
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.exp_avg = torch.zeros_like(x)  # (N, S, E) each
        self.exp_avg_sq = torch.zeros_like(x)
        self.steps = 0
        self.fused = fused and _has_fused_adam(x)
        self.step_count = torch.zeros((), dtype=torch.float32, device=x.device)
        self.denom = None if self.fused else torch.empty_like(x)

    @torch.no_grad()
    def step(self, x: torch.Tensor, grad: torch.Tensor) -> None:
        """One descent step of x along ``grad`` (in place)."""
        self.steps += 1
        if self.fused:
            self.step_count.add_(1)
            torch._fused_adam_([x], [grad], [self.exp_avg], [self.exp_avg_sq], [],
                               [self.step_count],
                               **_fused_keywords(self.lr, self.beta1, self.beta2, self.eps))
            return
        self.exp_avg.lerp_(grad, 1 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        step_size = self.lr / (1 - self.beta1 ** self.steps)
        correction = (1 - self.beta2 ** self.steps) ** 0.5
        torch.sqrt(self.exp_avg_sq, out=self.denom)
        self.denom.div_(correction).add_(self.eps)
        x.addcdiv_(self.exp_avg, self.denom, value=-step_size)


def _fused_keywords(lr: float, beta1: float, beta2: float, eps: float) -> dict:
    """``torch._fused_adam_``'s keywords for Adam's defaults (no weight decay, no amsgrad)."""
    return {"lr": lr, "beta1": beta1, "beta2": beta2, "weight_decay": 0.0, "eps": eps,
            "amsgrad": False, "maximize": False}


def _has_fused_adam(x: torch.Tensor) -> bool:
    """Whether ``torch._fused_adam_`` runs for x's device and dtype (tried on a 1-element copy)."""
    if not hasattr(torch, "_fused_adam_"):
        return False
    probe = [torch.zeros(1, dtype=x.dtype, device=x.device) for _ in range(4)]
    try:
        torch._fused_adam_(*([t] for t in probe), [],
                           [torch.ones((), dtype=torch.float32, device=x.device)],
                           **_fused_keywords(0.1, 0.9, 0.999, 1e-8))
    except (RuntimeError, NotImplementedError, TypeError):
        return False
    return True


def optimise(adapter: ModelView, layer, start: torch.Tensor, mask: torch.Tensor,
             target: torch.Tensor, l1: float, l2: float, params: Any
             ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Adam on every problem at once -> (optimised x (N, S, E), steps run (N,), converged (N,)).

    A problem stops (its x frozen) once its objective changes by less than ``tolerance``
    (relative) for ``patience`` steps in a row; the others run to the step cap."""
    lr, cap = params.resolved()
    x = start.clone().to(adapter.device).requires_grad_(True)
    mask, target = mask.to(adapter.device), target.to(adapter.device)
    opt = Adam(x, lr)
    forward = window_function(adapter, layer)
    affine = getattr(forward, "affine", None)
    n = x.size(0)
    active = torch.ones(n, dtype=torch.bool, device=x.device)
    calm = torch.zeros(n, dtype=torch.long, device=x.device)
    steps = torch.zeros(n, dtype=torch.long, device=x.device)
    last = None
    with gradients(adapter.module):
        for _ in range(cap):
            if not active.any():
                break
            # Adam's momentum must not move a finished problem: its x is put back after the
            # step (no copy while every problem still runs, the usual case at the fast cap)
            done = ~active
            frozen = x.detach()[done] if bool(done.any()) else None  # (D, S, E)
            if affine is not None:  # the gradient by hand: no autograd graph
                with torch.no_grad():
                    value, ascent = affine_ascent(affine, x, mask, target, l1, l2)
                    descent = ascent.mul_(-active.to(ascent.dtype)[:, None, None])
            else:
                value = objective(adapter, layer, x, mask, target, l1, l2, forward)[0]  # (N,)
                x.grad = None
                (-(value * active)).sum().backward()
                descent = x.grad
            opt.step(x, descent)
            with torch.no_grad():
                if frozen is not None:
                    x[done] = frozen
                steps += active.long()
                if last is not None:
                    change = (value.detach() - last).abs() / last.abs().clamp(min=1e-8)
                    calm = torch.where(change < params.tolerance, calm + 1, torch.zeros_like(calm))
                    active &= calm < params.patience
                last = value.detach()
    converged = (~active).cpu().numpy()
    return x.detach(), steps.cpu().numpy(), converged
