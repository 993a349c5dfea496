"""scikit-learn's generic checks that feed non-binary targets, rerun on 0/1 clicks.

``tests/test_common.py`` runs every generic check on the click-log estimators, and lists the
ones below as expected failures: they fit on targets such as 0..3, which are not clicks and
are rejected by design. Here the same checks run on subclasses that only turn those targets
into clicks (``y > min(y)``) before fitting, so the contracts they guard (returning self,
not mutating parameters or inputs, dtypes, order and subset invariance of predict,
n_features_in_, sample weights, read-only memory maps) are still held for these estimators.
"""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from skultr.propensity import RandomizationPropensity, RegressionEMPropensity
from skultr.ranking import DLARanker, IPWRanker, NaiveRanker
from skultr.ranking.tests import single_torch_thread  # noqa: F401 (autouse fixture)
from skultr.utils._test_common import (
    _CLICK_CHECKS,
    _SAMPLE_WEIGHT_CLICK_CHECKS,
    EXPECTED_FAILED_CHECKS,
    construct_instances,
)


def _as_clicks(y):
    if y is None:
        return None
    y = np.asarray(y)
    try:
        numeric = y.astype(np.float64)
    except (TypeError, ValueError):
        return y  # strings and other labels: left for the estimator to reject
    if y.ndim != 1 or y.size == 0:
        return y
    return (numeric > numeric.min()).astype(np.int64)


# Explicit signatures: the checks look for sample_weight in the signature of fit.
class _OnlineClicksMixin:
    def fit(self, X, y, *, qid=None, position=None, sample_weight=None):
        return super().fit(
            X, _as_clicks(y), qid=qid, position=position, sample_weight=sample_weight
        )

    def partial_fit(self, X, y, *, qid=None, position=None, sample_weight=None):
        return super().partial_fit(
            X, _as_clicks(y), qid=qid, position=position, sample_weight=sample_weight
        )


class _ClicksMixin:
    def fit(self, X, y, *, qid=None, position=None):
        return super().fit(X, _as_clicks(y), qid=qid, position=position)


# Module-level classes, so that the pickling checks can find them.
class DLAOnClicks(_OnlineClicksMixin, DLARanker):
    pass


class NaiveOnClicks(_OnlineClicksMixin, NaiveRanker):
    pass


class IPWOnClicks(_OnlineClicksMixin, IPWRanker):
    pass


class RandomizationOnClicks(_ClicksMixin, RandomizationPropensity):
    def partial_fit(self, X, y, *, qid=None, position=None):
        return super().partial_fit(X, _as_clicks(y), qid=qid, position=position)


class RegressionEMOnClicks(_ClicksMixin, RegressionEMPropensity):
    def partial_fit(self, X, y, *, qid=None, position=None):
        return super().partial_fit(X, _as_clicks(y), qid=qid, position=position)


CASES = [
    (DLAOnClicks, "DLARanker"),
    (NaiveOnClicks, "NaiveRanker"),
    (IPWOnClicks, "IPWRanker"),
    (RandomizationOnClicks, "RandomizationPropensity"),
    (RegressionEMOnClicks, "RegressionEMPropensity"),
]


# A listwise loss has no "weight = repetition" equivalence; the registry says why.
_NOT_A_CLICK_ISSUE = {"check_sample_weight_equivalence_on_dense_data"}


def _click_checks(name):
    return set(EXPECTED_FAILED_CHECKS[name]) - _NOT_A_CLICK_ISSUE


def test_registry_lists_exactly_the_click_checks():
    for _, name in CASES:
        assert _click_checks(name) <= set(_CLICK_CHECKS + _SAMPLE_WEIGHT_CLICK_CHECKS)


@pytest.mark.parametrize("cls, name", CASES, ids=[name for _, name in CASES])
def test_click_checks_pass_on_clicks(cls, name):
    estimator = next(iter(construct_instances(name, cls)))
    results = check_estimator(estimator, on_fail=None)
    checked = {r["check_name"] for r in results}
    assert _click_checks(name) <= checked
    failed = {
        r["check_name"]: str(r["exception"])
        for r in results
        if r["status"] == "failed" and r["check_name"] in _click_checks(name)
    }
    assert not failed, failed
