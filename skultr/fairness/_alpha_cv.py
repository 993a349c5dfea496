"""Cross-validated choice of FairTTTS's ``alpha`` for a stated fairness-gap target."""

import warnings
from numbers import Real

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch

from skultr.metrics import demographic_parity_difference, equal_opportunity_difference
from skultr.utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    _safe_indexing,
    validate_params,
)

from ._fairttts import FairTTTSClassifier, proba_at_alpha

__all__ = ["tune_fairttts_alpha"]

_GAPS = {
    "demographic_parity": demographic_parity_difference,
    "equal_opportunity": equal_opportunity_difference,
}


@validate_params(
    {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "X": ["array-like"],
        "y": ["array-like"],
        "alphas": ["array-like"],
        "max_gap": [Interval(Real, 0, 1, closed="both")],
        "gap": [StrOptions(set(_GAPS))],
        "cv": ["cv_object"],
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=False,
)
def tune_fairttts_alpha(
    estimator, X, y, *, alphas, max_gap, gap="demographic_parity", cv=5, sample_weight=None
):
    """Choose ``alpha`` of a :class:`FairTTTSClassifier` by cross-validation to meet a gap.

    For each split, a clone of ``estimator`` is fitted on the training part (its wrapped
    model is trained there, unless it is frozen) and every ``alpha`` is evaluated on the
    validation part without refitting (only the fairness rule changes with ``alpha``).
    The chosen ``alpha`` is the one of largest mean validation accuracy among those whose
    mean validation gap is at most ``max_gap``; when none meets the target, the one of
    smallest mean gap, with a warning. ``estimator`` is then refitted on all of ``X``
    with that ``alpha``.

    Parameters
    ----------
    estimator : FairTTTSClassifier
        The post-processor to tune (its ``alpha`` is overridden).
    X : array-like of shape (n_samples, n_features)
        Data, the protected column(s) included.
    y : array-like of shape (n_samples,)
        Labels.
    alphas : sequence of float >= 1
        Candidate values of ``alpha`` (``1`` is plain TTTS).
    max_gap : float in [0, 1]
        The target: the largest acceptable mean validation gap.
    gap : {"demographic_parity", "equal_opportunity"}, default="demographic_parity"
        The gap, :func:`~skultr.metrics.demographic_parity_difference` or
        :func:`~skultr.metrics.equal_opportunity_difference`, for ``pos_label``, over the
        protected groups (every distinct value, or combination of values for several
        protected columns).
    cv : int, cross-validation generator or iterable, default=5
        As in :func:`~sklearn.model_selection.cross_validate` (stratified for an int).
    sample_weight : array-like of shape (n_samples,), default=None
        Passed to ``fit`` (and so to the wrapped model) on each training part and in the
        final refit; the validation metrics are unweighted.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``alpha`` (the choice), ``target_met`` (bool), ``alphas``, ``mean_gap`` and
        ``mean_accuracy`` (ndarray of shape (n_alphas,)), and ``estimator`` (refitted on
        ``X`` with the chosen ``alpha``).

    Examples
    --------
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from skultr.datasets import make_biased_classification
    >>> from skultr.fairness import FairTTTSClassifier, tune_fairttts_alpha
    >>> X, y = make_biased_classification(2000, random_state=0)
    >>> fair = FairTTTSClassifier(HistGradientBoostingClassifier(max_iter=30, random_state=0),
    ...                           protected_attribute=0, unprivileged_value=0,
    ...                           heuristic="fixed", flip_cap=1.0)
    >>> result = tune_fairttts_alpha(fair, X, y, alphas=[1, 2, 4, 8], max_gap=0.1, cv=3)
    >>> print(result.alpha, result.target_met)
    8.0 True
    """
    if not isinstance(estimator, FairTTTSClassifier):
        raise TypeError(f"estimator must be a FairTTTSClassifier; got {type(estimator).__name__}.")
    if gap not in _GAPS:
        raise ValueError(f"gap must be one of {sorted(_GAPS)}; got {gap!r}.")
    if not isinstance(max_gap, Real) or not 0 <= max_gap <= 1:
        raise ValueError(f"max_gap must be a number in [0, 1]; got {max_gap!r}.")
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas < 1):
        bad = alphas[~(np.isfinite(alphas) & (alphas >= 1))]
        raise ValueError(
            "alphas must be a non-empty sequence of finite numbers >= 1; found "
            f"{bad[0] if bad.size else 'none'}."
        )
    y = np.asarray(y)
    splitter = check_cv(cv, y, classifier=True)
    gaps = np.zeros((alphas.size, 0)).tolist()
    accs = np.zeros((alphas.size, 0)).tolist()
    metric = _GAPS[gap]
    for train, test in splitter.split(X, y):
        fit_params = {}
        if sample_weight is not None:
            fit_params["sample_weight"] = _safe_indexing(np.asarray(sample_weight), train)
        fitted = clone(estimator).fit(_safe_indexing(X, train), y[train], **fit_params)
        X_val, y_val = _safe_indexing(X, test), y[test]
        groups = _group_codes(fitted, X_val)
        for i, alpha in enumerate(alphas):
            proba = proba_at_alpha(fitted, X_val, alpha)
            pred = fitted.classes_[np.argmax(proba, axis=1)]
            gaps[i].append(
                metric(y_val, pred, sensitive_features=groups, pos_label=fitted._pos_label)
            )
            accs[i].append(np.mean(pred == y_val))
    mean_gap = np.array([np.mean(g) for g in gaps])
    mean_acc = np.array([np.mean(a) for a in accs])
    ok = mean_gap <= max_gap
    if ok.any():
        best = np.flatnonzero(ok)[np.argmax(mean_acc[ok])]
    else:
        best = int(np.argmin(mean_gap))
        warnings.warn(
            f"No alpha in {alphas.tolist()} reaches a mean validation {gap} gap of "
            f"max_gap={max_gap}; the smallest is {mean_gap[best]:.3f} (alpha="
            f"{alphas[best]}). Consider flip_cap=1, amplified_nodes='all' or larger alphas.",
            UserWarning,
            stacklevel=2,
        )
    fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
    final = clone(estimator).set_params(alpha=float(alphas[best])).fit(X, y, **fit_params)
    return Bunch(
        alpha=float(alphas[best]),
        target_met=bool(ok.any()),
        alphas=alphas,
        mean_gap=mean_gap,
        mean_accuracy=mean_acc,
        estimator=final,
    )


def _group_codes(fitted, X):
    """One integer label per row for the protected group (value or combination)."""
    X_checked, _ = fitted._validate_X_predict(X)
    _, codes = np.unique(fitted._group_labels(X_checked), axis=0, return_inverse=True)
    return codes.ravel()
