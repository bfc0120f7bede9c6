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

The page shows the sentences the saliency page shows: when ``saliency`` ran for the model, its
heatmap examples and its extra sentences (the user's own and Li et al.'s, never in a metric); else
the same rule (``saliency.heatmap_example_ids``).

Headline: ``top_token_share``, the mean share of a sentence's total on its top word, beside
``uniform_top_token_share``, the mean of 1/length, over the same texts: a one-word text (its word
is its own mean, salience 0) or one of identical words has no shares and counts in neither
(``unscored_texts`` says how many), so the top share is never below the baseline.

Outputs (tables): ``tokens`` (per model, example, word: its salience, its share of the sentence's
total, flag and number of pieces), ``dimensions`` (per model, example, token position, dimension,
for the heatmap examples), ``predictions``, ``sentences`` (the shown sentences that are not from
the data: example_id, text, source "yours" or "paper"). Metrics: ``examples``,
``top_token_share`` beside ``uniform_top_token_share``, ``unscored_texts`` when there were some.
Scale: ``tokens`` keeps the run's seeded sample of examples (``analyses.sampling``);
``predictions`` and the metrics cover every example.
Cost: one embedding lookup per text; the predictions are those of ``saliency``'s forward pass when
it ran for the model, else one forward pass per batch.
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
# 4: texts without salience out of the top share and its baseline, the saliency page's sentences;
# 3: per-token rows for the run's sample; 2: special tokens out of the mean, word pieces joined
VERSION = 5  # 5: predictions read from saliency's forward pass when it ran
SAMPLED = True  # reads the run's detail sample (analyses.sampling): its size is in the cache key
TITLE = "Variance salience of embeddings"
HEADLINE = "top_token_share"
HEADLINE_LABEL = "top-word share of variance salience (e_ij - sentence mean)^2"
REFERENCE = "Li et al. 2016, Sec. 6"
BASELINES = {"top_token_share": "uniform_top_token_share"}
USES = ("saliency",)  # its heatmap examples and extra sentences, when it ran
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
    "Shaded sentences: darker words sit further from their sentence's mean embedding. Heatmaps: "
    "the saliency page's sentences, one row per word, one column per embedding dimension. "
    "Headline: the share of the sentence's total on its top word, beside the even share "
    "1/length, over texts of two or more distinct words."
)
TABLES = {
    "tokens": ["model", "example_id", "position", "token", "salience", "share", "flag", "pieces"],
    "dimensions": ["model", "example_id", "position", "token", "dimension", "salience"],
    "predictions": ["model", "example_id", "label", "predicted", "confidence"],
    "sentences": ["example_id", "text", "source"],
}


@dataclass(frozen=True)
class Params:
    heatmap_examples: int = 3  # when saliency did not run (else: its heatmap examples)
    token_view_examples: int = 12  # as saliency's

    def validate(self) -> list[str]:
        return [f"variance_salience.{n} must be >= 0"
                for n in ("heatmap_examples", "token_view_examples") if getattr(self, n) < 0]


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


def shown_sentences(ctx: RunContext, params: Params) -> tuple[list[int], pd.DataFrame]:
    """The heatmap examples and the extra sentences (example_id, text, source) of the saliency
    page for this model when saliency ran, else its rule's heatmap examples and none."""
    from reportgen.analyses.saliency import heatmap_example_ids

    model, none = ctx.model, pd.DataFrame(columns=TABLES["sentences"])
    upstream = ctx.upstream.get("saliency")
    fallback = heatmap_example_ids([ex.text for ex in ctx.examples], (), params.heatmap_examples)
    if upstream is None:
        return fallback, none
    dims, examples = upstream.tables["dimensions"], upstream.tables["examples"]
    extra = examples[examples["source"] != "data"][TABLES["sentences"]].reset_index(drop=True)
    if "model" in dims:
        dims = dims[dims["model"] == model.name]
    heat = sorted(int(i) for i in set(dims["example_id"]) if int(i) < len(ctx.examples))
    return (heat or fallback), extra


