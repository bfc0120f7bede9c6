"""saliency: which input tokens, and which of their embedding dimensions, move the class score?

Method (Li, Chen, Hovy and Jurafsky 2016, "Visualizing and understanding neural models in NLP",
section 5; first-derivative saliency after Simonyan et al. 2013): for the score S_c of class c
(the predicted class by default), the saliency of embedding entry e_tj of token t is
|dS_c / de_tj|, the first-order sensitivity of the score. A token's saliency is the L2 norm of its
gradient over the embedding dimensions (and over the characters of the word for character-spelled
models). Gradients are computed for a whole batch in one backward pass: the examples do not interact
in eval mode, so the gradient of the summed scores w.r.t. each example's embeddings is that example's
own gradient.

Outputs (tables):
- ``tokens``: one row per (model, example, position): token, saliency, share of the example's total.
- ``predictions``: one row per (model, example): gold label, predicted class, differentiated class.
- ``dimensions``: one row per (model, example, position, dimension) for the ``heatmap_examples``
  shortest-ish examples: |gradient| (Li et al.'s token x dimension heatmaps, models side by side).
- ``words``: per (model, word type): mean saliency and count, over the evaluated data.
- ``examples``: the evaluated texts and labels, by ``example_id``.
- ``decoding``: for sequence-to-sequence autoencoders (Li et al.'s output x input heatmaps), one row
  per (model, example, output position, input position): the saliency of each input token for the
  log-probability of the token reconstructed at each decoding step. The decoder is teacher-forced
  with the input embeddings shifted right, so input t-1 also reaches output t directly.
Metrics: ``examples``, ``top_token_share`` (mean share of the most salient token, over classifiers
and examples), per model ``<model>.top_token_share``, and for autoencoders
``<model>.diagonal_share`` (mean share of output step t's saliency that falls on input token t).

Cost: one forward and one backward pass per batch and classifier (about 3x a plain evaluation);
one backward pass per decoding step for autoencoders, so only ``decoding_examples`` texts.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd
import torch

from reportgen.analyses.base import (
    AnalysisResult,
    Presentation,
    RunContext,
    chart_spec,
    progress_bar,
)
from reportgen.models.adapter import ModelAdapter
from reportgen.site.record import ChartSpec, TokenScores, TokenView

NAME = "saliency"
VERSION = 2  # 2: predictions table split from tokens
TITLE = "First-derivative saliency"
HEADLINE = "top_token_share"
CITATION = (
    "Li, Chen, Hovy, Jurafsky (2016). Visualizing and Understanding Neural Models in NLP. NAACL. "
    "Section 5, first-derivative saliency."
)
METHOD = (
    "For each text, the score of the target class (by default the class the model predicts) is "
    "differentiated with respect to the input embeddings. The absolute value of that derivative, "
    "|dS/de|, says how much a small change in one embedding dimension of one token would move the "
    "score: a first-order Taylor view of the model around this input.\n\n"
    "A token's saliency is the L2 norm of its gradient over the embedding dimensions. Scores are "
    "local sensitivities, not contributions: a token can be salient while the model ignores its "
    "current value."
)
HOW_TO_READ = (
    "Shaded sentences: darker tokens move the class score most (1.0 = the most salient token "
    "of that sentence for that model; hover for the value). Heatmaps: one row per token, one column per embedding dimension; "
    "models side by side on the same sentence, as in Li et al.'s RNN / LSTM / BiLSTM comparison. "
    "Bar chart: the words with the highest mean saliency over the data (seen at least "
    "three times)."
)

TABLES = {
    "tokens": ["model", "example_id", "position", "token", "saliency", "share"],
    "predictions": ["model", "example_id", "label", "predicted", "target"],
    "dimensions": ["model", "example_id", "position", "token", "dimension", "saliency"],
    "words": ["model", "word", "mean_saliency", "count"],
    "examples": ["example_id", "text", "label"],
    "decoding": ["model", "example_id", "output_position", "output_token", "input_position",
                 "input_token", "saliency"],
}


@dataclass(frozen=True)
class Params:
    target: str = "predicted"  # predicted | label
    heatmap_examples: int = 3
    token_view_examples: int = 12
    min_word_count: int = 3
    top_words: int = 20
    decoding_examples: int = 24

    def validate(self) -> list[str]:
        problems = []
        if self.target not in ("predicted", "label"):
            problems.append(f"saliency.target must be 'predicted' or 'label', not {self.target!r}")
        for name in ("heatmap_examples", "token_view_examples", "min_word_count", "top_words", "decoding_examples"):
            if getattr(self, name) < 0:
                problems.append(f"saliency.{name} must be >= 0")
        return problems


def skip_reason(model: ModelAdapter) -> str | None:
    if model.task not in ("classify", "autoencode"):
        return (f"{model.name} is a {model.task} model; saliency needs a classifier or a "
                "sequence-to-sequence autoencoder")
    return None


def token_saliency(
    model: ModelAdapter, texts: list[str], targets: list[int] | None = None
) -> tuple[list[list[str]], list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Saliency of one batch.

    Returns per example: tokens, the (T, E) |gradient| matrix, the (T,) token saliency, and the
    (B,) predicted class indices. ``targets`` None means differentiate the predicted class.
    """
    batch = model.encode(texts)
    with model.gradients():
        emb = model.embed(batch.ids).detach().requires_grad_(True)  # (B, T, E) or (B, T, C, E)
        logits = model.forward_from_embeddings(emb, batch.mask)  # (B, K)
        predicted = logits.argmax(-1)  # (B,)
        target = predicted if targets is None else torch.as_tensor(targets, device=logits.device)
        score = logits.gather(1, target[:, None]).sum()
        (grad,) = torch.autograd.grad(score, emb)
    grad = grad.detach().float().abs()
    if grad.dim() == 4:  # character-spelled words: (B, T, C, E) -> per token and dimension
        per_dim = grad.sum(2)  # (B, T, E)
        per_token = grad.pow(2).sum((2, 3)).sqrt()  # (B, T)
    else:
        per_dim = grad  # (B, T, E)
        per_token = grad.pow(2).sum(-1).sqrt()  # (B, T)
    per_dim_np, per_token_np = per_dim.cpu().numpy(), per_token.cpu().numpy()
    lengths = [len(t) for t in batch.tokens]
    mats = [per_dim_np[i, :n] for i, n in enumerate(lengths)]
    vecs = [per_token_np[i, :n] for i, n in enumerate(lengths)]
    return batch.tokens, mats, vecs, predicted.cpu().numpy()


