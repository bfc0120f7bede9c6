"""filter_top_words: what does every convolutional filter detect, and which ones can be read?

Method (the lm_1b character-CNN filter study; Jozefowicz et al. 2016's word encoder). For a
character-CNN word encoder: every word of the vocabulary (and of the evaluated texts) is spelled and
run through the convolutions in one batched pass; a filter's activation on a word is its
max-pooled ReLU output over the word's character windows, so it *fires* on the word when that is
above zero. Per filter: the top words, the share of words it fires on (the blog: mostly 10-20%,
narrower filters more selective), and whether it is dead (no effective weight exceeds the magnitude
of its negative bias, so no input can make it fire, as the blog's filters 1-17; for wider filters:
the best character at every position together cannot beat the bias). The effective
weight of character c at window position j is the character's embedding dotted with the filter's
weights at j; cells no word can produce (the begin-of-word marker past position 0, the end-of-word
marker at position 0, padding) are left out.

For word-level CNNs (Kim's, Yuan's, dilated): every filter of every conv layer, its top n-grams
over the evaluated texts (the receptive-field windows of its strongest locations, with their
source texts), its firing share over locations, dead filters (first layer: the largest possible
activation over vocabulary words, position by position, cannot beat the bias; deeper layers: never
fired on the data) and, for first layers, its top vocabulary words per window position.

Beyond the blog, a pattern finder (``reportgen.analyses.patterns``) tests each filter against
simple word features (case, digits, years, hyphens, prefixes, suffixes, characters) and class
labels, and ranks filters by how well their best feature explains their activation. The page opens
with the most interpretable filters; every filter is in a searchable, paged explorer.

Outputs (tables): ``filters`` (one row per filter), ``top_words`` (per filter and rank),
``patterns`` (each filter's top features), ``weights`` (effective weights of the shown filters).
Metrics: ``filters``, ``dead_filters``, ``median_activation_frequency``, ``words`` (or
``locations``). Cost: one forward pass of the convolutions over the words (chars) or texts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from reportgen import distributed
from reportgen.analyses.base import RunContext, longest_first
from reportgen.analyses.filter_chars import (
    cannot_fire,
    char_activations,
    char_effective_weights,
    char_weight_cells,
)
from reportgen.analyses.filter_top_words_views import present
from reportgen.analyses.filter_windows import (
    merge_windows,
    strongest_rows,
    tie_safe,
    valid_locations,
    window_tokens,
)
from reportgen.analyses.patterns import best_patterns, class_features, word_features
from reportgen.analyses.spec import AnalysisSpec, combine_per_model
from reportgen.distributed import gather_batches
from reportgen.models.conv import ConvLayer, conv1d_weight, conv_layers, location_span
from reportgen.models.hooks import capture, to_btc
from reportgen.models.tokens import vocabulary_vectors
from reportgen.models.view import ModelView, NotApplicable
from reportgen.records import AnalysisResult

NAME = "filter_top_words"
VERSION = 3  # 3: batches of texts of about the same length (float rounding of window values)
TITLE = "What each convolutional filter detects"
HEADLINE = "median_activation_frequency"
CITATION = (
    "Jozefowicz, Vinyals, Schuster, Shazeer, Wu (2016). Exploring the Limits of Language Modeling "
    "(lm_1b), and the blog study of its character-CNN filters; Kim (2014) for word-level CNNs."
)
METHOD = (
    "Every filter is run over every word of the vocabulary (character CNNs) or every window of the "
    "evaluated texts (word CNNs). Its top words or n-grams are those with the highest activation; "
    "it fires where its ReLU output is above zero, and its firing share is how often that happens. "
    "A filter is dead when its weights cannot overcome its bias on any input.\n\n"
    "The pattern finder correlates each filter's activation (Spearman, over all words or texts) "
    "with simple features: capital letters, digits, years, hyphens, prefixes, suffixes, single "
    "characters, and how often a word occurs in each class. The best feature and its correlation "
    "say what the filter detects and how clearly."
)
HOW_TO_READ = (
    "First: the most interpretable filters, their best feature and its rank correlation (1 = the "
    "feature orders the words exactly as the filter does). Box plots: the share of words each "
    "filter fires on, by width or layer. Heatmaps: effective weights of those filters per window "
    "position and character or word. Explorer: every filter; search by filter id, word or pattern."
)

TABLES = {
    "filters": ["model", "layer", "width", "filter", "firing_share", "dead", "never_fired",
                "max_activation", "best_pattern", "pattern_strength", "interpretability_rank",
                "top_words"],
    "top_words": ["model", "layer", "filter", "rank", "word", "activation", "example_id"],
    "patterns": ["model", "layer", "filter", "pattern", "strength"],
    "weights": ["model", "layer", "filter", "position", "token", "weight"],
}


@dataclass(frozen=True)
class Params:
    top_words: int = 10
    max_words: int = 50_000  # character CNNs: words analysed (vocabulary first, then the data's)
    shown_filters: int = 8  # interpretable filters whose effective weights are shown
    weight_tokens: int = 12  # word CNNs: vocabulary words per position in the weights table
    chunk: int = 4096  # words (or texts x 64) per forward pass

    def validate(self) -> list[str]:
        return [f"filter_top_words.{n} must be >= 1" for n in
                ("top_words", "max_words", "shown_filters", "weight_tokens", "chunk")
                if getattr(self, n) < 1]


def skip_reason(model: ModelView) -> str | None:
    try:
        conv_layers(model)
    except NotApplicable as why:
        return str(why)
    return None


def compute(ctx: RunContext, params: Params) -> AnalysisResult:
    layers = conv_layers(ctx.model)
    if layers[0].axis == "chars":
        return _char_filters(ctx, params, layers)
    return _word_filters(ctx, params, layers)


# -- character CNNs: filters over the characters of every word ------------------------------------
def analysed_words(ctx: RunContext, limit: int) -> list[str]:
    enc = ctx.model.text_encoder()
    vocab = list(enc.vocab.itos[2:]) if enc.vocab else []
    seen = dict.fromkeys(vocab)
    for ex in ctx.examples:
        for t in enc.tokens(ex.text):
            seen.setdefault(t)
    return list(seen)[:limit]


def _char_filters(ctx: RunContext, params: Params, layers: list[ConvLayer]) -> AnalysisResult:
    model = ctx.model
    words = analysed_words(ctx, params.max_words)
    acts = char_activations(model, layers, words, params.chunk)  # layer -> (W, n_k)
    enc = model.text_encoder()
    features = word_features(words, cased=not enc.lowercase)
    texts = [enc.tokens(ex.text) for ex in ctx.examples]
    features = pd.concat([features, class_features(words, texts, [ex.label for ex in ctx.examples],
                                                   model.classes)], axis=1)
    rows, top_rows, pattern_rows = [], [], []
    weights = {layer.name: char_effective_weights(model, layer) for layer in layers}
    all_acts = np.concatenate([acts[layer.name] for layer in layers], 1)  # (W, F)
    best, strength, tops = best_patterns(all_acts, features)
    names = list(features.columns)
    offset = 0
    for layer in layers:
        a = acts[layer.name]
        eff, bias = weights[layer.name]
        for f in range(a.shape[1]):
            u = offset + f
            order = np.argsort(-a[:, f], kind="stable")[: params.top_words]
            fired = a[:, f] > 0
            rows.append([model.name, layer.name, layer.field.size, f, float(fired.mean()),
                         cannot_fire(eff[f], float(bias[f])), bool(not fired.any()),
                         float(a[:, f].max()), names[best[u]] if best[u] >= 0 else "",
                         float(strength[u]), 0, ", ".join(words[i] for i in order[:5])])
            top_rows += [[model.name, layer.name, f, r + 1, words[i], float(a[i, f]), -1]
                         for r, i in enumerate(order)]
            pattern_rows += [[model.name, layer.name, f, p, s] for p, s in tops[u]]
        offset += a.shape[1]
    filters = _rank(pd.DataFrame(rows, columns=TABLES["filters"]))
    shown = filters.nsmallest(params.shown_filters, "interpretability_rank")
    weight_rows = [[model.name, r.layer, int(r.filter), j, token, float(w)]
                   for r in shown.itertuples()
                   for j, token, w in char_weight_cells(model, weights[r.layer][0][int(r.filter)])]
    return AnalysisResult(
        tables={"filters": filters,
                "top_words": pd.DataFrame(top_rows, columns=TABLES["top_words"]),
                "patterns": pd.DataFrame(pattern_rows, columns=TABLES["patterns"]),
                "weights": pd.DataFrame(weight_rows, columns=TABLES["weights"])},
        metrics=_metrics(filters) | {"words": float(len(words))},
        notes=[(f"{model.name}: {len(words):,} words (the vocabulary, then the evaluated texts' "
               f"words); {features.shape[1]} candidate features.")],
    )


# -- word CNNs: filters over the windows of the evaluated texts -----------------------------------
def _word_filters(ctx: RunContext, params: Params, layers: list[ConvLayer]) -> AnalysisResult:
    model = ctx.model
    texts = [ex.text for ex in ctx.examples]
    best_vals = {layer.name: None for layer in layers}
    fired = {layer.name: 0 for layer in layers}
    total = {layer.name: 0 for layer in layers}
    k = params.top_words * 5  # candidates kept before repeated n-grams are merged
    batch_size = max(1, min(ctx.batch_size, params.chunk // 64))

    def one_batch(positions: list[int]) -> tuple[list[int], dict[str, np.ndarray]]:
        """This batch's texts and their maxima; its top windows and counts go into this rank's.
        A batch lists its texts in example order, so that its rows (text, location) run in the
        order the ties between windows go by."""
        positions = sorted(positions)
        batch = model.encode([texts[p] for p in positions])
        with torch.no_grad(), capture(model.module, [layer.read_at for layer in layers]) as seen:
            model.forward_from_embeddings(model.embed(batch.ids), batch.mask)
        maxima = {}
        text_of_row = torch.tensor(positions)  # (B,) example ids
        for layer in layers:
            acts = to_btc(seen[layer.read_at], layer.layout).float()  # (B, L, C)
            valid = valid_locations(layer, batch.tokens, acts.size(1)).to(acts.device)  # (B, L)
            masked = acts.masked_fill(~valid[..., None], float("-inf"))
            total[layer.name] += int(valid.sum())
            maxima[layer.name] = masked.max(1).values.clamp(min=0).cpu().numpy()  # (B, C)
            flat = masked.reshape(-1, acts.size(-1))  # (B*L, C), rows by (text, location)
            ids = torch.arange(flat.size(0))
            where = torch.stack([text_of_row[ids // acts.size(1)], ids % acts.size(1)], 1)
            idx = strongest_rows(tie_safe(flat), k)  # (k, C)
            vals = flat.gather(0, idx)  # ties: the earlier window
            cand = (vals.T.cpu(), where[idx.cpu()].permute(1, 0, 2))  # (C, k), (C, k, 2)
            best_vals[layer.name] = merge_windows(best_vals[layer.name], cand, k)
            hits = ((acts > 0) & valid[..., None]).sum((0, 1)).cpu().numpy()
            fired[layer.name] += hits.astype(np.int64)
        return positions, maxima

    # batches of texts of about the same length (a batch pays for its longest text's locations at
    # every text), by characters: no text is tokenised for it
    gathered = ctx.map_in_order(longest_first([len(t) for t in texts]), one_batch,
                                size=batch_size, desc="filter_top_words")
    # every layer's per-text maxima, back in example order
    back = np.argsort(np.concatenate([np.asarray(p, dtype=np.int64) for p, _ in gathered]
                                     or [np.zeros(0, np.int64)]), kind="stable")
    per_text = {layer.name: [np.concatenate([part[layer.name] for _, part in gathered])[back]]
                for layer in layers}
    # every rank's top windows and counts: merged in a fixed order, the same as one process
    summaries = gather_batches({distributed.rank(): (best_vals, fired, total)})  # in rank order
    best_vals = {layer.name: None for layer in layers}
    fired = {layer.name: 0 for layer in layers}
    total = {layer.name: 0 for layer in layers}
    for rank_best, rank_fired, rank_total in summaries:
        for name in best_vals:
            best_vals[name] = merge_windows(best_vals[name], rank_best[name], k)
            fired[name] = fired[name] + rank_fired[name]
            total[name] += rank_total[name]
    tokens_of = window_tokens(model, texts, best_vals, batch_size)
    rows, top_rows, pattern_rows = [], [], []
    labels = [ex.label for ex in ctx.examples]
    text_feats = _text_features(texts, labels, model.classes)
    for layer in layers:
        share = np.asarray(fired[layer.name]) / max(total[layer.name], 1)
        vals, where = best_vals[layer.name]
        dead = _first_layer_dead(model, layer) if layer.depth == 1 else None
        acts_by_text = np.concatenate(per_text[layer.name])
        best, strength, tops = best_patterns(acts_by_text, text_feats)
        names = list(text_feats.columns)
        for f in range(share.size):
            seen_ngrams: dict[str, tuple[float, int]] = {}
            for v, (example_id, loc) in zip(vals[f].tolist(), where[f].tolist(), strict=True):
                if v == float("-inf"):
                    continue
                toks = tokens_of[example_id]
                lo_, hi_ = location_span(layer.field, loc, len(toks))
                # an n-gram met again keeps its best value and names the earliest text among its
                # windows (the same n-gram computes the same value up to the last float bits)
                ngram = " ".join(toks[lo_ : hi_ + 1])
                best_v, first = seen_ngrams.get(ngram, (v, example_id))
                seen_ngrams[ngram] = (best_v, min(first, example_id))
            ngrams = list(seen_ngrams.items())[: params.top_words]
            never = bool(share[f] == 0)
            rows.append([model.name, layer.name, layer.field.size, f, float(share[f]),
                         bool(dead[f]) if dead is not None else never, never,
                         float(vals[f].max()) if len(vals[f]) else 0.0,
                         names[best[f]] if best[f] >= 0 else "", float(strength[f]), 0,
                         " | ".join(g for g, _ in ngrams[:3])])
            top_rows += [[model.name, layer.name, f, r + 1, g, v, e]
                         for r, (g, (v, e)) in enumerate(ngrams)]
            pattern_rows += [[model.name, layer.name, f, p, s] for p, s in tops[f]]
    filters = _rank(pd.DataFrame(rows, columns=TABLES["filters"]))
    weight_rows = _word_weight_rows(model, layers, filters, params)
    return AnalysisResult(
        tables={"filters": filters,
                "top_words": pd.DataFrame(top_rows, columns=TABLES["top_words"]),
                "patterns": pd.DataFrame(pattern_rows, columns=TABLES["patterns"]),
                "weights": pd.DataFrame(weight_rows, columns=TABLES["weights"])},
        metrics=_metrics(filters) | {"locations": float(sum(total.values()))},
        notes=[(f"{model.name}: {len(layers)} conv layers over {len(texts):,} texts; patterns are "
               "tested per text (a filter's strongest location in it).")],
    )


def _first_layer_dead(model: ModelView, layer: ConvLayer) -> np.ndarray:
    """A first-layer filter is dead when, even choosing the best vocabulary word (or padding) at
    every window position, its pre-activation stays at or below zero."""
    conv = dict(model.module.named_modules())[layer.name]
    if not isinstance(conv, (torch.nn.Conv1d, torch.nn.Conv2d)) or conv.groups != 1:
        return np.zeros(getattr(conv, "out_channels", 0), dtype=bool)
    vectors = vocabulary_vectors(model).vectors.float()  # (V, E)
    eff = torch.einsum("ve,fek->fkv", vectors, conv1d_weight(conv).float())  # (F, k, V)
    best = eff.max(-1).values.clamp(min=0).sum(-1)  # (F,)
    bias = conv.bias.detach().float() if conv.bias is not None else torch.zeros_like(best)
    return (best + bias <= 0).cpu().numpy()


def _word_weight_rows(model: ModelView, layers: list[ConvLayer], filters: pd.DataFrame,
                      params: Params) -> list[list]:
    """Top vocabulary words per window position for the shown first-layer filters."""
    rows = []
    firsts = {layer.name for layer in layers if layer.depth == 1}
    shown = filters[filters["layer"].isin(firsts)].nsmallest(params.shown_filters,
                                                             "interpretability_rank")
    if shown.empty:
        return rows
    vocab = vocabulary_vectors(model)
    texts, vectors, special = vocab.tokens, vocab.vectors.float(), vocab.special
    modules = dict(model.module.named_modules())
    for r in shown.itertuples():
        w = conv1d_weight(modules[r.layer]).float()[int(r.filter)]  # (E, k)
        eff = vectors @ w  # (V, k)
        eff[torch.as_tensor(special)] = float("-inf")
        for j in range(eff.size(1)):
            top = eff[:, j].topk(min(params.weight_tokens, eff.size(0)))
            rows += [[model.name, r.layer, int(r.filter), j, texts[i], float(v)]
                     for v, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)]
    return rows


def _text_features(texts: list[str], labels: list[str | None], classes: list[str]) -> pd.DataFrame:
    """Per text: class indicators (labelled data) and a few plain lexical features."""
    from reportgen.data.tokenize import word_tokens

    toks = [word_tokens(t) for t in texts]
    feats = {
        "contains a negation": [any(w in ("not", "no", "never", "n't", "nothing", "nor") for w in t)
                                for t in toks],
        "contains a digit": [any(c.isdigit() for c in t) for t in texts],
        "contains '?'": ["?" in t for t in texts],
        "contains '!'": ["!" in t for t in texts],
    }
    for c in classes:
        feats[f"class '{c}'"] = [label == c for label in labels]
    frame = pd.DataFrame(feats).astype(float)
    return frame.loc[:, frame.std() > 0]


def _rank(filters: pd.DataFrame) -> pd.DataFrame:
    """Interpretability rank: best pattern correlation, highest first (dead filters last)."""
    key = filters["pattern_strength"].where(~filters["dead"], -2.0)
    order = key.rank(ascending=False, method="first").astype(int)
    return filters.assign(interpretability_rank=order)


def _metrics(filters: pd.DataFrame) -> dict[str, float]:
    return {"filters": float(len(filters)), "dead_filters": float(filters["dead"].sum()),
            "median_activation_frequency": float(filters["firing_share"].median())
            if len(filters) else 0.0}


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    merged = combine_per_model(results)
    filters = merged.tables["filters"]
    merged.metrics.update(_metrics(filters))
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
)
