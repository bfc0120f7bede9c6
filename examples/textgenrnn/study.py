"""neuron_sweep's question on a pretrained language model nobody here trained: textgenrnn over MR.

    python examples/textgenrnn/study.py                      # MR from ../shared/data/mr
    python examples/textgenrnn/study.py --data mr:DIR --train 2500 --dev 500 --json out.json

The sentiment-neuron setting (Radford et al. 2017) on textgenrnn's character LSTM (model.py here):
a language model trained without labels, on Reddit titles, then probed for a sentiment unit on MR
movie-review sentences. It runs here rather than through ``reportgen run`` because a
``UserModel`` cannot be declared a language model (see this folder's README); the probe and the
2-means threshold are neuron_sweep's, written out.

Method. Each text is read by the LSTMs in three ways, each giving one vector of units, the
final hidden states of rnn_1 and rnn_2 (256 units, tanh-bounded): ``whole`` (every character, from
a zero state, as the sentiment-neuron post reads a review), ``last40`` (textgenrnn's window for
predicting the next character: the last 40 of [<s>] + text, left-padded) and ``first40`` (the
window of textgenrnn's ``encode_text_vectors``: the first 40 characters); and, as neuron_sweep
also offers them, the whole reading's states averaged (``whole:mean``) and maxed (``whole:max``)
over its characters. Then, per reading:

- L1 logistic regression over all units (standardised on train; C from neuron_sweep's grid, chosen
  by dev accuracy); its |weights| rank the units; beside it the same probe over the cell states
  (``whole``) and over textgenrnn's own text vector (the attention output, 356-d).
- Zero-shot accuracy of single units under both rules, each unit oriented by the sign of its L1
  weight (by its correlation with the training labels where the weight is 0), never by test labels:
  the post's rule (positive when the oriented raw value is > 0) and neuron_sweep's unsupervised
  2-means midpoint of the oriented training values. For the top L1 unit, the best single unit by
  dev accuracy (each rule), and the mean over all 256 units.
- Clamped generation: the best single unit by dev accuracy (2-means) over the five views, held
  at -1 and +1 at every step of every window while textgenrnn's own sampling loop writes from
  three prompts (seeded), beside free samples. The samples are scored by an independent judge, a
  TF-IDF logistic regression trained on the whole MR train split, to see whether the clamp moves
  their sentiment.

Cost (MR, 2,500 + 500 training texts, 1,066 test texts, 2 CPU cores): ~1 min, most of it clamped
generation (the LSTMs step by step, 40 steps per character).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import torch

from reportgen.data.loaders import load_data

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[2] / "shared" / "data" / "mr"
PROMPTS = ("this movie is", "i thought the film was", "the acting")
READINGS = ("whole", "whole:mean", "whole:max", "last40", "first40")


def _model_module():
    spec = importlib.util.spec_from_file_location("textgenrnn_model", HERE / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- features ------------------------------------------------------------------------------------
@torch.no_grad()
def readings(tg, port, encoder, texts: list[str], batch: int = 256) -> dict[str, np.ndarray]:
    """Reading name -> (N, U) unit values: final h (256) of each reading, the whole reading's h
    averaged and maxed over the characters (``whole:mean``, ``whole:max``), and ``whole:c`` (cell
    states) and ``first40:attention`` (textgenrnn's encode_text_vectors, 356-d)."""
    out: dict[str, list[np.ndarray]] = {}
    for lo in range(0, len(texts), batch):
        part = texts[lo : lo + batch]
        rows = [encoder.ids(t) for t in part]
        ids = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)  # (B, T) right-padded
        for b, row in enumerate(rows):
            ids[b, : len(row)] = torch.tensor(row)
        lengths = torch.tensor([len(r) for r in rows])
        whole = port.final_states(ids, lengths)
        found = {"whole": whole["h"], "whole:c": whole["c"]}
        emb = port.embedding(ids)  # unidirectional: the padding after a text changes nothing in it
        out_1 = port.rnn_1(emb)[0]
        states = torch.cat([out_1, port.rnn_2(out_1)[0]], -1)  # (B, T, 256)
        mask = (torch.arange(ids.size(1))[None] < lengths[:, None])[..., None]  # (B, T, 1)
        found["whole:mean"] = (states * mask).sum(1) / lengths[:, None]
        found["whole:max"] = states.masked_fill(~mask, float("-inf")).max(1).values
        for name, first in (("last40", False), ("first40", True)):
            run = port.run(tg.windows(encoder, part, first=first))
            found[name] = torch.cat([run.rnn_1[:, -1], run.rnn_2[:, -1]], -1)  # (B, 256)
            if first:
                found["first40:attention"] = run.attention
        for name, values in found.items():
            out.setdefault(name, []).append(values.numpy())
    return {name: np.concatenate(parts) for name, parts in out.items()}


