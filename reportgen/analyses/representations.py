"""representations: how do sentence representations respond to intensifiers, negation, concession?

Method (Li, Chen, Hovy and Jurafsky 2016, "Visualizing and understanding neural models in NLP",
Section 4). Probe phrases in the paper's groups are encoded and their final representation (the
vector the output layer reads: the final state of a recurrent model, the pooled features of a CNN,
the input of a Transformers classifier's last linear layer) is shown as a phrase x dimension
heatmap (Figure 1): intensification ("good", "very good", "extremely good") and negation ("good",
"not good", "bad", "not bad", "nothing good"). A t-SNE (scikit-learn) places the phrases among
random vocabulary words (Figure 2). Figure 3: two concessive sentences of the same length that
differ in one word ("i hate the movie though the plot is interesting" / "... is boring") are each
read in ONE pass, and |h_t(a) - h_t(b)| is shown at every step t as a dimension x step heatmap (a
BiLSTM's step t is both directions' states of that pass; models without a state per step, CNNs,
are left out of this view and say so). Clause composition compares a two-clause sentence's
representation with its clauses' (Figure 4). Phrases whose words the model does not know are left
out (said on the page). Your own probes: ``probe_file``, lines of ``group<TAB>phrase``.

Measured per model, each pair on its own (never averaged: the paper's point is how they differ):
- ``negation_flip_<phrase>``: for "not good", cos(not good, bad) - cos(not good, good); for "not
  bad", cos(not bad, good) - cos(not bad, bad): > 0 when negation moves towards the opposite word;
- ``negation_asymmetry`` (the headline): flip of "not good" minus flip of "not bad" (0 when negation
  flips both ways alike; > 0 when "not bad" is not read as good the way "not good" is read as bad);
- ``intensity_growth_<from>_to_<to>``: |h(to)| / |h(from)| for each step of "good -> very good ->
  extremely good" (and "bad", "like it"); ``intensity_asymmetry``: |extremely good| / |good| minus
  |extremely bad| / |bad|;
- ``concessive_difference_<pair>``: |h(a) - h(b)| / mean(|h(a)|, |h(b)|) of the two sentence vectors
  (``clause_word``: they differ in the concessive clause, a model that lets the main clause decide
  keeps this small; ``main_word``: they differ in the main clause's verb).

Outputs (tables): ``phrases`` (model, group, phrase, dimension, value), ``negation``,
``intensity``, ``tsne``, ``over_time`` (Figure 3: rows a, b and |a - b| per step and dimension),
``composition``. Charts: ``representations_views``. Cost: a handful of forward passes; t-SNE on ~60
points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from reportgen.analyses.base import RunContext
from reportgen.analyses.representations_views import present
from reportgen.analyses.spec import AnalysisSpec
from reportgen.models.states import recurrent_states, unit_features
from reportgen.models.tokens import display_tokens, token_flags, word_spans
from reportgen.models.view import ModelView, NotApplicable
from reportgen.records import AnalysisResult

NAME = "representations"
# 3: each negation pair and intensity step on its own with their asymmetries (no mean flip, no
# value pooled over models); Figure 3 from one pass of two same-length sentences; 2: Transformers:
# the classifier head's input as the sentence vector, words not pieces
VERSION = 3
TITLE = "Representations of probe phrases"
HEADLINE = "negation_asymmetry"
HEADLINE_LABEL = "negation asymmetry: flip('not good') - flip('not bad')"
REFERENCE = "Li et al. 2016, Sec. 4, Fig. 1-2"
CITATION = (
    "Li, Chen, Hovy, Jurafsky (2016). Visualizing and Understanding Neural Models in NLP. NAACL. "
    "Section 4, representation plotting (Figures 1-4)."
)
METHOD = (
    "Short probe phrases are run through the model and the vector its output layer reads is "
    "plotted: one row per phrase, one column per dimension. If 'not good' looks like 'bad', the "
    "model composes negation; if 'extremely good' is a stronger 'good', intensification. Each "
    "negation pair and each intensity step is measured on its own: Li et al. find that negation "
    "is not symmetric ('not good' reads as bad, 'not bad' does not read as good). A t-SNE map "
    "places the phrases among random words. Figure 3: two concessive sentences of the same length "
    "that differ in one word are each read once, and the absolute difference of their hidden "
    "states is shown at every step (a bidirectional model: both directions' states of that one "
    "pass)."
)
HOW_TO_READ = (
    "Heatmaps: red and blue are positive and negative values of each dimension. A negation flip "
    "> 0: the negated phrase is closer to the opposite word than to its own word ('not good' to "
    "'bad'). Negation asymmetry > 0: negating 'good' flips more than negating 'bad'. Intensity "
    "growth > 1: the intensifier makes the representation longer. Figure 3: dark cells are the "
    "dimensions and steps where the two sentences' states differ; a difference that fades after "
    "the word where they differ is forgotten, one that stays is carried to the end."
)
TABLES = {
    "phrases": ["model", "group", "phrase", "dimension", "value"],
    "negation": ["model", "phrase", "word", "opposite", "cos_to_word", "cos_to_opposite", "flip"],
    "intensity": ["model", "sequence", "from_phrase", "to_phrase", "norm_from", "norm_to",
                  "growth", "cosine"],
    "tsne": ["model", "phrase", "kind", "x", "y"],
    "over_time": ["model", "pair", "row", "position", "token", "dimension", "direction", "value"],
    "composition": ["model", "sentence", "part", "cosine_to_sentence"],
}
GROUPS: dict[str, list[str]] = {
    "intensification": ["good", "very good", "extremely good", "bad", "very bad", "extremely bad",
                        "like it", "like it a lot", "like it so much"],
    "negation": ["good", "not good", "nothing good", "bad", "not bad", "not too bad", "interesting",
                 "boring", "not interesting"],
}
# (negated phrase, its word, the opposite word)
NEGATIONS = [("not good", "good", "bad"), ("not bad", "bad", "good"),
             ("nothing good", "good", "bad"), ("not too bad", "bad", "good"),
             ("not interesting", "interesting", "boring")]
ASYMMETRY = ("not good", "not bad")  # negation_asymmetry = flip(first) - flip(second)
# intensity sequences: each step from one phrase to the next
INTENSITY = [("good", "very good", "extremely good"), ("bad", "very bad", "extremely bad"),
             ("like it", "like it a lot", "like it so much")]
# Figure 3: (key, sentence a, sentence b), the same number of words, differing in exactly one
CONCESSIVE = [
    ("clause_word", "i hate the movie though the plot is interesting",
     "i hate the movie though the plot is boring"),
    ("main_word", "i love the movie though the plot is boring",
     "i hate the movie though the plot is boring"),
]
CLAUSES = [("the movie is good", "the plot is boring",
            "the movie is good though the plot is boring"),
           ("the acting is bad", "the story is moving",
            "the acting is bad but the story is moving")]


@dataclass(frozen=True)
class Params:
    probe_file: str = ""  # lines "group<TAB>phrase", added to the built-in groups
    random_words: int = 40
    heatmap_dimensions: int = 48

    def validate(self) -> list[str]:
        problems = []
        if self.probe_file and not Path(self.probe_file).is_file():
            problems.append(f"representations.probe_file {self.probe_file!r} does not exist")
        if self.random_words < 0 or self.heatmap_dimensions < 1:
            problems.append("representations.random_words must be >= 0, heatmap_dimensions >= 1")
        return problems


def skip_reason(model: ModelView) -> str | None:
    if not model.is_classifier:
        return (f"{model.name} is a {model.task} model; representations reads a classifier's "
                "sentence vector")
    return None


def slug(phrase: str) -> str:
    """A phrase as part of a metric name: "not too bad" -> "not_too_bad"."""
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")


def known(model: ModelView, phrase: str) -> bool:
    """Every word of ``phrase`` is in the model's vocabulary (word models; for a model with its own
    tokenizer: no piece is its unknown token)."""
    enc = text_encoder(model)
    if enc is None or hasattr(enc, "known"):  # Transformers, or the model's own tokenizer
        return "unk" not in token_flags(model, model.encode([phrase]))[0]
    if enc.kind != "word" or enc.vocab is None:
        return True
    return all(t in enc.vocab for t in enc.tokens(phrase))


def text_encoder(model: ModelView):
    """The model's reportgen encoder, None for a model that reads its own word pieces."""
    try:
        return model.text_encoder()
    except NotApplicable:
        return None


