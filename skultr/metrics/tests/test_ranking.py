"""Tests of the grouped ranking metrics: reference values, sklearn agreement, ties, validation."""

import itertools
import math
import warnings

import numpy as np
import pytest
import sklearn.metrics
from hypothesis import given
from hypothesis import strategies as st
from sklearn.exceptions import UndefinedMetricWarning

from skultr.metrics import (
    average_precision_score,
    dcg_score,
    err_score,
    f1_at_k_score,
    ndcg_score,
    precision_at_k_score,
    recall_at_k_score,
)
from skultr.metrics._ranking import _argsort_by, _query_index, _segmented_cumprod

GRADED_METRICS = [ndcg_score, err_score, average_precision_score]
ALL_METRICS = [ndcg_score, dcg_score, err_score, average_precision_score]


# --------------------------------------------------------------------------------------------
# Strategies and slow, obviously correct references (one Python loop per query)
# --------------------------------------------------------------------------------------------


@st.composite
def ranking_lists(draw, min_docs=1, max_docs=8, max_queries=5, score_values=None, grades=None):
    """Per-row (y_true, y_score, qid) for 1-5 queries, rows shuffled across queries.

    ``score_values`` restricts scores to a small set to force ties; grades are 0-4 by default.
    """
    grades = st.integers(0, 4) if grades is None else grades
    n_queries = draw(st.integers(1, max_queries))
    sizes = draw(st.lists(st.integers(min_docs, max_docs), min_size=n_queries, max_size=n_queries))
    n = sum(sizes)
    y_true = np.array(draw(st.lists(grades, min_size=n, max_size=n)), dtype=float)
    if score_values is None:
        score_strategy = st.floats(-10, 10, allow_nan=False, allow_infinity=False)
    else:
        score_strategy = st.sampled_from(score_values)
    y_score = np.array(draw(st.lists(score_strategy, min_size=n, max_size=n)), dtype=float)
    labels = draw(
        st.lists(st.integers(-1000, 1000), min_size=n_queries, max_size=n_queries, unique=True)
    )
    qid = np.repeat(labels, sizes)
    order = np.array(draw(st.permutations(range(n))))
    return y_true[order], y_score[order], qid[order]


small_k = st.one_of(st.none(), st.integers(1, 10))
tied_scores = [0.0, 1.0, 2.0, 3.0]


def _queries(qid):
    return [qid == q for q in np.unique(qid)]


def _pessimistic_order(y_true, y_score):
    """Decreasing score; within tied scores, increasing relevance."""
    return sorted(range(len(y_true)), key=lambda i: (-y_score[i], y_true[i]))


def _naive_err(y_true, y_score, qid, k, g_max):
    values = []
    for m in _queries(qid):
        y, s = y_true[m], y_score[m]
        err, reach = 0.0, 1.0
        for r, i in enumerate(_pessimistic_order(y, s)[:k], start=1):
            R = (2.0 ** y[i] - 1) / 2.0**g_max
            err += reach * R / r
            reach *= 1 - R
        values.append(err)
    return values


def _naive_ap(y_true, y_score, qid, k):
    values = []
    for m in _queries(qid):
        y, s = y_true[m], y_score[m]
        rel = [y[i] > 0 for i in _pessimistic_order(y, s)]
        n_rel = sum(rel)
        if n_rel == 0:
            values.append(None)
            continue
        top = rel[:k] if k is not None else rel
        hits, total = 0, 0.0
        for r, is_rel in enumerate(top, start=1):
            if is_rel:
                hits += 1
                total += hits / r
        values.append(total / (n_rel if k is None else min(n_rel, k)))
    return values


def _dcg_of_ordering(gains, k):
    return sum(g / math.log2(r + 1) for r, g in enumerate(gains[:k], start=1))


def _expected_dcg_over_tie_orderings(y, s, k, gain):
    """Average DCG over every ordering that is consistent with the scores (brute force)."""
    gains = [2.0**g - 1 for g in y] if gain == "exponential" else y
    blocks = [[i for i in range(len(s)) if s[i] == v] for v in sorted(set(s), reverse=True)]
    dcgs = []
    for perms in itertools.product(*(itertools.permutations(b) for b in blocks)):
        order = [i for block in perms for i in block]
        dcgs.append(_dcg_of_ordering([gains[i] for i in order], k))
    return float(np.mean(dcgs))