# -- probes and single units ---------------------------------------------------------------------
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # neuron_sweep's grid of L1 strengths


def l1_probe(x, y, x_dev, y_dev, seed: int):
    """neuron_sweep's probe: L1 logistic regression (liblinear), C from ``C_GRID`` by dev accuracy
    (the first of equals). Written out here, not imported: reportgen's probe functions are moving
    between modules while this example is written."""
    import sklearn
    from sklearn.linear_model import LogisticRegression

    l1 = {"l1_ratio": 1.0} if tuple(int(v) for v in sklearn.__version__.split(".")[:2]) >= (1, 8) \
        else {"penalty": "l1"}  # scikit-learn 1.8 moved the L1 penalty to l1_ratio
    best, best_acc = None, -1.0
    for c in C_GRID:
        clf = LogisticRegression(C=c, solver="liblinear", random_state=seed, max_iter=2000, **l1)
        acc = clf.fit(x, y).score(x_dev, y_dev)
        if acc > best_acc + 1e-9:
            best, best_acc = clf, acc
    return best


def two_means_threshold(values: np.ndarray) -> float:
    """neuron_sweep's unsupervised threshold: the midpoint of the two clusters of ``values``
    (1-D 2-means from the quartiles), no labels."""
    lo, hi = np.percentile(values, 25), np.percentile(values, 75)
    for _ in range(50):
        mid = (lo + hi) / 2
        left, right = values[values <= mid], values[values > mid]
        if not len(left) or not len(right):
            break
        new = (left.mean(), right.mean())
        if np.allclose(new, (lo, hi)):
            break
        lo, hi = new
    return float((lo + hi) / 2)


def probe(x: dict[str, np.ndarray], y: dict[str, np.ndarray], seed: int):
    """neuron_sweep's L1 probe on standardised units -> (classifier, scaler, test accuracy)."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x["train"])
    s = {k: scaler.transform(v) for k, v in x.items()}
    clf = l1_probe(s["train"], y["train"], s["dev"], y["dev"], seed)
    return clf, float(clf.score(s["test"], y["test"]))


def orientations(coef: np.ndarray, x_train: np.ndarray, y_train: np.ndarray) -> np.ndarray:
    """+1 / -1 per unit: the sign of its L1 weight,
    else of its correlation with the train labels."""
    corr = np.array([np.corrcoef(x_train[:, u], y_train)[0, 1] if x_train[:, u].std() > 0 else 0.0
                     for u in range(x_train.shape[1])])
    sign = np.where(coef != 0, np.sign(coef), np.sign(np.nan_to_num(corr)))
    return np.where(sign == 0, 1.0, sign)


def unit_accuracies(x: dict[str, np.ndarray], y: dict[str, np.ndarray], sign: np.ndarray):
    """Per unit and split, the accuracy of both zero-shot rules: ``post`` (oriented raw value > 0)
    and ``kmeans`` (oriented value > the 2-means midpoint of its oriented training values)."""
    thresholds = np.array([two_means_threshold(x["train"][:, u] * sign[u])
                           for u in range(sign.size)])
    acc = {}
    for split in ("dev", "test"):
        oriented = x[split] * sign  # (N, U)
        acc[("post", split)] = ((oriented > 0) == y[split][:, None]).mean(0)
        acc[("kmeans", split)] = ((oriented > thresholds) == y[split][:, None]).mean(0)
    return acc, thresholds


def study_reading(x: dict[str, np.ndarray], y: dict[str, np.ndarray], seed: int) -> dict:
    clf, all_acc = probe(x, y, seed)
    coef = clf.coef_[0]  # (U,)
    order = np.argsort(-np.abs(coef), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(1, order.size + 1)  # meaningful for the units L1 kept (weight != 0)
    sign = orientations(coef, x["train"], y["train"])
    acc, thresholds = unit_accuracies(x, y, sign)

    def unit(u: int, why: str) -> dict:
        return {"unit": int(u), "chosen_by": why, "layer": "rnn_1" if u < 128 else "rnn_2",
                "l1_rank": int(rank[u]) if coef[u] != 0 else None,  # None: L1 dropped it
                "l1_weight": float(coef[u]), "sign": float(sign[u]),
                "kmeans_threshold": float(thresholds[u]),
                "train_range_1_99": [float(v) for v in np.percentile(x["train"][:, u], [1, 99])],
                **{f"{rule}_{split}": float(acc[(rule, split)][u])
                   for rule in ("post", "kmeans") for split in ("dev", "test")}}

    top = int(order[0])
    # first on ties
    best = {rule: int(np.argmax(acc[(rule, "dev")])) for rule in ("post", "kmeans")}
    return {
        "units": int(coef.size), "all_units_accuracy": all_acc, "l1_C": float(clf.C),
        "nonzero_units": int((coef != 0).sum()),
        "top_unit_weight_share": float(np.abs(coef[top]) / max(np.abs(coef).sum(), 1e-12)),
        "top_l1_unit": unit(top, "largest L1 weight") if coef[top] != 0 else None,
        "best_unit_kmeans": unit(best["kmeans"], "best dev accuracy, 2-means rule"),
        "best_unit_post": unit(best["post"], "best dev accuracy, post's rule"),
        "mean_unit": {f"{rule}_test": float(acc[(rule, "test")].mean()) for rule in ("post",
                                                                                      "kmeans")},
        "best_unit_on_test_oracle": {f"{rule}_test": float(acc[(rule, "test")].max())
                                     for rule in ("post", "kmeans")},
    }


# -- clamped generation --------------------------------------------------------------------------
def judge(dataset):
    """An independent sentiment judge for generated text: TF-IDF (1-2 grams) + logistic regression
    on the whole MR train split -> (pipeline, its test accuracy)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train, test = dataset.split("train"), dataset.split("test")
    pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                         LogisticRegression(C=4.0, max_iter=2000))
    pipe.fit([ex.text for ex in train], [ex.label for ex in train])
    return pipe, float(pipe.score([ex.text for ex in test], [ex.label for ex in test]))