@torch.no_grad()
def represent(model: ModelView, texts: list[str]) -> np.ndarray:
    """(N, D) the representation the output layer reads (``features``), else the best final
    view."""
    feats = unit_features(model, model.encode(texts))
    key = "features" if "features" in feats else next((k for k in feats if k.endswith(":final")),
                                                       next(iter(feats)))
    return feats[key].float().cpu().numpy()


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def _norm(a: np.ndarray) -> float:
    return float(np.linalg.norm(a))


def compute(ctx: RunContext, params: Params) -> AnalysisResult:
    model = ctx.model
    groups = {g: list(p) for g, p in GROUPS.items()}
    if params.probe_file:
        for line in Path(params.probe_file).read_text(encoding="utf-8").splitlines():
            group, tab, phrase = line.partition("\t")
            if tab and phrase.strip():
                groups.setdefault(group.strip(), []).append(phrase.strip())
    phrases = [(g, p) for g, ps in groups.items() for p in ps if known(model, p)]
    left_out = sum(len(ps) for ps in groups.values()) - len(phrases)
    vectors = represent(model, [p for _, p in phrases]) if phrases else np.zeros((0, 1))
    vec = {p: v for (_, p), v in zip(phrases, vectors, strict=True)}
    rows = [(model.name, g, p, d, float(x)) for (g, p), v in zip(phrases, vectors, strict=True)
            for d, x in enumerate(v)]
    metrics: dict[str, float] = {"phrases": float(len(phrases))}
    labels: dict[str, str] = {}
    negation = _negation(model.name, vec, metrics, labels)
    intensity = _intensity(model.name, vec, metrics, labels)
    over_time, notes = _concessive(model, metrics, labels)
    if left_out:
        notes.insert(0, f"{left_out} probe phrases left out (words the model does not know).")
    return AnalysisResult(
        tables={"phrases": pd.DataFrame(rows, columns=TABLES["phrases"]),
                "negation": negation, "intensity": intensity,
                "tsne": _tsne(model, phrases, vectors, params, ctx.seed),
                "over_time": over_time, "composition": _composition(model)},
        metrics=metrics, notes=notes, labels=labels,
    )