def compute(ctx: RunContext, params: Params) -> AnalysisResult:
    """Saliency of every evaluated example for ``ctx.model``."""
    model = ctx.model
    texts = [ex.text for ex in ctx.examples]
    empty = {name: pd.DataFrame(columns=cols) for name, cols in TABLES.items()}
    examples = pd.DataFrame({"example_id": range(len(texts)), "text": texts,
                             "label": [ex.label for ex in ctx.examples]})
    note = f"Gradients of the {params.target} class score; token saliency = L2 norm over dimensions."
    if model.task == "autoencode":
        frame = _decoding_table(model, texts[: params.decoding_examples], ctx.batch_size)
        return AnalysisResult(
            tables={**empty, "examples": examples, "decoding": frame},
            metrics={"diagonal_share": _diagonal_share(frame)}, notes=[note],
        )
    heat_ids = set(_heatmap_examples(ctx, params.heatmap_examples))
    token_rows: list[dict] = []
    prediction_rows: list[dict] = []
    dim_frames: list[pd.DataFrame] = []
    labels = [ex.label for ex in ctx.examples]
    label_idx = model.class_index(labels) if params.target == "label" else None
    shares: list[float] = []
    starts = range(0, len(texts), ctx.batch_size)
    for start in progress_bar(starts, total=len(starts), desc=f"saliency {model.name}", enabled=ctx.progress):
        chunk = texts[start : start + ctx.batch_size]
        targets = None
        if label_idx is not None:
            targets = [int(i) for i in label_idx[start : start + len(chunk)]]
            if min(targets) < 0:
                raise ValueError("target='label' needs labelled data")
        tokens, mats, vecs, predicted = token_saliency(model, chunk, targets)
        for offset, (toks, mat, vec) in enumerate(zip(tokens, mats, vecs, strict=True)):
            example_id = start + offset
            total = float(vec.sum())
            share = vec / total if total > 0 else np.zeros_like(vec)
            if len(vec):
                shares.append(float(share.max()))
            token_rows.extend(
                {"model": model.name, "example_id": example_id, "position": pos, "token": tok,
                 "saliency": float(vec[pos]), "share": float(share[pos])}
                for pos, tok in enumerate(toks)
            )
            target = predicted[offset] if targets is None else targets[offset]
            prediction_rows.append(
                {"model": model.name, "example_id": example_id, "label": ctx.examples[example_id].label,
                 "predicted": model.classes[int(predicted[offset])], "target": model.classes[int(target)]}
            )
            if example_id in heat_ids:
                dim_frames.append(_dimension_frame(model.name, example_id, toks, mat))
    tokens_df = pd.DataFrame(token_rows, columns=TABLES["tokens"])
    dims_df = pd.concat(dim_frames, ignore_index=True) if dim_frames else empty["dimensions"]
    return AnalysisResult(
        tables={**empty, "tokens": tokens_df,
                "predictions": pd.DataFrame(prediction_rows, columns=TABLES["predictions"]),
                "dimensions": dims_df, "words": _word_table(tokens_df, params), "examples": examples},
        metrics={"top_token_share": float(np.mean(shares)) if shares else 0.0},
        notes=[note],
    )


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    """Per-model results -> one: tables stacked in model order, ``<model>.<metric>`` per model, and
    ``top_token_share`` = the mean of the top share over every (classifier, example)."""
    def stack(table: str) -> pd.DataFrame:
        frames = [r.tables[table] for r in results.values() if not r.tables[table].empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TABLES[table])

    tables = {t: stack(t) for t in TABLES if t != "examples"}
    tables["examples"] = next(iter(results.values())).tables["examples"]
    tables = {t: tables[t] for t in TABLES}
    first = next(iter(results.values()))
    metrics: dict[str, float] = {"examples": float(len(first.tables["examples"]))}
    for name, r in results.items():
        metrics.update({f"{name}.{k}": v for k, v in r.metrics.items()})
    tokens = tables["tokens"]
    if tokens.empty:
        metrics["top_token_share"] = 0.0
    else:  # per (model, example) top share, in model then example order, as computed
        top = tokens.groupby(["model", "example_id"], sort=False)["share"].max()
        metrics["top_token_share"] = float(np.mean(top.to_numpy()))
    return AnalysisResult(tables=tables, metrics=metrics, notes=first.notes)


