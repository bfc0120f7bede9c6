"""optimization: what input would a salient hidden location respond to most, in words?

Method (Yuan, Chen, Hu and Ji 2019, AAAI, sections 3.2-3.3). For each top location i of layer j
found by ``hidden_saliency`` (activation vector a'_ij on the real input), search for an input
window X0^ that maximises

    a_ij(X0^) . a'_ij  -  l1 ||X0^||^2  +  l2 Sim(X0^),

where a_ij(X0^) is the location's activation computed from X0^ alone, and Sim is the mean pairwise
cosine similarity of the window's vectors (the paper: l1 = 0.004, l2 = 0.02 on MR; 0.002 and 0.01
on AG News; Adam). X0^ starts Xavier-uniform. Only the receptive field is optimised: the activation
of location i depends on no other input position, so optimising that window alone is the same
problem as optimising the whole input, at a fraction of the cost. Positions of the field that lie
outside the text stay padding, as in the real input. Then x_overall, the mean of the optimised
vectors, is interpreted by its nearest vocabulary words by cosine similarity (special tokens
excluded), shown with a 2-D PCA of those words and the target point.

Batching: every (example, location) problem of the data is one row of a single (N, S, E) tensor,
optimised together (N x S x E parameters, chunked by ``chunk``). Each problem draws its start from
its own seeded generator, Adam's update is elementwise, and a problem that has converged is frozen,
so the result of a problem is the same whatever batch it is solved in.

Outputs (tables): ``problems`` (per model, example, location rank: the objective and its terms,
steps run, converged), ``neighbours`` (the nearest words of x_overall, with cosine), ``projection``
(2-D PCA coordinates of the target and its neighbours). Metrics: ``problems``, ``converged_share``,
``mean_activation_cosine`` (cosine of a(X0^) and a': 1 = the optimised input moves the location
exactly as the real text does) and ``mean_activation_match`` (a . a' / |a'|^2: how much stronger).
Cost: ``steps`` forward and backward passes through the layers up to j on N x S positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd
import torch

from reportgen.analyses.base import RunContext
from reportgen.analyses.examples import pick_examples
from reportgen.analyses.sampling import sampling_note
from reportgen.analyses.spec import AnalysisSpec
from reportgen.chart_layout import chart_spec
from reportgen.models.common import gradients
from reportgen.models.conv import conv_layer, window_forward, window_function
from reportgen.models.hooks import capture, to_btc
from reportgen.models.tokens import vocabulary_vectors
from reportgen.models.view import ModelView
from reportgen.records import AnalysisResult, ChartSpec, Presentation

NAME = "optimization"
VERSION = 3  # 2: labels and confidence in problems; PCA of unit vectors
TITLE = "Input optimisation of hidden locations"
HEADLINE = "mean_activation_cosine"
NEEDS = ("hidden_saliency",)
CITATION = (
    "Yuan, Chen, Hu, Ji (2019). Interpreting Deep Models for Text Analysis via Optimization and "
    "Regularization Methods. AAAI. Sections 3.2 and 3.3."
)
METHOD = (
    "For each of the most salient hidden locations of each text, an input window is optimised "
    "from a random start so that the location's activation points the same way as on the real "
    "text, while an L2 penalty keeps the vectors small and a similarity bonus keeps them close to "
    "each other. The mean of the optimised vectors, x_overall, is then read as words: its nearest "
    "neighbours in the model's vocabulary by cosine similarity.\n\n"
    "Only the receptive field of the location is optimised: nothing else reaches the location, so "
    "this is the same problem as optimising the whole input, and every problem of the data is "
    "solved at once in one tensor."
)
HOW_TO_READ = (
    "Table: for each shown text and top location, the words closest to what the location "
    "responds to. Scatter: a 2-D PCA of those words (dots) and the optimised point (star). "
    "Headline: the cosine between the location's activation on the optimised input and on the "
    "real text (1 = the same direction)."
)

TABLES = {
    "problems": ["model", "example_id", "label", "predicted", "confidence", "rank", "location",
                 "start", "end", "objective",
                 "activation_term", "norm_term", "similarity_term", "activation_match",
                 "activation_cosine", "steps", "converged"],
    "neighbours": ["model", "example_id", "rank", "neighbour", "word", "cosine"],
    "projection": ["model", "example_id", "rank", "point", "word", "x", "y"],
}
PAPER_WEIGHTS = {"agnews": (0.002, 0.01)}  # everything else: MR's (0.004, 0.02)


@dataclass(frozen=True)
class Params:
    l1: float = -1.0  # < 0: the paper's value for the dataset (AG News 0.002, else 0.004)
    l2: float = -1.0  # < 0: the paper's value for the dataset (AG News 0.01, else 0.02)
    steps: int = 300
    lr: float = 0.05
    tolerance: float = 1e-5  # converged: relative change of the objective below this ...
    patience: int = 10  # ... for this many steps in a row
    neighbours: int = 10
    chunk: int = 4096  # problems optimised together
    shown_examples: int = 6

    def validate(self) -> list[str]:
        problems = []
        for name in ("steps", "neighbours", "chunk", "patience"):
            if getattr(self, name) < 1:
                problems.append(f"optimization.{name} must be >= 1")
        if self.lr <= 0:
            problems.append("optimization.lr must be > 0")
        return problems


def skip_reason(model: ModelView) -> str | None:
    from reportgen.analyses import hidden_saliency

    return hidden_saliency.skip_reason(model)


def weights(params: Params, spec: str) -> tuple[float, float]:
    l1, l2 = PAPER_WEIGHTS.get(spec.split(":")[0], (0.004, 0.02))
    return (params.l1 if params.l1 >= 0 else l1), (params.l2 if params.l2 >= 0 else l2)


def similarity(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean pairwise cosine similarity of each window's real vectors: x (N, S, E), mask (N, S) -> (N,).
    Pairs of a vector with itself are left out; fewer than two real vectors give 0.

    For unit vectors u_i, the sum over ordered pairs i != j of u_i . u_j is |sum_i u_i|^2 - n, so
    no (S, S) matrix is formed."""
    m = mask.to(x.dtype)  # (N, S)
    unit = torch.nn.functional.normalize(x, dim=-1) * m[..., None]  # (N, S, E), masked out = 0
    n = m.sum(1)  # (N,)
    pair_sum = unit.sum(1).pow(2).sum(-1) - n  # (N,)
    count = n * (n - 1)
    return torch.where(count > 0, pair_sum / count.clamp(min=1), torch.zeros_like(count))


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