# --------------------------------------------------------------------------------------------
# Hand-computed examples
# --------------------------------------------------------------------------------------------


def test_dcg_and_ndcg_hand_computed():
    y_true = [3, 0, 1, 2]
    y_score = [0.4, 0.3, 0.2, 0.1]
    qid = [1, 1, 1, 1]
    dcg = 7 + 0 + 1 / 2 + 3 / math.log2(5)
    ideal = 7 + 3 / math.log2(3) + 1 / 2
    assert dcg_score(y_true, y_score, qid=qid) == pytest.approx(dcg, rel=1e-12)
    assert ndcg_score(y_true, y_score, qid=qid) == pytest.approx(dcg / ideal, rel=1e-12)
    # k=2 cuts both the DCG and the ideal DCG.
    dcg2, ideal2 = 7, 7 + 3 / math.log2(3)
    assert ndcg_score(y_true, y_score, qid=qid, k=2) == pytest.approx(dcg2 / ideal2, rel=1e-12)
    lin = (3 + 1 / 2 + 2 / math.log2(5)) / (3 + 2 / math.log2(3) + 1 / 2)
    assert ndcg_score(y_true, y_score, qid=qid, gain="linear") == pytest.approx(lin, rel=1e-12)


def test_ndcg_ties_are_averaged():
    # Two tied documents, one relevant: it is at rank 1 or 2 with equal chance.
    expected = 0.5 * (1 + 1 / math.log2(3))
    assert ndcg_score([1, 0], [5.0, 5.0], qid=[0, 0]) == pytest.approx(expected, rel=1e-12)
    # A tie block straddling the cut-off k: mean gain times the discounts inside the top k.
    value = dcg_score([1, 0, 0], [2.0, 1.0, 1.0], qid=[0, 0, 0], k=2, gain="linear")
    assert value == pytest.approx(1.0, rel=1e-12)
    value = dcg_score([0, 1, 0], [2.0, 1.0, 1.0], qid=[0, 0, 0], k=2, gain="linear")
    assert value == pytest.approx(0.5 / math.log2(3), rel=1e-12)


def test_err_hand_computed():
    # g_max = 2: R = 3/4, 1/4, 0.
    assert err_score([2, 1, 0], [0.9, 0.5, 0.1], qid=[1, 1, 1]) == pytest.approx(0.78125)
    # Reversed ranking: ranks 2 and 3 hold R = 1/4 then 3/4.
    expected = (1 / 2) * (1 / 4) + (1 / 3) * (3 / 4) * (1 - 1 / 4)
    assert err_score([2, 1, 0], [0.1, 0.5, 0.9], qid=[1, 1, 1]) == pytest.approx(expected)
    assert err_score([2, 1, 0], [0.1, 0.5, 0.9], qid=[1, 1, 1], k=2) == pytest.approx(1 / 8)
    # max_grade fixes the scale: with g_max = 3 the first document stops a user w.p. 3/8.
    expected = 3 / 8 + (1 / 2) * (1 / 8) * (5 / 8)
    value = err_score([2, 1, 0], [0.9, 0.5, 0.1], qid=[1, 1, 1], max_grade=3)
    assert value == pytest.approx(expected)
    # Two queries: the mean; g_max is taken over all queries.
    y_true, y_score, qid = [1, 0, 0, 1], [1.0, 0.0, 1.0, 0.0], ["a", "a", "b", "b"]
    assert err_score(y_true, y_score, qid=qid) == pytest.approx((0.5 + 0.25) / 2)


def test_average_precision_hand_computed():
    y_true = [1, 0, 2, 0, 3, 0]
    y_score = [0.9, 0.5, 0.1, 0.8, 0.7, 0.3]
    qid = ["a", "a", "a", "b", "b", "b"]
    expected = ((1 + 2 / 3) / 2 + 1 / 2) / 2
    assert average_precision_score(y_true, y_score, qid=qid) == pytest.approx(expected)
    # AP@k is normalised by min(n_rel, k): query "a" has 2 relevant, at ranks 1 and 3.
    assert average_precision_score(y_true, y_score, qid=qid, k=1) == pytest.approx(0.5)
    assert average_precision_score(y_true, y_score, qid=qid, k=2) == pytest.approx(
        (1 / 2 + 1 / 2) / 2
    )
    # Three relevant documents, all in the top 2 slots that k=2 allows: AP@2 = 1.
    assert average_precision_score([1, 1, 1, 0], [4, 3, 2, 1], qid=[0] * 4, k=2) == 1.0


