"""scikit-learn's generic checks for Rel-MF and its baselines, rerun on (user, item) id pairs.

``tests/test_common.py`` runs every generic check on these estimators and lists the ones in
``_RELMF_ID_PAIR_CHECKS`` as expected failures: they fit on random float matrices of any
width, while X must be two columns of integer ids. Here the same checks run on subclasses
that only map the check's rows to id pairs (and its targets to 0/1 clicks) before calling
the estimator, so the contracts they guard (returning self, not mutating parameters or
inputs, pickling, idempotent fits, order and subset invariance of predict, read-only memory
maps, pipelines) still hold. The checks in ``_RELMF_BY_DESIGN`` test sklearn's own error
messages for feature matrices and stay expected failures.
"""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from skultr.propensity import PopularityPropensity
from skultr.recommendation import (
    BPRRecommender,
    ImplicitMFRecommender,
    RelMFRecommender,
    WMFRecommender,
)
from skultr.utils._test_common import (
    _RELMF_BY_DESIGN,
    _RELMF_ID_PAIR_CHECKS,
    EXPECTED_FAILED_CHECKS,
    TEST_PARAMS,
)

N_USERS, N_ITEMS = 4, 6


def _as_pairs(X):
    """Map each finite numeric row to a (user, item) id pair; leave anything else as it is."""
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


def _as_clicks(y):
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


class _OnPairs:
    def fit(self, X, y=None):
        return super().fit(_as_pairs(X), _as_clicks(y))

    def predict(self, X):
        return super().predict(_as_pairs(X))


# Module-level classes, so that the pickling checks can find them.
class RelMFOnPairs(_OnPairs, RelMFRecommender):
    pass


class ImplicitMFOnPairs(_OnPairs, ImplicitMFRecommender):
    pass


class WMFOnPairs(_OnPairs, WMFRecommender):
    pass


class BPROnPairs(_OnPairs, BPRRecommender):
    pass


class PopularityOnPairs(_OnPairs, PopularityPropensity):
    pass


CASES = [
    (RelMFOnPairs, "RelMFRecommender"),
    (ImplicitMFOnPairs, "ImplicitMFRecommender"),
    (WMFOnPairs, "WMFRecommender"),
    (BPROnPairs, "BPRRecommender"),
    (PopularityOnPairs, "PopularityPropensity"),
]


def test_registry_lists_the_id_pair_checks():
    for _, name in CASES:
        assert set(EXPECTED_FAILED_CHECKS[name]) == set(_RELMF_ID_PAIR_CHECKS) | set(
            _RELMF_BY_DESIGN
        )


@pytest.mark.parametrize("cls, name", CASES, ids=[name for _, name in CASES])
def test_generic_checks_pass_on_id_pairs(cls, name):
    params = dict(TEST_PARAMS.get(name, [{}])[0])
    if name == "PopularityPropensity":
        params["n_items"] = N_ITEMS
    else:
        params.update(n_users=N_USERS, n_items=N_ITEMS)
    results = check_estimator(cls(**params), on_fail=None)
    checked = {r["check_name"] for r in results}
    # check_estimator names both pickling variants "check_estimators_pickle"
    assert {check.split("(")[0] for check in _RELMF_ID_PAIR_CHECKS} <= checked
    failed = {
        r["check_name"]: str(r["exception"])
        for r in results
        if r["status"] == "failed" and r["check_name"] not in _RELMF_BY_DESIGN
    }
    assert not failed, failed