def xavier_start(keys: list[tuple[int, int]], seed: int, size: int, dim: int) -> torch.Tensor:
    """(N, S, E) Xavier-uniform starts, each from its own generator seeded by (seed, example, rank)."""
    bound = math.sqrt(6.0 / (size + dim))
    rows = []
    for example_id, rank in keys:
        g = torch.Generator().manual_seed((seed * 1_000_003 + example_id * 101 + rank) % 2**63)
        rows.append((torch.rand(size, dim, generator=g) * 2 - 1) * bound)
    return torch.stack(rows)


def optimise(adapter: ModelView, layer, start: torch.Tensor, mask: torch.Tensor, target: torch.Tensor,
             l1: float, l2: float, params: Params) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Adam on every problem at once -> (optimised x (N, S, E), steps run (N,), converged (N,)).

    A problem stops (its x frozen) once its objective changes by less than ``tolerance``
    (relative) for ``patience`` steps in a row."""
    x = start.clone().to(adapter.device).requires_grad_(True)
    mask, target = mask.to(adapter.device), target.to(adapter.device)
    opt = torch.optim.Adam([x], lr=params.lr)
    forward = window_function(adapter, layer)
    n = x.size(0)
    active = torch.ones(n, dtype=torch.bool, device=x.device)
    calm = torch.zeros(n, dtype=torch.long, device=x.device)
    steps = torch.zeros(n, dtype=torch.long, device=x.device)
    last = None
    with gradients(adapter.module):
        for _ in range(params.steps):
            if not active.any():
                break
            frozen = x.detach().clone()
            value = objective(adapter, layer, x, mask, target, l1, l2, forward)[0]  # (N,)
            opt.zero_grad()
            (-(value * active)).sum().backward()
            opt.step()
            with torch.no_grad():
                x[~active] = frozen[~active]  # Adam's momentum must not move a finished problem
                steps += active.long()
                if last is not None:
                    change = (value.detach() - last).abs() / last.abs().clamp(min=1e-8)
                    calm = torch.where(change < params.tolerance, calm + 1, torch.zeros_like(calm))
                    active &= calm < params.patience
                last = value.detach()
    converged = (~active).cpu().numpy()
    return x.detach(), steps.cpu().numpy(), converged


def compute(ctx: RunContext, params: Params) -> AnalysisResult:
    model = ctx.model
    upstream = ctx.upstream["hidden_saliency"].tables["locations"]
    upstream = upstream[upstream["model"] == model.name]
    layer = conv_layer(model, str(upstream["layer"].iloc[0]) if len(upstream) else None)
    l1, l2 = weights(params, ctx.dataset.spec)
    targets, masks, keys, spans = _problems(model, layer, ctx, upstream)
    vocab = vocabulary_vectors(model)
    words = [w for w, special in zip(vocab.tokens, vocab.special, strict=True) if not special]
    table = vocab.vectors[torch.as_tensor(~vocab.special)].float()  # (V', E)
    unit_vocab = torch.nn.functional.normalize(table, dim=-1)
    size, dim = layer.field.size, table.size(1)
    preds = ctx.upstream["hidden_saliency"].tables["predictions"]
    preds = preds[preds["model"] == model.name].set_index("example_id")

    def one_chunk(lo: int, hi: int) -> tuple[list, list, list]:
        problems, neighbours, projection = [], [], []
        part = slice(lo, hi)
        start = xavier_start(keys[part], ctx.seed, size, dim)
        x, steps, converged = optimise(model, layer, start, masks[part], targets[part], l1, l2, params)
        with torch.no_grad():
            value, act, norm, sim, cosine = objective(model, layer, x, masks[part].to(x.device),
                                                      targets[part].to(x.device), l1, l2)
        m = masks[part].to(x.device)[..., None].to(x.dtype)
        overall = (x * m).sum(1) / m.sum(1).clamp(min=1)  # (n, E): x_overall
        cos = torch.nn.functional.normalize(overall.float(), dim=-1) @ unit_vocab.T.to(x.device)
        top = cos.topk(min(params.neighbours, cos.size(1)), dim=-1)  # (n, k)
        coords = _pca(overall.float().cpu(), table[top.indices.cpu()])  # (n, k + 1, 2)
        strength = targets[part].pow(2).sum(-1).clamp(min=1e-12)
        for r, (example_id, rank) in enumerate(keys[part]):
            location, first, last = spans[lo + r]
            facts = preds.loc[example_id]
            problems.append((model.name, example_id, facts["label"], facts["predicted"],
                             float(facts["confidence"]), rank, location, first, last,
                             float(value[r]), float(act[r]), float(norm[r]), float(sim[r]),
                             float(act[r].cpu() / strength[r]), float(cosine[r]), int(steps[r]),
                             bool(converged[r])))
            idx, sims = top.indices[r].tolist(), top.values[r].tolist()
            neighbours += [(model.name, example_id, rank, j + 1, words[i], float(c))
                           for j, (i, c) in enumerate(zip(idx, sims, strict=True))]
            projection.append((model.name, example_id, rank, 0, "x_overall", *map(float, coords[r, 0])))
            projection += [(model.name, example_id, rank, j + 1, words[i],
                            *map(float, coords[r, j + 1])) for j, i in enumerate(idx)]
        return problems, neighbours, projection

    problems, neighbours, projection = [], [], []
    gathered = ctx.map_batches(len(keys), one_chunk, size=params.chunk, desc="optimization")
    for chunk_problems, chunk_neighbours, chunk_projection in gathered:
        problems += chunk_problems
        neighbours += chunk_neighbours
        projection += chunk_projection
    frame = pd.DataFrame(problems, columns=TABLES["problems"])
    return AnalysisResult(
        tables={"problems": frame, "neighbours": pd.DataFrame(neighbours, columns=TABLES["neighbours"]),
                "projection": pd.DataFrame(projection, columns=TABLES["projection"])},
        metrics={"problems": float(len(frame)),
                 "converged_share": float(frame["converged"].mean()) if len(frame) else 0.0,
                 "mean_activation_match": float(frame["activation_match"].mean()) if len(frame) else 0.0,
                 "mean_activation_cosine": float(frame["activation_cosine"].mean()) if len(frame) else 0.0},
        notes=[(f"{model.name}: layer {layer.name}, l1 = {l1:g}, l2 = {l2:g}, Adam lr {params.lr:g}, "
               f"at most {params.steps} steps; neighbours searched among {len(words):,} vocabulary "
               f"entries ({vocab.space}).")] + ([sampled] if (sampled := sampling_note(
            len(ctx.detail_ids()), len(ctx.examples), ctx.seed,
            what="Inputs optimised (the top locations hidden_saliency kept)")) else []),
    )


def _problems(model: ModelView, layer, ctx: RunContext, locations: pd.DataFrame):
    """Targets a' (N, C), window masks (N, S), keys (example, rank) and spans, from the real input."""
    targets, masks, keys, spans = [], [], [], []
    by_example = {eid: rows for eid, rows in locations.groupby("example_id", sort=True)}
    ids = sorted(by_example)
    for lo in range(0, len(ids), ctx.batch_size):
        chunk = ids[lo : lo + ctx.batch_size]
        batch = model.encode([ctx.examples[i].text for i in chunk])
        with torch.no_grad(), capture(model.module, [layer.read_at]) as seen:
            model.forward_from_embeddings(model.embed(batch.ids), batch.mask)
        acts = to_btc(seen[layer.read_at], layer.layout).float().cpu()  # (B, L, C)
        for b, example_id in enumerate(chunk):
            n = len(batch.tokens[b])
            for _, row in by_example[example_id].sort_values("rank").iterrows():
                i = int(row["location"])
                first = layer.field.offset + i * layer.field.jump
                positions = torch.arange(first, first + layer.field.size)
                targets.append(acts[b, i])
                masks.append((positions >= 0) & (positions < n))
                keys.append((int(example_id), int(row["rank"])))
                spans.append((i, int(row["start"]), int(row["end"])))
    if not keys:
        return torch.zeros(0, 1), torch.zeros(0, layer.field.size, dtype=torch.bool), [], []
    return torch.stack(targets), torch.stack(masks), keys, spans


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
    from reportgen.analyses.spec import combine_per_model

    merged = combine_per_model(results)
    for key in ("problems",):
        merged.metrics[key] = float(sum(r.metrics[key] for r in results.values()))
    frames = merged.tables["problems"]
    merged.metrics["converged_share"] = float(frames["converged"].mean()) if len(frames) else 0.0
    for key, column in (("mean_activation_match", "activation_match"),
                        ("mean_activation_cosine", "activation_cosine")):
        merged.metrics[key] = float(frames[column].mean()) if len(frames) else 0.0
    return merged


