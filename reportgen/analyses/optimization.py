"""optimization: what input would a salient hidden location respond to most, in words?

Method (Yuan, Chen, Hu and Ji 2019, AAAI, sections 3.2-3.3). For each top location i of layer j
found by ``hidden_saliency`` (activation vector a'_ij on the real input), search for an input
window X0^ that maximises

    a_ij(X0^) . a'_ij  -  l1 ||X0^||^2  +  l2 Sim(X0^),   Sim(X) = 1/N sum_{i,j} cos(x_i, x_j)

(Eq. 7: the sum runs over all N^2 ordered pairs of the window's N real vectors, i = j included),
where a_ij(X0^) is the location's activation computed from X0^ alone (the paper: l1 = 0.004,
l2 = 0.02 on MR; 0.002 and 0.01 on AG News; Adam). X0^ starts Xavier-uniform. Only the receptive
field is optimised: the activation of location i depends on no other input position, so
optimising that window alone is the same problem as optimising the whole input, at a fraction of
the cost. Positions of the field that lie outside the text stay padding, as in the real input.
Then x_overall, the mean of the optimised vectors, is interpreted by its nearest vocabulary words
by cosine similarity (special tokens excluded), shown with a 2-D PCA of those words and the target.

Presets (``preset``): ``fast`` (the default: Adam lr 0.05, at most 300 steps) and ``paper`` (the
paper's lr 2e-4, run to the convergence test, capped at 5,000 steps); ``lr`` / ``steps`` override.
The convergence test: the objective changes by less than ``tolerance`` (relative) for ``patience``
steps in a row; a problem that passes it is frozen.

Batching: every (example, location) problem of a layer is one row of a single (N, S, E) tensor,
optimised together (chunked by ``chunk``); a multi-width CNN's banks are solved layer by layer
(their windows differ in size). Each problem draws its start from its own seeded generator and
Adam's update is elementwise, so a problem's result is the same whatever batch it is solved in.

Outputs (tables): ``problems`` (per model, example, location rank: the objective, its three terms
and each term's share of the objective's magnitude, steps run, converged, the cosine at the start
and after, how much longer than the real text's window the optimised one is), ``terms`` (per model
and layer: each term's weight, mean value and mean share), ``neighbours`` (the nearest words of
x_overall), ``projection`` (2-D PCA of the target and its neighbours). Metrics (per model):
``mean_activation_cosine`` (headline: cosine of a(X0^) and a'; 1 = the optimised input moves the
location exactly as the real text does; bootstrap 95% interval over texts) beside
``start_activation_cosine`` (the same at the random start), the three terms' shares,
``converged_share``, ``mean_steps``, ``mean_activation_match`` (a(X0^) . a' / |a'|^2: how many
times the real text's activation along a'), ``median_window_norm_ratio``.
Cost: up to ``steps`` forward and backward passes through the layers up to j on N x S positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from reportgen.analyses.base import RunContext
from reportgen.analyses.optimization_solver import (  # noqa: F401 - re-exported
    objective,
    optimise,
    similarity,
    term_shares,
    xavier_start,
)
from reportgen.analyses.optimization_views import (
    HOW_TO_READ,
    METHOD,
    TERMS,
    labels,
    present,
    terms_table,
)
from reportgen.analyses.sampling import sampling_note
from reportgen.analyses.spec import AnalysisSpec, combine_per_model
from reportgen.analyses.yuan_intervals import mean_interval, with_interval
from reportgen.models.conv import conv_layer, conv_layers
from reportgen.models.hooks import capture, to_btc
from reportgen.models.tokens import vocabulary_vectors
from reportgen.models.view import ModelView
from reportgen.records import AnalysisResult

NAME = "optimization"
# 6: fewer passes per step and the fused Adam (float rounding); 5: the shortcut's gradient by hand;
# 4: Eq. 7 similarity, presets, term shares, banks
VERSION = 6
TITLE = "Input optimisation of hidden locations"
HEADLINE = "mean_activation_cosine"
BASELINES = {"mean_activation_cosine": "start_activation_cosine"}
NEEDS = ("hidden_saliency",)
CITATION = (
    "Yuan, Chen, Hu, Ji (2019). Interpreting Deep Models for Text Analysis via Optimization and "
    "Regularization Methods. AAAI. Sections 3.2 and 3.3."
)
TABLES = {
    "problems": ["model", "example_id", "label", "predicted", "confidence", "rank", "layer",
                 "location", "start", "end", "objective", "activation_term", "norm_term",
                 "similarity_term", "activation_share", "norm_share", "similarity_share",
                 "activation_match", "start_cosine", "activation_cosine", "window_norm_ratio",
                 "steps", "converged"],
    "terms": ["model", "layer", "term", "weight", "mean_value", "mean_share"],
    "neighbours": ["model", "example_id", "rank", "neighbour", "word", "cosine"],
    "projection": ["model", "example_id", "rank", "point", "word", "x", "y"],
}
PAPER_WEIGHTS = {"agnews": (0.002, 0.01)}  # everything else: MR's (0.004, 0.02)
PRESETS = {"fast": (0.05, 300), "paper": (2e-4, 5000)}  # (Adam learning rate, step cap)


@dataclass(frozen=True)
class Params:
    preset: str = "fast"  # "fast" (lr 0.05, 300 steps) or "paper" (lr 2e-4, to convergence)
    l1: float = -1.0  # < 0: the paper's value for the dataset (AG News 0.002, else 0.004)
    l2: float = -1.0  # < 0: the paper's value for the dataset (AG News 0.01, else 0.02)
    steps: int = 0  # the step cap; 0: the preset's (fast 300, paper 5,000)
    lr: float = 0.0  # Adam's learning rate; 0: the preset's (fast 0.05, paper 2e-4)
    tolerance: float = 1e-5  # converged: relative change of the objective below this ...
    patience: int = 10  # ... for this many steps in a row
    neighbours: int = 10
    chunk: int = 4096  # problems optimised together
    shown_examples: int = 6

    def validate(self) -> list[str]:
        problems = []
        if self.preset not in PRESETS:
            problems.append(f"optimization.preset must be one of {', '.join(PRESETS)}, "
                            f"not {self.preset!r}")
        for name in ("neighbours", "chunk", "patience"):
            if getattr(self, name) < 1:
                problems.append(f"optimization.{name} must be >= 1")
        if self.steps < 0:
            problems.append("optimization.steps must be >= 1 (0: the preset's)")
        if self.lr < 0:
            problems.append("optimization.lr must be > 0 (0: the preset's)")
        return problems

    def resolved(self) -> tuple[float, int]:
        """(Adam learning rate, step cap) after the preset."""
        lr, steps = PRESETS.get(self.preset, PRESETS["fast"])
        return (self.lr or lr), (self.steps or steps)


def skip_reason(model: ModelView) -> str | None:
    from reportgen.analyses import hidden_saliency

    return hidden_saliency.skip_reason(model)


def weights(params: Params, spec: str) -> tuple[float, float]:
    l1, l2 = PAPER_WEIGHTS.get(spec.split(":")[0], (0.004, 0.02))
    return (params.l1 if params.l1 >= 0 else l1), (params.l2 if params.l2 >= 0 else l2)


def compute(ctx: RunContext, params: Params) -> AnalysisResult:
    model = ctx.model
    upstream = ctx.upstream["hidden_saliency"].tables["locations"]
    upstream = upstream[upstream["model"] == model.name]
    l1, l2 = weights(params, ctx.dataset.spec)
    lr, cap = params.resolved()
    vocab = vocabulary_vectors(model)
    words = [w for w, special in zip(vocab.tokens, vocab.special, strict=True) if not special]
    table = vocab.vectors[torch.as_tensor(~vocab.special)].float()  # (V', E)
    unit_vocab = torch.nn.functional.normalize(table, dim=-1)
    preds = ctx.upstream["hidden_saliency"].tables["predictions"]
    preds = preds[preds["model"] == model.name].set_index("example_id")
    names = set(upstream["layer"].astype(str))
    layers = [layer for layer in conv_layers(model) if layer.name in names] if names else [
        conv_layer(model)]
    problems, neighbours, projection = [], [], []
    for layer in layers:
        rows = upstream[upstream["layer"].astype(str) == layer.name]
        found = _problems(model, layer, ctx, rows)
        chunk_rows = _solver(model, layer, found, ctx.seed, (l1, l2), params, unit_vocab, table,
                             words, preds)
        for part in ctx.map_batches(len(found["keys"]), chunk_rows, size=params.chunk,
                                    desc=f"optimization {layer.name}"):
            problems += part[0]
            neighbours += part[1]
            projection += part[2]
    frame = (pd.DataFrame(problems, columns=TABLES["problems"])
             .sort_values(["example_id", "rank"], kind="stable").reset_index(drop=True))
    near = (pd.DataFrame(neighbours, columns=TABLES["neighbours"])
            .sort_values(["example_id", "rank", "neighbour"], kind="stable").reset_index(drop=True))
    points = (pd.DataFrame(projection, columns=TABLES["projection"])
              .sort_values(["example_id", "rank", "point"], kind="stable").reset_index(drop=True))
    sampled = sampling_note(len(ctx.detail_ids()), len(ctx.examples), ctx.seed,
                            what="Inputs optimised (the top locations hidden_saliency kept)")
    return AnalysisResult(
        tables={"problems": frame, "terms": terms_table(frame, model.name, l1, l2),
                "neighbours": near, "projection": points},
        metrics=_metrics(frame, ctx.seed),
        labels=labels(params, l1, l2),
        notes=[(f"{model.name}: {', '.join(layer.name for layer in layers)}; preset "
                f"{params.preset}: Adam lr {lr:g}, at most {cap} steps, converged when the "
                f"objective changes by less than {params.tolerance:g} (relative) for "
                f"{params.patience} steps; l1 = {l1:g}, l2 = {l2:g}; neighbours searched among "
                f"{len(words):,} vocabulary entries ({vocab.space}).")]
        + ([sampled] if sampled else []),
    )


def _metrics(frame: pd.DataFrame, seed: int) -> dict[str, float]:
    def mean(column: str) -> float:
        return float(frame[column].astype(float).mean()) if len(frame) else 0.0

    metrics = {"problems": float(len(frame)),
               "mean_activation_cosine": mean("activation_cosine"),
               "start_activation_cosine": mean("start_cosine"),
               **{f"{term}_share": mean(f"{term}_share") for term in TERMS},
               "converged_share": mean("converged"),
               "mean_steps": mean("steps"),
               "mean_activation_match": mean("activation_match"),
               "median_window_norm_ratio": (float(frame["window_norm_ratio"].median())
                                            if len(frame) else 0.0)}
    for key, column in (("mean_activation_cosine", "activation_cosine"),
                        ("start_activation_cosine", "start_cosine")):
        with_interval(metrics, key, mean_interval(frame[column].to_numpy(),
                                                  frame["example_id"].to_numpy(), seed=seed))
    return metrics


def _solver(model: ModelView, layer, found: dict, seed: int, weights_: tuple[float, float],
            params: Params, unit_vocab: torch.Tensor, table: torch.Tensor, words: list[str],
            preds: pd.DataFrame):
    """``one_chunk(lo, hi)`` for ``map_batches``: problems [lo, hi) of one layer, solved."""
    l1, l2 = weights_
    keys, masks, targets = found["keys"], found["masks"], found["targets"]
    size, dim = layer.field.size, table.size(1)
    facts = {example_id: (label, predicted, float(confidence)) for example_id, label, predicted,
             confidence in preds[["label", "predicted", "confidence"]].itertuples()}

    def one_chunk(lo: int, hi: int) -> tuple[list, list, list]:
        problems, neighbours, projection = [], [], []
        part = slice(lo, hi)
        start = xavier_start(keys[part], seed, size, dim)
        mask, target = masks[part], targets[part]
        x, steps, converged = optimise(model, layer, start, mask, target, l1, l2, params)
        with torch.no_grad():
            mask, target = mask.to(x.device), target.to(x.device)
            value, act, norm, sim, cosine = objective(model, layer, x, mask, target, l1, l2)
            start_cosine = objective(model, layer, start.to(x), mask, target, l1, l2)[4]
            shares = term_shares(act, norm, sim, l1, l2).cpu()  # (n, 3)
        m = mask[..., None].to(x.dtype)
        overall = (x * m).sum(1) / m.sum(1).clamp(min=1)  # (n, E): x_overall
        cos = torch.nn.functional.normalize(overall.float(), dim=-1) @ unit_vocab.T.to(x.device)
        top = cos.topk(min(params.neighbours, cos.size(1)), dim=-1)  # (n, k)
        coords = _pca(overall.float().cpu(), table[top.indices.cpu()])  # (n, k + 1, 2)
        strength = target.pow(2).sum(-1).clamp(min=1e-12)  # (n,)
        real = found["real_norms"][part].clamp(min=1e-12)  # (n,)
        columns = zip(value.tolist(), act.tolist(), (-l1 * norm).tolist(), (l2 * sim).tolist(),
                      shares.tolist(), (act / strength).tolist(), start_cosine.tolist(),
                      cosine.tolist(), (norm.sqrt().cpu() / real).tolist(), steps.tolist(),
                      converged.tolist(), strict=True)
        top_idx, top_sims, coords = top.indices.tolist(), top.values.tolist(), coords.tolist()
        for r, ((example_id, rank), row) in enumerate(zip(keys[part], columns, strict=True)):
            location, first, last = found["spans"][lo + r]
            label, predicted, confidence = facts[example_id]
            val, a, n_term, s_term, share, match, c0, c, ratio, n_steps, done = row
            problems.append((model.name, example_id, label, predicted, confidence, rank,
                             layer.name, location, first, last, val, a, n_term, s_term, *share,
                             match, c0, c, ratio, int(n_steps), bool(done)))
            idx, sims = top_idx[r], top_sims[r]
            neighbours += [(model.name, example_id, rank, j + 1, words[i], c)
                           for j, (i, c) in enumerate(zip(idx, sims, strict=True))]
            projection.append((model.name, example_id, rank, 0, "x_overall", *coords[r][0]))
            projection += [(model.name, example_id, rank, j + 1, words[i], *coords[r][j + 1])
                           for j, i in enumerate(idx)]
        return problems, neighbours, projection

    return one_chunk


def _problems(model: ModelView, layer, ctx: RunContext, locations: pd.DataFrame) -> dict:
    """From the real input: targets a' (N, C), window masks (N, S), keys (example, rank), spans
    (location, start, end) and the real window's norm (N,)."""
    targets, masks, keys, spans, real = [], [], [], [], []
    ordered = locations.sort_values(["example_id", "rank"], kind="stable")
    columns = {c: ordered[c].to_numpy() for c in ("example_id", "rank", "location", "start", "end")}
    by_example: dict[int, list[tuple[int, int, int, int]]] = {}  # example -> (rank, location, ..)
    for eid, rank, loc, start, end in zip(*columns.values(), strict=True):
        by_example.setdefault(int(eid), []).append((int(rank), int(loc), int(start), int(end)))
    ids = sorted(by_example)
    for lo in range(0, len(ids), ctx.batch_size):
        chunk = ids[lo : lo + ctx.batch_size]
        batch = model.encode([ctx.examples[i].text for i in chunk])
        with torch.no_grad(), capture(model.module, [layer.read_at]) as seen:
            emb = model.embed(batch.ids)  # (B, T, E)
            model.forward_from_embeddings(emb, batch.mask)
        acts = to_btc(seen[layer.read_at], layer.layout).float().cpu()  # (B, L, C)
        emb = emb.float().cpu()
        for b, example_id in enumerate(chunk):
            n = len(batch.tokens[b])
            for rank, i, start, end in by_example[example_id]:
                first = layer.field.offset + i * layer.field.jump
                positions = torch.arange(first, first + layer.field.size)
                inside = (positions >= 0) & (positions < n)
                targets.append(acts[b, i])
                masks.append(inside)
                real.append(emb[b, positions[inside]].pow(2).sum().sqrt())
                keys.append((int(example_id), rank))
                spans.append((i, start, end))
    if not keys:
        return {"targets": torch.zeros(0, 1), "keys": [], "spans": [], "real_norms": torch.zeros(0),
                "masks": torch.zeros(0, layer.field.size, dtype=torch.bool)}
    return {"targets": torch.stack(targets), "masks": torch.stack(masks), "keys": keys,
            "spans": spans, "real_norms": torch.stack(real)}