def test_pessimistic_ties_for_every_metric():
    y_true = [0, 2, 0, 1]
    constant = [1.0, 1.0, 1.0, 1.0]
    worst = [4.0, 1.0, 3.0, 2.0]  # increasing relevance
    qid = [0, 0, 0, 0]
    for metric in ALL_METRICS:
        pessimistic = metric(y_true, constant, qid=qid, ties="pessimistic")
        assert pessimistic == pytest.approx(metric(y_true, worst, qid=qid), rel=1e-12)
        # By default a constant scorer gets the expected value of a random ranking.
        assert metric(y_true, constant, qid=qid) > pessimistic
    value = average_precision_score(y_true, constant, qid=qid, ties="pessimistic")
    assert value == pytest.approx((1 / 3 + 2 / 4) / 2)


def test_no_relevant_policies():
    y_true = [1, 0, 0, 0]
    y_score = [1.0, 0.0, 1.0, 0.0]
    qid = [0, 0, 1, 1]  # query 1 has no relevant document
    for metric, first in zip(GRADED_METRICS, [1.0, 0.5, 1.0], strict=True):  # ERR: R = 1/2
        assert metric(y_true, y_score, qid=qid) == first
        assert metric(y_true, y_score, qid=qid, no_relevant="zero") == first / 2
        assert metric(y_true, y_score, qid=qid, no_relevant="one") == (first + 1) / 2
    # DCG follows the same default; "zero" keeps every query: (1 + 0) / 2.
    assert dcg_score(y_true, y_score, qid=qid) == 1.0
    assert dcg_score(y_true, y_score, qid=qid, no_relevant="zero") == 0.5


@pytest.mark.parametrize("metric", GRADED_METRICS)
def test_all_queries_skipped_returns_nan_with_warning(metric):
    with pytest.warns(UndefinedMetricWarning, match="no query has a relevant document"):
        value = metric([0, 0, 0], [1.0, 2.0, 3.0], qid=[0, 0, 1])
    assert math.isnan(value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metric([0, 0, 0], [1.0, 2.0, 3.0], qid=[0, 0, 1], no_relevant="one") == 1.0


def test_single_document_queries_and_large_k():
    y_true, y_score, qid = [1, 0, 2], [0.1, 0.2, 0.3], [0, 1, 2]
    assert ndcg_score(y_true, y_score, qid=qid, no_relevant="zero") == pytest.approx(2 / 3)
    for metric in ALL_METRICS:
        assert metric(y_true, y_score, qid=qid, k=None) == metric(y_true, y_score, qid=qid, k=50)


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_returns_python_float_and_accepts_any_qid_type(metric):
    y_true = np.array([2, 0, 1, 1, 0, 3, 0])
    y_score = np.array([0.3, 0.1, 0.2, 0.5, 0.7, 0.2, 0.9])
    qid_int = np.array([5, 5, 9, 9, 5, 1, 1])
    reference = metric(y_true, y_score, qid=qid_int)
    assert type(reference) is float
    for qid in (
        qid_int.astype(str),
        qid_int.astype(float),
        [f"q{q}" for q in qid_int],
        qid_int.astype(object),
    ):
        assert metric(y_true, y_score, qid=qid) == pytest.approx(reference, rel=1e-12)
    # Lists, pandas and boolean relevance work too.
    pd = pytest.importorskip("pandas")
    assert metric(pd.Series(y_true), pd.Series(y_score), qid=pd.Series(qid_int)) == pytest.approx(
        reference, rel=1e-12
    )


def test_binary_labels_give_the_same_ndcg_for_both_gains():
    y_true = [True, False, True, False]
    y_score = [0.2, 0.4, 0.1, 0.3]
    qid = [0, 0, 1, 1]
    assert ndcg_score(y_true, y_score, qid=qid) == pytest.approx(
        ndcg_score(y_true, y_score, qid=qid, gain="linear"), rel=1e-12
    )


def test_segmented_cumprod_matches_loop_on_long_queries():
    rng = np.random.default_rng(0)
    sizes = [1, 37, 2, 130, 5]
    rank = np.concatenate([np.arange(n) for n in sizes])
    values = rng.uniform(0.5, 1.0, rank.size)
    expected = np.concatenate(
        [np.cumprod(chunk) for chunk in np.split(values, np.cumsum(sizes)[:-1])]
    )
    np.testing.assert_allclose(_segmented_cumprod(values, rank), expected, rtol=1e-12)


def test_large_integer_grades_with_linear_gain_match_sklearn():
    y_true = np.array([70_000, 0, 3, 70_000, 5, 0])
    y_score = np.array([0.1, 0.9, 0.5, 0.5, 0.2, 0.3])
    expected = sklearn.metrics.ndcg_score(y_true[None], y_score[None], k=4)
    value = ndcg_score(y_true, y_score, qid=np.zeros(6), k=4, gain="linear")
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "qid",
    [
        np.array([127, -128, 0, 127, -128], dtype=np.int8),
        np.array([2**64 - 1, 3, 2**64 - 1, 0, 3], dtype=np.uint64),
        np.array([0, 2**62, -5, 0, -5]),  # span too large for a lookup table
        np.array([True, False, True, True, False]),
        np.array([3.5, -0.0, 0.0, 1e300, 3.5]),
        np.array(["b", "a", "b", "c", "a"]),
    ],
)
def test_query_index_matches_numpy_unique(qid):
    unique, inverse = np.unique(qid, return_inverse=True)
    group, n_queries = _query_index(qid)
    assert n_queries == len(unique)
    np.testing.assert_array_equal(group, inverse)