@torch.no_grad()
def compute(ctx: RunContext, params: Params) -> AnalysisResult:
    model = ctx.model
    n_data = len(ctx.examples)
    heat_data, extra = shown_sentences(ctx, params)
    texts = [ex.text for ex in ctx.examples] + extra["text"].astype(str).tolist()
    ids = [*range(n_data), *(int(i) for i in extra["example_id"])]  # example ids, as saliency's
    labels = [ex.label for ex in ctx.examples] + [None] * len(extra)
    heat = set(heat_data) | set(ids[n_data:])
    # per-token rows: the run's sample (analyses.sampling) and the sentences the page shows
    keep = kept_ids(ctx.detail_ids(), heat)
    word_frames, dim_frames, predictions, shares_parts = [], [], [], []
    known = _known_predictions(ctx)

    def one_batch(lo: int, hi: int) -> tuple:
        batch_dims, batch_predictions = [], []
        chunk, chunk_ids = texts[lo:hi], ids[lo:hi]
        batch = model.encode(chunk)
        emb = model.embed(batch.ids).float()
        sal = variance_salience(emb, word_mask(model, batch)).cpu().numpy()  # (B, T, E)
        # the predictions saliency's forward pass made, else a forward pass here
        found = [known.get(i) for i in chunk_ids] if known else [None]
        probs = (predict_proba(model, chunk, batch_size=len(chunk))
                 if model.is_classifier and None in found else None)
        per_token = [sal[b, : len(toks)].sum(-1) for b, toks in enumerate(batch.tokens)]  # (T,)
        words, _ = word_frame(model.name, chunk_ids, display_tokens(model, batch), per_token,
                              token_flags(model, batch), "salience")
        for b, toks in enumerate(batch.tokens):
            i = chunk_ids[b]
            if i in heat:
                t_, e = sal[b, : len(toks)].shape
                batch_dims.append(pd.DataFrame({
                    "model": model.name, "example_id": i, "position": np.repeat(np.arange(t_), e),
                    "token": np.repeat(np.array(toks, dtype=object), e),
                    "dimension": np.tile(np.arange(e), t_),
                    "salience": sal[b, : len(toks)].reshape(-1).astype(float)}))
            if probs is not None:
                batch_predictions.append((model.name, i, labels[lo + b],
                                          model.classes[int(probs[b].argmax())],
                                          float(probs[b].max())))
            elif model.is_classifier:
                batch_predictions.append((model.name, i, labels[lo + b], *found[b]))
        data_words = words[words["example_id"] < n_data]  # the extra sentences: in no metric
        return (words[words["example_id"].isin(keep)], batch_dims, batch_predictions,
                text_shares(data_words))

    gathered = ctx.map_batches(len(texts), one_batch, desc="variance_salience")
    for words, batch_dims, batch_predictions, batch_shares in gathered:
        word_frames.append(words)
        dim_frames += batch_dims
        predictions += batch_predictions
        shares_parts.append(batch_shares)
    tokens = (pd.concat(word_frames, ignore_index=True) if word_frames
              else pd.DataFrame(columns=TABLES["tokens"]))
    shares = shares_summary(pd.concat(shares_parts, ignore_index=True) if shares_parts
                            else text_shares(tokens))
    notes = []
    if (sampled := sampling_note(len(ctx.detail_ids()), n_data, ctx.seed,
                                 what="Per-token rows")):
        notes.append(sampled + " The heatmap examples are kept too. The top-token share covers "
                     "every example.")
    if shares.get("unscored_texts"):
        notes.append(f"{int(shares['unscored_texts']):,} texts have no variance salience (one "
                     "word, or only repeats of one word: each word is the sentence's mean): they "
                     "count in neither the top-word share nor its uniform baseline.")
    if model.training.get("vectors"):
        # no model name here: combine puts it before the note
        notes.append(f"Started from pretrained vectors ({model.training['vectors'].get('path')}), "
                     "fine-tuned in training: the paper defines this measure on embeddings learned "
                     "for the task, so read it as describing the vectors as much as the model.")
    metrics = {"examples": float(n_data), "top_token_share": shares["top_token_share"],
               "uniform_top_token_share": shares["uniform_top_token_share"]}
    if shares.get("unscored_texts"):
        metrics["unscored_texts"] = shares["unscored_texts"]
    return AnalysisResult(
        tables={"tokens": tokens,
                "dimensions": pd.concat(dim_frames, ignore_index=True) if dim_frames
                else pd.DataFrame(columns=TABLES["dimensions"]),
                "predictions": pd.DataFrame(predictions, columns=TABLES["predictions"]),
                "sentences": extra},
        metrics=metrics,
        notes=notes,
    )


def _known_predictions(ctx: RunContext) -> dict[int, tuple[str, float]]:
    """example id -> (predicted class, confidence) from ``saliency``'s forward pass, when it ran
    for this model (the same forward pass over the same texts: no second one is needed)."""
    upstream = ctx.upstream.get("saliency")
    if upstream is None or not ctx.model.is_classifier:
        return {}
    rows = upstream.tables["predictions"]
    rows = rows[rows["model"] == ctx.model.name]
    return {int(i): (str(p), float(c))
            for i, p, c in zip(rows["example_id"], rows["predicted"], rows["confidence"],
                               strict=True)}


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    merged = combine_per_model(results)
    for key in ("examples", "top_token_share", "uniform_top_token_share"):
        merged.metrics[key] = float(np.mean([r.metrics[key] for r in results.values()]))
    sentences = merged.tables["sentences"]
    merged.tables["sentences"] = (sentences.drop_duplicates("example_id")
                                  .sort_values("example_id", kind="stable")
                                  .reset_index(drop=True))
    return merged


def present(result: AnalysisResult, params: Params) -> Presentation:
    from reportgen.analyses.saliency_views import PAPER, heatmap, sentence_origins

    tokens, predictions = result.tables["tokens"], result.tables["predictions"]
    sentences = result.tables.get("sentences", pd.DataFrame(columns=TABLES["sentences"]))
    origins = sentence_origins(sentences)
    charts = [heatmap(int(i), frame.rename(columns={"salience": "saliency"}), predictions, 32,
                      measure="variance salience", colour="(e_ij - sentence mean)^2",
                      origin=origins.get(int(i), ""))
              for i, frame in result.tables["dimensions"].groupby("example_id", sort=True)]
    for chart in charts:
        chart.name = chart.name.replace("heatmap", "variance")
    if tokens.empty:
        return Presentation(charts=charts)
    yours = [int(i) for i in sentences.loc[sentences["source"] == "yours", "example_id"]]
    paper = [(int(i), PAPER) for i in sentences.loc[sentences["source"] == "paper", "example_id"]]
    kept = predictions[predictions["example_id"].isin(tokens["example_id"].unique())]  # the sample
    k = params.token_view_examples + len(yours) + len(paper)
    picked = (pick_examples(kept, k, yours, named=paper) if not kept.empty else
              [(int(i), "") for i in tokens["example_id"].drop_duplicates()[:k]])
    view = TokenView("tokens", "Variance salience of each word",
                     token_rows(tokens, predictions, picked, "salience")
                     if not predictions.empty else [],
                     "Darker: further from the sentence's mean embedding. Shown: the sentences "
                     "of the saliency page's token view (yours, Li et al.'s, disagreements, "
                     "confident errors, then confident right answers).")
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
    uses=USES,
    headline_label=HEADLINE_LABEL,
    reference=REFERENCE,
)
