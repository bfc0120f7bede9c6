"""neuron_sweep: is there a unit that carries the concept, what does it do, and can we steer it?

Method (Radford, Jozefowicz and Sutskever 2017, "Learning to generate reviews and discovering
sentiment", and the blog on their "sentiment neuron"). Every per-text view of the units that the
sweep can also hold fixed is collected: the representation the output layer reads (the final state
of a recurrent model, a CNN's pooled features), each layer's units pooled over the text (and a
recurrent layer's final state; for a Transformers classifier, the MLP units of each feed-forward
block after its activation, [CLS] and [SEP] included). The view whose L1 probe does best on the
dev split is used, and the notes name it with its number of units. Then:

- **Ranking**: an L1-regularised logistic regression (scikit-learn, standardised units) over all
  units, its strength chosen on a dev split; a unit's weight is its largest |coefficient|.
- **Zero-shot** (two classes; ``neuron_sweep_scores``): each unit alone, oriented by the sign of its
  L1 weight, classifies by the post's rule (raw value vs 0: bounded units, tanh / LSTM hidden
  states) and by the unsupervised 2-means threshold, the headline rule for unbounded units (ReLU,
  pooled CNN features); the top L1 unit, the best single unit by dev accuracy with its L1 rank,
  random units (Donnelly and Roegiest 2019) with a bootstrap interval, and the full linear model.
- **Learning curve**: test accuracy against labelled training texts, top unit vs all units.
- **Traces**: the unit's oriented value at every token of texts it gets right and wrong, where it
  moves (by kind of token), and the lengths of the texts it gets right and wrong.
- **Sweeps**: the unit clamped to values across its range at every step, and the class
  probability; for a language model, text generated from fixed prompts with the unit clamped.

Data: fitted on the train split (up to ``max_train`` texts, dev carved from it when there is none),
tested on the evaluated examples; without a train split, a seeded half of the evaluated examples
is tested and up to ``max_train`` (plus a fifth for dev) of the other half fit. Unlabelled data:
NotApplicable (skipped with the reason). Tables: ``units``, ``single_units``, ``zero_shot``,
``learning_curve``, ``traces``, ``moves``, ``lengths``, ``sweep``, ``samples``. Metrics, per model
only: ``top_unit``, ``top_unit_zero_shot_accuracy`` (with ``_ci_low``/``_ci_high``),
``random_unit_zero_shot_accuracy`` (with its interval), ``best_unit``, ``best_unit_l1_rank``,
``all_units_accuracy`` and more. Cost: one feature pass over train and test texts, a few dozen
small logistic regressions, and ``sweep_texts`` x ``sweep_values`` clamped forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from reportgen.analyses.base import RunContext, map_batches
from reportgen.analyses.neuron_sweep_data import (
    _kind,
    _lengths,
    check_memory,
    label_classes,
    splits,
    sweep_notes,
)
from reportgen.analyses.neuron_sweep_scores import (
    SINGLE_UNITS,
    SPEC_LABEL,
    ZERO_SHOT,
    bounded_units,
    score_units,
)
from reportgen.analyses.neuron_sweep_views import present
from reportgen.analyses.spec import AnalysisSpec
from reportgen.analyses.unit_probes import _threshold as two_means
from reportgen.analyses.unit_probes import choose_source, learning_curve
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
# 7-8: the post's rule (raw value vs 0) as the zero-shot headline of bounded units, 2-means
# beside it; best single unit; bootstrap intervals; oriented traces; per-model metrics only
# 9: Transformers read their sentence vector and MLP units in one pass, over length-sorted batches;
# the probes of every view and strength fitted in parallel, the chosen one reused
# 10: every model's feature pass in batches of similar length (float rounding of pooled means)
VERSION = 10
TITLE = "Neuron sweeps: units that carry a concept"
HEADLINE = "top_unit_zero_shot_accuracy"
BASELINES = {"top_unit_zero_shot_accuracy": "random_unit_zero_shot_accuracy"}
REFERENCE = "Radford et al. 2017 (sentiment neuron); Donnelly & Roegiest 2019 (random units)"
CITATION = (
    "Radford, Jozefowicz, Sutskever (2017). Learning to Generate Reviews and Discovering "
    "Sentiment; Donnelly, Roegiest (2019). On Interpretability and Feature Representations: An "
    "Analysis of the Sentiment Neuron. ECIR."
)
METHOD = (
    "Each text becomes one vector of hidden units: of the views a model offers (the representation "
    "the output layer reads, such as the final state of a recurrent model or the pooled features "
    "of a CNN, and each layer's units pooled over the text), the one whose probe does best on the "
    "dev texts; the notes name it and its number of units. A logistic regression with an L1 "
    "penalty, which drives most weights to zero, is fitted on the training texts; the unit with "
    "the largest weight is the candidate concept unit.\n\n"
    "Each unit alone then classifies the test texts without labels, its value oriented by the sign "
    "of its L1 weight. The headline is the sentiment-neuron post's rule: the raw value against 0, "
    "for bounded units (tanh and LSTM hidden states). Beside it, the unsupervised 2-means "
    "threshold (the midpoint of the two clusters of the unit's training values), which is the "
    "headline for unbounded units (ReLU, pooled CNN features), where 0 means nothing. The best "
    "single unit by dev accuracy, with its rank in the L1 order, random units (mean with a 95% "
    "bootstrap interval, and best) and the full L1 model stand beside the top unit.\n\n"
    "The unit is then watched and steered: its value at every token, and the class probability "
    "(or, for a language model, generated text) when it is held at fixed values at every step."
)
HOW_TO_READ = (
    "Weights: one bar per unit; one tall bar is a concept unit. Zero-shot: each dot is one "
    "classifier's test accuracy: the top L1 unit and the best single unit under each rule, the "
    "units ranked 2-5, random units (faded) and all units; the single-units table says which "
    "unit is which (its L1 rank, dev accuracy and both rules). Learning curve: accuracy as "
    "labelled texts are added (bands: spread over seeds). Traces: the unit's value oriented by "
    "its L1 weight and measured from the rule's threshold: red leans toward the class named in "
    "the caption, blue toward the other. Sweep: the class probability as the unit is held at "
    "each value."
)

TABLES = {
    "units": ["model", "unit", "weight", "rank"],
    "single_units": SINGLE_UNITS,
    "zero_shot": ZERO_SHOT,
    "learning_curve": ["model", "labelled", "units", "seed", "accuracy"],
    "traces": ["model", "example_id", "outcome", "position", "token", "value", "oriented",
               "toward"],
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
                ("max_train", "random_units", "seeds", "sweep_values", "sweep_texts",
                 "sample_length")
                if getattr(self, n) < 1]


def skip_reason(model: ModelView) -> str | None:
    if model.task not in ("classify", "lm"):
        return (f"{model.name} is a {model.task} model; neuron_sweep needs a classifier or a "
                "language model")
    try:
        mlp_units(model)
    except NotApplicable as why:
        return str(why)
    return None


def features(model: ModelView, texts: list[str], batch_size: int,
             progress: str = "") -> dict[str, np.ndarray]:
    """Source name -> (N, U) unit values, for every per-text view of the units the model offers
    that the sweep can also hold fixed: the representation the output reads (``features``, when it
    is a module of the model), final recurrent states (``<rnn>:final``), units pooled over time
    (``<layer>:mean`` / ``:max``; for Transformers, each layer's MLP units)."""
    # every model pays for the padded positions of a batch (a Transformer in every layer): the
    # texts go in batches of similar length (longest first), and the rows come back in the texts'
    # order. MR's test reviews in batches of 64: 47,720 padded positions in example order, 25,340
    # sorted, for 23,437 tokens
    order = np.argsort([-len(t) for t in texts], kind="stable")

    def one_batch(lo: int, hi: int) -> dict[str, np.ndarray]:
        found = unit_features(model, model.encode([texts[i] for i in order[lo:hi]]))
        return {name: values.float().cpu().numpy() for name, values in found.items()}

    chunks: dict[str, list[np.ndarray]] = {}
    for part in map_batches(len(texts), one_batch, size=batch_size, desc=progress,
                            enabled=bool(progress)):
        for name, values in part.items():
            chunks.setdefault(name, []).append(values)
    back = np.argsort(order, kind="stable")  # row of each text in the sorted order
    modules = dict(model.module.named_modules())
    # a user model's output-layer input can be held fixed too; a Transformer's neurons are its
    # MLP units
    reads_features = bool(output_layer(model)) and mlp_units(model) is None
    clampable = set(modules) | ({"features"} if reads_features else set())
    return {name: np.concatenate(parts)[back] for name, parts in chunks.items()
            if _unit_layer(model, name) in clampable}


def compute(ctx: RunContext, params: Params) -> AnalysisResult:

    model = ctx.model
    train, dev, test = _splits(ctx, params)
    classes = label_classes(train, test)
    two = len(classes) == 2
    y = {k: np.array([classes.index(ex.label) for ex in part])
         for k, part in (("train", train), ("dev", dev), ("test", test))}
    if ctx.memory_budget is not None:  # the units per text, from one text's pass
        check_memory(ctx, features(model, [train[0].text], 1), len(train) + len(dev) + len(test))
    bar = (lambda part: f"neuron_sweep {model.name} ({part} texts)") if ctx.progress \
        else (lambda part: "")
    f_train, f_dev = (features(model, [ex.text for ex in part], ctx.batch_size, bar(name))
                      for name, part in (("train", train), ("dev", dev)))
    source, dev_scores, (scaler, probe) = choose_source(f_train, f_dev, y["train"], y["dev"],
                                                        ctx.seed)
    f_test = features(model, [ex.text for ex in test], ctx.batch_size, bar("evaluated"))
    x = {"train": f_train[source], "dev": f_dev[source], "test": f_test[source]}  # (N, U) each
    s = {k: scaler.transform(v) for k, v in x.items()}
    weights = np.abs(probe.coef_).max(0)  # (U,)
    order = np.argsort(-weights, kind="stable")
    top = int(order[0])
    all_acc = float(probe.score(s["test"], y["test"]))
    bounded, why = bounded_units(_recurrent_source(model, source, weights.size), source,
                                 x["train"])
    units = pd.DataFrame({"model": model.name, "unit": np.arange(weights.size), "weight": weights,
                          "rank": np.argsort(order) + 1})
    metrics = {
        "top_unit": float(top), "all_units_accuracy": all_acc,
        "top_unit_weight_share": float(weights[top] / max(weights.sum(), 1e-12)),
        "units": float(weights.size), "nonzero_units": float((weights > 0).sum()),
        "train_examples": float(len(train)), "test_examples": float(len(test)),
    }
    labels = {"all_units_accuracy": "accuracy of the L1 probe over all units"}
    if two:
        scored = score_units(model.name, x, y, probe.coef_[0], order, bounded,
                             params.random_units, ctx.seed)
        metrics |= scored["metrics"]
        labels |= scored["labels"]
        single, zero = scored["single_units"], scored["zero_shot"]
        sign, cut = float(scored["sign"][top]), float(scored["cut"][top])
        toward = classes[1]  # oriented: > 0 is the rule's call for class 1, whatever the sign
        test_pred = (x["test"][:, top] * sign > cut).astype(int)
        zero_acc = metrics["top_unit_zero_shot_accuracy"]
    else:  # one probe per class: the top unit leans toward the class of its largest weight
        single = pd.DataFrame(columns=TABLES["single_units"])
        zero = pd.DataFrame()
        k = int(np.abs(probe.coef_[:, top]).argmax())
        sign, toward = float(np.sign(probe.coef_[k, top]) or 1.0), classes[k]
        cut = 0.0 if bounded else float(two_means(x["train"][:, top] * sign))
        test_pred, zero_acc = probe.predict(s["test"]), float("nan")
    full = pd.DataFrame([(model.name, "all units", -1, "L1 probe", all_acc)],
                        columns=TABLES["zero_shot"])
    zero = pd.concat([zero, full], ignore_index=True) if len(zero) else full
    curve = learning_curve(model.name, s["train"], y["train"], s["test"], y["test"], top,
                           zero_acc, params.seeds, ctx.seed, CURVE_SIZES,
                           TABLES["learning_curve"])
    traces, moves, lengths = _traces(model, test, test_pred, y["test"], top, source, params,
                                     ctx.batch_size, (sign, cut, toward))
    sweep = _sweep(model, test, top, x["test"][:, top], source, classes, params, ctx.batch_size) \
        if model.is_classifier else pd.DataFrame(columns=TABLES["sweep"])
    samples = _samples(model, top, x["test"][:, top], params, ctx.seed) if model.task == "lm" \
        else pd.DataFrame(columns=TABLES["samples"])
    return AnalysisResult(
        tables={"units": units, "single_units": single, "zero_shot": zero,
                "learning_curve": curve, "traces": traces, "moves": moves, "lengths": lengths,
                "sweep": sweep, "samples": samples},
        metrics=metrics,
        labels=labels,
        notes=sweep_notes(model.name, source, f_train, dev_scores,
                          (len(train), len(dev), len(test)), probe.C, why, two),
    )


def _splits(ctx: RunContext, params: Params):
    """(train, dev, test) labelled examples (``neuron_sweep_data.splits``)."""
    return splits(ctx, params.max_train)


def _recurrent_source(model: ModelView, source: str, units: int) -> torch.nn.RNNBase | None:
    """The recurrent module whose hidden states the source's units are: its layer itself, or the
    last recurrent module of that width behind a hook point (an identity naming its outputs)."""
    layer = _unit_layer(model, source)
    rnns = recurrent_modules(model.module)
    if layer in dict(rnns):
        return dict(rnns)[layer]
    if isinstance(dict(model.module.named_modules()).get(layer), torch.nn.Identity):
        return next((m for _, m in reversed(rnns)
                     if m.hidden_size * (2 if m.bidirectional else 1) == units), None)
    return None


def _unit_layer(model: ModelView, source: str) -> str:
    """The per-position layer whose unit ``u`` is the source's unit ``u`` (traces, clamps)."""
    rnns = recurrent_modules(model.module)
    # a reference model's final state
    own_features = "features" in dict(model.module.named_modules())
    if rnns and ((source == "features" and own_features) or source.endswith(":final")):
        return rnns[-1][0]
    return source.split(":")[0]


def _traces(model: ModelView, test, pred, y, unit, source, params: Params, batch_size: int,
            orient: tuple[float, float, str]):
    """Traced texts (``oriented``: sign * value - threshold, > 0 toward the class ``toward``), the
    unit's moves by kind of token, and the lengths of the texts it gets right and wrong."""
    sign, cut, toward = orient
    right = [i for i in range(len(test)) if pred[i] == y[i]]
    wrong = [i for i in range(len(test)) if pred[i] != y[i]]
    shown = [(i, "right") for i in right[: params.trace_examples // 2]] + \
        [(i, "wrong") for i in wrong[: params.trace_examples - params.trace_examples // 2]]
    layer = _unit_layer(model, source)
    texts = [ex.text for ex in test]
    shown_as = dict(shown)  # example -> outcome
    # batches of texts of about the same length; each text's rows and moves are kept apart and
    # put back in example order, so the tables do not depend on the batching
    rows_of: dict[int, list[tuple]] = {}
    deltas_of: dict[int, list[tuple[str, float]]] = {}
    order = np.argsort([-len(t) for t in texts], kind="stable")
    for lo in range(0, len(texts), batch_size):
        ids = [int(i) for i in order[lo : lo + batch_size]]
        batch = model.encode([texts[i] for i in ids])
        per_token = _per_token(model, batch, layer, source)
        if per_token is None:
            return (pd.DataFrame(columns=TABLES["traces"]), pd.DataFrame(columns=TABLES["moves"]),
                    _lengths(model.name, texts, pred, y))
        values = per_token[..., unit].float().cpu().numpy()  # (B, T)
        for b, toks in enumerate(batch.tokens):
            i = ids[b]
            v = values[b, : len(toks)]
            deltas_of[i] = [(_kind(toks[t]), abs(float(v[t] - v[t - 1])))
                            for t in range(1, len(toks))]
            if i in shown_as:
                rows_of[i] = [(model.name, i, shown_as[i], t, tok, float(v[t]),
                               float(sign * v[t] - cut), toward) for t, tok in enumerate(toks)]
    deltas = [d for i in range(len(texts)) for d in deltas_of[i]]
    rows = [r for i in sorted(rows_of) for r in rows_of[i]]
    moves = pd.DataFrame(deltas, columns=["token_kind", "change"]).groupby("token_kind").agg(
        mean_abs_change=("change", "mean"), steps=("change", "size")).reset_index()
    moves.insert(0, "model", model.name)
    return (pd.DataFrame(rows, columns=TABLES["traces"]), moves[TABLES["moves"]],
            _lengths(model.name, texts, pred, y))


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
        rows += [(model.name, float(v), model.classes[k], float(probs[k]))
                 for k in range(len(probs))]
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
    baselines=BASELINES,
    headline_label=SPEC_LABEL,
    reference=REFERENCE,
    memory_setting="neuron_sweep.max_train",
    precision="fp32",
    precision_reason=(
        "its L1 probe's strength is picked by dev accuracy, which bf16 features flip: the "
        "top unit's weight share halved and twice as many units kept a weight"
    ),
)