def test_argsort_by_falls_back_to_lexsort_when_key_overflows():
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 3, 50), rng.integers(0, 4, 50)
    packed = _argsort_by((a, 3), (b, 4))
    huge = _argsort_by((a, 2**40), (b, 2**40))  # 2**80 does not fit in int64
    for order in (packed, huge):
        np.testing.assert_array_equal(a[order] * 4 + b[order], np.sort(a * 4 + b))


def test_err_on_a_long_list_matches_reference():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 3, 300).astype(float)
    y_score = rng.normal(size=300)
    qid = rng.integers(0, 3, 300)
    expected = np.mean(_naive_err(y_true, y_score, qid, None, y_true.max()))
    assert err_score(y_true, y_score, qid=qid, k=None) == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------------------------


@given(data=ranking_lists(min_docs=2, score_values=tied_scores), k=small_k)
def test_ndcg_and_dcg_match_sklearn_per_query(data, k):
    y_true, y_score, qid = data
    masks = _queries(qid)
    expected_ndcg = np.mean(
        [sklearn.metrics.ndcg_score(y_true[m][None], y_score[m][None], k=k) for m in masks]
    )
    expected_dcg = np.mean(
        [sklearn.metrics.dcg_score(y_true[m][None], y_score[m][None], k=k) for m in masks]
    )
    ndcg = ndcg_score(y_true, y_score, qid=qid, k=k, gain="linear", no_relevant="zero")
    dcg = dcg_score(y_true, y_score, qid=qid, k=k, gain="linear", no_relevant="zero")
    np.testing.assert_allclose(ndcg, expected_ndcg, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dcg, expected_dcg, rtol=1e-12, atol=1e-12)


@given(
    data=ranking_lists(max_docs=6, max_queries=1, score_values=[0.0, 1.0]),
    k=small_k,
    gain=st.sampled_from(["exponential", "linear"]),
)
def test_dcg_is_the_expectation_over_orderings_of_ties(data, k, gain):
    y_true, y_score, qid = data
    expected = _expected_dcg_over_tie_orderings(list(y_true), list(y_score), k, gain)
    value = dcg_score(y_true, y_score, qid=qid, k=k, gain=gain, no_relevant="zero")
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


@given(data=ranking_lists(score_values=tied_scores), k=small_k)
def test_pessimistic_err_matches_reference(data, k):
    y_true, y_score, qid = data
    g_max = y_true.max()
    expected = _naive_err(y_true, y_score, qid, k, g_max)
    value = err_score(y_true, y_score, qid=qid, k=k, no_relevant="zero", ties="pessimistic")
    assert value == pytest.approx(np.mean(expected), rel=1e-12, abs=1e-12)


