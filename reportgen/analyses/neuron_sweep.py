"""neuron_sweep: is there a unit that carries the concept, what does it do, and can we steer it?

Method (Radford, Jozefowicz and Sutskever 2017, "Learning to generate reviews and discovering
sentiment", and the blog on their "sentiment neuron"). Per-unit features are collected for every
text: the representation the output layer reads (the final state of a recurrent model, pooled maps
of a CNN) or, for a language model, the final hidden state; for a Transformers classifier, the MLP
units of each layer's feed-forward block (read after its activation), pooled over the text's
positions ([CLS] and [SEP] included), since those are what the sweep can hold fixed. Only views
of units that can be clamped are offered. Then:

- **Ranking**: an L1-regularised logistic regression (scikit-learn, standardised units) over all
  units, its strength chosen on a dev split; a unit's weight is its largest |coefficient|. One unit
  with a large weight is a candidate "sentiment neuron".
- **Zero-shot**: the top unit alone classifies by a threshold found without labels (the midpoint of
  the two clusters of its values, 2-means) on the side its weight points to; beside it the full
  linear model (the blog: 93.67% vs 94.86% on Yelp) and random single units (Donnelly and
  Roegiest 2019: random units can come close).
- **Learning curve**: test accuracy against the number of labelled training texts, top unit alone vs
  all units, over several seeds.
- **Traces**: the unit's value at every token of well- and badly classified texts, where it moves
  (mean absolute change by kind of token: sentence ends, spaces or punctuation, words), and the
  lengths of the texts it gets right and wrong against all texts.
- **Sweeps**: the unit clamped to values across its range at every step (the recurrence then runs
  with it held fixed), and the class probability recorded; for a language model, text generated
  from fixed prompts with the unit clamped, side by side.

Data: fitted on the dataset's train split (up to ``max_train`` texts, dev carved from it when there
is none), tested on the evaluated examples. Data without a train split: a seeded half of the
evaluated examples is tested, and up to ``max_train`` texts (plus a fifth for dev) of the other half
fit. Outputs (tables): ``units``, ``zero_shot``,
``learning_curve``, ``traces``, ``moves``, ``lengths``, ``sweep``, ``samples``. Metrics:
``top_unit``, ``top_unit_zero_shot_accuracy``, ``all_units_accuracy``,
``random_unit_zero_shot_accuracy`` and more. Cost: one feature pass over train and test texts
(step by step for recurrent final states), a few dozen small logistic regressions, and
``sweep_texts`` x ``sweep_values`` clamped forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from reportgen.analyses.base import RunContext, map_batches
from reportgen.analyses.neuron_sweep_views import present
from reportgen.analyses.spec import AnalysisSpec, combine_per_model
from reportgen.analyses.unit_probes import (
    _threshold,
    choose_source,
    l1_probe,
    orientation,
    zero_shot,
)
from reportgen.models.facts import predict_proba
from reportgen.models.generation import generate
from reportgen.models.recurrence import recurrent_modules
from reportgen.models.states import (
    clamp_units,
    mlp_units,
    output_layer,
    unit_features,
    unit_states,
)
from reportgen.models.view import ModelView, NotApplicable
from reportgen.records import AnalysisResult

NAME = "neuron_sweep"
VERSION = 6  # 6: at most max_train fitting texts without a train split too; 3: zero-shot of units ranked 2-5; 2: best view of the units, samples at the bounds
TITLE = "Neuron sweeps: units that carry a concept"
HEADLINE = "top_unit_zero_shot_accuracy"
BASELINES = {"top_unit_zero_shot_accuracy": "random_unit_zero_shot_accuracy"}
CITATION = (
    "Radford, Jozefowicz, Sutskever (2017). Learning to Generate Reviews and Discovering Sentiment; "
    "Donnelly, Roegiest (2019). On Interpretability and Feature Representations: An Analysis of "
    "the Sentiment Neuron. ECIR."
)
METHOD = (
    "Each text becomes one vector of hidden units (the final state of a recurrent model, the pooled "
    "features of a CNN). A logistic regression with an L1 penalty, which drives most weights to "
    "zero, is fitted on the training texts; the unit with the largest weight is the candidate "
    "concept unit. That unit alone then classifies the test texts by a threshold set without "
    "labels, beside the full model and random units.\n\n"
    "The unit is then watched and steered: its value at every token, and the class probability (or, "
    "for a language model, generated text) when it is held at fixed values at every step."
)
HOW_TO_READ = (
    "Weights: one bar per unit; one tall bar is a concept unit. Zero-shot: the top unit alone, the "
    "full model, random units. Learning curve: accuracy as labelled texts are added (bands: spread "
    "over seeds). Traces: red = high unit value, blue = low. Sweep: the class probability as the "
    "unit is held at each value."
)

TABLES = {
    "units": ["model", "unit", "weight", "rank"],
    "zero_shot": ["model", "classifier", "unit", "accuracy"],
    "learning_curve": ["model", "labelled", "units", "seed", "accuracy"],
    "traces": ["model", "example_id", "outcome", "position", "token", "value"],
    "moves": ["model", "token_kind", "mean_abs_change", "steps"],
    "lengths": ["model", "outcome", "length"],
    "sweep": ["model", "value", "class", "probability"],
    "samples": ["model", "prompt", "value", "text"],
}
CURVE_SIZES = (0, 10, 20, 50, 100, 200, 500, 1000)


@dataclass(frozen=True)
class Params:
    max_train: int = 5000
    random_units: int = 20
    seeds: int = 5
    trace_examples: int = 6
    sweep_values: int = 9
    sweep_texts: int = 64
    prompts: tuple[str, ...] = ("this movie is", "i thought the film was", "the acting")
    sample_length: int = 60
    temperature: float = 0.8  # sampling temperature for generated samples (seeded); 0 = greedy

    def validate(self) -> list[str]:
        return [f"neuron_sweep.{n} must be >= 1" for n in
                ("max_train", "random_units", "seeds", "sweep_values", "sweep_texts", "sample_length")
                if getattr(self, n) < 1]


def skip_reason(model: ModelView) -> str | None:
    if model.task not in ("classify", "lm"):
        return f"{model.name} is a {model.task} model; neuron_sweep needs a classifier or a language model"
    try:
        mlp_units(model)
    except NotApplicable as why:
        return str(why)
    return None


def features(model: ModelView, texts: list[str], batch_size: int, progress: str = "") -> dict[str, np.ndarray]:
    """Source name -> (N, U) unit values, for every per-text view of the units the model offers
    that the sweep can also hold fixed: the representation the output reads (``features``, when it
    is a module of the model), final recurrent states (``<rnn>:final``), units pooled over time
    (``<layer>:mean`` / ``:max``; for Transformers, each layer's MLP units)."""
    def one_batch(lo: int, hi: int) -> dict[str, np.ndarray]:
        found = unit_features(model, model.encode(texts[lo:hi]))
        return {name: values.float().cpu().numpy() for name, values in found.items()}

    chunks: dict[str, list[np.ndarray]] = {}
    for part in map_batches(len(texts), one_batch, size=batch_size, desc=progress,
                            enabled=bool(progress)):
        for name, values in part.items():
            chunks.setdefault(name, []).append(values)
    modules = dict(model.module.named_modules())
    # a user model's output-layer input can be held fixed too; a Transformer's neurons are its
    # MLP units
    reads_features = bool(output_layer(model)) and mlp_units(model) is None
    clampable = set(modules) | ({"features"} if reads_features else set())
    return {name: np.concatenate(parts) for name, parts in chunks.items()
            if _unit_layer(model, name) in clampable}


def compute(ctx: RunContext, params: Params) -> AnalysisResult:
    from sklearn.preprocessing import StandardScaler

    model = ctx.model
    train, dev, test = _splits(ctx, params)
    classes = sorted({ex.label for ex in train + test if ex.label is not None})
    if len(classes) < 2:
        raise NotApplicable("neuron_sweep needs labelled texts of at least two classes")
    y_train, y_dev, y_test = (np.array([classes.index(ex.label) for ex in part]) for part in (train, dev, test))
    bar = (lambda part: f"neuron_sweep {model.name} ({part} texts)") if ctx.progress else (lambda part: "")
    f_train, f_dev = (features(model, [ex.text for ex in part], ctx.batch_size, bar(name))
                      for name, part in (("train", train), ("dev", dev)))
    source, dev_scores = choose_source(f_train, f_dev, y_train, y_dev, ctx.seed)
    x_train, x_dev = f_train[source], f_dev[source]
    x_test = features(model, [ex.text for ex in test], ctx.batch_size, bar("evaluated"))[source]
    scaler = StandardScaler().fit(x_train)
    s_train, s_dev, s_test = (scaler.transform(x) for x in (x_train, x_dev, x_test))
    probe = l1_probe(s_train, y_train, s_dev, y_dev, ctx.seed)
    weights = np.abs(probe.coef_).max(0)  # (U,)
    order = np.argsort(-weights, kind="stable")
    top = int(order[0])
    sign = float(np.sign(probe.coef_[0, top] if len(classes) == 2 else 1.0) or 1.0)
    all_acc = float(probe.score(s_test, y_test))
    top_acc = zero_shot(s_train[:, top], s_test[:, top], y_test, sign) if len(classes) == 2 else float("nan")
    rng = np.random.default_rng(ctx.seed)
    random_units = rng.choice(s_train.shape[1], size=min(params.random_units, s_train.shape[1]), replace=False)
    random_acc = [zero_shot(s_train[:, u], s_test[:, u], y_test,
                             orientation(s_train[:, u], y_train)) for u in random_units] if len(classes) == 2 else []
    units = pd.DataFrame({"model": model.name, "unit": np.arange(weights.size), "weight": weights,
                          "rank": np.argsort(order) + 1})
    ranked = [(model.name, f"unit ranked {r + 1}", int(u),
               zero_shot(s_train[:, u], s_test[:, u], y_test, orientation(s_train[:, u], y_train)))
              for r, u in enumerate(order[1:5], start=1)] if len(classes) == 2 else []
    zero = pd.DataFrame([(model.name, "top unit", top, top_acc), *ranked, (model.name, "all units", -1, all_acc),
                         *[(model.name, "random unit", int(u), a) for u, a in zip(random_units[: len(random_acc)], random_acc, strict=True)]],
                        columns=TABLES["zero_shot"])
    curve = _learning_curve(model.name, s_train, y_train, s_test, y_test, top, sign, params, ctx.seed)
    test_pred = (s_test[:, top] * sign > _threshold(s_train[:, top] * sign)).astype(int) \
        if len(classes) == 2 else probe.predict(s_test)
    traces, moves, lengths = _traces(model, test, test_pred, y_test, top, source, params, ctx.batch_size)
    sweep = _sweep(model, test, top, x_test[:, top], source, classes, params, ctx.batch_size) if model.is_classifier \
        else pd.DataFrame(columns=TABLES["sweep"])
    samples = _samples(model, top, x_test[:, top], params, ctx.seed) if model.task == "lm" \
        else pd.DataFrame(columns=TABLES["samples"])
    metrics = {
        "top_unit": float(top), "all_units_accuracy": all_acc,
        "top_unit_weight_share": float(weights[top] / max(weights.sum(), 1e-12)),
        "units": float(weights.size), "nonzero_units": float((weights > 0).sum()),
        "train_examples": float(len(train)), "test_examples": float(len(test)),
    }
    if len(classes) == 2:
        metrics |= {"top_unit_zero_shot_accuracy": top_acc,
                    "random_unit_zero_shot_accuracy": float(np.mean(random_acc)),
                    "best_random_unit_zero_shot_accuracy": float(np.max(random_acc))}
    return AnalysisResult(
        tables={"units": units, "zero_shot": zero, "learning_curve": curve, "traces": traces,
                "moves": moves, "lengths": lengths, "sweep": sweep, "samples": samples},
        metrics=metrics,
        notes=[(f"{model.name}: units from {source!r}, the best view by dev accuracy ("
                + ", ".join(f"{k} {v:.1%}" for k, v in dev_scores.items())
                + f"); fitted on {len(train):,} training texts (L1 "
               f"strength C = {probe.C:g} chosen on {len(dev):,} dev texts), tested on "
               f"{len(test):,} evaluated texts. The top unit is chosen with all training labels, "
               "as in the blog; its zero-shot threshold uses none.")],
    )


def _splits(ctx: RunContext, params: Params):
    """(train, dev, test) labelled examples: the dataset's train (dev carved if missing) and the
    evaluated examples; without a train split, the evaluated examples halved (seeded), the fitting
    half cut to ``max_train`` texts plus a fifth for dev."""
    test = [ex for ex in ctx.examples if ex.label is not None]
    splits = ctx.dataset.splits
    rng = np.random.default_rng(ctx.seed)
    if "train" in splits:
        pool = [ex for ex in splits["train"] if ex.label is not None]
        pool = [pool[i] for i in np.sort(rng.permutation(len(pool))[: params.max_train + params.max_train // 5])]
        dev = [ex for ex in splits.get("dev", []) if ex.label is not None][: params.max_train // 5]
        if not dev:
            cut = max(1, len(pool) // 6)
            dev, pool = pool[:cut], pool[cut:]
        return pool[: params.max_train], dev, test
    order = rng.permutation(len(test))
    half = len(test) // 2
    fit = [test[i] for i in order[:half]]
    cut = max(1, len(fit) // 5)
    if len(fit) - cut > params.max_train:  # a large fitting half: max_train texts, a fifth of that for dev
        cut = max(1, params.max_train // 5)
        fit = fit[: params.max_train + cut]
    return fit[cut:], fit[:cut], [test[i] for i in order[half:]]


def _learning_curve(name, s_train, y_train, s_test, y_test, top, sign, params: Params, seed: int) -> pd.DataFrame:
    from sklearn.linear_model import LogisticRegression

    rows = []
    k = len(np.unique(y_train))
    sizes = [n for n in CURVE_SIZES if n < len(y_train)] + [len(y_train)]
    for n in sizes:
        for s in range(params.seeds if 0 < n < len(y_train) else 1):
            rng = np.random.default_rng(seed * 1000 + s)
            if n == 0:
                top_acc = zero_shot(s_train[:, top], s_test[:, top], y_test, sign) if k == 2 else 1 / k
                all_acc = float(np.mean(y_test == np.bincount(y_test).argmax()))  # no labels: a constant
            else:
                idx = rng.permutation(len(y_train))[:n]
                if len(np.unique(y_train[idx])) < k:
                    continue
                one = LogisticRegression(max_iter=1000).fit(s_train[idx][:, [top]], y_train[idx])
                every = LogisticRegression(max_iter=1000, C=0.1).fit(s_train[idx], y_train[idx])
                top_acc, all_acc = one.score(s_test[:, [top]], y_test), every.score(s_test, y_test)
            rows += [(name, n, "top unit", s, float(top_acc)), (name, n, "all units", s, float(all_acc))]
    return pd.DataFrame(rows, columns=TABLES["learning_curve"])


def _unit_layer(model: ModelView, source: str) -> str:
    """The per-position layer whose unit ``u`` is the source's unit ``u`` (for traces and clamps)."""
    rnns = recurrent_modules(model.module)
    own_features = "features" in dict(model.module.named_modules())  # a reference model's final state
    if rnns and ((source == "features" and own_features) or source.endswith(":final")):
        return rnns[-1][0]
    return source.split(":")[0]


def _traces(model: ModelView, test, pred, y, unit, source, params: Params, batch_size: int):
    right = [i for i in range(len(test)) if pred[i] == y[i]]
    wrong = [i for i in range(len(test)) if pred[i] != y[i]]
    shown = [(i, "right") for i in right[: params.trace_examples // 2]] + \
        [(i, "wrong") for i in wrong[: params.trace_examples - params.trace_examples // 2]]
    layer = _unit_layer(model, source)
    rows, deltas = [], []
    texts = [ex.text for ex in test]
    for lo in range(0, len(texts), batch_size):
        batch = model.encode(texts[lo : lo + batch_size])
        per_token = _per_token(model, batch, layer, source)
        if per_token is None:
            return (pd.DataFrame(columns=TABLES["traces"]), pd.DataFrame(columns=TABLES["moves"]),
                    _lengths(model.name, texts, pred, y))
        values = per_token[..., unit].float().cpu().numpy()  # (B, T)
        for b, toks in enumerate(batch.tokens):
            i = lo + b
            v = values[b, : len(toks)]
            deltas += [(_kind(toks[t]), abs(float(v[t] - v[t - 1]))) for t in range(1, len(toks))]
            for j, outcome in shown:
                if j == i:
                    rows += [(model.name, i, outcome, t, tok, float(v[t])) for t, tok in enumerate(toks)]
    moves = pd.DataFrame(deltas, columns=["token_kind", "change"]).groupby("token_kind").agg(
        mean_abs_change=("change", "mean"), steps=("change", "size")).reset_index()
    moves.insert(0, "model", model.name)
    return (pd.DataFrame(rows, columns=TABLES["traces"]), moves[TABLES["moves"]],
            _lengths(model.name, texts, pred, y))


def _lengths(name: str, texts: list[str], pred, y) -> pd.DataFrame:
    from reportgen.data.tokenize import word_tokens

    rows = [(name, "right" if pred[i] == y[i] else "wrong", len(word_tokens(texts[i])))
            for i in range(len(texts))]
    rows += [(name, "all", len(word_tokens(t))) for t in texts]
    return pd.DataFrame(rows, columns=TABLES["lengths"])


@torch.no_grad()
def _per_token(model: ModelView, batch, layer: str, source: str):
    """(B, T, U) states aligned with the source's units, one per token; None when the model has
    none (a user model whose pooled units have no per-token counterpart)."""
    if source == "features":  # reference models: aligned with ``features``
        try:
            return model.hidden_states(model.embed(batch.ids), batch.mask)
        except NotApplicable:
            pass
    if layer == "features" and "features" not in dict(model.module.named_modules()):
        return None  # the output layer's input (a user model): no per-token counterpart
    try:
        states = unit_states(model, batch)
    except NotApplicable:
        return None
    named = next((v for k, v in states.items() if k == layer or k.startswith(f"{layer}:")), None)
    if named is not None:  # positions must be tokens: not a convolution's windows
        return named if named.size(1) == batch.ids.size(1) else None
    return next((v for v in states.values() if v.size(1) == batch.ids.size(1)), None)


def _kind(token: str) -> str:
    if token in (".", "!", "?"):
        return "sentence end"
    if token.isspace() or token in ("\\x20", " "):
        return "space"
    if not any(c.isalnum() for c in token):
        return "punctuation"
    return "word or character"


def _sweep(model: ModelView, test, unit, values, source, classes, params: Params,
           batch_size: int) -> pd.DataFrame:
    layer = _unit_layer(model, source)
    texts = [ex.text for ex in test][: params.sweep_texts]
    grid = np.linspace(np.percentile(values, 1), np.percentile(values, 99), params.sweep_values)
    # a clamp on a layer with positions (a convolution's windows) would also set the padding of
    # the shorter texts of a batch, which a max-pool then reads: those run one text at a time
    recurrent = layer in {name for name, _ in recurrent_modules(model.module)}
    masked = mlp_units(model) is not None  # Transformers: attention masks the padding
    if not (recurrent or masked or layer == "features"):
        batch_size = 1
    rows = []
    for v in grid:
        with clamp_units(model, layer, {unit: float(v)}):
            probs = predict_proba(model, texts, batch_size=batch_size).mean(0)  # (K,)
        rows += [(model.name, float(v), model.classes[k], float(probs[k])) for k in range(len(probs))]
    return pd.DataFrame(rows, columns=TABLES["sweep"])


def _samples(model: ModelView, unit, values, params: Params, seed: int) -> pd.DataFrame:
    """Text from each prompt with the unit free and held low and high at every step: the ends of
    a tanh-bounded recurrent state (-1, +1), else the 1st and 99th percentiles of its values."""
    rows = []
    low, high = (-1.0, 1.0) if recurrent_modules(model.module) else (
        float(np.percentile(values, 1)), float(np.percentile(values, 99)))
    for v in (low, None, high):
        clamp = None if v is None else {unit: v}
        texts = generate(model, list(params.prompts), params.sample_length, clamp=clamp,
                         temperature=params.temperature, seed=seed)
        rows += [(model.name, p, "free" if v is None else f"{v:.3g}", t)
                 for p, t in zip(params.prompts, texts, strict=True)]
    return pd.DataFrame(rows, columns=TABLES["samples"])


def combine(results: dict[str, AnalysisResult], params: Params) -> AnalysisResult:
    merged = combine_per_model(results)
    for key in ("top_unit_zero_shot_accuracy", "all_units_accuracy", "random_unit_zero_shot_accuracy"):
        vals = [r.metrics[key] for r in results.values() if key in r.metrics]
        if vals:
            merged.metrics[key] = float(np.mean(vals))
    first = next(iter(results.values()))
    merged.metrics["top_unit"] = first.metrics["top_unit"]
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
    baselines=BASELINES,
    precision="fp32",
    precision_reason=(
        "its L1 probe's strength is picked by dev accuracy, which bf16 features flip: the "
        "top unit's weight share halved and twice as many units kept a weight"
    ),
)
