"""Group-fairness metrics and scorers that read the protected attribute from a column of X.

The differences follow fairlearn's ``between_groups`` definitions (largest minus smallest
group rate), so values agree with ``fairlearn.metrics`` where its rates are defined.

Conventions shared by every metric of this module:

- ``y_pred`` (and ``y_true`` where it is used) hold **binary class labels**: numbers, bools
  or strings, at most two distinct values. ``pos_label`` (scikit-learn's name) is the
  favourable label; it must be one of the labels present unless they are all of one value.
  Probabilities or scores (non-integer numbers), more than two labels, missing values and
  a ``pos_label`` that matches no label of a two-label input raise a ``ValueError`` naming
  the argument and the first offending value: without that check they would select nobody
  and report a gap of 0, "perfectly fair".
- ``sensitive_features`` may hold any labels, but no missing value (NaN, None, pd.NA): a
  missing group raises a ``ValueError`` naming its first row instead of becoming a group
  of its own.
- Empty input raises a ``ValueError`` naming ``y_pred`` (and ``y_true`` where the metric
  reads it); ``sample_weight`` must be non-negative with at least one non-zero weight.
- **Undefined rates.** A between-group difference is defined only when the rate is defined
  in every group, and there are at least two groups. When a group lacks the rows a rate
  needs (no positive ``y_true`` for a true positive rate, no negative one for a false
  positive rate, zero total weight) or there is a single group, the metric returns NaN and
  emits :class:`sklearn.exceptions.UndefinedMetricWarning` naming the groups, for every
  ``agg``. Leaving such a group out (or counting its rate as 0, as fairlearn does) can
  report a small gap for data that say nothing about the missing group; raising instead
  would abort a whole cross-validation for one fold where a small group has no positive,
  while a NaN score is reported by ``GridSearchCV`` and ranked last. This follows
  scikit-learn's ``UndefinedMetricWarning`` convention.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_consistent_length

from skultr.utils._deprecation import DEPRECATED, resolve_renamed_value
from skultr.utils._sklearn_compat import (
    StrOptions,
    _check_sample_weight,
    column_or_1d,
    validate_params,
)
from skultr.utils._validation import preview, protected_index

__all__ = [
    "demographic_parity_difference",
    "disparate_impact_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "make_fairness_scorer",
    "make_fairness_tradeoff_scorer",
]


def _scalar(value):
    """A numpy scalar as the Python value it holds, for messages."""
    return value.item() if isinstance(value, np.generic) else value


def _as_column(values, name):
    """``values`` as a 1-D array; a ValueError naming ``name`` for any other shape."""
    shape = np.shape(values) if not hasattr(values, "shape") else values.shape
    if len(shape) == 2 and shape[1] != 1 or len(shape) > 2:
        raise ValueError(
            f"{name} must be 1-D, one value per sample; got an array of shape {tuple(shape)}."
        )
    return column_or_1d(values, warn=True, input_name=name)


def _missing_mask(values):
    """Boolean mask of the missing entries (NaN, None, pd.NA, NaT) of a 1-D array."""
    if values.dtype.kind in "fc":
        return np.isnan(values)
    if values.dtype.kind == "M":
        return np.isnat(values)
    if values.dtype.kind != "O":
        return np.zeros(values.shape, bool)
    return np.fromiter(
        (v is None or v != v or type(v).__name__ in ("NAType", "NaTType") for v in values),
        bool,
        count=values.shape[0],
    )


def _check_labels(values, name):
    """The distinct labels of ``values``, which must be binary class labels."""
    missing = np.flatnonzero(_missing_mask(values))
    if missing.size:
        raise ValueError(
            f"{name} must hold class labels; found a missing value "
            f"({_scalar(values[missing[0]])!r}) at row {missing[0]}."
        )
    if values.dtype.kind in "fc":
        fractional = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if fractional.size:
            row = int(fractional[0])
            raise ValueError(
                f"{name} must hold predicted class labels, not probabilities or scores; "
                f"found {values[row].item()!r} at row {row}. Pass the labels "
                "(estimator.predict, or the scores thresholded, e.g. y_score >= 0.5)."
            )
    try:
        labels = np.unique(values)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in values})
        raise ValueError(
            f"{name} mixes labels of different types ({', '.join(kinds)}); use one type."
        ) from None
    if labels.size > 2:
        raise ValueError(
            f"{name} must hold binary labels; found {labels.size} distinct labels "
            f"{preview(labels)}. Binarise it first, e.g. {name} == label."
        )
    return labels


def _is_text(labels):
    return labels.size > 0 and isinstance(labels[0], str)


def _check_pos_label(labels, pos_label, names):
    """``pos_label`` must be of the labels' kind, and one of them when there are two."""
    if _is_text(labels) != isinstance(pos_label, str) or (
        labels.size == 2 and not np.any(labels == pos_label)
    ):
        raise ValueError(
            f"pos_label={pos_label!r} is not one of the labels of {names} "
            f"{preview(labels)}; pass the favourable label as pos_label."
        )


