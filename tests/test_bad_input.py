"""The bad-input catalogue: no public estimator or metric returns a silently wrong value.

Every case feeds one defect into otherwise valid input (NaN, inf, empty, mismatched
lengths, wrong dtypes, constant targets, out-of-range propensities, positions and ids) and
asserts a ``ValueError``/``TypeError`` whose message names the argument, or, where the
documented result is right but fragile, a warning that says why. Estimators come from the
registry through the families of ``tests/test_drop_in.py``, so a new estimator joins
without editing this file. Hypothesis chooses where the defect goes.
"""

import inspect
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.utils import get_tags

from skultr.utils._drop_in import (
    ESTIMATORS,
    classification,
    click_log,
    family_of,
    fit_pairs,
    interactions,
    regression,
    small_instance,
)

BAD = (ValueError, TypeError)
_SETTINGS = settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _rejects(call, argument, *, warning_ok=False):
    """``call()`` raises an error naming ``argument`` (or, if allowed, warns with a reason)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except BAD as error:
            assert re.search(argument, str(error)), (
                f"the error does not name {argument!r}: {error}"
            )
            return
    if warning_ok:
        messages = [str(w.message) for w in caught]
        assert any(re.search(argument, m) for m in messages), (
            f"no error and no warning naming {argument!r} (warnings: {messages})"
        )
        return
    pytest.fail(f"bad {argument} was accepted silently")


# ------------------------------------------------------------------------------------------
# The valid input of each family, and its defects
# ------------------------------------------------------------------------------------------
def _click_fit(est, X, y, qid, position, **kwargs):
    return lambda: clone(est).fit(X, y, qid=qid, position=position, **kwargs)


def click_defects(est, row):
    log, _, _ = click_log()
    X, y, qid, pos = log.X, log.clicks, log.qid, log.position
    row = row % len(y)

    def with_value(array, value, dtype=float):
        out = np.array(array, dtype=dtype, copy=True)
        out[row] = value
        return out

    X_nan = X.copy()
    X_nan[row, 0] = np.nan
    X_inf = X.copy()
    X_inf[row, -1] = np.inf
    cases = {
        "X_nan": (_click_fit(est, X_nan, y, qid, pos), "X|NaN|nan"),
        "X_inf": (_click_fit(est, X_inf, y, qid, pos), "X|inf"),
        "X_empty": (_click_fit(est, X[:0], y[:0], qid[:0], pos[:0]), "empty|0 sample|X"),
        "X_strings": (
            _click_fit(est, X.astype(str).astype(object) + "x", y, qid, pos),
            "X|float|string",
        ),
        "y_short": (_click_fit(est, X, y[:-1], qid, pos), "y|sample|length|inconsistent"),
        "y_not_clicks": (_click_fit(est, X, with_value(y, 2.0), qid, pos), "y|click"),
        "y_nan": (_click_fit(est, X, with_value(y, np.nan), qid, pos), "y|click|NaN"),
        "y_all_zero": (
            _click_fit(est, X, np.zeros_like(y), qid, pos),
            "click",
        ),
        "qid_short": (_click_fit(est, X, y, qid[:-1], pos), "qid"),
        "position_zero": (_click_fit(est, X, y, qid, with_value(pos, 0, np.int64)), "position"),
        "position_negative": (
            _click_fit(est, X, y, qid, with_value(pos, -3, np.int64)),
            "position",
        ),
        "position_fractional": (_click_fit(est, X, y, qid, with_value(pos, 1.5)), "position"),
        "position_short": (_click_fit(est, X, y, qid, pos[:-1]), "position"),
    }
    # a duplicated position within a list
    same_list = np.flatnonzero(qid == qid[row])
    if len(same_list) > 1:
        dup = pos.copy()
        dup[same_list[1]] = dup[same_list[0]]
        cases["position_duplicated"] = (_click_fit(est, X, y, qid, dup), "position")
    if "sample_weight" in inspect.signature(est.fit).parameters:
        cases["sample_weight_negative"] = (
            _click_fit(est, X, y, qid, pos, sample_weight=with_value(np.ones(len(y)), -1.0)),
            "sample_weight|negative",
        )
        cases["sample_weight_nan"] = (
            _click_fit(est, X, y, qid, pos, sample_weight=with_value(np.ones(len(y)), np.nan)),
            "sample_weight|NaN|nan|finite",
        )
    return cases


# warnings accepted (the documented answer is right but fragile): an all-zero log has
# nothing to learn from; the estimators say so.
WARNING_OK = {"y_all_zero", "y_constant"}


def pair_defects(est, row):
    pairs, y = interactions()
    row = row % len(y)
    fit = lambda X, y: lambda: fit_pairs(clone(est), X, y)  # noqa: E731
    X_nan = pairs.astype(float)
    X_nan[row, 0] = np.nan
    X_three = np.column_stack([pairs, pairs[:, 0]])
    y_nan = y.astype(float)
    y_nan[row] = np.nan
    y_inf = y.astype(float)
    y_inf[row] = np.inf
    cases = {
        "X_nan_id": (fit(X_nan, y), "id|user|NaN|nan"),
        "X_three_columns": (fit(X_three, y), "X|column|pairs"),
        "X_one_column": (fit(pairs[:, :1], y), "X|column|pairs"),
        "X_empty": (fit(pairs[:0], y[:0]), "X|empty"),
    }
    if "sample_weight" in inspect.signature(est.fit).parameters:
        for case, value, argument in (
            ("sample_weight_negative", -1.0, "sample_weight|negative"),
            ("sample_weight_nan", np.nan, "sample_weight|NaN|nan|finite"),
        ):
            w = np.ones(len(y))
            w[row] = value
            cases[case] = (
                lambda w=w: clone(est).fit(pairs, y, sample_weight=w),
                argument,
            )
    if _ignores_y(est):
        return cases  # sklearn's convention "y : ignored": any y is accepted
    cases["y_short"] = (fit(pairs, y[:-1]), "y|length|rows|sample|inconsistent")
    cases["y_nan"] = (fit(pairs, y_nan), "y|NaN|nan|finite")
    cases["y_inf"] = (fit(pairs, y_inf), "y|inf|finite")
    if family_of(type(est)) == "recommender":
        # No positive feedback at all: nothing to learn from. With explicit ratings
        # (y required) one value of every rating is as bad; implicit feedback that is all
        # clicks is the ordinary case (the unobserved pairs are the negatives).
        cases["y_all_zero"] = (fit(pairs, np.zeros_like(y)), "y|click|constant|all|one")
        if est.__sklearn_tags__().target_tags.required:
            cases["y_constant"] = (fit(pairs, np.ones_like(y)), "y|constant|all|one")
    return cases


def _ignores_y(est):
    """Whether ``fit`` documents ``y`` as ignored (sklearn's convention)."""
    doc = inspect.getdoc(est.fit) or ""
    return re.search(r"^\s*y\s*:\s*ignored", doc, flags=re.IGNORECASE | re.MULTILINE) is not None


def tree_defects(est, row):
    X, y = classification()
    row = row % len(y)
    fit = lambda X, y, **kw: lambda: clone(est).fit(X, y, **kw)  # noqa: E731
    w = np.ones(len(y))
    w[row] = -1.0
    X_inf = X.copy()
    X_inf[row, 1] = np.inf
    return {
        "X_inf": (fit(X_inf, y), "X|inf|infinity|large"),
        "X_empty": (fit(X[:0], y[:0]), "empty|0 sample|X"),
        "y_short": (fit(X, y[:-1]), "y|sample|inconsistent"),
        "y_constant": (fit(X, np.zeros_like(y)), "class|y|one|single"),
        "sample_weight_negative": (fit(X, y, sample_weight=w), "sample_weight|negative"),
    }


def corrector_defects(est, row):
    rng = np.random.default_rng(0)
    y = rng.normal(size=100)
    y_pred = 0.5 * y + 0.3 * rng.normal(size=100)
    row = row % 100
    fit = lambda a, b: lambda: clone(est).fit(a, b)  # noqa: E731

    def put(array, value):
        out = np.array(array, dtype=float, copy=True)
        out[row] = value
        return out

    return {
        "y_pred_nan": (fit(put(y_pred, np.nan), y), "y_pred|NaN|nan|finite"),
        "y_pred_inf": (fit(put(y_pred, np.inf), y), "y_pred|inf|finite"),
        "y_nan": (fit(y_pred, put(y, np.nan)), "y|NaN|nan|finite"),
        "y_short": (fit(y_pred, y[:-1]), "y|length|sample|inconsistent"),
        "y_pred_2d": (fit(np.column_stack([y_pred, y_pred]), y), "y_pred|column|1-D|shape"),
        "empty": (fit(y_pred[:0], y[:0]), "empty|0 sample|y_pred|y"),
        "y_pred_constant": (fit(np.ones(100), y), "y_pred|constant|variance|slope"),
        "y_pred_strings": (fit(y_pred.astype(str).astype(object) + "x", y), "y_pred|float|string"),
    }


def meta_regressor_defects(est, row):
    X, y = regression()
    row = row % len(y)
    fit = lambda a, b: lambda: clone(est).fit(a, b)  # noqa: E731
    X_nan = X.copy()
    X_nan[row, 0] = np.nan
    y_nan = y.copy()
    y_nan[row] = np.nan
    return {
        "X_nan": (fit(X_nan, y), "X|NaN|nan"),
        "y_nan": (fit(X, y_nan), "y|NaN|nan"),
        "y_short": (fit(X, y[:-1]), "y|sample|inconsistent"),
        "X_empty": (fit(X[:0], y[:0]), "empty|0 sample|X"),
    }


DEFECTS = {
    "click_ranker": click_defects,
    "position_propensity": click_defects,
    "recommender": pair_defects,
    "pair_propensity": pair_defects,
    "tree_postprocessor": tree_defects,
    "corrector": corrector_defects,
    "meta_regressor": meta_regressor_defects,
}


def _estimator_cases():
    for name, cls in ESTIMATORS:
        make = DEFECTS.get(family_of(cls))
        if make is None:
            continue
        est = small_instance(name, cls)
        for case in make(est, 0):
            if case == "X_nan" and get_tags(est).input_tags.allow_nan:
                continue  # a missing value is valid input here (a meta-estimator around HGB)
            yield pytest.param(name, cls, case, id=f"{name}-{case}")


@pytest.mark.parametrize("name, cls, case", list(_estimator_cases()))
@_SETTINGS
@given(row=st.integers(0, 10_000))
def test_estimator_rejects_bad_input(name, cls, case, row):
    est = small_instance(name, cls)
    cases = DEFECTS[family_of(cls)](est, row)
    call, argument = cases[case]
    _rejects(call, argument, warning_ok=case in WARNING_OK)


# ------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------
def _grouped_data():
    rng = np.random.default_rng(0)
    qid = np.repeat(np.arange(6), 5)
    y_true = rng.integers(0, 3, size=30).astype(float)
    y_score = rng.normal(size=30)
    return y_true, y_score, qid


def _grouped_metrics():
    from skultr import metrics

    return {
        name: getattr(metrics, name)
        for name in (
            "ndcg_score",
            "dcg_score",
            "err_score",
            "average_precision_score",
            "precision_at_k_score",
            "recall_at_k_score",
            "f1_at_k_score",
        )
    }


def _grouped_defects(metric, row):
    y_true, y_score, qid = _grouped_data()
    row = row % len(y_true)

    def put(array, value):
        out = np.array(array, dtype=float, copy=True)
        out[row] = value
        return out

    call = lambda t, s, q: lambda: metric(t, s, qid=q)  # noqa: E731
    return {
        "y_score_nan": (call(y_true, put(y_score, np.nan), qid), "y_score"),
        "y_score_inf": (call(y_true, put(y_score, np.inf), qid), "y_score"),
        "y_true_nan": (call(put(y_true, np.nan), y_score, qid), "y_true"),
        "y_true_negative": (call(put(y_true, -1.0), y_score, qid), "y_true"),
        "y_score_short": (call(y_true, y_score[:-1], qid), "y_score|length|sample"),
        "qid_short": (call(y_true, y_score, qid[:-1]), "qid"),
        "qid_nan": (call(y_true, y_score, put(qid, np.nan)), "qid"),
        "empty": (call(y_true[:0], y_score[:0], qid[:0]), "empty|y_true|sample"),
        "y_score_2d": (
            call(y_true, np.column_stack([y_score, y_score]), qid),
            "y_score|1-D|shape",
        ),
    }


def _fairness_metrics():
    from skultr import metrics

    return {
        name: getattr(metrics, name)
        for name in (
            "demographic_parity_difference",
            "disparate_impact_ratio",
            "equal_opportunity_difference",
            "equalized_odds_difference",
        )
    }


def _fairness_defects(metric, row):
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, size=40)
    y_pred = rng.integers(0, 2, size=40)
    group = np.repeat([0, 1], 20)
    row = row % 40
    call = lambda t, p, g: lambda: metric(t, p, sensitive_features=g)  # noqa: E731
    probabilities = rng.uniform(size=40)
    group_nan = group.astype(float)
    group_nan[row] = np.nan
    y_nan = y_pred.astype(float)
    y_nan[row] = np.nan
    return {
        "y_pred_probabilities": (call(y_true, probabilities, group), "y_pred"),
        "y_pred_strings_without_pos_label": (
            call(y_true.astype(str), np.where(y_pred == 1, "yes", "no"), group),
            "y_pred|pos_label|y_true",
        ),
        "y_pred_nan": (call(y_true, y_nan, group), "y_pred"),
        "sensitive_features_nan": (call(y_true, y_pred, group_nan), "sensitive_features"),
        "sensitive_features_short": (
            call(y_true, y_pred, group[:-1]),
            "sensitive_features|length|sample",
        ),
        "y_pred_short": (call(y_true, y_pred[:-1], group), "y_pred|length|sample"),
        "empty": (call(y_true[:0], y_pred[:0], group[:0]), "empty|y_true|y_pred|sample"),
    }