def _pca(points: torch.Tensor, neighbours: torch.Tensor) -> np.ndarray:
    """2-D PCA of each problem's target and neighbours, as unit vectors (the neighbours were found
    by cosine, and the optimised point is far longer than any word): (n, E), (n, k, E) ->
    (n, k + 1, 2)."""
    sets = torch.nn.functional.normalize(torch.cat([points[:, None], neighbours], 1), dim=-1)
    centred = sets - sets.mean(1, keepdim=True)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)  # u (n, k + 1, r)
    coords = u[..., :2] * s[:, None, :2]
    sign = torch.sign(coords[:, :1, :]).where(coords[:, :1, :] != 0, torch.ones(1))
    return (coords * sign).numpy()  # the target on the positive side of both axes


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    """Per-model metrics (no value pooled over models), and the problems counted over all."""
    merged = combine_per_model(results)
    merged.metrics["problems"] = float(sum(r.metrics["problems"] for r in results.values()))
    return merged


SPEC = AnalysisSpec(
    name=NAME,
    version=VERSION,
    title=TITLE,
    headline=HEADLINE,
    method=METHOD,
    how_to_read=HOW_TO_READ,
    citation=CITATION,
    params=Params,
    tables=TABLES,
    compute=compute,
    present=present,
    skip_reason=skip_reason,
    combine=combine,
    needs=NEEDS,
    baselines=BASELINES,
    precision="fp32",
    precision_reason=(
        "its convergence test compares steps smaller than bf16's rounding: a third fewer "
        "windows converged"
    ),
    headline_label="cosine of a(X0^) with the real text's a' (optimised input, Eq. 7 objective)",
    reference="Yuan et al. 2019, Sec. 3.2-3.3",
)