def _check_inputs(y_true, y_pred, sensitive_features, sample_weight, pos_label):
    """Validated 1-D arrays and weights; see the module docstring for the conventions."""
    y_true = _as_column(y_true, "y_true") if y_true is not None else None
    y_pred = _as_column(y_pred, "y_pred")
    groups = _as_column(sensitive_features, "sensitive_features")
    arrays = [y_pred, groups] if y_true is None else [y_true, y_pred, groups]
    check_consistent_length(*arrays)
    if y_pred.shape[0] == 0:
        # checked before the weights, whose own check would name no argument
        names = "y_pred is" if y_true is None else "y_true and y_pred are"
        raise ValueError(f"{names} empty; fairness metrics need at least one row.")
    weight = _check_sample_weight(
        sample_weight, y_pred, ensure_non_negative=True, allow_all_zero_weights=True
    )
    if not np.any(weight):
        raise ValueError(
            "sample_weight must contain at least one non-zero weight; every weight is 0."
        )
    missing = np.flatnonzero(_missing_mask(groups))
    if missing.size:
        raise ValueError(
            "sensitive_features must name a group for every row; found a missing value "
            f"({_scalar(groups[missing[0]])!r}) at row {missing[0]}. Drop those rows or give "
            "the missing value a group label of its own."
        )
    labels = _check_labels(y_pred, "y_pred")
    names = "y_pred"
    if y_true is not None:
        true_labels = _check_labels(y_true, "y_true")
        if _is_text(true_labels) != _is_text(labels):
            raise ValueError(
                "y_true and y_pred must hold labels of the same kind; found "
                f"{preview(true_labels)} in y_true and {preview(labels)} in y_pred."
            )
        labels = np.unique(np.concatenate([true_labels.astype(object), labels.astype(object)]))
        if labels.size > 2:
            raise ValueError(
                "y_true and y_pred must share the same two labels; found "
                f"{preview(true_labels)} in y_true and {preview(np.unique(y_pred))} in "
                "y_pred."
            )
        names = "y_true and y_pred"
    _check_pos_label(labels, pos_label, names)
    return y_true, y_pred, groups, weight


def _group_rates(hit, base, groups, weight):
    """Weighted rate mean(hit | base) per group; NaN where a group has no base row."""
    labels, codes = np.unique(groups, return_inverse=True)
    num = np.bincount(codes, weights=weight * (hit & base), minlength=labels.size)
    den = np.bincount(codes, weights=weight * base, minlength=labels.size)
    rates = np.full(labels.size, np.nan)
    np.divide(num, den, out=rates, where=den > 0)
    return labels, rates


def _warn_undefined(message):
    warnings.warn(message, UndefinedMetricWarning, stacklevel=5)


def _spread(labels, rates, rate_name, lacking):
    """Largest minus smallest group rate; NaN with a warning when it is undefined."""
    if labels.size < 2:
        _warn_undefined(
            f"sensitive_features holds only one group ({preview(labels)}): a difference "
            "between groups is undefined; returning NaN."
        )
        return float("nan")
    undefined = np.isnan(rates)
    if undefined.any():
        _warn_undefined(
            f"The {rate_name} is undefined for the group(s) {preview(labels[undefined])}, "
            f"which have {lacking}; the difference between groups is undefined, returning NaN."
        )
        return float("nan")
    return float(rates.max() - rates.min())