def present(result: AnalysisResult, params: Params) -> Presentation:
    problems, neighbours = result.tables["problems"], result.tables["neighbours"]
    if problems.empty:
        return Presentation()
    shown = _shown(problems, params.shown_examples)
    words = (neighbours[neighbours["example_id"].isin(shown)]
             .groupby(["model", "example_id", "rank"], sort=False)["word"]
             .agg(lambda w: ", ".join(w)).reset_index())
    table = alt.Chart(words).mark_text(align="left", fontSize=11).encode(
        y=alt.Y("label:N", title=None, sort=None), x=alt.value(4), text="word:N",
    ).transform_calculate(
        label="datum.model + ' · example ' + datum.example_id + ' · location ' + datum.rank"
    ).properties(width=520, height=alt.Step(16))
    charts = [ChartSpec("neighbour-words", "Nearest words of x_overall", chart_spec(table),
                        "Per text and top location: the vocabulary words closest to the optimised "
                        "input, most similar first.")]
    projection = result.tables["projection"]
    points = projection[projection["example_id"].isin(shown[:2]) & (projection["rank"] == 1)]
    if not points.empty:
        scatter = alt.Chart(points).mark_point(filled=True).encode(
            x=alt.X("x:Q", title="PC 1"), y=alt.Y("y:Q", title="PC 2"),
            shape=alt.condition("datum.point == 0", alt.value("triangle-up"), alt.value("circle")),
            color=alt.condition("datum.point == 0", alt.value("#c0392b"), alt.value("#4c78a8")),
            tooltip=["word", "point"],
        )
        labels = scatter.mark_text(dx=6, align="left", fontSize=10).encode(text="word:N")
        chart = alt.layer(scatter, labels, data=points).properties(width=240, height=200).facet(
            column=alt.Column("example_id:N", title="example"), row=alt.Row("model:N", title=None))
        charts.append(ChartSpec("projection", "x_overall (triangle) among its nearest words",
                                chart_spec(chart), "2-D PCA of the top location's optimised point "
                                "and its nearest vocabulary words."))
    return Presentation(charts=charts)


def _shown(problems: pd.DataFrame, k: int) -> list[int]:
    """The most confident text of each predicted class first (so that every class has an
    interpretation on the page), then the shared picker's order."""
    first = problems[problems["rank"] == 1]
    best = (first.sort_values("confidence", ascending=False, kind="stable")
            .groupby("predicted", sort=True).head(1)["example_id"].tolist())
    predictions = first[["model", "example_id", "label", "predicted", "confidence"]]
    rest = [i for i, _ in pick_examples(predictions, k + len(best))]
    return list(dict.fromkeys([*best, *rest]))[:k]

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
    precision="fp32",
    precision_reason=(
        "its convergence test compares steps smaller than bf16's rounding: a third fewer "
        "windows converged"
    ),
)
