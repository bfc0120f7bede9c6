"""faithfulness: which token attribution does the model actually rely on?

Method (beyond Li et al. 2016; DeYoung et al. 2020, "ERASER: a benchmark to evaluate rationalized
NLP models", comprehensiveness and sufficiency). Every token attribution the run can make is
tested the same way, per model:

- ``saliency``: first-derivative saliency, the L2 norm over embedding dimensions of a token's
  gradient |dS/de| (Li et al. 2016; read from the ``saliency`` analysis, which this one needs; per
  word piece, as the model reads the text);
- ``gradient_x_input``: dS/de * e summed over embedding dimensions, from the run's one gradient
  pass (``analyses.gradient_pass``: ``saliency``'s backward gives it, as Captum's
  ``InputXGradient`` would), computed here only for texts that pass did not cover;
- ``integrated_gradients`` (Sundararajan et al. 2017, 20 steps from the padding embedding):
  Captum's method, batched, summed over embedding dimensions (both signed: tokens are ranked by
  their contribution *to* the predicted class); for a model whose first layers are convolutions
  over the embeddings, those run once per batch, not per step (``analyses.integrated_gradients``);
- ``variance_salience`` (Li et al. 2016, Section 6), for word embeddings;
- ``hidden_fields``: the receptive fields of the top hidden locations (Yuan et al. 2019), when
  ``hidden_saliency`` ran for the model: a token scores the highest location score among the
  locations whose field covers it, so the top location's field comes first, then the next's;
- ``random``: a seeded random order, the baseline every method must beat: each text's score is
  the mean over ``RANDOM_ORDERS`` (5) seeded permutations of its tokens.

For each text and each k in 1, 5, 10, 20, 50% of its tokens (at least one token), the top-k
tokens by an attribution are deleted (comprehensiveness: p(y|x) - p(y|x without them); high =
faithful) or kept alone (sufficiency: p(y|x) - p(y|them alone); low = faithful), y the predicted
class; AOPC = the mean over the five k. The curves average p(y) after deleting (deletion) and after
keeping (insertion) the top-k tokens. Special tokens ([CLS], [SEP]) are never removed. Every mean
over texts has a 95% bootstrap interval (``BOOTSTRAP`` resamples of the texts, seeded by the run's
seed, the same resamples for every method).

Headline, per model: the model's best attribution by comprehensiveness (``random`` aside), its
name in the metric's label ("comprehensiveness of integrated gradients"), beside random's, both
with their intervals: the page says whether it is above, below or not distinguishable from random.
No number is pooled over models.

Outputs (tables): ``scores`` (per model, method: comprehensiveness, sufficiency, their spread over
texts and 95% intervals), ``curves`` (per model, method, curve, k: mean probability), ``texts``
(per model, method, text: both AOPCs). Metrics, per model: ``comprehensiveness`` and
``sufficiency`` (of the best method) with ``_ci_low`` / ``_ci_high``, ``random_comprehensiveness``
and ``random_sufficiency`` with theirs, and ``<method>_comprehensiveness`` / ``_sufficiency`` (and
intervals) per method.
Scale: runs on the run's seeded sample of examples (``analyses.sampling``; 2,000 by default,
every text of a smaller run), whose per-token saliency ``saliency`` keeps.
Cost: per batch, integrated gradients (20 forward and backward passes; of the layers above the
first convolutions only, where those are proven linear along the path) and up to 2 x 5 forward
passes per method and random order on edited texts (an edit that several fractions or methods
share, such as the one token of 1%, 5% and 10% of a short text, runs once: an edit is the set of
positions it deletes or keeps). Batches hold texts of about the same length (longest first), so
little of that work goes to padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from reportgen.analyses.base import RunContext
from reportgen.analyses.faithfulness_edits import edited_probabilities
from reportgen.analyses.faithfulness_scores import SCORE_COLUMNS, headline_metrics, score_table
from reportgen.analyses.faithfulness_views import METHODS, present
from reportgen.analyses.sampling import sampling_note
from reportgen.analyses.spec import AnalysisSpec, combine_per_model
from reportgen.models.tokens import token_flags
from reportgen.models.view import ModelView
from reportgen.records import AnalysisResult

NAME = "faithfulness"
# 7: the headline is each model's best method, with bootstrap intervals; random = the mean of 5
# orders; 6: batches of similar length, tables in example order; 4: a random order seeded per
# text; 3: pad ids, user specials; 2: variance salience without special tokens in the mean
# 8: integrated gradients in chunks under IG_PASS_BYTES; edits sorted by length
# 9: gradient x input from the run's one gradient pass (analyses.gradient_pass)
VERSION = 10  # 10: first convolutions as lookups for edits, once per batch for integrated gradients
SAMPLED = True  # reads the run's detail sample (analyses.sampling): its size is in the cache key
TITLE = "Faithfulness of token attributions"
HEADLINE = "comprehensiveness"
HEADLINE_LABEL = "comprehensiveness (AOPC) of the model's best attribution"
REFERENCE = "DeYoung et al. 2020 (ERASER), Sec. 4.2"
BASELINES = {"comprehensiveness": "random_comprehensiveness", "sufficiency": "random_sufficiency"}
NEEDS = ("saliency",)
USES = ("hidden_saliency",)  # its top receptive fields become one more attribution when it ran
CITATION = (
    "DeYoung, Jain, Rajani, Lehman, Xiong, Socher, Wallace (2020). ERASER: A Benchmark to "
    "Evaluate Rationalized NLP Models. ACL; Sundararajan, Taly, Yan (2017). Axiomatic Attribution "
    "for Deep Networks. ICML; attributions from Captum (Kokhlikyan et al. 2020)."
)
METHOD = (
    "An attribution is faithful when the model really depends on the tokens it points at. For "
    "every text, the tokens an attribution ranks highest (1, 5, 10, 20 and 50% of them) are "
    "deleted, and the drop in the probability of the predicted class is measured "
    "(comprehensiveness: higher is better); they are also kept alone, and the drop measured again "
    "(sufficiency: lower is better). Each is averaged over the five fractions (AOPC) and "
    "compared with a random order of "
    "the tokens (the mean of several random orders per text). Each model's headline is its best "
    "attribution by comprehensiveness, named, with a 95% bootstrap interval over the texts."
)
HOW_TO_READ = (
    "Bars: comprehensiveness of each attribution per model, with its 95% interval; the grey one is "
    "random. An attribution is worth trusting for a model when its interval clears random's there; "
    "the headline says \"not distinguishable from random\" when the intervals overlap. Curves: the "
    "probability of the predicted class as the top tokens are deleted (solid, circles; falling "
    "fast = faithful) or kept alone (dashed, triangles; rising fast = faithful)."
)
TABLES = {
    "scores": SCORE_COLUMNS,
    "curves": ["model", "method", "curve", "fraction", "probability"],
    "texts": ["model", "method", "example_id", "comprehensiveness", "sufficiency"],
}
FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.50)
RANDOM_ORDERS = 5  # seeded permutations per text; random's score is their mean
PROBE_TEXTS = 8  # the longest texts whose saliency pass sizes the integrated-gradients chunks
BOOTSTRAP = 1000  # resamples of the texts for every 95% interval
# the most memory one integrated-gradients pass may plan to use (a Transformer's 20 steps x 64
# texts took 12 GB in one pass); a batch whose steps need more runs them in chunks
IG_PASS_BYTES = 512 * 2**20


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
    # sequences one integrated-gradients pass runs at once, sized on the longest texts
    ig_chunk = _ig_chunk(model, [texts[int(i)] for i in ids[:PROBE_TEXTS]],
                         min(ctx.batch_size, len(ids)), params.ig_steps)

    def one_batch(lo: int, hi: int) -> tuple[list[tuple], dict[tuple[str, str, float], list],
                                             int, int]:
        batch_ids = [int(i) for i in ids[lo:hi]]  # example ids
        batch = model.encode([texts[i] for i in batch_ids])
        n = [len(t) for t in batch.tokens]
        special = [[f == "special" for f in row] for row in token_flags(model, batch)]
        with torch.no_grad():
            base = torch.softmax(
                model.forward_from_embeddings(model.embed(batch.ids), batch.mask).float(), -1)
        target = base.argmax(-1)  # (B,)
        p0 = base.gather(1, target[:, None])[:, 0].cpu().numpy()  # (B,)
        shared = (ctx.gradients.get(model.name, ctx.batch_size, batch_ids, gxi=True)
                  if ctx.gradients is not None else None)
        scores = _attributions(model, batch, target, params, ig_chunk,
                               gxi=[r.gxi for r in shared] if shared else None)
        reused = len(batch_ids) if shared else 0
        scores["saliency"] = [by_text.get(i, np.zeros(k))[:k]
                              for i, k in zip(batch_ids, n, strict=True)]
        if fields is not None:
            scores["hidden_fields"] = [_fit(fields.get(i), k)
                                       for i, k in zip(batch_ids, n, strict=True)]
        orders = {m: [scores[m]] for m in METHODS if m in scores}  # method -> orders -> per text
        # seeded orders per text, the same however the batches are split; random's score is
        # their mean
        orders["random"] = [[np.random.default_rng([ctx.seed, i, r]).random(k)
                             for i, k in zip(batch_ids, n, strict=True)]
                            for r in range(RANDOM_ORDERS)]
        # every edit once: at 1%, 5% and 10% a short text loses the same one token, and two
        # methods often pick the same tokens
        ranked = {(m, r, b): _ranked(order[b], special[b])  # each text's tokens sorted once
                  for m, by_order in orders.items() for r, order in enumerate(by_order)
                  for b in range(len(n))}
        # an edit is the SET of positions deleted or kept: methods that rank the same top
        # tokens in another order share it
        tops = {(m, r, f, b): tuple(sorted(ranked[(m, r, b)][: _k(frac, len(ranked[(m, r, b)]))]))
                for m, by_order in orders.items() for r in range(len(by_order))
                for f, frac in enumerate(FRACTIONS) for b in range(len(n))}
        edits = list(dict.fromkeys((b, top, keep) for (_, _, _, b), top in tops.items()
                                   for keep in (False, True)))
        p = edited_probabilities(model, batch, edits, target, special)
        prob = dict(zip(edits, p.tolist(), strict=True))
        rows: list[tuple] = []
        curves: dict[tuple[str, str, float], list] = {}
        for method, by_order in orders.items():
            deleted = np.zeros((len(by_order), len(n), len(FRACTIONS)))  # (R, B, F)
            kept = np.zeros_like(deleted)
            for r in range(len(by_order)):
                for f in range(len(FRACTIONS)):
                    for b in range(len(n)):
                        top = tops[(method, r, f, b)]
                        deleted[r, b, f] = prob[(b, top, False)]
                        kept[r, b, f] = prob[(b, top, True)]
            deleted, kept = deleted.mean(0), kept.mean(0)  # (B, F): the mean over the orders
            comp, suff = p0[:, None] - deleted, p0[:, None] - kept  # (B, F)
            for f, frac in enumerate(FRACTIONS):
                curves.setdefault((method, "deletion", frac), []).extend(
                    zip(batch_ids, deleted[:, f].tolist()))
                curves.setdefault((method, "insertion", frac), []).extend(
                    zip(batch_ids, kept[:, f].tolist()))
            rows += [(model.name, method, i, float(comp[b].mean()), float(suff[b].mean()))
                     for b, i in enumerate(batch_ids)]
        return rows, curves, len(edits), reused

    rows, curves, edited, reused = [], {}, 0, 0
    for batch_rows, batch_curves, n_edits, n_reused in ctx.map_batches(len(ids), one_batch,
                                                                       desc="faithfulness"):
        rows += batch_rows
        edited += n_edits
        reused += n_reused
        for key, values in batch_curves.items():
            curves.setdefault(key, []).extend(values)
    rank = {m: r for r, m in enumerate(METHODS)}
    rows.sort(key=lambda row: (rank[row[1]], row[2]))  # by method, then example, however batched
    # example order
    curves = {key: [v for _, v in sorted(values)] for key, values in curves.items()}
    texts_df = pd.DataFrame(rows, columns=TABLES["texts"])
    scores_df = score_table(texts_df, BOOTSTRAP, ctx.seed)
    curve_df = pd.DataFrame([(model.name, m, c, f, float(np.mean(v)))
                             for (m, c, f), v in curves.items()], columns=TABLES["curves"])
    metrics, labels = headline_metrics(scores_df)
    metrics = {"examples": float(len(ids)), **metrics}
    sampled = sampling_note(len(ids), len(texts), ctx.seed, what="Texts edited and scored")
    notes = [(f"Random: the mean of {RANDOM_ORDERS} seeded orders of each text's tokens. "
              f"Intervals: 95% bootstrap ({BOOTSTRAP:,} resamples of the texts, the same "
              "for every method).")]
    notes.append(f"Cost for {model.name}: {edited:,} edited texts re-scored (a forward pass each) "
                 f"and {len(ids) * params.ig_steps:,} integrated-gradients inputs ({len(ids):,} "
                 f"texts x {params.ig_steps} steps, a forward and a backward pass each). "
                 f"Gradient x input: {reused:,} of {len(ids):,} texts read from the run's one "
                 "gradient pass (saliency's backward), the rest one forward and backward pass "
                 "each.")
    return AnalysisResult(tables={"scores": scores_df, "curves": curve_df, "texts": texts_df},
                          metrics=metrics, notes=notes + ([sampled] if sampled else []),
                          labels=labels)


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
    return {int(i): g.sort_values("position")["saliency"].to_numpy()
            for i, g in rows.groupby("example_id")}


def _ig_chunk(model: ModelView, longest: list[str], batch_size: int, steps: int) -> int:
    """Sequences per integrated-gradients pass: all ``batch_size`` x ``steps`` at once when the
    saliency pass's memory per text (``batching.bytes_per_text``, on the ``longest`` texts) says
    they fit in ``IG_PASS_BYTES``, else as many as fit, never fewer than the batch's texts
    (Captum's smallest chunk; one batch fits, the batch size was chosen for it). Cost: one
    forward and backward pass over ``longest``."""
    from reportgen.batching import bytes_per_text

    whole = max(1, batch_size * steps)
    if not longest:
        return whole
    try:
        per_text = bytes_per_text(model, longest)
    except Exception:  # noqa: BLE001 - no estimate: one pass, as before
        return whole
    return int(min(whole, max(batch_size, IG_PASS_BYTES // max(per_text, 1.0))))


def _attributions(model: ModelView, batch, target: torch.Tensor, params: Params,
                  ig_chunk: int | None = None, gxi: list[np.ndarray] | None = None
                  ) -> dict[str, list]:
    """Gradient x input (``gxi`` when the run's shared gradient pass gave it, else one pass here:
    ``gradient_pass.gradient_batch``, Captum's ``InputXGradient`` in one backward with saliency),
    Captum's integrated gradients (``ig_chunk`` sequences per pass; all of them by default) and
    variance salience, per token."""
    from reportgen.analyses.gradient_pass import batch_gradients
    from reportgen.analyses.integrated_gradients import integrated_gradients
    from reportgen.analyses.variance_salience import skip_reason as vs_skip
    from reportgen.analyses.variance_salience import variance_salience, word_mask

    n = [len(t) for t in batch.tokens]
    emb = model.embed(batch.ids).detach()  # (B, T, E) or (B, T, C, E)

    out = {}
    if gxi is None:
        gxi = batch_gradients(model, batch, target.tolist()).gxi
    out["gradient_x_input"] = [g[: n[b]] for b, g in enumerate(gxi)]
    ig = integrated_gradients(model, emb, batch.mask, target, params.ig_steps,
                              ig_chunk or emb.size(0) * params.ig_steps)
    per_token = ig.detach().float().flatten(2).sum(-1).cpu().numpy()  # (B, T): signed
    out["integrated_gradients"] = [per_token[b, : n[b]] for b in range(len(n))]
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


def _ranked(scores: np.ndarray, special: list[bool]) -> tuple[int, ...]:
    """A text's non-special token positions, highest score first (ties: earlier first)."""
    candidates = [i for i in range(len(scores)) if not special[i]]
    return tuple(sorted(candidates, key=lambda i: (-scores[i], i)))


def _k(frac: float, candidates: int) -> int:
    """How many tokens ``frac`` of a text's ``candidates`` is: at least one."""
    return max(1, math.ceil(frac * candidates))


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    """Per-model results -> one: tables stacked, metrics and labels ``<model>.``-prefixed. No
    metric is pooled over models: each model's headline is its own best method."""
    merged = combine_per_model(results)
    merged.metrics["examples"] = float(max(r.metrics["examples"] for r in results.values()))
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
    memory_setting="--detail-examples or --batch-size",
    uses=USES,
    sampled=True,
    baselines=BASELINES,
    headline_label=HEADLINE_LABEL,
    reference=REFERENCE,
)
