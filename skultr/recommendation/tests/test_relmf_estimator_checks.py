"""scikit-learn's generic checks for Rel-MF and its baselines, rerun on (user, item) id pairs.

``tests/test_common.py`` runs every generic check on these estimators and lists the ones in
``_ID_PAIR_CHECKS`` as expected failures: they fit on random float matrices of any
width, while X must be two columns of integer ids. Here the same checks run on subclasses
that only map the check's rows to id pairs (and its targets to 0/1 clicks) before calling
the estimator, so the contracts they guard (returning self, not mutating parameters or
inputs, pickling, idempotent fits, order and subset invariance of predict, read-only memory
maps, pipelines) still hold. The checks in ``_ID_PAIR_BY_DESIGN`` test sklearn's own error
messages for feature matrices and stay expected failures.
"""

import pytest

from skultr.propensity import PopularityPropensity
from skultr.recommendation import (
    BPRRecommender,
    ImplicitMFRecommender,
    RelMFRecommender,
    WMFRecommender,
)
from skultr.utils._test_common import TEST_PARAMS

from ._id_pairs import (
    N_ITEMS,
    N_USERS,
    as_clicks,
    as_pairs,
    assert_checks_pass_on_pairs,
    assert_registry_lists_id_pair_checks,
)


class _OnPairs:
    def fit(self, X, y=None):
        return super().fit(as_pairs(X), as_clicks(y))

    def predict(self, X):
        return super().predict(as_pairs(X))


# Module-level classes, so that the pickling checks can find them.
class _RecommenderOnPairs(_OnPairs):
    def partial_fit(self, X, y=None):
        return super().partial_fit(as_pairs(X), as_clicks(y))

    def score(self, X, y=None):
        return super().score(as_pairs(X), as_clicks(y))


class RelMFOnPairs(_RecommenderOnPairs, RelMFRecommender):
    pass


class ImplicitMFOnPairs(_RecommenderOnPairs, ImplicitMFRecommender):
    pass


class WMFOnPairs(_RecommenderOnPairs, WMFRecommender):
    pass


class BPROnPairs(_RecommenderOnPairs, BPRRecommender):
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
    assert_registry_lists_id_pair_checks([name for _, name in CASES])


@pytest.mark.parametrize("cls, name", CASES, ids=[name for _, name in CASES])
def test_generic_checks_pass_on_id_pairs(cls, name):
    params = dict(TEST_PARAMS.get(name, [{}])[0])
    if name == "PopularityPropensity":
        params["n_items"] = N_ITEMS
    else:
        params.update(n_users=N_USERS, n_items=N_ITEMS)
    assert_checks_pass_on_pairs(cls(**params))