@given(
    data=ranking_lists(score_values=tied_scores, grades=st.sampled_from([0, 0.5, 1.25, 3.75])),
    k=small_k,
)
def test_fractional_grades_match_references(data, k):
    # Non-integer grades take the sorting path that ranks the grades instead of using them.
    y_true, y_score, qid = data
    masks = _queries(qid)
    expected = np.mean(
        [
            _expected_dcg_over_tie_orderings(list(y_true[m]), list(y_score[m]), k, "exponential")
            for m in masks
        ]
    )
    value = dcg_score(y_true, y_score, qid=qid, k=k, no_relevant="zero")
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    expected = np.mean(_naive_err(y_true, y_score, qid, k, y_true.max()))
    value = err_score(y_true, y_score, qid=qid, k=k, no_relevant="zero", ties="pessimistic")
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


@given(data=ranking_lists(score_values=tied_scores), k=small_k)
def test_pessimistic_average_precision_matches_reference(data, k):
    y_true, y_score, qid = data
    per_query = [0.0 if ap is None else ap for ap in _naive_ap(y_true, y_score, qid, k)]
    value = average_precision_score(
        y_true, y_score, qid=qid, k=k, no_relevant="zero", ties="pessimistic"
    )
    assert value == pytest.approx(np.mean(per_query), rel=1e-12, abs=1e-12)


@given(
    data=ranking_lists(score_values=tied_scores),
    k=small_k,
    seed=st.integers(0, 2**32 - 1),
)
def test_row_order_does_not_change_any_metric(data, k, seed):
    y_true, y_score, qid = data
    perm = np.random.default_rng(seed).permutation(len(y_true))
    for metric, ties in itertools.product(ALL_METRICS, ["average", "pessimistic"]):
        kwargs = {"no_relevant": "zero", "ties": ties}
        before = metric(y_true, y_score, qid=qid, k=k, **kwargs)
        after = metric(y_true[perm], y_score[perm], qid=qid[perm], k=k, **kwargs)
        assert before == after, metric.__name__


@given(data=ranking_lists(), k=small_k, no_relevant=st.sampled_from(["zero", "one"]))
def test_normalised_metrics_are_in_unit_interval(data, k, no_relevant):
    y_true, y_score, qid = data
    for metric in GRADED_METRICS:
        value = metric(y_true, y_score, qid=qid, k=k, no_relevant=no_relevant)
        assert -1e-12 <= value <= 1 + 1e-12, metric.__name__
    assert dcg_score(y_true, y_score, qid=qid, k=k, no_relevant="zero") >= 0


@given(data=ranking_lists(), k=small_k, gain=st.sampled_from(["exponential", "linear"]))
def test_perfect_scores_give_ndcg_and_map_one(data, k, gain):
    y_true, _, qid = data
    # A strictly increasing transform of y_true: no ties between different grades.
    y_score = np.exp(y_true) - 3.0
    assert ndcg_score(y_true, y_score, qid=qid, k=k, gain=gain, no_relevant="one") == (
        pytest.approx(1.0, rel=1e-12)
    )
    assert average_precision_score(y_true, y_score, qid=qid, k=k, no_relevant="one") == 1.0
    # ERR of the ideal ranking is the best ERR any ranking of the same lists reaches.
    reversed_err = err_score(y_true, -y_score, qid=qid, k=k, no_relevant="one")
    assert err_score(y_true, y_score, qid=qid, k=k, no_relevant="one") >= reversed_err


@given(data=ranking_lists(score_values=tied_scores), k=small_k)
def test_constant_scorer_is_worst_with_pessimistic_ties(data, k):
    y_true, y_score, qid = data
    constant = np.zeros_like(y_score)
    for metric in ALL_METRICS:
        kwargs = {"qid": qid, "k": k, "no_relevant": "zero", "ties": "pessimistic"}
        assert metric(y_true, constant, **kwargs) <= metric(y_true, y_score, **kwargs) + 1e-12


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

Y, S, Q = [1, 0, 2], [0.1, 0.2, 0.3], [0, 0, 1]