def decoding_saliency(model: ModelAdapter, texts: list[str]) -> tuple[list[list[str]], list[np.ndarray], list[list[int]]]:
    """Per example: input tokens, the (T_out, T_in) saliency matrix, the reconstructed token ids.

    Row t is the L2 norm over embedding dimensions of d log p(y_t) / d e, where y_t is the token the
    model reconstructs (its argmax) at step t. One backward pass per step, batched over examples.
    """
    batch = model.encode(texts)
    assert batch.mask is not None
    with model.gradients():
        emb = model.embed(batch.ids).detach().requires_grad_(True)  # (B, T, E)
        logp = torch.log_softmax(model.forward_from_embeddings(emb, batch.mask).float(), -1)  # (B, T, V)
        best = logp.argmax(-1)  # (B, T)
        picked = logp.gather(2, best[..., None]).squeeze(-1) * batch.mask  # (B, T)
        rows = []
        for t in range(picked.shape[1]):
            (grad,) = torch.autograd.grad(picked[:, t].sum(), emb, retain_graph=True)  # (B, T, E)
            rows.append(grad.float().pow(2).sum(-1).sqrt())  # (B, T_in)
    matrix = torch.stack(rows, 1).cpu().numpy()  # (B, T_out, T_in)
    lengths = [len(t) for t in batch.tokens]
    ids = best.cpu().tolist()
    return batch.tokens, [matrix[i, :n, :n] for i, n in enumerate(lengths)], [ids[i][:n] for i, n in enumerate(lengths)]


