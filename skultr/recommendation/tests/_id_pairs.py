"""Helpers that rerun scikit-learn's generic checks on (user, item) id pairs.

The generic checks fit on random float matrices of any width, while the recommenders and the
recommendation propensity estimators take X as two columns of integer ids. The test modules
subclass each estimator so that it maps the check's rows to id pairs (and its targets to 0/1
labels) before fitting: the contracts the checks guard (returning self, not mutating
parameters or inputs, pickling, idempotent fits, order and subset invariance of predict,
read-only memory maps, pipelines) are then checked on valid input.
"""

import numpy as np
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import check_estimator

from skultr.utils._sklearn_compat import SPARSE_WEIGHT_CHECK_IGNORES_TAGS
from skultr.utils._test_common import (
    _ID_PAIR_BY_DESIGN,
    _ID_PAIR_CHECKS,
    _SAMPLE_WEIGHT_PAIR_CHECKS,
    _WEIGHT_IS_NOT_REPETITION,
    EXPECTED_FAILED_CHECKS,
)

N_USERS, N_ITEMS = 4, 6
# Estimators with sample_weight (and the wrappers that rerun their checks on id pairs).
_TAKES_SAMPLE_WEIGHT = {"DebiasedMFRecommender"}
_WRAPPERS_TAKING_SAMPLE_WEIGHT = {"DebiasedOnPairs"}


def as_pairs(X):
    """Map each finite numeric row to a (user, item) id pair; leave anything else as it is."""
    if type(X).__name__ == "_NotAnArray":  # sklearn's array-like that refuses numpy calls
        X = np.asarray(X.data)
    if X is None or hasattr(X, "iloc") or np.iscomplexobj(X):
        return X
    try:
        array = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        return X
    if array.ndim != 2 or 0 in array.shape or not np.isfinite(array).all():
        return X
    users = np.floor(np.abs(array[:, 0]) * 3).astype(np.int64) % N_USERS
    items = np.floor(np.abs(array[:, -1]) * 5).astype(np.int64) % N_ITEMS
    return np.column_stack([users, items])


def as_clicks(y):
    """0/1 labels from the check's targets (anything that is not numeric is left as it is)."""
    if y is None:
        return None
    y = np.asarray(y)
    if np.iscomplexobj(y):
        return y
    try:
        numeric = y.astype(np.float64)
    except (TypeError, ValueError):
        return y
    if numeric.ndim != 1 or numeric.size == 0:
        return y
    if numeric.max() == numeric.min():
        return np.ones(numeric.shape, dtype=np.int64)
    return (numeric > numeric.min()).astype(np.int64)


def assert_registry_lists_id_pair_checks(names):
    for name in names:
        expected = set(_ID_PAIR_CHECKS) | set(_ID_PAIR_BY_DESIGN)
        if name in _TAKES_SAMPLE_WEIGHT:
            expected |= set(_SAMPLE_WEIGHT_PAIR_CHECKS) | set(_WEIGHT_IS_NOT_REPETITION)
        assert set(EXPECTED_FAILED_CHECKS[name]) == expected, name


def assert_checks_pass_on_pairs(estimator):
    """Run every generic check; only the by-design ones may fail."""
    results = check_estimator(estimator, on_fail=None)
    checked = {r["check_name"] for r in results}
    # check_estimator names both pickling variants "check_estimators_pickle"
    assert {check.split("(")[0] for check in _ID_PAIR_CHECKS} <= checked
    if type(estimator).__name__ in _WRAPPERS_TAKING_SAMPLE_WEIGHT:
        # the checks this scikit-learn release has (1.6 and 1.7 lack the all-zero one)
        assert {c for c in _SAMPLE_WEIGHT_PAIR_CHECKS if hasattr(estimator_checks, c)} <= checked
    allowed = set(_ID_PAIR_BY_DESIGN) | set(_WEIGHT_IS_NOT_REPETITION)
    if SPARSE_WEIGHT_CHECK_IGNORES_TAGS:
        allowed.add("check_sample_weight_equivalence_on_sparse_data")
    failed = {
        r["check_name"]: str(r["exception"])
        for r in results
        if r["status"] == "failed" and r["check_name"] not in allowed
    }
    assert not failed, failed