def clamped_samples(tg, port, encoder, unit: int, sign: float, n: int, length: int,
                    temperature: float, seed: int, judge_pipe, positive: str) -> dict:
    """Samples per prompt, free and with ``unit`` held at its negative and positive end (-1, +1
    oriented by ``sign``), each setting with the same seeds; mean judged P(positive)."""
    out = {}
    settings = (("free", None), ("negative end", -sign), ("positive end", sign))
    prefixes = [p for p in PROMPTS for _ in range(n)]
    for name, value in settings:
        clamp = None if value is None else {unit: float(value)}
        texts = tg.generate(port, encoder, prefixes, length, temperature, seed, clamp)
        full = [p + t for p, t in zip(prefixes, texts, strict=True)]
        k = list(judge_pipe.classes_).index(positive)
        p_pos = judge_pipe.predict_proba(full)[:, k]
        out[name] = {"value": value, "samples": full, "p_positive": p_pos.tolist(),
                     "mean_p_positive": float(p_pos.mean()),
                     "se_p_positive": float(p_pos.std(ddof=1) / np.sqrt(p_pos.size))}
    diff = np.array(out["positive end"]["p_positive"]) - np.array(out["negative end"]["p_positive"])
    out["positive_minus_negative"] = {"mean": float(diff.mean()),  # paired: the same seeds
                                      "se": float(diff.std(ddof=1) / np.sqrt(diff.size))}
    return out


