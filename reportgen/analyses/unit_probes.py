"""Linear probes over units, and how well one unit alone does (for ``neuron_sweep``).

Method (Radford et al. 2017; Donnelly and Roegiest 2019): an L1-regularised logistic regression
over standardised units, its strength chosen on the dev split, ranks the units by the largest
absolute weight. One unit alone classifies without labels by two rules, each on the unit's value
oriented by the sign of its L1 weight (a unit the probe dropped: of its correlation with the
training labels; never the test labels): the sentiment-neuron post's rule, the raw value against 0
(for bounded units: tanh and LSTM hidden states), and the unsupervised 2-means threshold, the
midpoint of the two clusters of its training values. Intervals: a seeded bootstrap over test texts
(and, for the mean random unit, over the random units too).

Cost: per view of the units, ``len(STRENGTHS)`` liblinear fits on an (N, U) matrix, and the
learning curve's L2 fits; large ones in a pool of one process per core, as one stream (a
MiniLM-size model's 12 views x 6 strengths over 5,000 texts: 29 s on two cores, 41 s one view
at a time). Per-unit scores are (N, U) comparisons.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


def _l1() -> dict:
    """An L1 penalty: scikit-learn 1.8 moved it from ``penalty`` to ``l1_ratio``."""
    import sklearn

    return (
        {"l1_ratio": 1.0}
        if tuple(int(x) for x in sklearn.__version__.split(".")[:2]) >= (1, 8)
        else {"penalty": "l1"}
    )


STRENGTHS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # C of the L1 path, the strongest penalty first
# values over a path's fits (times the fits per class beyond two): smaller paths are fitted in
# this process, as starting the pool (about 1.5 s here: processes importing scikit-learn) costs
# more than the second core gives back. kim-cnn's MR neuron_sweep (27M values) took 6.3 and 6.6 s
# in this process against 7.1 and 6.7 s pooled (2.0M then); AG News' four classes pool it.
PARALLEL_ABOVE = 40_000_000


def l1_probe(x, y, x_dev, y_dev, seed: int):
    """The L1 logistic regression of the ``STRENGTHS`` path with the best dev accuracy (ties:
    the strongest penalty)."""
    return _best(_fit_all([(x, y, c, seed) for c in STRENGTHS]), x, y, x_dev, y_dev)


def _fit_one(task: tuple) -> object:
    from sklearn.linear_model import LogisticRegression

    x, y, c, seed = task
    if isinstance(x, str):  # a file the caller wrote once for every fit of this x
        x = np.load(x, mmap_mode="r")
    clf = LogisticRegression(C=c, solver="liblinear", random_state=seed, max_iter=2000, **_l1())
    if len(np.unique(y)) > 2:  # liblinear fits two classes: one L1 probe per class vs the rest
        return _one_vs_rest(clf, x, y)
    return clf.fit(x, y)


def _fit_all(tasks: list[tuple]) -> list:
    """Every (x, y, C, seed) fit, in order (``_fit_stream``)."""
    values = sum(t[0].size for t in tasks) * (_binary_fits(tasks[0][1]) if tasks else 1)
    return list(_fit_stream(iter(tasks), values, len(tasks)))


def _fit_stream(tasks: Iterator[tuple], values: int, count: int, fit=None) -> Iterator:
    """``fit`` (default ``_fit_one``) of each of ``tasks`` ((x, y, C, seed) each; ``values``: the
    sum of their x sizes, ``count`` of them), yielded in the order given, from a pool of one
    worker process per CPU core when they are large enough. Processes, not threads: liblinear
    seeds one C-library random generator per process (``srand``), which threads would share, and
    then the fits would depend on their timing. Each fit is then that of one after the other, bit
    for bit; joblib hands the arrays over as memory maps. The tasks are drawn as the workers free
    up (two per worker ahead), so a caller's generator holds only the arrays of the fits in
    flight."""
    fit = fit or _fit_one
    if not _pooled(values, count):
        return (fit(t) for t in tasks)
    from joblib import Parallel, delayed

    return Parallel(n_jobs=min(count, os.cpu_count() or 1), backend="loky", return_as="generator",
                    pre_dispatch="2*n_jobs")(delayed(fit)(t) for t in tasks)


def _binary_fits(y) -> int:
    """The work of a fit in units of a two-class fit: liblinear fits one probe per class beyond two
    classes (one vs the rest); the learning curve's lbfgs fit is one multinomial fit, whose
    gradient grows with the classes alike."""
    k = len(np.unique(y))
    return k if k > 2 else 1


def _pooled(values: int, count: int) -> bool:
    """Whether ``count`` fits over ``values`` numbers in all go to a pool of processes."""
    return min(count, os.cpu_count() or 1) > 1 and values >= PARALLEL_ABOVE


def _best(fits: list, x, y, x_dev, y_dev):
    """The first fit (in path order) with the best dev accuracy (train accuracy without dev)."""
    best, best_acc = None, -1.0
    for clf in fits:
        acc = clf.score(x_dev, y_dev) if len(y_dev) else clf.score(x, y)
        if acc > best_acc + 1e-9:
            best, best_acc = clf, acc
    assert best is not None
    return best


def _one_vs_rest(estimator, x, y):
    """``estimator`` fitted one class against the rest per class (AG News: 4 probes), with
    ``coef_`` (K, U) stacked from the per-class probes as a multinomial model would have it."""
    from sklearn.multiclass import OneVsRestClassifier

    clf = OneVsRestClassifier(estimator).fit(x, y)
    clf.coef_ = np.vstack([e.coef_ for e in clf.estimators_])  # (K, U)
    clf.C = estimator.C
    return clf


def _threshold(values: np.ndarray) -> float:
    """Midpoint between the two clusters of ``values`` (1-D 2-means), found without labels."""
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


def orientation(values: np.ndarray, y: np.ndarray) -> float:
    """The side of the unit that class 1 is on (the sign of its correlation with the label)."""
    c = np.corrcoef(values, y)[0, 1] if values.std() > 0 else 0.0
    return 1.0 if not np.isfinite(c) or c >= 0 else -1.0


def zero_shot(
    train_values: np.ndarray, test_values: np.ndarray, y_test: np.ndarray, sign: float
) -> float:
    threshold = _threshold(train_values * sign)
    return float(((test_values * sign > threshold).astype(int) == y_test).mean())


def choose_source(
    train: dict, dev: dict, y_train, y_dev, seed: int
) -> tuple[str, dict[str, float], tuple]:
    """The view of the units whose L1 probe does best on the dev split (ties: the first offered,
    so the representation the output reads wins a tie), every view's dev accuracy, and the
    chosen view's (scaler, probe). Every view's path goes to one pool (``_fit_stream``) as one
    stream of fits, each view's weakest penalty first (its longest fit), so no worker waits for
    the slowest fit of a view before the next view starts; a view's standardised copy (the
    memory) is made when its first fit is handed out and dropped when its last comes back. The
    fits are those of one view after the other, bit for bit."""
    from sklearn.preprocessing import StandardScaler

    names = list(train)
    longest_first = sorted(range(len(STRENGTHS)), key=lambda i: -STRENGTHS[i])
    values = sum(v.size for v in train.values()) * len(STRENGTHS) * _binary_fits(y_train)
    pooled = _pooled(values, len(names) * len(STRENGTHS))
    scalers: dict[str, object] = {}
    scores: dict[str, float] = {}
    best, fitted = "", None
    with tempfile.TemporaryDirectory(prefix="reportgen-probes-") as folder:
        files = {name: os.path.join(folder, f"{k}.npy") for k, name in enumerate(names)}

        def tasks() -> Iterator[tuple]:
            for name in names:
                scalers[name] = StandardScaler().fit(train[name])
                x = scalers[name].transform(train[name])  # (N, U) standardised
                if pooled:  # written once: joblib would hash and copy it for every fit
                    np.save(files[name], x)
                for i in longest_first:
                    yield files[name] if pooled else x, y_train, STRENGTHS[i], seed

        stream = _fit_stream(tasks(), values, len(names) * len(STRENGTHS))
        for name in names:
            fits = [None] * len(STRENGTHS)
            for i in longest_first:
                fits[i] = next(stream)
            if pooled:
                os.remove(files[name])
            scaler = scalers.pop(name)
            x_dev = scaler.transform(dev[name])
            x = scaler.transform(train[name]) if not len(y_dev) else None  # scored on train
            probe = _best(fits, x, y_train, x_dev, y_dev)
            scores[name] = float(probe.score(x_dev, y_dev))
            if fitted is None or scores[name] > scores[best]:  # ties: the first offered
                best, fitted = name, (scaler, probe)
    assert fitted is not None
    return best, scores, fitted


# -- one unit alone ------------------------------------------------------------------------------
POST = "raw value vs 0"  # the sentiment-neuron post's rule
TWO_MEANS = "2-means threshold"  # unsupervised: the midpoint of the two clusters of its values


def orientations(coef: np.ndarray, x_train: np.ndarray, y_train: np.ndarray):
    """(U,) +1 / -1 per unit, and where it came from: the sign of the unit's L1 weight (for class
    1), else, for a unit the L1 probe dropped, of its correlation with the training labels; never
    from test labels."""
    corr = np.array([orientation(x_train[:, u], y_train) for u in range(x_train.shape[1])])
    sign = np.where(coef != 0, np.sign(coef), corr)
    return sign, np.where(coef != 0, "L1 weight", "training correlation")


@dataclass
class UnitRules:
    """Per unit, each zero-shot rule's predictions scored on dev and test (binary labels).

    ``post``: class 1 where the oriented raw value is > 0 (the rule of the sentiment-neuron post:
    for bounded units, tanh or LSTM hidden states); ``two_means``: class 1 where the oriented value
    is above the 2-means midpoint of its oriented training values (found without labels)."""

    sign: np.ndarray  # (U,)
    threshold: np.ndarray  # (U,) 2-means midpoint, in oriented raw units
    correct: dict[tuple[str, str], np.ndarray]  # (rule, split) -> (N_split, U) bool

    def accuracy(self, rule: str, split: str) -> np.ndarray:
        return self.correct[(rule, split)].mean(0)  # (U,)

    def cut(self, rule: str) -> np.ndarray:
        """(U,) the threshold of ``rule`` on the oriented raw value."""
        return np.zeros_like(self.threshold) if rule == POST else self.threshold


def unit_rules(x: dict[str, np.ndarray], y: dict[str, np.ndarray], sign: np.ndarray) -> UnitRules:
    """Both zero-shot rules for every unit; ``x``: split -> (N, U) raw values."""
    oriented = {k: v * sign for k, v in x.items()}  # (N, U) each
    threshold = np.array([_threshold(oriented["train"][:, u]) for u in range(sign.size)])
    correct = {}
    for split in ("dev", "test"):
        truth = y[split][:, None].astype(bool)  # (N, 1)
        correct[(POST, split)] = (oriented[split] > 0) == truth
        correct[(TWO_MEANS, split)] = (oriented[split] > threshold) == truth
    return UnitRules(sign, threshold, correct)


def best_unit(dev_accuracy: np.ndarray, order: np.ndarray) -> int:
    """The unit with the best dev accuracy; among equals, the first in the L1 order."""
    ranked = dev_accuracy[order]
    return int(order[int(np.argmax(ranked))])


def bootstrap(top: np.ndarray, random: np.ndarray, seed: int, n: int = 1000):
    """95% intervals, over ``n`` seeded resamples, of the accuracy of one unit (``top``: (N,)
    correct or not per test text) and of the mean accuracy of a random unit (``random``: (N, R),
    texts and units both resampled) -> ((low, high), (low, high))."""
    rng = np.random.default_rng(seed)
    texts, units = top.size, random.shape[1]
    w = rng.multinomial(texts, np.full(texts, 1 / texts), size=n) / texts  # (n, N)
    one = w @ top.astype(float)  # (n,)
    per_unit = w @ random.astype(float)  # (n, R)
    v = rng.multinomial(units, np.full(units, 1 / units), size=n) / units  # (n, R)
    mean = (per_unit * v).sum(1)  # (n,)
    low, high = 2.5, 97.5
    return (tuple(float(q) for q in np.percentile(one, [low, high])),
            tuple(float(q) for q in np.percentile(mean, [low, high])))


def learning_curve(name, s_train, y_train, s_test, y_test, top, zero_shot_acc: float,
                   seeds: int, seed: int, sizes: tuple[int, ...], columns: list[str]):
    """Test accuracy against the number of labelled training texts: the top unit alone (a one-unit
    logistic regression; at 0 labels its zero-shot accuracy) and all units (at 0: the majority
    class of the test texts, a constant), over ``seeds`` draws."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    k = len(np.unique(y_train))
    sizes = tuple(n for n in sizes if n < len(y_train)) + (len(y_train),)
    draws = []  # (n, seed, training rows or None for the zero-label point)
    for n in sizes:
        for s in range(seeds if 0 < n < len(y_train) else 1):
            idx = None if n == 0 else np.random.default_rng(seed * 1000 + s).permutation(
                len(y_train))[:n]
            if idx is not None and len(np.unique(y_train[idx])) < k:
                continue
            draws.append((n, s, idx))
    # the all-unit fits are the cost: in the pool, longest first (lbfgs has no randomness: the
    # same fits as one after the other)
    fitted = [d for d in draws if d[2] is not None]
    longest = sorted(range(len(fitted)), key=lambda i: -fitted[i][0])
    every = [None] * len(fitted)
    stream = _fit_stream(((s_train[fitted[i][2]], y_train[fitted[i][2]], 0.1, 0) for i in longest),
                         sum(d[0] for d in fitted) * s_train.shape[1] * _binary_fits(y_train),
                         len(fitted), _fit_curve)
    for i, clf in zip(longest, stream, strict=True):
        every[i] = clf
    rows, j = [], 0
    for n, s, idx in draws:
        if idx is None:
            top_acc = zero_shot_acc if k == 2 else 1 / k
            all_acc = float(np.mean(y_test == np.bincount(y_test).argmax()))
        else:
            one = LogisticRegression(max_iter=1000).fit(s_train[idx][:, [top]], y_train[idx])
            top_acc, all_acc = one.score(s_test[:, [top]], y_test), every[j].score(s_test, y_test)
            j += 1
        rows += [(name, n, "top unit", s, float(top_acc)), (name, n, "all units", s,
                                                             float(all_acc))]
    return pd.DataFrame(rows, columns=columns)


def _fit_curve(task: tuple) -> object:
    """The learning curve's all-unit logistic regression (L2, ``C``) on (x, y)."""
    from sklearn.linear_model import LogisticRegression

    x, y, c, _ = task
    return LogisticRegression(max_iter=1000, C=c).fit(x, y)