@pytest.mark.parametrize("metric", ALL_METRICS)
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y_true": [1, 0]}, r"same length; got lengths 2, 3 and 3"),
        ({"y_score": [0.1, 0.2]}, r"same length; got lengths 3, 2 and 3"),
        ({"qid": [0, 0, 1, 1]}, r"same length; got lengths 3, 3 and 4"),
        ({"y_score": [0.1, np.nan, 0.3]}, r"y_score must be finite; found nan at index 1"),
        ({"y_score": [0.1, 0.2, -np.inf]}, r"y_score must be finite; found -inf at index 2"),
        ({"y_true": [1, -1, 2]}, r"y_true must hold non-negative .* found -1.0 at index 1"),
        ({"y_true": [np.nan, 0, 2]}, r"y_true must be finite; found nan at index 0"),
        ({"y_true": ["a", "b", "c"]}, r"y_true must contain real numbers"),
        ({"y_true": [], "y_score": [], "qid": []}, r"empty"),
        ({"y_true": [[1, 0, 2]]}, r"y_true must be a 1-D .* shape \(1, 3\)"),
        ({"y_score": np.zeros((3, 1))}, r"y_score must be a 1-D .* shape \(3, 1\)"),
        ({"qid": [[0], [0], [1]]}, r"qid must be a 1-D .* shape \(3, 1\)"),
        ({"qid": [0.0, np.nan, 1.0]}, r"qid must not contain NaN; found NaN at row 1"),
        ({"qid": [0, "a", 1.5]}, None),  # numpy turns mixed lists into strings: accepted
        ({"qid": np.array([0, "a", None], dtype=object)}, r"qid values must be mutually"),
        ({"k": 0}, r"k must be a positive integer or None; got 0"),
        ({"k": -3}, r"k must be a positive integer or None; got -3"),
        ({"k": 2.0}, r"k must be a positive integer or None; got 2.0"),
        ({"k": True}, r"k must be a positive integer or None; got True"),
    ],
)
def test_bad_input_raises_value_error(metric, kwargs, match):
    arguments = {"y_true": Y, "y_score": S, "qid": Q, **kwargs}
    y_true, y_score = arguments.pop("y_true"), arguments.pop("y_score")
    if match is None:
        metric(y_true, y_score, **arguments)
        return
    with pytest.raises(ValueError, match=match):
        metric(y_true, y_score, **arguments)


@pytest.mark.parametrize("metric", [ndcg_score, dcg_score])
def test_bad_gain(metric):
    with pytest.raises(
        ValueError, match=r"gain must be one of 'exponential', 'linear'; got 'log'"
    ):
        metric(Y, S, qid=Q, gain="log")
    with pytest.raises(ValueError, match=r"y_true grade 2000.0 at index 0 is too large"):
        metric([2000, 1], [0.1, 0.2], qid=[0, 0])


@pytest.mark.parametrize("metric", GRADED_METRICS)
def test_bad_no_relevant(metric):
    with pytest.raises(ValueError, match=r"no_relevant must be one of 'skip', 'zero', 'one'"):
        metric(Y, S, qid=Q, no_relevant="nan")


@pytest.mark.parametrize("max_grade", [-1, np.nan, np.inf, "4", True, 5000])
def test_bad_max_grade(max_grade):
    with pytest.raises(ValueError, match=r"max_grade must be None or a finite number"):
        err_score(Y, S, qid=Q, max_grade=max_grade)


def test_grade_above_max_grade():
    with pytest.raises(ValueError, match=r"must not exceed max_grade=1; found 2.0 at index 2"):
        err_score(Y, S, qid=Q, max_grade=1)


# --------------------------------------------------------------------------------------------
# One convention for every ranking and recommendation metric (see the skultr.metrics docstring)
# --------------------------------------------------------------------------------------------


def _orderings_consistent_with(scores):
    """Every ordering of the rows by decreasing score, tied rows in every order."""
    blocks = [
        [i for i in range(len(scores)) if scores[i] == v]
        for v in sorted(set(scores), reverse=True)
    ]
    for perms in itertools.product(*(itertools.permutations(b) for b in blocks)):
        yield [i for block in perms for i in block]


def _err_of_ordering(grades, k, g_max):
    err, reach = 0.0, 1.0
    for r, g in enumerate(grades[:k], start=1):
        R = (2.0**g - 1) / 2.0**g_max
        err += reach * R / r
        reach *= 1 - R
    return err