# -- the study -----------------------------------------------------------------------------------
def run(data: str, n_train: int, n_dev: int, n_test: int | None, samples: int, length: int,
        temperature: float, seed: int) -> dict:
    times: dict[str, float] = {}
    start = time.perf_counter()
    torch.manual_seed(seed)
    tg = _model_module()
    port, encoder = tg.load_textgenrnn(), tg.Encoder()
    dataset = load_data(data)
    classes = sorted({ex.label for ex in dataset.split("all") if ex.label is not None})
    positive = "positive" if "positive" in classes else classes[-1]
    rng = np.random.default_rng(seed)
    pool = dataset.split("train")
    chosen = [pool[i] for i in rng.permutation(len(pool))[: n_train + n_dev]]
    test = dataset.split("test")
    test = (test if n_test is None
            else [test[i] for i in np.sort(rng.permutation(len(test))[:n_test])])
    parts = {"train": chosen[:n_train], "dev": chosen[n_train:], "test": test}
    y = {k: np.array([int(ex.label == positive) for ex in v]) for k, v in parts.items()}
    times["load"] = time.perf_counter() - start

    t = time.perf_counter()
    feats = {k: readings(tg, port, encoder, [ex.text for ex in v]) for k, v in parts.items()}
    times["features"] = time.perf_counter() - t

    t = time.perf_counter()
    results = {name: study_reading({k: feats[k][name] for k in parts}, y, seed)
               for name in READINGS}
    extra = {name: probe({k: feats[k][name] for k in parts}, y, seed)[1]
             for name in ("whole:c", "first40:attention")}
    times["probes"] = time.perf_counter() - t

    t = time.perf_counter()
    reading = max(READINGS, key=lambda r: results[r]["best_unit_kmeans"]["kmeans_dev"])
    best = results[reading]["best_unit_kmeans"]
    judge_pipe, judge_acc = judge(dataset)
    gen = clamped_samples(tg, port, encoder, best["unit"], best["sign"], samples, length,
                          temperature, seed, judge_pipe, positive)
    times["generation"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - start
    return {
        "data": data, "texts": {k: len(v) for k, v in parts.items()}, "positive": positive,
        "readings": results, "all_units_accuracy_other_views": extra,
        "generation": {"reading": reading, "unit": best["unit"], "prompts": list(PROMPTS),
                       "samples_per_prompt": samples, "length": length,
                       "temperature": temperature, "judge_test_accuracy": judge_acc, **gen},
        "seconds": times, "torch_threads": torch.get_num_threads(),
    }


def summary(r: dict) -> str:
    lines = [f"texts: {r['texts']}  (positive class: {r['positive']!r})"]
    for name, res in r["readings"].items():
        lines.append(f"\n[{name}] {res['units']} units, L1 over all units: "
                     f"{res['all_units_accuracy']:.1%} (C={res['l1_C']:g}, "
                     f"{res['nonzero_units']} nonzero; top unit's weight share "
                     f"{res['top_unit_weight_share']:.1%})")
        for key in ("top_l1_unit", "best_unit_kmeans", "best_unit_post"):
            u = res[key]
            if u is None:
                lines.append("  largest L1 weight: none (the probe chosen on dev kept no unit)")
                continue
            rank = f"L1 rank {u['l1_rank']} of {res['nonzero_units']}" if u["l1_rank"] \
                else f"weight 0: not among the {res['nonzero_units']} units L1 kept"
            lines.append(f"  {u['chosen_by']:<32} unit {u['unit']:>3} ({u['layer']}, {rank}): "
                         f"post's rule {u['post_test']:.1%}, 2-means "
                         f"{u['kmeans_test']:.1%} "
                         f"(dev {u['post_dev']:.1%} / {u['kmeans_dev']:.1%})")
        m, o = res["mean_unit"], res["best_unit_on_test_oracle"]
        lines.append(f"  mean over all units: post's rule {m['post_test']:.1%}, 2-means "
                     f"{m['kmeans_test']:.1%}; best unit picked on test (oracle): "
                     f"{o['post_test']:.1%} / {o['kmeans_test']:.1%}")
    lines.append("\nL1 over other views: " + ", ".join(
        f"{k} {v:.1%}" for k, v in r["all_units_accuracy_other_views"].items()))
    g = r["generation"]
    lo, hi = r["readings"][g["reading"]]["best_unit_kmeans"]["train_range_1_99"]
    lines.append(f"\nclamped generation: unit {g['unit']} (best by dev, reading {g['reading']!r}; "
                 f"1st-99th percentile of its training values {lo:.3f} to {hi:.3f}), "
                 f"T={g['temperature']}, "
                 f"judge (TF-IDF LR) test accuracy {g['judge_test_accuracy']:.1%}")
    for name in ("free", "negative end", "positive end"):
        s = g[name]
        lines.append(f"  {name} (value {s['value']}): mean judged P(positive) "
                     f"{s['mean_p_positive']:.3f} +- {s['se_p_positive']:.3f} (se)")
        for text in s["samples"][:: g["samples_per_prompt"]]:
            lines.append(f"    {text!r}")
    d = g["positive_minus_negative"]
    lines.append(f"  positive end - negative end (paired by seed): "
                 f"{d['mean']:+.3f} +- {d['se']:.3f}")
    lines.append("\nseconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r["seconds"].items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=f"mr:{DEFAULT_DATA}", help="a reportgen data SPEC")
    parser.add_argument("--train", type=int, default=2500, help="training texts (seeded sample)")
    parser.add_argument("--dev", type=int, default=500, help="dev texts, from the train split")
    parser.add_argument("--test", type=int, default=None, help="test texts (default: all)")
    parser.add_argument("--samples", type=int, default=20, help="samples per prompt and setting")
    parser.add_argument("--length", type=int, default=80, help="characters per sample")
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    result = run(args.data, args.train, args.dev, args.test, args.samples, args.length,
                 args.temperature, args.seed)
    print(summary(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
