"""variance_salience: which words and embedding dimensions stand out from the rest of the sentence?

Method (Li, Chen, Hovy and Jurafsky 2016, "Visualizing and understanding neural models in NLP",
Section 6): for word i of a sentence and embedding dimension j, the variance salience is
(e_ij - mean over the sentence's words of e_.j)^2: how far the word's value on that dimension sits
from the sentence's average (the paper's Figure 8 shows it as a word x dimension heatmap). A
word's salience is the sum over its dimensions. The measure reads only the embeddings, not the
model's computation above them, and assumes embeddings learned for the task: with pretrained
vectors it describes the vectors more than the classifier (the page says so).

Special tokens ([CLS], [SEP]) are not words of the sentence: they are left out of the mean and get
no salience. Word pieces are joined into their word, whose salience is the sum of its pieces'
(``reportgen.analyses.words``).

Outputs (tables): ``tokens`` (per model, example, word: its salience, its share of the sentence's
total, flag and number of pieces), ``dimensions`` (per model, example, token position, dimension,
for the heatmap examples). Metrics: ``examples``, ``top_token_share`` beside
``uniform_top_token_share``. Scale: ``tokens`` keeps the run's seeded sample of examples
(``analyses.sampling``); ``predictions`` and the metrics cover every example.
Cost: one embedding lookup per text; no forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from reportgen.analyses.base import RunContext
from reportgen.analyses.examples import pick_examples, token_rows
from reportgen.analyses.sampling import kept_ids, sampling_note
from reportgen.analyses.spec import AnalysisSpec, combine_per_model
from reportgen.analyses.words import shares_summary, text_shares, word_frame
from reportgen.data.encoding import EncodedBatch
from reportgen.models.facts import predict_proba
from reportgen.models.tokens import display_tokens, token_flags
from reportgen.models.view import ModelView
from reportgen.records import AnalysisResult, Presentation, TokenView

NAME = "variance_salience"
VERSION = 3  # 2: special tokens out of the mean, word pieces joined into words
SAMPLED = True  # reads the run's detail sample (analyses.sampling): its size is in the cache key
TITLE = "Variance salience of embeddings"
HEADLINE = "top_token_share"
BASELINES = {"top_token_share": "uniform_top_token_share"}
CITATION = (
    "Li, Chen, Hovy, Jurafsky (2016). Visualizing and Understanding Neural Models in NLP. NAACL. "
    "Section 6, variance-based salience."
)
METHOD = (
    "For every word and embedding dimension, the squared distance between the word's value and the "
    "sentence's mean value on that dimension. Words whose embeddings differ most from the rest of "
    "the sentence score highest. It reads the embeddings only, so it says what is unusual in the "
    "input, not what the model uses; the paper applies it to embeddings learned for the task."
)
HOW_TO_READ = (
    "Shaded sentences: darker words sit further from their sentence's mean embedding. Headline: "
    "the share of the sentence's total on its top word, beside the even share 1/length."
)
TABLES = {
    "tokens": ["model", "example_id", "position", "token", "salience", "share", "flag", "pieces"],
    "dimensions": ["model", "example_id", "position", "token", "dimension", "salience"],
    "predictions": ["model", "example_id", "label", "predicted", "confidence"],
}


@dataclass(frozen=True)
class Params:
    heatmap_examples: int = 3
    token_view_examples: int = 10

    def validate(self) -> list[str]:
        return [f"variance_salience.{n} must be >= 0" for n in ("heatmap_examples", "token_view_examples")
                if getattr(self, n) < 0]


def skip_reason(model: ModelView) -> str | None:
    if model.input_kind in ("word_chars", "byte", "char"):
        return (f"{model.name} reads {model.input_kind.replace('_', ' ')}; variance salience is "
                "defined on word embeddings")
    return None


def word_mask(model: ModelView, batch: EncodedBatch) -> torch.Tensor:
    """(B, T) bool: the real tokens that are not special tokens (the sentence's words and
    pieces)."""
    assert batch.mask is not None
    mask = batch.mask.clone()
    for b, row in enumerate(token_flags(model, batch)):
        for t, flag in enumerate(row):
            if flag == "special":
                mask[b, t] = False
    return mask


def variance_salience(emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(e_ij - mean over the real words of e_.j)^2: emb (B, T, E), mask (B, T) -> (B, T, E), zero
    at padding."""
    m = mask[..., None].to(emb.dtype)  # (B, T, 1)
    mean = (emb * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)  # (B, 1, E)
    return (emb - mean).pow(2) * m