def _decoding_table(model: ModelAdapter, texts: list[str], batch_size: int) -> pd.DataFrame:
    frames = []
    for start in range(0, len(texts), batch_size):
        tokens, mats, outs = decoding_saliency(model, texts[start : start + batch_size])
        for offset, (toks, mat, out) in enumerate(zip(tokens, mats, outs, strict=True)):
            n = len(toks)
            frames.append(pd.DataFrame({
                "model": model.name,
                "example_id": start + offset,
                "output_position": np.repeat(np.arange(n), n),
                "output_token": np.repeat(np.array([model.encoder.token_text(i) for i in out], dtype=object), n),
                "input_position": np.tile(np.arange(n), n),
                "input_token": np.tile(np.array(toks, dtype=object), n),
                "saliency": mat.reshape(-1).astype(float),
            }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TABLES["decoding"])


def _diagonal_share(frame: pd.DataFrame) -> float:
    """Mean over (example, output step) of the share of saliency on the same input position."""
    if frame.empty:
        return 0.0
    totals = frame.groupby(["example_id", "output_position"])["saliency"].transform("sum")
    share = frame["saliency"] / totals.where(totals > 0, 1.0)
    diagonal = frame["output_position"] == frame["input_position"]
    return float(share[diagonal].mean())


def _heatmap_examples(ctx: RunContext, k: int) -> list[int]:
    """The first ``k`` examples of 4 to 14 words (readable heatmaps), else the first ``k``."""
    lengths = [len(ex.text.split()) for ex in ctx.examples]
    readable = [i for i, n in enumerate(lengths) if 4 <= n <= 14]
    return (readable or list(range(len(ctx.examples))))[:k]


def _dimension_frame(model: str, example_id: int, tokens: list[str], mat: np.ndarray) -> pd.DataFrame:
    t, e = mat.shape
    return pd.DataFrame(
        {
            "model": model,
            "example_id": example_id,
            "position": np.repeat(np.arange(t), e),
            "token": np.repeat(np.array(tokens, dtype=object), e),
            "dimension": np.tile(np.arange(e), t),
            "saliency": mat.reshape(-1).astype(float),
        }
    )


def _word_table(tokens: pd.DataFrame, params: Params) -> pd.DataFrame:
    if tokens.empty:
        return pd.DataFrame(columns=TABLES["words"])
    grouped = (
        tokens.groupby(["model", "token"], sort=True)["saliency"].agg(["mean", "count"]).reset_index()
    )
    grouped.columns = ["model", "word", "mean_saliency", "count"]
    grouped = grouped[grouped["count"] >= params.min_word_count]
    return grouped.sort_values(["model", "mean_saliency", "word"], ascending=[True, False, True]).reset_index(drop=True)


# -- presentation: tables -> charts and token views (no torch) --------------------------------
def present(result: AnalysisResult, params: Params) -> Presentation:
    tokens, dims, words = result.tables["tokens"], result.tables["dimensions"], result.tables["words"]
    predictions = result.tables["predictions"]
    charts: list[ChartSpec] = []
    for example_id, frame in dims.groupby("example_id", sort=True):
        charts.append(_heatmap(int(example_id), frame, predictions))
    if not words.empty:
        top = words.groupby("model", sort=False).head(params.top_words)
        bars = (
            alt.Chart(top)
            .mark_bar()
            .encode(
                x=alt.X("mean_saliency:Q", title="mean saliency"),
                y=alt.Y("word:N", sort="-x", title=None),
                color=alt.Color("model:N", legend=None),
                tooltip=["model", "word", alt.Tooltip("mean_saliency:Q", format=".4f"), "count"],
            )
            .properties(width=220, height=alt.Step(14))
            .facet(column=alt.Column("model:N", title=None))
            .resolve_scale(y="independent", x="independent")
        )
        charts.append(
            ChartSpec(
                "top-words",
                "Most salient words over the data",
                chart_spec(bars),
                f"Mean token saliency per word, words seen at least {params.min_word_count} times.",
            )
        )
    decoding = result.tables.get("decoding")
    if decoding is not None and not decoding.empty:
        shown = sorted(decoding["example_id"].unique())[: max(params.heatmap_examples, 1)]
        for example_id in shown:
            charts.append(_decoding_heatmap(int(example_id), decoding[decoding["example_id"] == example_id]))
    return Presentation(charts=charts, token_views=[_token_view(tokens, predictions, params)] if not tokens.empty else [])


def _decoding_heatmap(example_id: int, frame: pd.DataFrame) -> ChartSpec:
    frame = pd.DataFrame(
        {
            "model": frame["model"],
            "output": frame["output_position"].map("{:02d}".format) + " " + frame["output_token"].astype(str),
            "input": frame["input_position"].map("{:02d}".format) + " " + frame["input_token"].astype(str),
            "saliency": frame["saliency"].map(lambda v: float(f"{v:.3g}")),
        }
    )
    chart = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("input:N", sort=sorted(frame["input"].unique()), title="input token"),
            y=alt.Y("output:N", sort=sorted(frame["output"].unique()), title="decoding step (reconstructed token)"),
            color=alt.Color("saliency:Q", scale=alt.Scale(scheme="oranges"), title="saliency"),
            tooltip=["output", "input", alt.Tooltip("saliency:Q", format=".3g")],
        )
        .properties(width=alt.Step(18), height=alt.Step(16))
        .facet(column=alt.Column("model:N", title=None))
    )
    return ChartSpec(
        f"decoding-{example_id}",
        f"Saliency of each input token for each decoding step, example {example_id}",
        chart_spec(chart),
        "Rows: decoding steps; columns: input tokens (Li et al. 2016's seq2seq heatmaps).",
    )


