"""The click-log validation, the list tensors and the weighted listwise loss."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skultr.ranking import DLARanker, IPWRanker, NaiveRanker
from skultr.ranking._lists import (
    build_list_tensors,
    check_positions,
    clip_log_weights,
    list_codes,
    log_ratio_to_first,
    weighted_softmax_cross_entropy,
)
from skultr.ranking.tests import single_torch_thread  # noqa: F401 (autouse fixture)


def _small(cls=DLARanker, **params):
    defaults = {"hidden_layer_sizes": (4,), "max_epochs": 1, "device": "cpu", "random_state": 0}
    return cls(**{**defaults, **params})


@pytest.fixture
def log():
    rng = np.random.RandomState(0)
    qid = np.repeat([10, 11, 12], 4)
    position = np.tile([1, 2, 3, 4], 3)
    X = rng.normal(size=(12, 3))
    clicks = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0])
    return X, clicks, qid, position


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_x_names_the_row(log, bad):
    X, y, qid, position = log
    X = X.copy()
    X[5, 2] = bad
    with pytest.raises(ValueError, match=r"X must not contain NaN or infinity.*row 5, column 2"):
        _small().fit(X, y, qid=qid, position=position)
    with pytest.raises(ValueError, match="row 5"):
        _small().fit(log[0], y, qid=qid, position=position).predict(X)


@pytest.mark.parametrize(
    "position, message",
    [
        ([1, 2, 3, 0], r"position must be >= 1.*got 0 at row 3"),
        ([1, 2, 3, -2], r"position must be >= 1.*row 3"),
        ([1, 2, 2.5, 4], r"position must hold integers; got 2.5 at row 2"),
        ([1, 2, 1, 4], r"position must not repeat within a list; row 2 repeats position 1"),
        (["a", "b", "c", "d"], r"position must hold integers"),
    ],
)
def test_bad_positions_name_the_first_offending_row(log, position, message):
    X, y, qid, _ = log
    position = np.r_[np.asarray(position, dtype=object), np.tile([1, 2, 3, 4], 2)]
    if all(isinstance(p, (int, float)) for p in position):
        position = position.astype(float)
    else:
        position = position.astype(str)
    with pytest.raises(ValueError, match=message):
        _small().fit(X, y, qid=qid, position=position)


def test_duplicate_positions_in_different_lists_are_fine_and_later_row_is_named(log):
    X, y, qid, position = log
    position = position.copy()
    position[9] = 1  # list 12 now shows position 1 twice: rows 8 and 9
    with pytest.raises(ValueError, match="row 9 repeats position 1"):
        _small().fit(X, y, qid=qid, position=position)


@pytest.mark.parametrize("clicks, row", [([0, 2], 1), ([0.5, 1], 0), ([-1, 0], 0)])
def test_clicks_outside_0_1_name_the_row(log, clicks, row):
    X, y, qid, position = log
    y = np.asarray(y, dtype=float)
    y[:2] = clicks
    with pytest.raises(ValueError, match=rf"y must hold clicks 0 or 1.*at row {row}"):
        _small().fit(X, y, qid=qid, position=position)


@pytest.mark.parametrize("name", ["y", "qid", "position", "sample_weight"])
def test_lengths_that_differ_name_the_argument(log, name):
    X, y, qid, position = log
    args = {"y": y, "qid": qid, "position": position, "sample_weight": np.ones(12)}
    args[name] = args[name][:-1]
    expected = (
        "sample_weight" if name == "sample_weight" else rf"{name} has 11 entries but X has 12"
    )
    with pytest.raises(ValueError, match=expected):
        _small().fit(X, args.pop("y"), **args)


def test_y_none_and_unknown_label_type(log):
    X, _, qid, position = log
    with pytest.raises(ValueError, match="requires y to be passed"):
        _small().fit(X, None, qid=qid, position=position)
    with pytest.raises(ValueError, match="Unknown label type"):
        _small().fit(X, np.array(["a"] * 12, dtype=object), qid=qid)


def test_qid_nan_is_rejected(log):
    X, y, _, position = log
    qid = np.repeat([1.0, np.nan, 3.0], 4)
    with pytest.raises(ValueError, match="qid must not contain NaN; found NaN at row 4"):
        _small().fit(X, y, qid=qid, position=position)


def test_dataframe_columns_and_arguments_conflict(log):
    pd = pytest.importorskip("pandas")
    X, y, qid, position = log
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(qid=qid, position=position)
    _small().fit(frame, y, qid=qid)  # the same values twice: accepted
    other = qid.copy()
    other[4] = 99
    with pytest.raises(ValueError, match="qid.*differ.*row 4"):
        _small().fit(frame, y, qid=other)


def test_all_rows_beyond_max_position(log):
    X, y, qid, position = log
    with pytest.raises(ValueError, match="no click .* at positions 1 to max_position=2"):
        _small(max_position=2).fit(X, y, qid=qid, position=position + 2)


# -- list tensors ----------------------------------------------------------------------------
def test_list_tensors_layout_and_counts():
    X = np.arange(14, dtype=float).reshape(7, 2)
    clicks = np.array([0, 1, 0, 0, 0, 0, 1], dtype=np.int8)
    qid = np.array(["b", "a", "b", "a", "c", "c", "b"])
    position = np.array([2, 1, 1, 12, 1, 3, 3])
    codes, n_lists = list_codes(qid, 7)
    position = check_positions(position, codes, n_lists)
    data = build_list_tensors(X, clicks, codes, position, None, max_position=10, device="cpu")
    features, click_table, positions, mask = data.tensors
    assert features.shape == (3, 3, 2) and features.dtype == torch.float32
    # list "a" (sorted first) keeps only position 1; position 12 is beyond max_position
    assert mask.tolist() == [[True, False, False], [True, True, True], [True, False, True]]
    assert features[1, 1].tolist() == [0.0, 1.0]  # row 0 of X: list "b", position 2
    assert click_table[1].tolist() == [0.0, 0.0, 1.0]
    assert positions[2].tolist() == [0, 1, 2]
    assert (data.n_lists, data.n_lists_without_clicks, data.n_rows_beyond_max_position) == (
        3,
        1,
        1,
    )
    assert data.position_counts.tolist() == [3, 1, 2, 0, 0, 0, 0, 0, 0, 0]


def test_position_none_uses_row_order_within_each_list():
    codes = np.array([1, 0, 1, 1, 0])
    assert check_positions(None, codes, 2).tolist() == [1, 1, 2, 3, 2]


def test_counts_and_partial_fit_accumulate(log):
    X, y, qid, position = log
    y = y.copy()
    y[8:] = 0  # lists 11 and 12 have no click
    est = _small().fit(X, y, qid=qid, position=np.r_[position[:11], 11])
    assert (est.n_lists_, est.n_lists_without_clicks_, est.n_rows_beyond_max_position_) == (
        3,
        2,
        1,
    )
    est.partial_fit(X, y, qid=qid, position=position)
    assert (est.n_lists_, est.n_lists_without_clicks_, est.n_rows_beyond_max_position_) == (
        6,
        4,
        1,
    )
    assert est.position_counts_.sum() == 23


# -- loss ------------------------------------------------------------------------------------
def test_loss_matches_the_formula():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    clicks = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    log_w = torch.log(torch.tensor([[1.0, 2.0, 3.0], [1.0, 4.0, 9.0]]))
    loss = weighted_softmax_cross_entropy(logits, log_w, clicks, mask)
    p0 = torch.softmax(logits[0], 0)
    p1 = torch.softmax(logits[1, :2], 0)
    expected = -(1 * torch.log(p0[0]) + 3 * torch.log(p0[2]) + 4 * torch.log(p1[1])) / (1 + 3 + 4)
    assert torch.allclose(loss, expected)


def test_batch_without_clicks_gives_zero_loss_and_zero_gradient():
    logits = torch.randn(2, 3, requires_grad=True)
    mask = torch.ones(2, 3, dtype=torch.bool)
    loss = weighted_softmax_cross_entropy(logits, torch.zeros(2, 3), torch.zeros(2, 3), mask)
    loss.backward()
    assert loss.item() == 0.0 and torch.all(logits.grad == 0)


def test_log_ratio_uses_the_document_displayed_first():
    logits = torch.tensor([[1.0, 3.0, 0.0]])
    positions = torch.tensor([[4, 2, 7]])
    mask = torch.tensor([[True, True, True]])
    assert log_ratio_to_first(logits, positions, mask).tolist() == [[2.0, 0.0, 3.0]]


def test_clip_log_weights():
    log_w = torch.tensor([0.0, 1.0, 5.0, 200.0])
    assert torch.allclose(
        clip_log_weights(log_w, 10.0).exp(), torch.tensor([1.0, math.e, 10.0, 10.0])
    )
    assert clip_log_weights(log_w, None).max().item() == 80.0


_lists = st.integers(1, 6).flatmap(
    lambda n: st.tuples(
        hnp.arrays(np.float32, (n, 5), elements=st.floats(-50, 50, width=32)),
        hnp.arrays(np.float32, (n, 5), elements=st.floats(-(2.0**100), 2.0**100, width=32)),
        hnp.arrays(np.int8, (n, 5), elements=st.integers(0, 1)),
        st.lists(st.permutations(range(5)), min_size=n, max_size=n),
    )
)


@given(_lists, st.sampled_from([None, 10.0]))
def test_permuting_documents_inside_lists_does_not_change_the_loss(data, max_weight):
    scores, exam_logits, clicks, perms = data
    scores, clicks = torch.from_numpy(scores), torch.from_numpy(clicks).float()
    positions = torch.arange(5).repeat(len(scores), 1)
    mask = torch.ones_like(clicks, dtype=torch.bool)
    mask[:, 4] = False  # a padded slot travels with its document

    def loss(s, c, p, m):
        log_w = clip_log_weights(log_ratio_to_first(s, p, m), max_weight)
        return weighted_softmax_cross_entropy(s, log_w, c, m)

    index = torch.tensor(perms)
    permuted = [t.gather(1, index) for t in (scores, clicks, positions, mask)]
    assert torch.allclose(
        loss(scores, clicks, positions, mask), loss(*permuted), rtol=1e-5, atol=1e-5
    )


@given(_lists, st.sampled_from([None, 10.0]))
def test_weights_and_loss_stay_finite_for_extreme_logits(data, max_weight):
    scores, exam_logits, clicks, _ = data
    exam_logits, clicks = torch.from_numpy(exam_logits), torch.from_numpy(clicks).float()
    positions = torch.arange(5).repeat(len(clicks), 1)
    mask = torch.ones_like(clicks, dtype=torch.bool)
    log_w = clip_log_weights(log_ratio_to_first(exam_logits, positions, mask), max_weight)
    logits = torch.from_numpy(scores).requires_grad_()
    loss = weighted_softmax_cross_entropy(logits, log_w, clicks, mask)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert loss.item() >= 0


@given(st.integers(2, 5).flatmap(lambda n: st.tuples(st.permutations(range(n * 3)), st.just(n))))
def test_fitted_model_does_not_depend_on_row_order(args):
    order, n = args
    rng = np.random.RandomState(n)
    qid = np.repeat(np.arange(n), 3)
    position = np.tile([1, 2, 3], n)
    X = rng.normal(size=(3 * n, 2))
    y = (rng.uniform(size=3 * n) < 0.5).astype(int)
    order = np.asarray(order)
    for cls in (DLARanker, NaiveRanker):
        a = _small(cls, batch_size=2).fit(X, y, qid=qid, position=position)
        b = _small(cls, batch_size=2).fit(
            X[order], y[order], qid=qid[order], position=position[order]
        )
        # float32 GEMMs may round a row differently by where it falls in the kernel's
        # tiles (CPU-dependent); a real order dependence would differ by far more.
        np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(a.predict(X[order]), a.predict(X)[order], rtol=1e-4, atol=1e-5)


def test_ipw_propensity_vector_is_checked(log):
    X, y, qid, position = log
    # Positions 1 to 4 are displayed: a vector of 2 entries lacks position 3.
    with pytest.raises(ValueError, match="positive and finite .* got nan at position 3"):
        _small(IPWRanker, propensity=[1.0, 0.5]).fit(X, y, qid=qid, position=position)
    with pytest.raises(ValueError, match=r"positive and finite .* got 0.0 at position 2"):
        _small(IPWRanker, propensity=[1.0, 0.0] + [0.5] * 8).fit(X, y, qid=qid, position=position)