def _negation(name: str, vec: dict[str, np.ndarray], metrics: dict[str, float],
              labels: dict[str, str]) -> pd.DataFrame:
    """One row and one metric per negation pair, and their asymmetry."""
    rows, flips = [], {}
    for phrase, word, opposite in NEGATIONS:
        if not {phrase, word, opposite} <= vec.keys():
            continue
        to_word, to_opposite = _cos(vec[phrase], vec[word]), _cos(vec[phrase], vec[opposite])
        flips[phrase] = to_opposite - to_word
        rows.append((name, phrase, word, opposite, to_word, to_opposite, flips[phrase]))
        key = f"negation_flip_{slug(phrase)}"
        metrics[key] = flips[phrase]
        labels[key] = (f"flip of '{phrase}': cos({phrase}, {opposite}) - cos({phrase}, {word})")
    first, second = ASYMMETRY
    if first in flips and second in flips:
        metrics["negation_asymmetry"] = flips[first] - flips[second]
        labels["negation_asymmetry"] = HEADLINE_LABEL
    return pd.DataFrame(rows, columns=TABLES["negation"])


def _intensity(name: str, vec: dict[str, np.ndarray], metrics: dict[str, float],
               labels: dict[str, str]) -> pd.DataFrame:
    """One row and one metric per intensity step, and the positive/negative asymmetry."""
    rows = []
    for sequence in INTENSITY:
        for a, b in pairwise(sequence):
            if not {a, b} <= vec.keys():
                continue
            growth = _norm(vec[b]) / max(_norm(vec[a]), 1e-12)
            rows.append((name, sequence[0], a, b, _norm(vec[a]), _norm(vec[b]), growth,
                         _cos(vec[a], vec[b])))
            key = f"intensity_growth_{slug(a)}_to_{slug(b)}"
            metrics[key] = growth
            labels[key] = f"intensity growth '{a}' -> '{b}': |h({b})| / |h({a})|"
    totals = {w: _norm(vec[f"extremely {w}"]) / max(_norm(vec[w]), 1e-12)
              for w in ("good", "bad") if {w, f"extremely {w}"} <= vec.keys()}
    if len(totals) == 2:
        metrics["intensity_asymmetry"] = totals["good"] - totals["bad"]
        labels["intensity_asymmetry"] = ("intensity asymmetry: |extremely good| / |good| minus "
                                         "|extremely bad| / |bad|")
    return pd.DataFrame(rows, columns=TABLES["intensity"])


def _tsne(model: ModelView, phrases, vectors: np.ndarray, params: Params,
          seed: int) -> pd.DataFrame:
    from sklearn.manifold import TSNE

    enc = text_encoder(model)
    words: list[str] = []
    if enc is not None and enc.vocab is not None and params.random_words:
        rng = np.random.default_rng(seed)
        pool = [w for w in enc.vocab.itos[2:] if w.isalpha()]
        picked = rng.choice(len(pool), size=min(params.random_words, len(pool)), replace=False)
        words = [pool[i] for i in picked]
    unique = {p: i for i, (_, p) in reversed(list(enumerate(phrases)))}  # a phrase once
    probes = sorted(unique, key=unique.get)
    vectors = vectors[[unique[p] for p in probes]] if probes else vectors
    points = np.concatenate([vectors, represent(model, words)]) if words else vectors
    names = probes + words
    if len(points) < 4:
        return pd.DataFrame(columns=TABLES["tsne"])
    xy = TSNE(n_components=2, perplexity=min(10, len(points) - 1), random_state=seed,
              init="pca").fit_transform(points)
    kinds = ["probe"] * len(probes) + ["random word"] * len(words)
    return pd.DataFrame({"model": model.name, "phrase": names, "kind": kinds, "x": xy[:, 0],
                         "y": xy[:, 1]})


