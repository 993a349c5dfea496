"""The one place where skultr reaches into scikit-learn's private API.

scikit-learn keeps its parameter-validation machinery, the ``_fit_context`` decorator,
the scorer base classes and a few validation helpers private, so their import paths and
signatures may change between releases. Every other skultr module imports them from
here (``tests/test_sklearn_compat.py`` fails on any private import elsewhere), so a change
in scikit-learn is absorbed in this file only.

Supported range: scikit-learn 1.6 to 1.9 (``pyproject.toml``). Differences handled here:

* ``_check_sample_weight``: 1.6 and 1.7 neither reject all-zero weights nor accept the
  ``allow_all_zero_weights`` keyword; 1.8 and later reject all-zero weights unless told
  otherwise (and make every argument after ``X`` keyword-only). The wrapper below takes the newer
  signature and gives the newer behaviour on every release (detected by signature, not
  by version number).
* ``column_or_1d``: public, but 1.6 has no ``input_name`` keyword and 1.9 takes it
  without putting it in the shape error; the version below takes it and names the
  argument in every error on every release.
* ``set_output(transform="pandas")`` keeps the index of a pandas Series input only in
  1.7 and later (1.6 keeps a DataFrame's only): :func:`set_output_keeps_series_index`
  tells the tests which behaviour to expect.
* The estimator checks: 1.6 runs ``check_sample_weight_equivalence_on_sparse_data`` on
  every estimator that takes ``sample_weight``, even one whose tags say it rejects sparse
  input (scikit-learn issue #30139), and has no ``check_all_zero_sample_weights_error``
  (1.8 and later). :data:`SPARSE_WEIGHT_CHECK_IGNORES_TAGS` tells the tests.

Everything else is re-exported unchanged; its signature is the same from 1.6 to 1.9.
"""

import inspect
import warnings
from functools import cache

import numpy as np
import sklearn
from sklearn.base import _fit_context
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics._scorer import _BaseScorer, _cached_call, _Scorer
from sklearn.utils import _safe_indexing
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    RealNotInt,
    StrOptions,
    generate_valid_param,
    make_constraint,
    validate_params,
)
from sklearn.utils.fixes import parse_version
from sklearn.utils.metadata_routing import _routing_enabled
from sklearn.utils.validation import _check_sample_weight as _sk_check_sample_weight
from sklearn.utils.validation import _check_y, _num_samples, check_array

__all__ = [
    "HasMethods",
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "Options",
    "SPARSE_WEIGHT_CHECK_IGNORES_TAGS",
    "RealNotInt",
    "StrOptions",
    "_BaseScorer",
    "_Scorer",
    "_cached_call",
    "_check_sample_weight",
    "_check_y",
    "_fit_context",
    "_num_samples",
    "_routing_enabled",
    "_safe_indexing",
    "check_matplotlib_support",
    "column_or_1d",
    "generate_valid_param",
    "make_constraint",
    "set_output_keeps_series_index",
    "validate_params",
]

SKLEARN_VERSION = parse_version(sklearn.__version__)
# scikit-learn 1.7 started to filter this check on the estimator's sparse input tag.
SPARSE_WEIGHT_CHECK_IGNORES_TAGS = parse_version("1.7") > SKLEARN_VERSION

_SAMPLE_WEIGHT_HAS_ZERO_CHECK = (
    "allow_all_zero_weights" in inspect.signature(_sk_check_sample_weight).parameters
)


def _check_sample_weight(
    sample_weight,
    X,
    *,
    dtype=None,
    copy=False,
    ensure_non_negative=False,
    allow_all_zero_weights=False,
):
    """Validate ``sample_weight`` against ``X`` as recent scikit-learn releases do.

    Returns a 1-D float array of length ``_num_samples(X)`` (ones when
    ``sample_weight`` is None). Raises ``ValueError`` on a wrong shape, on negative
    weights when ``ensure_non_negative`` and on all-zero weights unless
    ``allow_all_zero_weights``.
    """
    kwargs = {"dtype": dtype, "copy": copy, "ensure_non_negative": ensure_non_negative}
    if _SAMPLE_WEIGHT_HAS_ZERO_CHECK:
        return _sk_check_sample_weight(
            sample_weight, X, allow_all_zero_weights=allow_all_zero_weights, **kwargs
        )
    weight = _sk_check_sample_weight(sample_weight, X, **kwargs)
    if not allow_all_zero_weights and not np.any(weight):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return weight


def column_or_1d(y, *, dtype=None, input_name="y", warn=False):
    """Ravel a 1-D array or an ``(n, 1)`` column; every error names ``input_name``."""
    y = check_array(
        y,
        ensure_2d=False,
        dtype=dtype,
        input_name=input_name,
        ensure_all_finite=False,
        ensure_min_samples=0,
    )
    if y.ndim == 1:
        return np.ravel(y)
    if y.ndim == 2 and y.shape[1] == 1:
        if warn:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples, ), for example using ravel().",
                DataConversionWarning,
                stacklevel=2,
            )
        return np.ravel(y)
    raise ValueError(
        f"{input_name} should be a 1d array, got an array of shape {y.shape} instead."
    )


@cache
def set_output_keeps_series_index():
    """Whether ``set_output(transform="pandas")`` keeps the index of a Series input."""
    import pandas as pd
    from sklearn.base import BaseEstimator, TransformerMixin

    class _Identity(TransformerMixin, BaseEstimator):
        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return np.asarray(X, dtype=float).reshape(-1, 1)

        def get_feature_names_out(self, input_features=None):
            return np.asarray(["x"], dtype=object)

    series = pd.Series([1.0, 2.0], index=[7, 8])
    out = _Identity().set_output(transform="pandas").fit(series).transform(series)
    return out.index.tolist() == [7, 8]
