"""representations: how do sentence representations respond to intensifiers, negation, concession?

Method (Li, Chen, Hovy and Jurafsky 2016, "Visualizing and understanding neural models in NLP",
Section 4). Probe phrases in the paper's groups are encoded and their final representation (the
vector the output layer reads: the final state of a recurrent model, the pooled features of a CNN,
the input of a Transformers classifier's last linear layer) is shown as a phrase x dimension
heatmap (Figure 1): intensification ("good", "very good",
"extremely good") and negation ("good", "not good", "bad", "not bad", "nothing good"). A t-SNE
(scikit-learn) places the phrases among random vocabulary words (Figure 2). For concessive pairs
("I hate the movie" / "I hate the movie though the plot is interesting") the representation at
every step of the longer sentence is shown with a row of the absolute difference of the two final
representations (Figure 3), and clause composition compares a two-clause sentence's representation
with its clauses' (Figure 4). Phrases whose words the model does not know are left out (said on
the page). Your own probes: ``probe_file``, lines of ``group<TAB>phrase``.

Measured, so the paper's claims can be checked per model:
- ``negation_flip``: cos(not good, bad) - cos(not good, good), the same for "not bad"; > 0 when
  negation moves the representation towards the opposite word;
- ``concessive_change``: |h(A though B) - h(A)| / |h(A)| averaged over the pairs (the paper: the
  LSTM changes less than the RNN);
- ``intensity_growth``: |h(extremely x)| / |h(x)|.

Outputs (tables): ``phrases`` (model, group, phrase, dimension, value), ``tsne``, ``over_time``,
``composition``. Cost: a handful of forward passes; t-SNE on ~60 points.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import torch

from reportgen.analyses.base import RunContext
from reportgen.analyses.spec import AnalysisSpec, combine_per_model
from reportgen.chart_layout import chart_spec, label_width, wrap_by_model
from reportgen.models.states import unit_features
from reportgen.models.tokens import display_tokens, token_flags, word_spans
from reportgen.models.view import ModelView, NotApplicable
from reportgen.records import AnalysisResult, ChartSpec, Presentation

NAME = "representations"
VERSION = 2  # 2: Transformers: the classifier head's input as the sentence vector, words not pieces
TITLE = "Representations of probe phrases"
HEADLINE = "negation_flip"
CITATION = (
    "Li, Chen, Hovy, Jurafsky (2016). Visualizing and Understanding Neural Models in NLP. NAACL. "
    "Section 4, representation plotting (Figures 1-4)."
)
METHOD = (
    "Short probe phrases are run through the model and the vector its output layer reads is "
    "plotted: one row per phrase, one column per dimension. If 'not good' looks like 'bad', the "
    "model composes negation; if 'extremely good' is a stronger 'good', intensification. A t-SNE map "
    "places the phrases among random words, and for sentences with a concessive clause the "
    "representation is followed word by word."
)
HOW_TO_READ = (
    "Heatmaps: red and blue are positive and negative values of each dimension. Negation flip > 0: "
    "'not good' is closer to 'bad' than to 'good' (and 'not bad' to 'good'). Concessive change: how "
    "far 'though the plot is interesting' moves the sentence's representation, relative to its size."
)
TABLES = {
    "phrases": ["model", "group", "phrase", "dimension", "value"],
    "tsne": ["model", "phrase", "kind", "x", "y"],
    "over_time": ["model", "pair", "row", "position", "token", "dimension", "value"],
    "composition": ["model", "sentence", "part", "cosine_to_sentence"],
}
GROUPS: dict[str, list[str]] = {
    "intensification": ["good", "very good", "extremely good", "bad", "very bad", "extremely bad",
                        "like it", "like it a lot", "like it so much"],
    "negation": ["good", "not good", "nothing good", "bad", "not bad", "not too bad", "interesting",
                 "not interesting"],
}
CONCESSIVE = [("i hate the movie", "i hate the movie though the plot is interesting"),
              ("i hate the movie", "i hate the movie though the plot is boring")]
CLAUSES = [("the movie is good", "the plot is boring", "the movie is good though the plot is boring"),
           ("the acting is bad", "the story is moving", "the acting is bad but the story is moving")]


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
        return f"{model.name} is a {model.task} model; representations reads a classifier's sentence vector"
    return None


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
    flips = [_cos(vec[f"not {w}"], vec[o]) - _cos(vec[f"not {w}"], vec[w])
             for w, o in (("good", "bad"), ("bad", "good")) if {w, o, f"not {w}"} <= vec.keys()]
    if flips:
        metrics["negation_flip"] = float(np.mean(flips))
    growth = [np.linalg.norm(vec[f"extremely {w}"]) / max(np.linalg.norm(vec[w]), 1e-12)
              for w in ("good", "bad") if {w, f"extremely {w}"} <= vec.keys()]
    if growth:
        metrics["intensity_growth"] = float(np.mean(growth))
    over_time, changes = _concessive(model)
    if changes:
        metrics["concessive_change"] = float(np.mean(changes))
    return AnalysisResult(
        tables={"phrases": pd.DataFrame(rows, columns=TABLES["phrases"]),
                "tsne": _tsne(model, phrases, vectors, params, ctx.seed),
                "over_time": over_time, "composition": _composition(model)},
        metrics=metrics,
        notes=[f"{model.name}: {left_out} probe phrases left out (words the model does not know)."]
        if left_out else [],
    )


def _tsne(model: ModelView, phrases, vectors: np.ndarray, params: Params, seed: int) -> pd.DataFrame:
    from sklearn.manifold import TSNE

    enc = text_encoder(model)
    words: list[str] = []
    if enc is not None and enc.vocab is not None and params.random_words:
        rng = np.random.default_rng(seed)
        pool = [w for w in enc.vocab.itos[2:] if w.isalpha()]
        words = [pool[i] for i in rng.choice(len(pool), size=min(params.random_words, len(pool)), replace=False)]
    points = np.concatenate([vectors, represent(model, words)]) if words else vectors
    labels = [p for _, p in phrases] + words
    if len(points) < 4:
        return pd.DataFrame(columns=TABLES["tsne"])
    xy = TSNE(n_components=2, perplexity=min(10, len(points) - 1), random_state=seed,
              init="pca").fit_transform(points)
    kinds = ["probe"] * len(phrases) + ["random word"] * len(words)
    return pd.DataFrame({"model": model.name, "phrase": labels, "kind": kinds, "x": xy[:, 0], "y": xy[:, 1]})


@torch.no_grad()
def _concessive(model: ModelView) -> tuple[pd.DataFrame, list[float]]:
    """Representation at every step of each concessive sentence (recurrent models: the state after
    each word; others: the final representation of each prefix), and |difference| of the finals.
    Steps are the words a reader sees: word pieces joined, special tokens ([CLS]) left out."""
    rows, changes = [], []
    for k, (base, longer) in enumerate(CONCESSIVE):
        if not (known(model, base) and known(model, longer)):
            continue
        batch = model.encode([longer])
        tokens = [w.text for w in word_spans(display_tokens(model, batch)[0]) if not w.special]
        prefixes = [" ".join(tokens[: t + 1]) for t in range(len(tokens))]
        steps = represent(model, prefixes)  # (T, D): the sentence read up to each word
        h_base, h_long = represent(model, [base, longer])
        pair = f"{base} / {longer}"
        rows += [(model.name, pair, "reading the concessive sentence", t, tokens[t], d, float(x))
                 for t in range(len(tokens)) for d, x in enumerate(steps[t])]
        rows += [(model.name, pair, "|difference of the final states|", len(tokens), "", d, float(x))
                 for d, x in enumerate(np.abs(h_long - h_base))]
        changes.append(float(np.linalg.norm(h_long - h_base) / max(np.linalg.norm(h_base), 1e-12)))
    return pd.DataFrame(rows, columns=TABLES["over_time"]), changes


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


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    merged = combine_per_model(results)
    for key in ("negation_flip", "concessive_change", "intensity_growth"):
        vals = [r.metrics[key] for r in results.values() if key in r.metrics]
        if vals:
            merged.metrics[key] = float(np.mean(vals))
    return merged


def present(result: AnalysisResult, params: Params) -> Presentation:
    t = result.tables
    charts = []
    phrases = t["phrases"]
    models = list(dict.fromkeys(m for name in ("phrases", "tsne", "over_time") for m in t[name]["model"]))
    for group, frame in phrases.groupby("group", sort=False):
        top = (frame.assign(mag=frame["value"].abs()).groupby(["model", "dimension"])["mag"].sum()
               .reset_index().sort_values("mag", ascending=False).groupby("model").head(params.heatmap_dimensions))
        frame = frame.merge(top[["model", "dimension"]], on=["model", "dimension"])
        chart = alt.Chart(frame).mark_rect().encode(
            x=alt.X("dimension:O", axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("phrase:N", sort=None, title=None),
            color=alt.Color("value:Q", scale=alt.Scale(scheme="redblue", domainMid=0, reverse=True)),
            tooltip=["model", "phrase", "dimension", alt.Tooltip("value:Q", format=".3f")],
        ).properties(height=alt.Step(14))
        chart = _by_model(chart, models, frame, "phrase", step=6).resolve_scale(x="independent")
        charts.append(ChartSpec(f"phrases-{group}", f"Representations: {group}", chart_spec(chart),
                                f"The {params.heatmap_dimensions} dimensions with the largest values "
                                "over these phrases, per model."))
    if not t["tsne"].empty:
        points = alt.Chart(t["tsne"]).mark_point(filled=True).encode(
            x=alt.X("x:Q", title=None), y=alt.Y("y:Q", title=None), color="kind:N",
            tooltip=["model", "phrase", "kind"])
        text = points.mark_text(dx=5, align="left", fontSize=9).encode(text="phrase:N")
        legend = 40 + label_width(t["tsne"]["kind"].unique())
        overhang = label_width(t["tsne"]["phrase"].unique(), px_per_char=5.0)  # labels past the edge
        chart = wrap_by_model(alt.layer(points, text, data=t["tsne"]).properties(height=260), models,
                              narrowest=200, widest=300, each=overhang,
                              reserved=label_width(["-000"]) + legend)
        charts.append(ChartSpec("tsne", "t-SNE of the probes among random words", chart_spec(chart),
                                "Figure 2 of the paper, per model."))
    if not t["over_time"].empty:
        frame = t["over_time"].assign(step=lambda f: f["position"].map("{:02d}".format) + " " + f["token"])
        top = (frame.assign(mag=frame["value"].abs()).groupby(["model", "dimension"])["mag"].sum()
               .reset_index().sort_values(["mag", "dimension"], ascending=[False, True], kind="stable")
               .groupby("model").head(params.heatmap_dimensions))
        frame = frame.merge(top[["model", "dimension"]], on=["model", "dimension"])
        pairs = list(dict.fromkeys(frame["pair"]))
        frame = frame.assign(pair_no=frame["pair"].map(pairs.index))  # filtered by number, not text
        chart = alt.Chart(frame).mark_rect().encode(
            x=alt.X("dimension:O", axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("step:N", sort=None, title=None),
            color=alt.Color("value:Q", scale=alt.Scale(scheme="redblue", domainMid=0, reverse=True)),
            tooltip=["model", "row", "step", alt.Tooltip("value:Q", format=".3f")],
        ).properties(height=alt.Step(12))
        chart = alt.vconcat(*[
            _by_model(chart, models, frame[frame["pair_no"] == i], "step", step=4, title=pair)
            .transform_filter(alt.datum.pair_no == i).resolve_scale(x="independent")
            for i, pair in enumerate(pairs)
        ])
        charts.append(ChartSpec("concessive", "Reading a concessive sentence, word by word", chart_spec(chart),
                                "Rows: the representation after each word; last row: |difference| of "
                                "the final representations with and without the clause (Figure 3). "
                                f"The {params.heatmap_dimensions} dimensions with the largest values, "
                                "per model."))
    return Presentation(charts=charts)


def _by_model(chart: alt.Chart, models: list[str], frame: pd.DataFrame, labels: str, step: int,
              title: str | None = None) -> alt.FacetChart:
    """A heatmap of dimensions once per model: ``step`` px per dimension, narrowed so that the
    panels wrap into rows that fit the card; the ``labels`` axis and the colour legend are drawn
    once per row."""
    dims = int(frame.groupby("model")["dimension"].nunique().max())
    return wrap_by_model(chart, models, narrowest=min(step * dims, 160), widest=step * dims,
                         reserved=label_width(frame[labels].unique()) + 60, title=title)

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