@torch.no_grad()
def step_states(model: ModelView, texts: list[str]) -> tuple[list[np.ndarray], list[list[str]],
                                                              list[str]]:
    """The hidden representation at every word of each text, from ONE pass of the batch: per text
    (words, D) states, its words, and each dimension's direction ("forward"/"backward" for a
    bidirectional recurrence). Recurrent models: the top recurrent layer's output at each step
    (a BiLSTM: both directions' states of that pass); Transformers: the top layer's state at each
    word's first piece. ``NotApplicable`` for a model without states per step (CNNs)."""
    batch = model.encode(texts)
    words = [[w for w in word_spans(row) if not w.special] for row in display_tokens(model, batch)]
    try:
        layers = model.recurrent_layers()
    except NotApplicable:
        layers = []
    if layers:
        name, module = layers[-1]
        states = recurrent_states(model, batch)[name].outputs  # (B, T, D*H), one pass
        hidden = states.size(-1) // (2 if module.bidirectional else 1)
        directions = (["forward"] * hidden + ["backward"] * hidden if module.bidirectional
                      else ["forward"] * hidden)
    else:
        try:
            per_layer = model.layer_states(batch)  # Transformers: (B, T, H) per layer
        except NotApplicable:
            raise NotApplicable(f"{model.name} has no hidden state per step (not recurrent): "
                                "Figure 3 is drawn for recurrent models and Transformers") from None
        states = list(per_layer.values())[-1]
        directions = ["state"] * states.size(-1)
    out = [states[i, [w.start for w in ws]].float().cpu().numpy() for i, ws in enumerate(words)]
    return out, [[w.text for w in ws] for ws in words], directions


def _concessive(model: ModelView, metrics: dict[str, float],
                labels: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """Figure 3 for each pair: the states of both sentences at every step and their |difference|,
    and the relative difference of the two sentence vectors as a metric."""
    rows, notes = [], []
    for key, a, b in CONCESSIVE:
        if not (known(model, a) and known(model, b)):
            notes.append(f"Figure 3 pair {key!r} left out: words the model does not know.")
            continue
        h_a, h_b = represent(model, [a, b])
        metric = f"concessive_difference_{key}"
        metrics[metric] = _norm(h_a - h_b) / max((_norm(h_a) + _norm(h_b)) / 2, 1e-12)
        labels[metric] = (f"|a - b| / mean(|a|, |b|) of the sentence vectors of '{a}' and '{b}'")
        try:
            (s_a, s_b), (w_a, w_b), directions = step_states(model, [a, b])
        except NotApplicable as exc:
            if str(exc) not in notes:
                notes.append(str(exc))
            continue
        if len(w_a) != len(w_b):  # the model splits them differently: no step-by-step pairing
            notes.append(f"Figure 3 pair {key!r} left out: the model reads {len(w_a)} and "
                         f"{len(w_b)} words.")
            continue
        pair = f"a: {a} / b: {b}"
        steps = [wa if wa == wb else f"{wa}/{wb}" for wa, wb in zip(w_a, w_b, strict=True)]
        for row, states, toks in (("a", s_a, w_a), ("b", s_b, w_b),
                                  ("|a - b|", np.abs(s_a - s_b), steps)):
            rows += [(model.name, pair, row, t, toks[t], d, directions[d], float(x))
                     for t in range(len(toks)) for d, x in enumerate(states[t])]
    return pd.DataFrame(rows, columns=TABLES["over_time"]), notes


def _composition(model: ModelView) -> pd.DataFrame:
    rows = []
    for first, second, whole in CLAUSES:
        if not all(known(model, s) for s in (first, second, whole)):
            continue
        a, b, w = represent(model, [first, second, whole])
        rows += [(model.name, whole, f"first clause: {first}", _cos(a, w)),
                 (model.name, whole, f"second clause: {second}", _cos(b, w)),
                 (model.name, whole, "sum of the clauses", _cos(a + b, w))]
    return pd.DataFrame(rows, columns=TABLES["composition"])


SPEC = AnalysisSpec(
    name=NAME,
    version=VERSION,
    title=TITLE,
    headline=HEADLINE,
    headline_label=HEADLINE_LABEL,
    reference=REFERENCE,
    method=METHOD,
    how_to_read=HOW_TO_READ,
    citation=CITATION,
    params=Params,
    tables=TABLES,
    compute=compute,
    present=present,
    skip_reason=skip_reason,
)