_COMMON = {
    "y_pred": ["array-like"],
    "sensitive_features": ["array-like"],
    "pos_label": [Real, str, "boolean"],
    "sample_weight": ["array-like", None],
}


@validate_params({"y_true": ["array-like", None], **_COMMON}, prefer_skip_nested_validation=True)
def demographic_parity_difference(
    y_true, y_pred, *, sensitive_features, pos_label=1, sample_weight=None
):
    """Largest difference in selection rate between groups.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or None
        Ignored; accepted so that the signature matches the other metrics (and fairlearn).
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    sensitive_features : array-like of shape (n_samples,)
        Group of each row (any number of groups).
    pos_label : int, float, bool or str, default=1
        The favourable (selected) label.
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights.

    Returns
    -------
    difference : float
        ``max_g P(y_pred = pos_label | g) - min_g P(y_pred = pos_label | g)``, in [0, 1];
        0 means demographic parity. NaN with a single group.

    Examples
    --------
    >>> from skultr.metrics import demographic_parity_difference
    >>> demographic_parity_difference(None, [1, 1, 0, 1, 0, 0],
    ...                               sensitive_features=["a", "a", "a", "b", "b", "b"])
    0.333...
    """
    _, y_pred, groups, weight = _check_inputs(
        None, y_pred, sensitive_features, sample_weight, pos_label
    )
    labels, rates = _group_rates(y_pred == pos_label, np.ones_like(y_pred, bool), groups, weight)
    return _spread(labels, rates, "selection rate", "zero total sample_weight")