def _ap_of_ordering(grades, k):
    rel = [g > 0 for g in grades]
    n_rel = sum(rel)
    hits, total = 0, 0.0
    for r, is_rel in enumerate(rel[:k], start=1):
        if is_rel:
            hits += 1
            total += hits / r
    return total / (n_rel if k is None else min(n_rel, k))


def _hits_of_ordering(grades, k):
    return sum(g > 0 for g in grades[:k])


def _mean_over_tie_orderings(y_true, y_score, qid, value_of_ordering):
    """Per query (sorted by qid): the mean of ``value_of_ordering`` over its tie orderings."""
    values = []
    for m in _queries(qid):
        y, s = list(y_true[m]), list(y_score[m])
        orderings = list(_orderings_consistent_with(s))
        values.append(np.mean([value_of_ordering([y[i] for i in o]) for o in orderings]))
    return np.array(values)


def _reference_values(y_true, y_score, qid, k):
    """Brute-force, tie-averaged per-query values of every metric, and the relevant mask."""
    has_rel = np.array([(y_true[m] > 0).any() for m in _queries(qid)])
    sizes = np.array([m.sum() for m in _queries(qid)])
    g_max = y_true.max()
    gains = lambda o: [2.0**g - 1 for g in o]  # noqa: E731
    ideal = np.array(
        [_dcg_of_ordering(sorted(gains(y_true[m]), reverse=True), k) for m in _queries(qid)]
    )
    dcg = _mean_over_tie_orderings(y_true, y_score, qid, lambda o: _dcg_of_ordering(gains(o), k))
    hits = _mean_over_tie_orderings(y_true, y_score, qid, lambda o: _hits_of_ordering(o, k))
    n_rel = np.array([(y_true[m] > 0).sum() for m in _queries(qid)])
    return has_rel, {
        dcg_score: dcg,
        ndcg_score: np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0),
        err_score: _mean_over_tie_orderings(
            y_true, y_score, qid, lambda o: _err_of_ordering(o, k, g_max)
        ),
        average_precision_score: _mean_over_tie_orderings(
            y_true, y_score, qid, lambda o: _ap_of_ordering(o, k) if any(o) else 0.0
        ),
        recall_at_k_score: np.divide(hits, n_rel, out=np.zeros_like(hits), where=n_rel > 0),
        precision_at_k_score: hits / (sizes if k is None else k),
    }


@given(
    data=ranking_lists(max_docs=6, max_queries=3, score_values=[0.0, 1.0, 2.0]),
    k=small_k,
)
def test_every_metric_is_its_expectation_over_random_tie_breaking(data, k):
    """Ties are averaged over all their orderings by every metric (ERR, MAP, Recall@k and
    Precision@k were pessimistic while nDCG/DCG averaged)."""
    y_true, y_score, qid = data
    has_rel, expected = _reference_values(y_true, y_score, qid, k)
    for metric, per_query in expected.items():
        value = metric(y_true, y_score, qid=qid, k=k, no_relevant="zero")
        assert value == pytest.approx(per_query.mean(), rel=1e-12, abs=1e-12), metric.__name__
        if has_rel.any():
            value = metric(y_true, y_score, qid=qid, k=k)  # default: skip
            expected_skip = per_query[has_rel].mean()
            assert value == pytest.approx(expected_skip, rel=1e-12, abs=1e-12), metric.__name__


def test_constant_scorer_gets_the_mean_of_a_random_ranking():
    """One relevant and one non-relevant document scored alike: each order has chance 1/2."""
    y_true, tied, qid = [1, 0], [0.5, 0.5], [1, 1]
    assert err_score(y_true, tied, qid=qid) == pytest.approx((1 / 2 + 1 / 4) / 2)
    assert average_precision_score(y_true, tied, qid=qid) == pytest.approx((1 + 1 / 2) / 2)
    assert recall_at_k_score(y_true, tied, qid=qid, k=1) == pytest.approx(1 / 2)
    assert precision_at_k_score(y_true, tied, qid=qid, k=1) == pytest.approx(1 / 2)
    assert f1_at_k_score(y_true, tied, qid=qid, k=1) == pytest.approx(1 / 2)
    # A tie straddling the cut-off: 2 relevant of 4 tied items, 1 slot: 1/2 expected hit.
    y_true, tied, qid = [1, 1, 0, 0], [0.0] * 4, [0] * 4
    assert recall_at_k_score(y_true, tied, qid=qid, k=1) == pytest.approx(1 / 4)
    assert precision_at_k_score(y_true, tied, qid=qid, k=1) == pytest.approx(1 / 2)


