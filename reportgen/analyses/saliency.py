"""saliency: which input tokens, and which of their embedding dimensions, move the class score?

Method (Li, Chen, Hovy and Jurafsky 2016, "Visualizing and understanding neural models in NLP",
section 5; first-derivative saliency after Simonyan et al. 2013): for the score S_c of class c
(the predicted class by default), the saliency of embedding entry e_tj of token t is
|dS_c / de_tj|, the first-order sensitivity of the score. A token's saliency is the L2 norm of its
gradient over the embedding dimensions (and over the characters of the word for character-spelled
models). Gradients are computed for a whole batch in one backward pass: the examples do not
interact in eval mode, so the gradient of the summed scores w.r.t. each example's embeddings is
that example's own gradient.

Word pieces (``reportgen.analyses.words``): where a model's tokenizer splits words into pieces
(``in ##vi ##gor ##ating``), the pieces are joined back into the word, whose saliency is the **sum**
of its pieces' saliencies; special tokens ([CLS], [SEP]) keep their own row, marked, but count in no
share, top-token share or word ranking. For every reference model each token is a word.

Outputs (tables):
- ``tokens``: one row per (model, example, word): the word, its saliency, share of the example's
  total over non-special words, a flag for unknown ("unk") and special tokens, and its number of
  pieces.
- ``pieces``: for models whose words are made of pieces or who add special tokens, one row per
  (model, example, token the model reads): the piece, the position of its word, its own saliency
  (the attribution ``faithfulness`` deletes by); empty for models whose tokens are the words.
- ``predictions``: one row per (model, example): gold label, predicted class and its probability,
  differentiated class, tokens cut off by the model's length limit.
- ``dimensions``: one row per (model, example, position, dimension) for the ``heatmap_examples``
  shortest-ish examples: |gradient| (Li et al.'s token x dimension heatmaps, models side by side).
- ``words``: per (model, word type): mean saliency, mean share and count, over the evaluated data
  (unknown and special tokens and one-word texts left out).
- ``examples``: the evaluated texts and labels, by ``example_id``, then the user's own sentences
  (``source`` "yours") and Li et al.'s (``source`` "paper"): unlabelled, shown but left out of
  every metric. With ``target = "label"`` their gradients are of the predicted class (a note
  says so).
- ``texts``: one row per (model, evaluated example): the top word's share, the number of counted
  words and the entropy of the shares (nats); the metrics are means over it.

Scale: ``tokens``, ``pieces`` and ``examples`` keep the run's seeded sample of examples
(``analyses.sampling``, 2,000 by default) plus the examples the page always shows; predictions,
``texts``, the word ranking and every metric cover all the examples, streamed batch by batch.
- ``decoding``: for sequence-to-sequence autoencoders (Li et al.'s output x input heatmaps), one row
  per (model, example, output position, input position): the saliency of each input token for the
  log-probability of the token reconstructed at each decoding step. The decoder is teacher-forced
  with the input embeddings shifted right, so input t-1 also reaches output t directly.
Metrics: ``examples``, ``top_token_share`` (mean share of the most salient word, over classifiers
and examples), per model ``<model>.top_token_share``, and for autoencoders
``<model>.diagonal_share`` (mean share of output step t's saliency that falls on input token t).
Baseline: a top-token share mostly reflects sentence length (a one-token text scores 1 by
definition), so each is shown beside ``uniform_top_token_share``, the share the most salient token
would have if saliency were spread evenly (the mean of 1/length, over the same texts: a text whose
words have no saliency at all counts in neither), and ``single_token_texts``.

Cost: one forward and one backward pass per batch and classifier (about 3x a plain evaluation; the
confidence comes from the same forward pass);
one backward pass per decoding step for autoencoders, so only ``decoding_examples`` texts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reportgen import distributed
from reportgen.analyses.base import RunContext, in_example_order, longest_first
from reportgen.analyses.examples import PAPER_SENTENCES, heatmap_example_ids, paper_sentences
from reportgen.analyses.gradient_pass import gradient_batch
from reportgen.analyses.saliency_batch import SaliencyParts
from reportgen.analyses.saliency_tables import (
    add_word_sums,
    decoding_table,
    diagonal_share,
    dimension_frame,
    word_table,
)
from reportgen.analyses.saliency_views import present
from reportgen.analyses.sampling import kept_ids, sampling_note
from reportgen.analyses.spec import AnalysisSpec, PlanFacts, combine_per_model
from reportgen.analyses.words import (
    merged_anything,
    shares_summary,
    text_shares,
    word_frame,
)
from reportgen.distributed import gather_batches
from reportgen.models.facts import class_index
from reportgen.models.tokens import display_tokens, full_lengths, token_flags
from reportgen.models.view import ModelView
from reportgen.records import AnalysisResult

NAME = "saliency"
# 7: target = "label" differentiates the predicted class of the unlabelled sentences (yours, Li
# et al.'s), texts with no saliency at all out of the top share and its baseline; 6: per-token
# rows for the run's sample, metrics streamed over every example; 5: word pieces joined into
# words, special tokens out of shares; 4: Li et al.'s sentences
# 8: the data's texts in batches of about the same length (float rounding of a text's values)
VERSION = 8
SAMPLED = True  # reads the run's detail sample (analyses.sampling): its size is in the cache key
TITLE = "First-derivative saliency"
HEADLINE = "top_token_share"
HEADLINE_LABEL = "top-token share of |dS/de| (first-derivative saliency)"
REFERENCE = "Li et al. 2016, Sec. 5"
BASELINES = {"top_token_share": "uniform_top_token_share"}
CITATION = (
    "Li, Chen, Hovy, Jurafsky (2016). Visualizing and Understanding Neural Models in NLP. NAACL. "
    "Section 5, first-derivative saliency."
)
METHOD = (
    "For each text, the score of the target class (by default the class the model predicts) is "
    "differentiated with respect to the input embeddings. The absolute value of that derivative, "
    "|dS/de|, says how much a small change in one embedding dimension of one token would move the "
    "score: a first-order Taylor view of the model around this input.\n\n"
    "A token's saliency is the L2 norm of its gradient over the embedding dimensions; a word that "
    "the tokenizer split into pieces gets the sum of its pieces' saliencies, and special tokens "
    "such as [CLS] and [SEP] are shown but left out of shares and rankings. Scores are "
    "local sensitivities, not contributions: a token can be salient while the model ignores its "
    "current value."
)
HOW_TO_READ = (
    "Shaded sentences: darker tokens move the class score most (1.0 = the most salient token "
    "of that sentence for that model; hover for the value). Heatmaps: one row per token, one "
    "column per embedding dimension; "
    "models side by side on the same sentence, as in Li et al.'s RNN / LSTM / BiLSTM comparison "
    "(wide embeddings: the most salient dimensions, as the caption says). Bar chart: the words "
    "that take the largest mean share of their sentence's saliency. Headline: the share of the "
    "most salient token, beside the uniform share 1/length it would have if saliency were even."
)

TABLES = {
    "tokens": ["model", "example_id", "position", "token", "saliency", "share", "flag", "pieces"],
    "pieces": ["model", "example_id", "position", "token", "word", "saliency"],
    "predictions": ["model", "example_id", "label", "predicted", "confidence", "target",
                    "truncated"],
    "dimensions": ["model", "example_id", "position", "token", "dimension", "saliency"],
    "words": ["model", "word", "mean_saliency", "mean_share", "count"],
    "examples": ["example_id", "text", "label", "source"],
    "decoding": ["model", "example_id", "output_position", "output_token", "input_position",
                 "input_token", "saliency"],
    "texts": ["model", "example_id", "top_share", "words", "entropy"],
}


@dataclass(frozen=True)
class Params:
    target: str = "predicted"  # predicted | label
    heatmap_examples: int = 3
    token_view_examples: int = 12
    min_word_count: int = 3
    top_words: int = 20
    decoding_examples: int = 24
    heatmap_dimensions: int = 32  # wider embeddings: the most salient dimensions, stated
    sentences: tuple[str, ...] = ()  # your own sentences, always shown (not in any metric)
    paper_sentences: bool = True  # also Li et al.'s three, where the model knows every word
    example_ids: tuple[int, ...] = ()  # evaluated examples you want shown first

    def validate(self) -> list[str]:
        problems = []
        if self.target not in ("predicted", "label"):
            problems.append(f"saliency.target must be 'predicted' or 'label', not {self.target!r}")
        for name in ("heatmap_examples", "token_view_examples", "min_word_count", "top_words",
                     "decoding_examples", "heatmap_dimensions"):
            if getattr(self, name) < 0:
                problems.append(f"saliency.{name} must be >= 0")
        if any(i < 0 for i in self.example_ids):
            problems.append("saliency.example_ids must be >= 0")
        if any(not isinstance(t, str) or not t.strip() for t in self.sentences):
            problems.append("saliency.sentences must be non-empty strings")
        return problems


def skip_reason(model: ModelView) -> str | None:
    if model.task not in ("classify", "autoencode"):
        return (f"{model.name} is a {model.task} model; saliency needs a classifier or a "
                "sequence-to-sequence autoencoder")
    return None


def compute(ctx: RunContext, params: Params) -> AnalysisResult:
    """Saliency of every evaluated example (and the user's sentences) for ``ctx.model``."""
    model = ctx.model
    texts = [ex.text for ex in ctx.examples]
    n_data = len(texts)
    bad_ids = [i for i in params.example_ids if i >= n_data]
    if bad_ids:
        raise ValueError(f"saliency.example_ids {bad_ids} are past the {n_data} evaluated examples")
    paper = paper_sentences(model) if params.paper_sentences else []
    yours = [*params.sentences, *paper]
    texts += yours
    labels = [ex.label for ex in ctx.examples] + [None] * len(yours)
    # ids: the data's, then your sentences', then Li et al.'s by their place in PAPER_SENTENCES,
    # so that a sentence has one id for every model, whichever of them its vocabulary covers
    first_paper = n_data + len(params.sentences)
    example_ids = [*range(first_paper),
                   *(first_paper + PAPER_SENTENCES.index(text) for text in paper)]
    empty = {name: pd.DataFrame(columns=cols) for name, cols in TABLES.items()}
    examples = pd.DataFrame({
        "example_id": example_ids, "text": texts, "label": labels,
        "source": ["data"] * n_data + ["yours"] * len(params.sentences) + ["paper"] * len(paper)})
    note = (f"Gradients of the {params.target} class score; token saliency = L2 norm over "
            "dimensions.")
    if params.target == "label" and yours:
        note += (" Your own sentences and Li et al.'s have no label: their gradients are of the "
                 "class the model predicts.")
    if model.task == "autoencode":
        frame = decoding_table(model, texts[: params.decoding_examples], ctx.batch_size,
                                TABLES["decoding"])
        keep = kept_ids(ctx.detail_ids(), [*range(params.decoding_examples),
                                           *example_ids[n_data:]])
        return AnalysisResult(
            tables={**empty,
                    "examples": examples[examples["example_id"].isin(keep)].reset_index(drop=True),
                    "decoding": frame},
            metrics={"examples": float(n_data), "diagonal_share": diagonal_share(frame)},
            notes=[note],
        )
    heat_ids = set(_heatmap_examples(ctx, params)) | set(example_ids[n_data:])
    # per-token rows are kept for the run's sample and the examples a page always shows; the
    # metrics and the word ranking stream over every example (analyses.sampling)
    keep = kept_ids(ctx.detail_ids(), [*heat_ids, *params.example_ids])
    label_idx = class_index(model, labels) if params.target == "label" else None
    lengths = full_lengths(model, texts)
    word_totals: dict[tuple[str, str], list[int]] = {}  # this rank's word ranking sums (exact)

    def one_batch(positions: list[int]) -> SaliencyParts:
        chunk = [texts[p] for p in positions]
        data_only = positions[-1] < n_data  # batches never mix the data's texts and the others
        targets = None
        if label_idx is not None:
            targets = [int(label_idx[p]) for p in positions]
            # an evaluated text without a label cannot be differentiated by its label (the plan
            # refuses such data); the unlabelled sentences after them take their predicted class
            if data_only and min(targets, default=0) < 0:
                raise ValueError("target='label' needs labelled data (use target='predicted')")
        # the predicted class's pass also gives later analyses theirs (analyses.gradient_pass):
        # the location scores and gradient x input of the batches of data texts
        shared = ctx.gradients if targets is None and data_only else None
        share = shared is not None and shared.wanted(model.name)
        out = gradient_batch(model, chunk, targets,
                             shared.layers.get(model.name, []) if share else ())
        if share:
            shared.put(model.name, ctx.batch_size, positions, out)
        tokens, mats, vecs, predicted = out.tokens, out.mats, out.vecs, out.predicted
        batch = out.batch
        confidence = out.probs.max(1)  # (B,)
        ids = [example_ids[p] for p in positions]
        words, owners = word_frame(model.name, ids, display_tokens(model, batch), vecs,
                                   token_flags(model, batch), "saliency")
        predictions_df = pd.DataFrame({
            "model": model.name, "example_id": ids, "label": [labels[p] for p in positions],
            "predicted": [model.classes[int(p)] for p in predicted],
            "confidence": confidence.astype(float),
            "target": [model.classes[int(t if t >= 0 else p)] for t, p in
                       zip(predicted if targets is None else targets, predicted, strict=True)],
            "truncated": [max(0, lengths[p] - len(t))
                          for p, t in zip(positions, tokens, strict=True)],
        })
        data_words = words[words["example_id"] < n_data]
        add_word_sums(word_totals, data_words)
        pieces_part = _piece_frame(model.name, ids, tokens, vecs, owners)
        return SaliencyParts(
            tokens=words[words["example_id"].isin(keep)],
            pieces=pieces_part[pieces_part["example_id"].isin(keep)],
            predictions=predictions_df,
            texts=text_shares(data_words),
            merged=merged_anything(words),
            dimensions=[dimension_frame(model.name, i, toks, mat)
                        for i, toks, mat in zip(ids, tokens, mats, strict=True) if i in heat_ids])

    # the data's texts in batches of about the same length (``longest_first``), your sentences and
    # Li et al.'s in batches of their own; the tables are put back in the texts' order at the end
    gathered = ctx.map_in_order(longest_first(lengths[:n_data]), one_batch, desc="saliency")
    if len(texts) > n_data:
        gathered += ctx.map_in_order(range(n_data, len(texts)), one_batch, desc="saliency")
    rank = {example_id: place for place, example_id in enumerate(example_ids)}
    token_frames = [g.tokens for g in gathered]
    tokens_df = (in_example_order(pd.concat(token_frames, ignore_index=True), rank)
                 if token_frames else empty["tokens"])
    predictions = in_example_order(pd.concat([g.predictions for g in gathered],
                                             ignore_index=True), rank)
    per_text = in_example_order(pd.concat([g.texts for g in gathered], ignore_index=True), rank)
    dim_frames = sorted((d for g in gathered for d in g.dimensions),
                        key=lambda d: rank[int(d["example_id"].iloc[0])])
    notes = [note]
    if (sampled := sampling_note(len(ctx.detail_ids()), n_data, ctx.seed,
                                 what="Per-token rows and texts")):
        notes.append(sampled + " The heatmap examples and your own ids are kept too. The top-token "
                     "share, its spread and the word ranking cover every example.")
    pieces = empty["pieces"]
    if any(g.merged for g in gathered):  # the words differ from the tokens the model reads
        pieces = in_example_order(pd.concat([g.pieces for g in gathered], ignore_index=True), rank)
        joined = int((tokens_df["pieces"] > 1).sum())
        notes.append(
            "Word pieces are joined back into words: a word's saliency is the sum of its pieces' "
            f"saliencies ({joined:,} word occurrences had more than one piece in the rows kept). "
            "Special tokens ([CLS], [SEP], <s>...) are shown, marked, but left out of shares, the "
            "top-token share and the word ranking; per-piece saliency is in the pieces table.")
    examples = examples[examples["example_id"].isin(keep)].reset_index(drop=True)
    return AnalysisResult(
        tables={**empty, "tokens": tokens_df, "pieces": pieces,
                "predictions": predictions[TABLES["predictions"]],
                "dimensions": (pd.concat(dim_frames, ignore_index=True) if dim_frames
                               else empty["dimensions"]),
                "words": word_table(gather_batches({distributed.rank(): word_totals}),
                                     params.min_word_count, TABLES["words"]),
                "examples": examples,
                "texts": _texts_table(per_text)},
        metrics={"examples": float(n_data), **shares_summary(per_text)},
        notes=notes,
    )


def _texts_table(per_text: pd.DataFrame) -> pd.DataFrame:
    """``words.text_shares`` under the ``texts`` table's column names."""
    renamed = per_text.rename(columns={"top": "top_share", "n": "words", "h": "entropy"})
    return renamed[TABLES["texts"]]


def _piece_frame(model: str, ids: list[int], tokens: list[list[str]], vecs: list[np.ndarray],
                 owners: list[np.ndarray]) -> pd.DataFrame:
    """Tokens of one batch as the model reads them: piece, its word's position, its saliency."""
    return pd.DataFrame({
        "model": model,
        "example_id": np.repeat(ids, [len(t) for t in tokens]).astype(np.int64),
        "position": (np.concatenate([np.arange(len(t)) for t in tokens]).astype(np.int64)
                     if tokens else []),
        "token": [tok for toks in tokens for tok in toks],
        "word": np.concatenate(owners).astype(np.int64) if owners else [],
        "saliency": np.concatenate(vecs).astype(float) if vecs else [],
    })[TABLES["pieces"]]


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    """Per-model results -> one: tables stacked in model order, ``<model>.<metric>`` per model, and
    overall means over every (classifier, example); the examples of every model once (Li et al.'s
    sentences are those each model's vocabulary covers); notes as ``combine_per_model`` gives
    them (one every model has, once and plain; the others after their model's name)."""
    def stack(table: str) -> pd.DataFrame:
        frames = [r.tables[table] for r in results.values() if not r.tables[table].empty]
        return (pd.concat(frames, ignore_index=True) if frames
                else pd.DataFrame(columns=TABLES[table]))

    first = next(iter(results.values()))
    tables = {t: stack(t) for t in TABLES}
    tables["examples"] = (tables["examples"].drop_duplicates("example_id")
                          .sort_values("example_id", kind="stable").reset_index(drop=True))
    data = tables["examples"]
    metrics: dict[str, float] = {
        "examples": first.metrics.get("examples", float((data["source"] == "data").sum()))}
    for name, r in results.items():
        metrics.update({f"{name}.{k}": v for k, v in r.metrics.items() if k != "examples"})
    per_text = tables["texts"]  # per (model, example), in model then example order, as computed
    if not per_text.empty:
        summary = shares_summary(per_text.rename(
            columns={"top_share": "top", "words": "n", "entropy": "h"}))
        metrics["top_token_share"] = summary["top_token_share"]
        metrics["uniform_top_token_share"] = summary["uniform_top_token_share"]
    # notes only: combine_per_model's rule, without stacking the tables a second time
    notes = combine_per_model({n: AnalysisResult(tables={}, metrics={}, notes=r.notes)
                               for n, r in results.items()}).notes
    return AnalysisResult(tables=tables, metrics=metrics, notes=notes)


def _heatmap_examples(ctx: RunContext, params: Params) -> list[int]:
    """The user's example ids, then the first examples of 4 to 14 words
    (``heatmap_example_ids``)."""
    return heatmap_example_ids([ex.text for ex in ctx.examples], params.example_ids,
                               params.heatmap_examples)


def check_plan(params: Params, facts: PlanFacts) -> list[str]:
    """Settings that cannot work on this run's data (found before any compute)."""
    problems = []
    past = [i for i in params.example_ids if i >= facts.examples]
    if past:
        problems.append(f"saliency.example_ids {past} are past the {facts.examples} evaluated "
                        f"examples (valid: 0 to {facts.examples - 1})")
    if params.target == "label" and facts.labelled < facts.examples:
        problems.append(f"saliency.target = 'label' needs every evaluated example labelled "
                        f"({facts.labelled} of {facts.examples} are); use target = 'predicted'")
    return problems


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
    check_plan=check_plan,
    combine=combine,
    sampled=True,
    baselines=BASELINES,
    headline_label=HEADLINE_LABEL,
    reference=REFERENCE,
)
