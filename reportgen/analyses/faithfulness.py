"""faithfulness: which token attribution does the model actually rely on?

Method (beyond Li et al. 2016; DeYoung et al. 2020, "ERASER: a benchmark to evaluate rationalized
NLP models", comprehensiveness and sufficiency). Every token attribution the run can make is
tested the same way, per model:

- ``saliency``: first-derivative saliency, |dS/de| summed to a token (Li et al. 2016; read from the
  ``saliency`` analysis, which this one needs; per word piece, as the model reads the text);
- ``gradient_x_input`` and ``integrated_gradients`` (Sundararajan et al. 2017, 20 steps from the
  padding embedding): Captum's implementations, batched, summed over embedding dimensions (signed:
  tokens are ranked by their contribution *to* the predicted class);
- ``variance_salience`` (Li et al. 2016, Section 6), for word embeddings;
- ``hidden_fields``: the receptive fields of the top hidden locations (Yuan et al. 2019), when
  ``hidden_saliency`` ran for the model: a token scores the highest location score among the
  locations whose field covers it, so the top location's field comes first, then the next's;
- ``random``: a seeded random order, the baseline every method must beat.

For each text and each k in 1, 5, 10, 20, 50% of its tokens (at least one token), the top-k
tokens by an attribution are deleted (comprehensiveness: p(y|x) - p(y|x without them); high =
faithful) or kept alone (sufficiency: p(y|x) - p(y|them alone); low = faithful), y the predicted
class; AOPC = the mean over the five k. The curves average p(y) after deleting (deletion) and after
keeping (insertion) the top-k tokens. Special tokens ([CLS], [SEP]) are never removed.

Outputs (tables): ``scores`` (per model, method: comprehensiveness, sufficiency, their spread over
texts), ``curves`` (per model, method, curve, k: mean probability), ``texts`` (per model, method,
text: both AOPCs). Metrics: ``comprehensiveness``, ``sufficiency`` (of saliency),
``random_comprehensiveness``, and ``<method>_comprehensiveness`` / ``_sufficiency`` per method.
Scale: runs on the run's seeded sample of examples (``analyses.sampling``; 2,000 by default,
every text of a smaller run), whose per-token saliency ``saliency`` keeps.
Cost: per batch, Captum's integrated gradients (20 forward and backward passes) and 2 x 5 forward
passes per method on edited texts. Batches hold texts of about the same length (longest first), so
little of that work goes to padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd
import torch

from reportgen.analyses.base import RunContext
from reportgen.analyses.sampling import sampling_note
from reportgen.analyses.spec import AnalysisSpec, combine_per_model
from reportgen.chart_layout import chart_spec, label_width, wrap_by_model
from reportgen.models.common import gradients
from reportgen.models.tokens import token_flags
from reportgen.models.view import ModelView
from reportgen.records import AnalysisResult, ChartSpec, Presentation

NAME = "faithfulness"
VERSION = 6  # 6: batches of similar length, tables in example order; 4: a random order seeded per text; 2: variance salience without special tokens in the sentence mean; 3: pad ids, user specials
SAMPLED = True  # reads the run's detail sample (analyses.sampling): its size is in the cache key
TITLE = "Faithfulness of token attributions"
HEADLINE = "comprehensiveness"
BASELINES = {"comprehensiveness": "random_comprehensiveness"}
NEEDS = ("saliency",)
USES = ("hidden_saliency",)  # its top receptive fields become one more attribution when it ran
CITATION = (
    "DeYoung, Jain, Rajani, Lehman, Xiong, Socher, Wallace (2020). ERASER: A Benchmark to "
    "Evaluate Rationalized NLP Models. ACL; Sundararajan, Taly, Yan (2017). Axiomatic Attribution "
    "for Deep Networks. ICML; attributions from Captum (Kokhlikyan et al. 2020)."
)
METHOD = (
    "An attribution is faithful when the model really depends on the tokens it points at. For "
    "every text, the tokens an attribution ranks highest (1, 5, 10, 20 and 50% of them) are deleted, "
    "and the drop in the probability of the predicted class is measured (comprehensiveness: higher "
    "is better); they are also kept alone, and the drop measured again (sufficiency: lower is "
    "better). Each is averaged over the five fractions (AOPC) and compared with a random order of "
    "the tokens."
)
HOW_TO_READ = (
    "Bars: comprehensiveness of each attribution per model; the grey one is random. An attribution "
    "is worth trusting for a model when it clearly beats random there. Curves: the probability of "
    "the predicted class as the top tokens are deleted (falling fast = faithful) or kept alone "
    "(rising fast = faithful)."
)
TABLES = {
    "scores": ["model", "method", "comprehensiveness", "comprehensiveness_sd", "sufficiency",
               "sufficiency_sd", "texts"],
    "curves": ["model", "method", "curve", "fraction", "probability"],
    "texts": ["model", "method", "example_id", "comprehensiveness", "sufficiency"],
}
FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.50)
METHODS = ("saliency", "gradient_x_input", "integrated_gradients", "variance_salience",
           "hidden_fields", "random")


@dataclass(frozen=True)
class Params:
    ig_steps: int = 20

    def validate(self) -> list[str]:
        return ["faithfulness.ig_steps must be >= 1"] if self.ig_steps < 1 else []


def skip_reason(model: ModelView) -> str | None:
    if not model.is_classifier:
        return f"{model.name} is a {model.task} model; faithfulness needs a classifier"
    return None


def compute(ctx: RunContext, params: Params) -> AnalysisResult:
    model = ctx.model
    by_text = _saliency_by_text(ctx.upstream["saliency"].tables, model.name)
    hidden = ctx.upstream.get("hidden_saliency")
    fields = field_scores(hidden.tables["scores"], model.name) if hidden is not None else None
    texts = [ex.text for ex in ctx.examples]
    ids = ctx.detail_ids()  # the run's seeded sample (analyses.sampling): every text in a small run
    # batches of texts of about the same length: integrated gradients runs all its steps over the
    # padded batch, so mixed lengths waste most of its work on padding. Longest first: a batch too
    # large for the GPU fails at once, not after the rest. The tables are put in example order at
    # the end, so the batching does not show in them.
    lengths = _lengths(model, [texts[int(i)] for i in ids], ctx.batch_size)  # (N,)
    ids = ids[np.argsort(-lengths, kind="stable")]

    def one_batch(lo: int, hi: int) -> tuple[list[tuple], dict[tuple[str, str, float], list]]:
        rows: list[tuple] = []
        curves: dict[tuple[str, str, float], list] = {}
        batch_ids = [int(i) for i in ids[lo:hi]]  # example ids
        batch = model.encode([texts[i] for i in batch_ids])
        n = [len(t) for t in batch.tokens]
        special = [[f == "special" for f in row] for row in token_flags(model, batch)]
        with torch.no_grad():
            base = torch.softmax(model.forward_from_embeddings(model.embed(batch.ids), batch.mask).float(), -1)
        target = base.argmax(-1)  # (B,)
        p0 = base.gather(1, target[:, None])[:, 0].cpu().numpy()  # (B,)
        scores = _attributions(model, batch, target, params)
        scores["saliency"] = [by_text.get(i, np.zeros(k))[:k] for i, k in zip(batch_ids, n, strict=True)]
        if fields is not None:
            scores["hidden_fields"] = [_fit(fields.get(i), k) for i, k in zip(batch_ids, n, strict=True)]
        # a seeded order per text, the same however the batches are split
        scores["random"] = [np.random.default_rng([ctx.seed, i]).random(k) for i, k in zip(batch_ids, n, strict=True)]
        for method in METHODS:
            if method not in scores:
                continue
            comp, suff = np.zeros((len(n), len(FRACTIONS))), np.zeros((len(n), len(FRACTIONS)))
            for f, frac in enumerate(FRACTIONS):
                tops = [_top(scores[method][b], special[b], frac) for b in range(len(n))]
                deleted = _probability(model, batch, tops, keep=False, target=target, special=special)
                kept = _probability(model, batch, tops, keep=True, target=target, special=special)
                comp[:, f], suff[:, f] = p0 - deleted, p0 - kept
                curves.setdefault((method, "deletion", frac), []).extend(zip(batch_ids, deleted.tolist()))
                curves.setdefault((method, "insertion", frac), []).extend(zip(batch_ids, kept.tolist()))
            rows += [(model.name, method, i, float(comp[b].mean()), float(suff[b].mean()))
                     for b, i in enumerate(batch_ids)]
        return rows, curves

    rows, curves = [], {}
    for batch_rows, batch_curves in ctx.map_batches(len(ids), one_batch, desc="faithfulness"):
        rows += batch_rows
        for key, values in batch_curves.items():
            curves.setdefault(key, []).extend(values)
    rank = {m: r for r, m in enumerate(METHODS)}
    rows.sort(key=lambda row: (rank[row[1]], row[2]))  # by method, then example, however batched
    curves = {key: [v for _, v in sorted(values)] for key, values in curves.items()}  # example order
    texts_df = pd.DataFrame(rows, columns=TABLES["texts"])
    scores_df = (texts_df.groupby(["model", "method"], sort=False)
                 .agg(comprehensiveness=("comprehensiveness", "mean"),
                      comprehensiveness_sd=("comprehensiveness", "std"),
                      sufficiency=("sufficiency", "mean"), sufficiency_sd=("sufficiency", "std"),
                      texts=("example_id", "size")).reset_index().fillna(0.0))
    curve_df = pd.DataFrame([(model.name, m, c, f, float(np.mean(v))) for (m, c, f), v in curves.items()],
                            columns=TABLES["curves"])
    metrics = {"examples": float(len(ids))}
    for r in scores_df.itertuples():
        metrics[f"{r.method}_comprehensiveness"] = float(r.comprehensiveness)
        metrics[f"{r.method}_sufficiency"] = float(r.sufficiency)
    metrics["comprehensiveness"] = metrics["saliency_comprehensiveness"]
    metrics["sufficiency"] = metrics["saliency_sufficiency"]
    metrics["random_comprehensiveness"] = metrics["random_comprehensiveness"]
    sampled = sampling_note(len(ids), len(texts), ctx.seed, what="Texts edited and scored")
    return AnalysisResult(tables={"scores": scores_df, "curves": curve_df, "texts": texts_df},
                          metrics=metrics, notes=[sampled] if sampled else [])


def _lengths(model: ModelView, texts: list[str], batch_size: int) -> np.ndarray:
    """(N,) tokens of each text as the model reads it (tokenising only)."""
    return np.array([len(toks) for lo in range(0, len(texts), batch_size)
                     for toks in model.encode(texts[lo : lo + batch_size]).tokens], dtype=np.int64)


def _saliency_by_text(tables: dict[str, pd.DataFrame], model: str) -> dict[int, np.ndarray]:
    """Per example: saliency of every token the model reads, by position: the ``pieces`` table
    where saliency joined word pieces into words, else its ``tokens`` (there, tokens are words)."""
    pieces = tables.get("pieces")
    rows = pieces[pieces["model"] == model] if pieces is not None and not pieces.empty else None
    if rows is None or rows.empty:
        tokens = tables["tokens"]
        rows = tokens[tokens["model"] == model]
    return {int(i): g.sort_values("position")["saliency"].to_numpy() for i, g in rows.groupby("example_id")}


def _attributions(model: ModelView, batch, target: torch.Tensor, params: Params) -> dict[str, list]:
    """Captum's gradient x input and integrated gradients, and variance salience, per token."""
    from captum.attr import InputXGradient, IntegratedGradients

    from reportgen.analyses.variance_salience import skip_reason as vs_skip
    from reportgen.analyses.variance_salience import variance_salience, word_mask

    n = [len(t) for t in batch.tokens]
    emb = model.embed(batch.ids).detach()  # (B, T, E) or (B, T, C, E)

    def forward(e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return model.forward_from_embeddings(e, mask)

    out = {}
    with gradients(model.module):
        gxi = InputXGradient(forward).attribute(emb.clone().requires_grad_(True), target=target,
                                                additional_forward_args=(batch.mask,))
        ig = IntegratedGradients(forward).attribute(
            emb.clone(), baselines=torch.zeros_like(emb), target=target, additional_forward_args=(batch.mask,),
            n_steps=params.ig_steps, internal_batch_size=emb.size(0) * params.ig_steps)
    for name, attr in (("gradient_x_input", gxi), ("integrated_gradients", ig)):
        per_token = attr.detach().float().flatten(2).sum(-1).cpu().numpy()  # (B, T): signed
        out[name] = [per_token[b, : n[b]] for b in range(len(n))]
    if vs_skip(model) is None:
        vs = variance_salience(emb.float(), word_mask(model, batch)).sum(-1).cpu().numpy()
        out["variance_salience"] = [vs[b, : n[b]] for b in range(len(n))]
    return out


def field_scores(locations: pd.DataFrame, model: str) -> dict[int, np.ndarray]:
    """Per example: each token's highest score among the hidden locations whose receptive field
    covers it (``hidden_saliency``'s ``scores`` table: example_id, score, start, end); -inf where
    no location sees the token."""
    out: dict[int, np.ndarray] = {}
    part = locations[locations["model"] == model]
    for example_id, rows in part.groupby("example_id", sort=False):
        n = int(rows["end"].max()) + 1
        best = np.full(n, -np.inf)
        for start, end, score in zip(rows["start"], rows["end"], rows["score"], strict=True):
            span = slice(int(start), int(end) + 1)
            best[span] = np.maximum(best[span], float(score))
        out[int(example_id)] = best
    return out


def _fit(values: np.ndarray | None, n: int) -> np.ndarray:
    """``values`` cut or padded (with -inf: ranked last) to ``n`` tokens."""
    out = np.full(n, -np.inf)
    if values is not None:
        out[: min(n, len(values))] = values[:n]
    return out


def _top(scores: np.ndarray, special: list[bool], frac: float) -> list[int]:
    """Positions of the top ``frac`` of a text's (non-special) tokens by score, at least one."""
    candidates = [i for i in range(len(scores)) if not special[i]]
    k = max(1, math.ceil(frac * len(candidates)))
    order = sorted(candidates, key=lambda i: (-scores[i], i))
    return order[:k]


@torch.no_grad()
def _probability(model: ModelView, batch, tops: list[list[int]], keep: bool,
                 target: torch.Tensor, special: list[list[bool]]) -> np.ndarray:
    """p(target) after deleting the ``tops`` positions of each text (``keep``: after deleting all
    the other real tokens but ``special`` ones), the rest moved left and re-padded with the
    model's pad id."""
    ids = batch.ids
    rows, masks = [], []
    width = ids.size(1)
    for b, toks in enumerate(batch.tokens):
        chosen = set(tops[b])
        if keep:
            keep_pos = [i for i in range(len(toks)) if i in chosen or special[b][i]]
        else:
            keep_pos = [i for i in range(len(toks)) if i not in chosen]
        index = torch.tensor(keep_pos + [width - 1] * (width - len(keep_pos)), device=ids.device)
        row = ids[b].index_select(0, index).clone()
        m = torch.zeros(width, dtype=torch.bool, device=ids.device)
        m[: len(keep_pos)] = True
        row[len(keep_pos):] = model.pad_id
        rows.append(row)
        masks.append(m)
    new_ids, new_mask = torch.stack(rows), torch.stack(masks)
    if model.min_len > 1:  # keep the width the model needs
        new_ids = new_ids[:, : max(model.min_len, int(new_mask.sum(1).max()))]
        new_mask = new_mask[:, : new_ids.size(1)]
    else:
        width = max(1, int(new_mask.sum(1).max()))
        new_ids, new_mask = new_ids[:, :width], new_mask[:, :width]
    probs = torch.softmax(model.forward_from_embeddings(model.embed(new_ids), new_mask).float(), -1)
    return probs.gather(1, target[:, None])[:, 0].cpu().numpy()


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    merged = combine_per_model(results)
    scores = merged.tables["scores"]
    for key, method, column in (("comprehensiveness", "saliency", "comprehensiveness"),
                                ("sufficiency", "saliency", "sufficiency"),
                                ("random_comprehensiveness", "random", "comprehensiveness")):
        part = scores[scores["method"] == method]
        merged.metrics[key] = float((part[column] * part["texts"]).sum() / max(part["texts"].sum(), 1))
    merged.metrics["examples"] = float(max(r.metrics["examples"] for r in results.values()))  # per model
    return merged


def present(result: AnalysisResult, params: Params) -> Presentation:
    scores, curves = result.tables["scores"], result.tables["curves"]
    if scores.empty:
        return Presentation()
    bars = alt.Chart(scores).mark_bar().encode(
        x=alt.X("comprehensiveness:Q", title="comprehensiveness (AOPC; higher = more faithful)"),
        y=alt.Y("method:N", sort=list(METHODS), title=None),
        color=alt.condition("datum.method == 'random'", alt.value("#9aa3ad"), alt.value("#4c78a8")),
        tooltip=["model", "method", alt.Tooltip("comprehensiveness:Q", format=".3f"),
                 alt.Tooltip("comprehensiveness_sd:Q", format=".3f", title="spread (sd)"),
                 alt.Tooltip("sufficiency:Q", format=".3f"), "texts"],
    ).properties(width=360, height=alt.Step(18)).facet(row=alt.Row("model:N", title=None))
    bars = bars.resolve_scale(y="independent")  # each model lists only the attributions it has
    lines = alt.Chart(curves).mark_line(point=True).encode(
        x=alt.X("fraction:Q", title="share of tokens deleted / kept", axis=alt.Axis(format="%")),
        y=alt.Y("probability:Q", title="p(predicted class)", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("method:N", sort=list(METHODS)), strokeDash="curve:N",
        tooltip=["model", "method", "curve", "fraction", alt.Tooltip("probability:Q", format=".3f")],
    ).properties(height=200)
    axis = label_width(["0.0"]) + 20  # the y axis's labels and title, once per row
    legend = 40 + label_width([*METHODS, "deletion"])
    lines = wrap_by_model(lines, list(dict.fromkeys(curves["model"])), narrowest=240, widest=300,
                          reserved=axis + legend)
    return Presentation(charts=[
        ChartSpec("trust", "Which explanation should I trust for this model?", chart_spec(bars),
                  "Comprehensiveness of each attribution against a random order of the tokens."),
        ChartSpec("curves", "Deletion and insertion curves", chart_spec(lines),
                  "Solid: deleting the top tokens; dashed: keeping only them."),
    ])

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
    uses=USES,
    sampled=True,
    baselines=BASELINES,
)