@validate_params(
    {
        "y_true": ["array-like", None],
        **_COMMON,
        "unprivileged_value": "no_validation",
        "unprivileged_group": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def disparate_impact_ratio(
    y_true,
    y_pred,
    *,
    sensitive_features,
    unprivileged_value=None,
    pos_label=1,
    sample_weight=None,
    unprivileged_group=DEPRECATED,
):
    """Ratio of selection rates between groups (the "80 % rule" statistic).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or None
        Ignored; accepted so that the signature matches the other metrics.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    sensitive_features : array-like of shape (n_samples,)
        Group of each row.
    unprivileged_value : label or None, default=None
        ``None``: smallest over largest group selection rate (fairlearn's
        ``demographic_parity_ratio``), in [0, 1]. A value of ``sensitive_features``: the
        selection rate of the rows with that value (the unprivileged group) over the
        selection rate of all other rows (AIF360's convention), which exceeds 1 when the
        unprivileged group is selected more often. The name and meaning of
        :class:`~skultr.fairness.FairTTTSClassifier`'s ``unprivileged_value``.
    pos_label : int, float, bool or str, default=1
        The favourable (selected) label.
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights.
    unprivileged_group : label or None
        The former name of ``unprivileged_value``.

        .. deprecated:: 0.1
           ``unprivileged_group`` was renamed ``unprivileged_value`` in 0.1 and will be
           removed in 0.3.

    Returns
    -------
    ratio : float
        1 means parity. ``inf`` when only the numerator is positive, NaN when the
        denominator group is absent or both rates are 0.

    Examples
    --------
    >>> from skultr.metrics import disparate_impact_ratio
    >>> g = ["a", "a", "a", "a", "b", "b", "b", "b"]
    >>> disparate_impact_ratio(None, [1, 1, 1, 0, 1, 0, 0, 0], sensitive_features=g)
    0.333...
    >>> disparate_impact_ratio(None, [1, 1, 1, 0, 1, 0, 0, 0], sensitive_features=g,
    ...                        unprivileged_value="a")
    3.0
    """
    unprivileged_value = resolve_renamed_value(
        unprivileged_group,
        unprivileged_value,
        old="unprivileged_group",
        new="unprivileged_value",
        new_default=None,
        where="disparate_impact_ratio",
    )
    _, y_pred, groups, weight = _check_inputs(
        None, y_pred, sensitive_features, sample_weight, pos_label
    )
    selected = (y_pred == pos_label).astype(np.float64) * weight
    if unprivileged_value is None:
        labels, rates = _group_rates(
            y_pred == pos_label, np.ones_like(y_pred, bool), groups, weight
        )
        if np.isnan(_spread(labels, rates, "selection rate", "zero total sample_weight")):
            return float("nan")
        num, den = rates.min(), rates.max()
    else:
        mask = groups == unprivileged_value
        if not mask.any():
            raise ValueError(
                f"unprivileged_value={unprivileged_value!r} does not occur in "
                f"sensitive_features (groups: {np.unique(groups).tolist()[:10]})."
            )
        if mask.all():
            return float("nan")
        num = selected[mask].sum() / weight[mask].sum()
        den = selected[~mask].sum() / weight[~mask].sum()
    if den == 0:
        return float("inf") if num > 0 else float("nan")
    return float(num / den)


@validate_params({"y_true": ["array-like"], **_COMMON}, prefer_skip_nested_validation=True)
def equal_opportunity_difference(
    y_true, y_pred, *, sensitive_features, pos_label=1, sample_weight=None
):
    """Largest difference in true positive rate between groups.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    sensitive_features : array-like of shape (n_samples,)
        Group of each row.
    pos_label : int, float, bool or str, default=1
        The favourable label.
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights.

    Returns
    -------
    difference : float
        ``max_g TPR_g - min_g TPR_g`` with ``TPR_g = P(y_pred = pos | y_true = pos, g)``.
        Groups without a positive row are left out (fairlearn counts their rate as 0);
        NaN when fewer than two groups have a positive row.

    Examples
    --------
    >>> from skultr.metrics import equal_opportunity_difference
    >>> equal_opportunity_difference([1, 1, 0, 1, 1, 0], [1, 0, 0, 1, 1, 1],
    ...                              sensitive_features=[0, 0, 0, 1, 1, 1])
    0.5
    """
    y_true, y_pred, groups, weight = _check_inputs(
        y_true, y_pred, sensitive_features, sample_weight, pos_label
    )
    labels, tpr = _group_rates(y_pred == pos_label, y_true == pos_label, groups, weight)
    return _spread(labels, tpr, "true positive rate", "no row with y_true == pos_label")


@validate_params(
    {"y_true": ["array-like"], **_COMMON, "agg": [StrOptions({"worst_case", "mean"})]},
    prefer_skip_nested_validation=True,
)
def equalized_odds_difference(
    y_true, y_pred, *, sensitive_features, pos_label=1, agg="worst_case", sample_weight=None
):
    """Largest between-group difference in true and false positive rates.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    sensitive_features : array-like of shape (n_samples,)
        Group of each row.
    pos_label : int, float, bool or str, default=1
        The favourable label.
    agg : {"worst_case", "mean"}, default="worst_case"
        Combine the TPR and FPR differences by their maximum or their mean (fairlearn).
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights.

    Returns
    -------
    difference : float
        ``max(TPR difference, FPR difference)`` (or their mean); each difference leaves
        out the groups where the rate is undefined.

    Examples
    --------
    >>> from skultr.metrics import equalized_odds_difference
    >>> equalized_odds_difference([1, 1, 0, 1, 1, 0], [1, 0, 0, 1, 1, 1],
    ...                           sensitive_features=[0, 0, 0, 1, 1, 1])
    1.0
    """
    y_true, y_pred, groups, weight = _check_inputs(
        y_true, y_pred, sensitive_features, sample_weight, pos_label
    )
    hit = y_pred == pos_label
    positive = y_true == pos_label
    labels, tpr = _group_rates(hit, positive, groups, weight)
    _, fpr = _group_rates(hit, ~positive, groups, weight)
    if labels.size < 2:
        return _spread(labels, tpr, "true positive rate", "")
    diffs = np.array(
        [
            _spread(labels, tpr, "true positive rate", "no row with y_true == pos_label"),
            _spread(labels, fpr, "false positive rate", "no row with y_true != pos_label"),
        ]
    )
    if np.isnan(diffs).any():
        return float("nan")
    return float(diffs.mean() if agg == "mean" else diffs.max())


_METRICS = {
    "demographic_parity_difference": (demographic_parity_difference, False),
    "disparate_impact_ratio": (disparate_impact_ratio, True),
    "equal_opportunity_difference": (equal_opportunity_difference, False),
    "equalized_odds_difference": (equalized_odds_difference, False),
}


def _protected_column(X, protected_attribute, protected_threshold):
    """The protected column of X (array or DataFrame), binarised when a threshold is set."""
    if hasattr(X, "iloc"):
        index = protected_index(protected_attribute, list(X.columns), X.shape[1])
        column = X.iloc[:, index].to_numpy()
    else:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-dimensional to hold a protected column; got {X.shape}.")
        column = X[:, protected_index(protected_attribute, None, X.shape[1])]
    if protected_threshold is not None:
        column = (column.astype(np.float64) > protected_threshold).astype(np.int64)
    return column


def _check_protected_attribute(protected_attribute):
    if isinstance(protected_attribute, str):
        return
    if not isinstance(protected_attribute, Integral) or isinstance(protected_attribute, bool):
        raise TypeError(
            "protected_attribute must be a column position (int) or a column name (str); "
            f"got {type(protected_attribute).__name__}."
        )


class _GroupColumnScorer:
    """Base of the scorers ``scorer(estimator, X, y)`` that read the groups from X."""

    def __init__(self, metric, factor, protected_attribute, protected_threshold, kwargs):
        self._metric = metric
        self._factor = factor
        self._protected_attribute = protected_attribute
        self._protected_threshold = protected_threshold
        self._kwargs = kwargs

    def _predict_and_gap(self, estimator, X, y_true, sample_weight):
        """Predictions on X and the fairness metric over the groups of X's protected column."""
        groups = _protected_column(X, self._protected_attribute, self._protected_threshold)
        y_pred = estimator.predict(X)
        gap = self._metric(
            y_true, y_pred, sensitive_features=groups, sample_weight=sample_weight, **self._kwargs
        )
        return y_pred, gap


class _FairnessScorer(_GroupColumnScorer):
    """The fairness metric itself, times ``factor`` (-1 when lower is better)."""

    def __call__(self, estimator, X, y_true, sample_weight=None):
        _, value = self._predict_and_gap(estimator, X, y_true, sample_weight)
        return self._factor * value

    def __repr__(self):
        name = getattr(self._metric, "__name__", repr(self._metric))
        sign = "" if self._factor > 0 else ", sign=-1"
        return (
            f"make_fairness_scorer({name}, protected_attribute={self._protected_attribute!r}"
            f"{sign})"
        )


@validate_params(
    {
        "metric": [str, callable],
        "protected_attribute": [Integral, str],
        "protected_threshold": [Real, None],
        "greater_is_better": ["boolean", None],
    },
    prefer_skip_nested_validation=True,
)
def make_fairness_scorer(
    metric,
    *,
    protected_attribute,
    protected_threshold=None,
    greater_is_better=None,
    **kwargs,
):
    """Scorer for a group-fairness metric whose groups come from a column of X.

    Because the groups are read from ``X`` at scoring time, the scorer works in
    ``GridSearchCV`` and ``cross_validate`` without metadata routing. In a ``Pipeline``
    the column is looked up in the pipeline's input ``X``.

    Parameters
    ----------
    metric : str or callable
        ``"demographic_parity_difference"``, ``"disparate_impact_ratio"``,
        ``"equal_opportunity_difference"``, ``"equalized_odds_difference"``, or a callable
        ``metric(y_true, y_pred, *, sensitive_features, sample_weight=None, **kwargs)``.
    protected_attribute : int or str
        Column of ``X`` (position, or name for a DataFrame) holding the groups.
    protected_threshold : float or None, default=None
        If set, the column is binarised to ``1 if x > protected_threshold else 0``.
    greater_is_better : bool or None, default=None
        Whether larger metric values are better. ``None`` infers it for the named
        metrics (differences: lower is better; the ratio: higher is better) and means
        ``False`` for a callable. When lower is better the scorer returns the negated
        value, following scikit-learn's ``neg_*`` scorers.
    **kwargs
        Passed to the metric (for example ``pos_label``).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y_true, sample_weight=None) -> float``; larger is better.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from skultr.metrics import make_fairness_scorer
    >>> X = np.array([[0, 1.0], [0, 2.0], [1, 3.0], [1, 4.0]])
    >>> y = np.array([0, 1, 1, 1])
    >>> model = DummyClassifier(strategy="most_frequent").fit(X, y)
    >>> scorer = make_fairness_scorer("demographic_parity_difference", protected_attribute=0)
    >>> scorer(model, X, y)
    -0.0
    """
    _check_protected_attribute(protected_attribute)
    if isinstance(metric, str):
        if metric not in _METRICS:
            raise ValueError(
                f"metric must be one of {sorted(_METRICS)} or a callable; got {metric!r}."
            )
        func, higher_better = _METRICS[metric]
    elif callable(metric):
        func, higher_better = metric, False
    else:
        raise TypeError(f"metric must be a string or a callable; got {type(metric).__name__}.")
    if greater_is_better is not None:
        higher_better = bool(greater_is_better)
    return _FairnessScorer(
        func, 1.0 if higher_better else -1.0, protected_attribute, protected_threshold, kwargs
    )


class _TradeoffScorer(_GroupColumnScorer):
    """accuracy - factor * fairness gap (factor = fairness_weight), groups from X."""

    def __call__(self, estimator, X, y_true, sample_weight=None):
        y_pred, gap = self._predict_and_gap(estimator, X, y_true, sample_weight)
        accuracy = accuracy_score(y_true, y_pred, sample_weight=sample_weight)
        # An undefined gap (NaN, with the metric's UndefinedMetricWarning) stays NaN:
        # counting it as 0 would score the fold as perfectly fair.
        return accuracy - self._factor * gap

    def __repr__(self):
        return (
            f"make_fairness_tradeoff_scorer(fairness_metric={self._metric.__name__}, "
            f"fairness_weight={self._factor}, protected_attribute={self._protected_attribute!r})"
        )


@validate_params(
    {
        "protected_attribute": [Integral, str],
        "fairness_metric": [str],
        "fairness_weight": [Real],
        "protected_threshold": [Real, None],
    },
    prefer_skip_nested_validation=True,
)
def make_fairness_tradeoff_scorer(
    *,
    protected_attribute,
    fairness_metric="demographic_parity_difference",
    fairness_weight=1.0,
    protected_threshold=None,
    **kwargs,
):
    """Scorer ``accuracy - fairness_weight * gap`` for choosing a fairness trade-off.

    Useful to select, say, FairTTTS's ``alpha`` by cross-validation: with
    ``fairness_weight=1`` one point of accuracy is worth one point of demographic parity.

    Parameters
    ----------
    protected_attribute : int or str
        Column of ``X`` (position, or name for a DataFrame) holding the groups.
    fairness_metric : {"demographic_parity_difference", "equal_opportunity_difference", \
            "equalized_odds_difference"}, default="demographic_parity_difference"
        The gap to penalise (lower is better). Where the gap is undefined (a single
        group, or a group without the rows a rate needs) the score is NaN, which
        ``GridSearchCV`` reports and ranks last; it is never counted as a gap of 0.
    fairness_weight : float >= 0, default=1.0
        Price of one unit of gap in units of accuracy.
    protected_threshold : float or None, default=None
        If set, the column is binarised to ``1 if x > protected_threshold else 0``.
    **kwargs
        Passed to the fairness metric (for example ``pos_label``).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y_true, sample_weight=None) -> float``; larger is better.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from skultr.metrics import make_fairness_tradeoff_scorer
    >>> X = np.array([[0, 1.0], [0, 2.0], [1, 3.0], [1, 4.0]])
    >>> y = np.array([0, 1, 1, 1])
    >>> model = DummyClassifier(strategy="most_frequent").fit(X, y)
    >>> make_fairness_tradeoff_scorer(protected_attribute=0)(model, X, y)
    0.75
    """
    _check_protected_attribute(protected_attribute)
    names = {k for k, (_, higher) in _METRICS.items() if not higher}
    if fairness_metric not in names:
        raise ValueError(
            f"fairness_metric must be one of {sorted(names)}; got {fairness_metric!r}."
        )
    if not isinstance(fairness_weight, Real) or fairness_weight < 0:
        raise ValueError(f"fairness_weight must be a float >= 0; got {fairness_weight!r}.")
    return _TradeoffScorer(
        _METRICS[fairness_metric][0],
        float(fairness_weight),
        protected_attribute,
        protected_threshold,
        kwargs,
    )
