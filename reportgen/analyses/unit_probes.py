"""Linear probes over units, and how well one unit alone does (for ``neuron_sweep``).

Method (Radford et al. 2017; Donnelly and Roegiest 2019): an L1-regularised logistic regression
over standardised units, its strength chosen on the dev split, ranks the units by the largest
absolute weight; one unit's zero-shot accuracy thresholds it at the midpoint between the class
means of the fitting texts, oriented by the sign of its weight.

Cost: a few scikit-learn fits on (N, U) matrices.
"""

from __future__ import annotations

import numpy as np


def _l1() -> dict:
    """An L1 penalty: scikit-learn 1.8 moved it from ``penalty`` to ``l1_ratio``."""
    import sklearn

    return (
        {"l1_ratio": 1.0}
        if tuple(int(x) for x in sklearn.__version__.split(".")[:2]) >= (1, 8)
        else {"penalty": "l1"}
    )


def l1_probe(x, y, x_dev, y_dev, seed: int):
    from sklearn.linear_model import LogisticRegression

    best, best_acc = None, -1.0
    for c in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0):
        clf = LogisticRegression(C=c, solver="liblinear", random_state=seed, max_iter=2000, **_l1())
        if (
            len(np.unique(y)) > 2
        ):  # liblinear fits two classes: one L1 probe per class against the rest
            clf = _one_vs_rest(clf, x, y)
        else:
            clf.fit(x, y)
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
) -> tuple[str, dict[str, float]]:
    """The view of the units whose L1 probe does best on the dev split (ties: the first offered,
    so the representation the output reads wins a tie)."""
    from sklearn.preprocessing import StandardScaler

    scores = {}
    for name, values in train.items():
        scaler = StandardScaler().fit(values)
        probe = l1_probe(
            scaler.transform(values), y_train, scaler.transform(dev[name]), y_dev, seed
        )
        scores[name] = float(probe.score(scaler.transform(dev[name]), y_dev))
    return max(scores, key=lambda k: scores[k]), scores
