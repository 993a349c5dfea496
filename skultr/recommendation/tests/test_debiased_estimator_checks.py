"""scikit-learn's generic checks for the kernel-balancing estimators, rerun on id pairs.

``tests/test_common.py`` runs every generic check on DebiasedMFRecommender,
KernelBalancingPropensity, NaiveBayesPropensity and LogisticPropensity and lists the ones in
``_ID_PAIR_CHECKS`` as expected failures: they fit on random float matrices of any
width, while X must be two columns of integer ids. Here the same checks run on subclasses
that only map the check's rows to id pairs (and its targets to 0/1 labels) before calling
the estimator, so the contracts they guard still hold. NaiveBayesPropensity's wrapper also
passes the labels as its MAR sample (``mar_y``) and predicts for rating 1.
"""

import numpy as np
import pytest

from skultr.propensity import (
    KernelBalancingPropensity,
    LogisticPropensity,
    NaiveBayesPropensity,
)
from skultr.recommendation import DebiasedMFRecommender
from skultr.utils._test_common import TEST_PARAMS

from ._id_pairs import (
    N_ITEMS,
    N_USERS,
    as_clicks,
    as_pairs,
    assert_checks_pass_on_pairs,
    assert_registry_lists_id_pair_checks,
)


def _labels(X, y):
    """0/1 labels for the check's y; when it passes none, labels derived from X."""
    if y is not None:
        return as_clicks(y)
    pairs = as_pairs(X)
    if isinstance(pairs, np.ndarray) and pairs.ndim == 2 and pairs.shape[1] == 2:
        return (pairs.sum(1) % 2).astype(np.int64)
    return None


# Module-level classes, so that the pickling checks can find them.
class DebiasedOnPairs(DebiasedMFRecommender):
    def fit(self, X, y=None, sample_weight=None):
        return super().fit(as_pairs(X), _labels(X, y), sample_weight=sample_weight)

    def partial_fit(self, X, y=None, sample_weight=None):
        return super().partial_fit(as_pairs(X), _labels(X, y), sample_weight=sample_weight)

    def predict(self, X):
        return super().predict(as_pairs(X))

    def score(self, X, y=None):
        return super().score(as_pairs(X), _labels(X, y))


class KernelBalancingOnPairs(KernelBalancingPropensity):
    def fit(self, X, y=None):
        return super().fit(as_pairs(X), _labels(X, y))

    def partial_fit(self, X, y=None):
        return super().partial_fit(as_pairs(X), _labels(X, y))

    def predict(self, X, sample_propensity=None):
        return super().predict(as_pairs(X), sample_propensity)


class NaiveBayesOnPairs(NaiveBayesPropensity):
    def fit(self, X, y=None):
        labels = _labels(X, y)
        mar = None if labels is None else np.r_[np.asarray(labels), 0, 1]
        return super().fit(as_pairs(X), labels, mar_y=mar)

    def predict(self, X):
        pairs = as_pairs(X)
        return super().predict(pairs, np.ones(len(np.asarray(pairs))))


class LogisticOnPairs(LogisticPropensity):
    def fit(self, X, y=None):
        return super().fit(as_pairs(X), y)

    def decision_function(self, X):
        return super().decision_function(as_pairs(X))

    def predict(self, X):
        return super().predict(as_pairs(X))


CASES = [
    (DebiasedOnPairs, "DebiasedMFRecommender"),
    (KernelBalancingOnPairs, "KernelBalancingPropensity"),
    (NaiveBayesOnPairs, "NaiveBayesPropensity"),
    (LogisticOnPairs, "LogisticPropensity"),
]


def test_registry_lists_the_id_pair_checks():
    assert_registry_lists_id_pair_checks([name for _, name in CASES])


@pytest.mark.parametrize("cls, name", CASES, ids=[name for _, name in CASES])
def test_generic_checks_pass_on_id_pairs(cls, name):
    params = dict(TEST_PARAMS.get(name, [{}])[0])
    params.update(n_users=N_USERS, n_items=N_ITEMS)
    assert_checks_pass_on_pairs(cls(**params))