def _ips_defects(metric, row):
    y_true, y_score, qid = _grouped_data()
    y_true = (y_true > 0).astype(float)
    row = row % len(y_true)
    propensity = np.full(len(y_true), 0.5)

    def put(value):
        out = propensity.copy()
        out[row] = value
        return out

    grouped = {"qid": qid} if "qid" in inspect.signature(metric).parameters else {}
    call = lambda p: lambda: metric(y_true, y_score, propensity=p, **grouped)  # noqa: E731
    return {
        "propensity_zero": (call(put(0.0)), "propensity"),
        "propensity_negative": (call(put(-0.2)), "propensity"),
        "propensity_over_one": (call(put(1.5)), "propensity"),
        "propensity_nan": (call(put(np.nan)), "propensity"),
        "propensity_short": (call(propensity[:-1]), "propensity"),
    }


def _metric_cases():
    from skultr import metrics

    for name, metric in _grouped_metrics().items():
        for case in _grouped_defects(metric, 0):
            yield pytest.param(name, "grouped", case, id=f"{name}-{case}")
    for name, metric in _fairness_metrics().items():
        for case in _fairness_defects(metric, 0):
            yield pytest.param(name, "fairness", case, id=f"{name}-{case}")
    for name in ("ips_dcg_at_k_score", "ips_recall_at_k_score", "ips_pointwise_loss"):
        for case in _ips_defects(getattr(metrics, name), 0):
            yield pytest.param(name, "ips", case, id=f"{name}-{case}")


_METRIC_DEFECTS = {"grouped": _grouped_defects, "fairness": _fairness_defects, "ips": _ips_defects}


@pytest.mark.parametrize("name, kind, case", list(_metric_cases()))
@_SETTINGS
@given(row=st.integers(0, 10_000))
def test_metric_rejects_bad_input(name, kind, case, row):
    from skultr import metrics

    call, argument = _METRIC_DEFECTS[kind](getattr(metrics, name), row)[case]
    _rejects(call, argument)


def test_every_public_metric_is_in_the_catalogue():
    """A new public metric must join the catalogue (scorer factories are covered by theirs)."""
    from skultr import metrics

    covered = {*_grouped_metrics(), *_fairness_metrics()}
    covered |= {"ips_dcg_at_k_score", "ips_recall_at_k_score", "ips_pointwise_loss"}
    covered |= {"ope_ranking_metric", "ope_recommendation_metric"}  # metrics/tests/test_ope.py
    functions = {
        name
        for name in metrics.__all__
        if callable(getattr(metrics, name)) and not name.startswith("make_")
    }
    assert functions <= covered, f"add {sorted(functions - covered)} to the catalogue"