CONVENTION_METRICS = [
    ndcg_score,
    dcg_score,
    err_score,
    average_precision_score,
    recall_at_k_score,
    precision_at_k_score,
    f1_at_k_score,
]


@pytest.mark.parametrize("metric", CONVENTION_METRICS, ids=lambda m: m.__name__)
def test_every_metric_skips_lists_without_a_relevant_item_by_default(metric):
    """dcg_score kept such lists at 0 by default while every other metric skipped them."""
    y_true = np.array([2, 0, 1, 0, 0, 0])
    y_score = np.array([0.3, 0.9, 0.1, 0.5, 0.2, 0.4])
    qid = np.array([0, 0, 0, 1, 1, 1])  # query 1 has no relevant document
    alone = metric(y_true[:3], y_score[:3], qid=qid[:3], k=2)
    assert metric(y_true, y_score, qid=qid, k=2) == pytest.approx(alone, rel=1e-12)
    assert metric(y_true, y_score, qid=qid, k=2, no_relevant="skip") == pytest.approx(alone)
    assert metric(y_true, y_score, qid=qid, k=2, no_relevant="zero") == pytest.approx(alone / 2)
    with pytest.warns(UndefinedMetricWarning, match="undefined"):
        assert math.isnan(metric([0, 0], [1.0, 2.0], qid=[0, 0], k=2))


@pytest.mark.parametrize("metric", CONVENTION_METRICS, ids=lambda m: m.__name__)
def test_every_metric_has_the_same_ties_and_no_relevant_parameters(metric):
    import inspect

    parameters = inspect.signature(metric).parameters
    assert parameters["no_relevant"].default == "skip"
    assert parameters["ties"].default == "average"
    assert parameters["ties"].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(ValueError, match=r"ties must be one of 'average', 'pessimistic'"):
        metric(Y, S, qid=Q, ties="random")


@given(data=ranking_lists(max_docs=6, max_queries=3, score_values=[0.0, 1.0]), k=small_k)
def test_pessimistic_ties_match_the_worst_order_references(data, k):
    y_true, y_score, qid = data
    expected = np.mean(_naive_err(y_true, y_score, qid, k, y_true.max()))
    value = err_score(y_true, y_score, qid=qid, k=k, no_relevant="zero", ties="pessimistic")
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    per_query = [0.0 if ap is None else ap for ap in _naive_ap(y_true, y_score, qid, k)]
    value = average_precision_score(
        y_true, y_score, qid=qid, k=k, no_relevant="zero", ties="pessimistic"
    )
    assert value == pytest.approx(np.mean(per_query), rel=1e-12, abs=1e-12)
    worst = _pessimistic_order
    per_query = []
    for m in _queries(qid):
        y, s = y_true[m], y_score[m]
        per_query.append(_dcg_of_ordering([2.0 ** y[i] - 1 for i in worst(y, s)], k))
    value = dcg_score(y_true, y_score, qid=qid, k=k, no_relevant="zero", ties="pessimistic")
    assert value == pytest.approx(np.mean(per_query), rel=1e-12, abs=1e-12)
    # pessimistic is never above the average
    for metric in CONVENTION_METRICS:
        low = metric(y_true, y_score, qid=qid, k=k, no_relevant="zero", ties="pessimistic")
        mean = metric(y_true, y_score, qid=qid, k=k, no_relevant="zero")
        assert low <= mean + 1e-12, metric.__name__


def test_tie_averaged_err_on_large_tie_blocks_matches_a_monte_carlo_estimate():
    """Exact tie-averaged ERR against the mean of many random tie-breaks (long lists)."""
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 4, 400).astype(float)
    y_score = rng.integers(0, 3, 400).astype(float)  # blocks of ~65 tied documents
    qid = rng.integers(0, 2, 400)
    exact = err_score(y_true, y_score, qid=qid, k=None)
    noise = rng.random((300, 400))
    draws = [err_score(y_true, y_score + 0.1 * noise[i], qid=qid, k=None) for i in range(300)]
    assert exact == pytest.approx(np.mean(draws), abs=4 * np.std(draws) / np.sqrt(300) + 1e-12)
