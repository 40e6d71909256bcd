"""Linear-probe protocol on frozen embeddings: scikit-learn logistic regression. No model code.

Two modes, both deterministic for a given seed:

* :func:`linear_probe` (the standard protocol): fit on the train split for every C of a grid,
  select the C with the best dev accuracy (ties: the smaller C, i.e. the stronger
  regularisation), refit nothing else, report scores on the test split.
* :func:`cross_validated_probe` (when only one split is available, e.g. a dev-only release):
  nested cross-validation. Outer folds are grouped (e.g. by dialogue, so that no dialogue is split
  between fitting and scoring) and stratified by label where possible; within each outer training
  part, C is selected by an inner grouped k-fold; the outer held-out part gets the scores of the
  model fitted on its whole training part with that C. Every sample is scored exactly once
  (out-of-fold).

Scores are the logistic regression's decision values (log-odds scale) laid out over the full
label space ``0..n_classes-1``; a class absent from a training part gets :data:`ABSENT_LOGIT`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

#: Default grid of inverse regularisation strengths.
C_GRID: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)
#: Score given to classes the classifier never saw in training (ranks below every seen class).
ABSENT_LOGIT = -1.0e4


@dataclass
class ProbeFold:
    """One fitted model: the indices it scored (``test``), the indices it was fitted on
    (``train``), its scores of the fitting samples (``train_scores``, e.g. for DOC thresholds)
    and the chosen C."""

    test: np.ndarray
    train: np.ndarray
    train_scores: np.ndarray
    c: float


@dataclass
class ProbeResult:
    """Scores (N, n_classes) of the scored samples, one :class:`ProbeFold` per fitted model, the
    C-selection table, and the majority-class baseline predictions for the same samples."""

    scores: np.ndarray
    folds: list[ProbeFold]
    selection: list[dict] = field(default_factory=list)
    majority_pred: np.ndarray | None = None

    @property
    def chosen_c(self) -> list[float]:
        """The C of each fold."""
        return [f.c for f in self.folds]


def _check(X, y, name: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"{name}: features must be (N, D) and labels (N,), got {X.shape} and {y.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: no sample")
    if not np.isfinite(X).all():
        raise ValueError(f"{name}: features contain NaN or infinite values")
    return X, y.astype(np.int64)


def _fit(X, y, C: float, seed: int, max_iter: int):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    # one BLAS thread: small problems run an order of magnitude faster than with oversubscribed
    # threads, and the result does not depend on the machine's thread count
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")  # ConvergenceWarning on tiny folds: the fit is still usable
        clf.fit(X, y)
    return clf


def _scores(clf, X, n_classes: int) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    out = np.full((X.shape[0], n_classes), ABSENT_LOGIT, dtype=np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        dec = clf.decision_function(X)
    classes = clf.classes_
    if len(classes) == 2:  # binary: one column, positive class = classes_[1]
        out[:, classes[1]] = dec
        out[:, classes[0]] = -dec
    else:
        out[:, classes] = dec
    return out


def _single_class_scores(label: int, n: int, n_classes: int) -> np.ndarray:
    out = np.full((n, n_classes), ABSENT_LOGIT, dtype=np.float64)
    out[:, label] = 0.0
    return out


def _fit_scores(Xtr, ytr, Xev, C, seed, max_iter, n_classes) -> tuple[np.ndarray, np.ndarray]:
    if np.unique(ytr).size == 1:  # LogisticRegression needs two classes
        lab = int(ytr[0])
        return (_single_class_scores(lab, Xev.shape[0], n_classes),
                _single_class_scores(lab, Xtr.shape[0], n_classes))
    clf = _fit(Xtr, ytr, C, seed, max_iter)
    return _scores(clf, Xev, n_classes), _scores(clf, Xtr, n_classes)


def select_c(X_train, y_train, X_dev, y_dev, n_classes: int, grid=C_GRID, seed: int = 0,
             max_iter: int = 1000) -> tuple[float, list[dict]]:
    """The C of ``grid`` with the best dev accuracy (first, i.e. smallest, on ties) and the table."""
    Xtr, ytr = _check(X_train, y_train, "train")
    Xdv, ydv = _check(X_dev, y_dev, "dev")
    if not grid:
        raise ValueError("the C grid is empty")
    table = []
    for C in sorted(grid):
        s, _ = _fit_scores(Xtr, ytr, Xdv, C, seed, max_iter, n_classes)
        table.append({"C": float(C), "dev_acc": float(np.mean(np.argmax(s, axis=1) == ydv))})
    best = max(table, key=lambda r: r["dev_acc"])  # max keeps the first maximum
    return best["C"], table


def linear_probe(X_train, y_train, X_dev, y_dev, X_test, n_classes: int, grid=C_GRID, seed: int = 0,
                 max_iter: int = 1000) -> ProbeResult:
    """Fit on train for each C, select C on dev accuracy, return test scores (and train scores)."""
    Xtr, ytr = _check(X_train, y_train, "train")
    Xte = np.asarray(X_test, dtype=np.float64)
    if Xte.ndim != 2 or Xte.shape[1] != Xtr.shape[1]:
        raise ValueError(f"test features must be (N, {Xtr.shape[1]}), got {Xte.shape}")
    C, table = select_c(Xtr, ytr, X_dev, y_dev, n_classes, grid, seed, max_iter)
    test, train = _fit_scores(Xtr, ytr, Xte, C, seed, max_iter, n_classes)
    fold = ProbeFold(test=np.arange(Xte.shape[0]), train=np.arange(Xtr.shape[0]), train_scores=train, c=C)
    _, maj = majority_baseline(ytr, Xte.shape[0])
    return ProbeResult(scores=test, folds=[fold], selection=table, majority_pred=maj)


def _outer_splits(y, groups, folds: int, seed: int):
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    n_groups = np.unique(groups).size
    if n_groups < folds:
        raise ValueError(f"cross-validation needs at least {folds} groups (dialogues), got {n_groups}")
    counts = np.bincount(y)
    if counts[counts > 0].min() >= folds:
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:  # a class rarer than the fold count: stratification would warn; plain grouping
        splitter = GroupKFold(n_splits=folds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(splitter.split(np.zeros(len(y)), y, groups))


def cross_validated_probe(X, y, groups, n_classes: int, fit_mask=None, folds: int = 5,
                          inner_folds: int = 3, grid=C_GRID, seed: int = 0,
                          max_iter: int = 1000) -> ProbeResult:
    """Nested grouped cross-validation (see the module docstring): out-of-fold scores for every
    sample, in input order. ``fit_mask`` (default: all) marks the samples a model may be fitted
    on (e.g. in-scope rows only); the others are scored but never fitted on. Folds split by
    ``groups``; the majority baseline of each fold is the most frequent label of its fitting part.
    """
    from sklearn.model_selection import GroupKFold

    Xa, ya = _check(X, y, "features")
    g = np.asarray(groups)
    if g.shape != ya.shape:
        raise ValueError(f"{g.shape[0]} groups for {ya.shape[0]} samples")
    fm = np.ones(ya.shape[0], dtype=bool) if fit_mask is None else np.asarray(fit_mask, dtype=bool)
    if fm.shape != ya.shape:
        raise ValueError(f"fit_mask has {fm.shape[0]} entries for {ya.shape[0]} samples")
    if folds < 2 or inner_folds < 2:
        raise ValueError("folds and inner_folds must be at least 2")
    scores = np.zeros((ya.shape[0], n_classes))
    majority = np.zeros(ya.shape[0], dtype=np.int64)
    result_folds: list[ProbeFold] = []
    per_c: dict[float, list[float]] = {float(c): [] for c in sorted(grid)}
    for tr_all, te in _outer_splits(ya, g, folds, seed):
        tr = tr_all[fm[tr_all]]
        if tr.size == 0:
            raise ValueError("an outer fold has no sample to fit on")
        n_inner = min(inner_folds, np.unique(g[tr]).size)
        acc: dict[float, list[float]] = {C: [] for C in per_c}
        if n_inner >= 2:
            for itr, idv in GroupKFold(n_splits=n_inner).split(Xa[tr], ya[tr], g[tr]):
                for C in acc:
                    s, _ = _fit_scores(Xa[tr][itr], ya[tr][itr], Xa[tr][idv], C, seed, max_iter, n_classes)
                    acc[C].append(float(np.mean(np.argmax(s, axis=1) == ya[tr][idv])))
        mean_acc = {C: (float(np.mean(v)) if v else 0.0) for C, v in acc.items()}
        best = max(mean_acc.items(), key=lambda kv: kv[1])[0]  # first maximum = smallest C
        for C, v in mean_acc.items():
            per_c[C].append(v)
        s_te, s_tr = _fit_scores(Xa[tr], ya[tr], Xa[te], best, seed, max_iter, n_classes)
        scores[te] = s_te
        majority[te] = majority_baseline(ya[tr], 1)[0]
        result_folds.append(ProbeFold(test=te, train=tr, train_scores=s_tr, c=best))
    table = [{"C": C, "inner_cv_acc_mean_over_folds": float(np.mean(v))} for C, v in per_c.items()]
    return ProbeResult(scores=scores, folds=result_folds, selection=table, majority_pred=majority)


def majority_baseline(y_train, n_eval: int) -> tuple[int, np.ndarray]:
    """The most frequent training label (smallest id on ties) and its constant prediction."""
    y = np.asarray(y_train, dtype=np.int64)
    if y.size == 0:
        raise ValueError("majority baseline needs training labels")
    lab = int(np.argmax(np.bincount(y)))
    return lab, np.full(n_eval, lab, dtype=np.int64)