@torch.no_grad()
def compute(ctx: RunContext, params: Params) -> AnalysisResult:
    model = ctx.model
    texts = [ex.text for ex in ctx.examples]
    heat = set(range(min(params.heatmap_examples, len(texts))))
    keep = kept_ids(ctx.detail_ids(), heat)  # per-token rows: the run's sample (analyses.sampling)
    word_frames, dim_frames, predictions, shares_parts = [], [], [], []

    def one_batch(lo: int, hi: int) -> tuple:
        batch_dims, batch_predictions = [], []
        chunk = texts[lo:hi]
        batch = model.encode(chunk)
        emb = model.embed(batch.ids).float()
        sal = variance_salience(emb, word_mask(model, batch)).cpu().numpy()  # (B, T, E)
        probs = (predict_proba(model, chunk, batch_size=len(chunk)) if model.is_classifier
                 else None)
        per_token = [sal[b, : len(toks)].sum(-1) for b, toks in enumerate(batch.tokens)]  # (T,) each
        words, _ = word_frame(model.name, range(lo, lo + len(chunk)), display_tokens(model, batch),
                              per_token, token_flags(model, batch), "salience")
        for b, toks in enumerate(batch.tokens):
            i = lo + b
            if i in heat:
                t_, e = sal[b, : len(toks)].shape
                batch_dims.append(pd.DataFrame({
                    "model": model.name, "example_id": i, "position": np.repeat(np.arange(t_), e),
                    "token": np.repeat(np.array(toks, dtype=object), e), "dimension": np.tile(np.arange(e), t_),
                    "salience": sal[b, : len(toks)].reshape(-1).astype(float)}))
            if probs is not None:
                batch_predictions.append((model.name, i, ctx.examples[i].label,
                                          model.classes[int(probs[b].argmax())], float(probs[b].max())))
        return words[words["example_id"].isin(keep)], batch_dims, batch_predictions, text_shares(words)

    gathered = ctx.map_batches(len(texts), one_batch, desc="variance_salience")
    for words, batch_dims, batch_predictions, batch_shares in gathered:
        word_frames.append(words)
        dim_frames += batch_dims
        predictions += batch_predictions
        shares_parts.append(batch_shares)
    tokens = pd.concat(word_frames, ignore_index=True) if word_frames else pd.DataFrame(columns=TABLES["tokens"])
    shares = shares_summary(pd.concat(shares_parts, ignore_index=True) if shares_parts else text_shares(tokens))
    notes = []
    if (sampled := sampling_note(len(ctx.detail_ids()), len(texts), ctx.seed, what="Per-token rows")):
        notes.append(sampled + " The heatmap examples are kept too. The top-token share covers "
                     "every example.")
    if model.training.get("vectors"):
        notes.append(f"{model.name} started from pretrained vectors ({model.training['vectors'].get('path')}), "
                     "fine-tuned in training: the paper defines this measure on embeddings learned "
                     "for the task, so read it as describing the vectors as much as the model.")
    return AnalysisResult(
        tables={"tokens": tokens,
                "dimensions": pd.concat(dim_frames, ignore_index=True) if dim_frames
                else pd.DataFrame(columns=TABLES["dimensions"]),
                "predictions": pd.DataFrame(predictions, columns=TABLES["predictions"])},
        metrics={"examples": float(len(texts)), "top_token_share": shares["top_token_share"],
                 "uniform_top_token_share": shares["uniform_top_token_share"]},
        notes=notes,
    )


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    merged = combine_per_model(results)
    for key in ("examples", "top_token_share", "uniform_top_token_share"):
        merged.metrics[key] = float(np.mean([r.metrics[key] for r in results.values()]))
    return merged


def present(result: AnalysisResult, params: Params) -> Presentation:
    from reportgen.analyses.saliency_views import heatmap

    tokens, predictions = result.tables["tokens"], result.tables["predictions"]
    charts = [heatmap(int(i), frame.rename(columns={"salience": "saliency"}), predictions, 32)
              for i, frame in result.tables["dimensions"].groupby("example_id", sort=True)]
    for chart in charts:
        chart.name = chart.name.replace("heatmap", "variance")
        chart.title = chart.title.replace("saliency", "variance salience")
    if tokens.empty:
        return Presentation(charts=charts)
    kept = predictions[predictions["example_id"].isin(tokens["example_id"].unique())]  # the sample
    picked = pick_examples(kept, params.token_view_examples) if not kept.empty else \
        [(int(i), "") for i in tokens["example_id"].drop_duplicates()[: params.token_view_examples]]
    view = TokenView("tokens", "Variance salience of each word", token_rows(tokens, predictions, picked, "salience")
                     if not predictions.empty else [], "Darker: further from the sentence's mean embedding.")
    return Presentation(charts=charts, token_views=[view] if view.rows else [])

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
    sampled=True,
    baselines=BASELINES,
)