def _heatmap(example_id: int, frame: pd.DataFrame, predictions: pd.DataFrame) -> ChartSpec:
    """Token x dimension heatmap, one panel per model; colour relative to each panel's maximum."""
    peak = frame.groupby("model", sort=False)["saliency"].transform("max")
    frame = frame.assign(relative=frame["saliency"] / peak.where(peak > 0, 1.0))
    # one row per (model, token) holding its dimensions as arrays, expanded in the browser by a
    # flatten transform: a 300-d heatmap ships as ~15x fewer bytes than one object per cell
    packed = pd.DataFrame(
        [
            {
                "model": model,
                "row": f"{position:02d} {cells['token'].iloc[0]}",
                "relative": cells.sort_values("dimension")["relative"].round(3).tolist(),
                "saliency": [float(f"{v:.3g}") for v in cells.sort_values("dimension")["saliency"]],
            }
            for (model, position), cells in frame.groupby(["model", "position"], sort=False)
        ]
    )
    models = list(dict.fromkeys(frame["model"]))
    width = int(max(110, min(260, 750 // max(len(models), 1) - 30)))
    chart = (
        alt.Chart(packed)
        .transform_flatten(["relative", "saliency"])
        .transform_window(index="row_number()", groupby=["model", "row"])
        .transform_calculate(dimension="datum.index - 1")
        .mark_rect()
        .encode(
            x=alt.X("dimension:O", title="embedding dimension", axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("row:N", sort=sorted(packed["row"].unique()), title=None),
            color=alt.Color("relative:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]),
                            title="relative"),
            tooltip=["model", alt.Tooltip("row:N", title="token"), "dimension:O",
                     alt.Tooltip("saliency:Q", format=".3g")],
        )
        .properties(width=width, height=alt.Step(16))
        .facet(column=alt.Column("model:N", title=None, sort=models))
        .resolve_scale(x="independent")
    )
    sample = predictions[predictions["example_id"] == example_id]
    label = sample["label"].iloc[0] if not sample.empty else None
    caption = "Colour: |dS/de| relative to the largest value in the same panel; hover for raw values."
    return ChartSpec(
        f"heatmap-{example_id}",
        f"Token x dimension saliency, example {example_id}",
        chart_spec(chart),
        f"Gold label: {label}. {caption}" if label is not None else caption,
    )


def _token_view(tokens: pd.DataFrame, predictions: pd.DataFrame, params: Params) -> TokenView:
    outcome = predictions.set_index(["model", "example_id"])
    shown = sorted(tokens["example_id"].unique())[: params.token_view_examples]
    rows = []
    for example_id in shown:
        for model, frame in tokens[tokens["example_id"] == example_id].groupby("model", sort=False):
            frame = frame.sort_values("position")
            peak = float(frame["saliency"].max()) or 1.0
            rows.append(
                TokenScores(
                    model=str(model),
                    example_id=int(example_id),
                    tokens=frame["token"].astype(str).tolist(),
                    scores=(frame["saliency"].astype(float) / peak).round(4).tolist(),
                    label=outcome.loc[(model, example_id), "label"],
                    predicted=outcome.loc[(model, example_id), "predicted"],
                )
            )
    return TokenView(
        "tokens",
        "Saliency of each token",
        rows,
        "Shading: token saliency relative to the most salient token of the same sentence and model.",
    )
