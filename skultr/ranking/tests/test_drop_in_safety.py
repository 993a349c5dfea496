"""Everyday paths that used to give a silently wrong ranker or score (issue 11).

Each test reproduces one such path: a Pipeline that turns ``qid``/``position`` into features,
a fit or score without ``qid``, logs without clicks or without position 1, lists shorter than
``max_position`` or starting below position 1, and raw (unscaled) feature scales.
"""

import warnings

import numpy as np
import pytest
import torch

from skultr.datasets import make_click_log, make_ranking_dataset
from skultr.metrics import make_ranking_scorer, ndcg_score
from skultr.propensity import RandomizationPropensity, RegressionEMPropensity
from skultr.ranking import DLARanker, IPWRanker, NaiveRanker, PositionBasedModel
from skultr.ranking.tests import single_torch_thread  # noqa: F401 (autouse fixture)

pd = pytest.importorskip("pandas")

TINY = {"hidden_layer_sizes": (8,), "max_epochs": 2, "device": "cpu", "random_state": 0}
RANKERS = [DLARanker, NaiveRanker, IPWRanker]


@pytest.fixture(scope="module")
def log():
    X, y, qid = make_ranking_dataset(100, random_state=0)
    return make_click_log(X, y, qid, n_sessions=400, random_state=0)


def _frame(log):
    frame = pd.DataFrame(log.X, columns=[f"f{i}" for i in range(log.X.shape[1])])
    frame["qid"] = log.qid
    frame["position"] = log.position
    return frame


# -- 1. no qid and more rows than one list can hold -----------------------------------------
def test_pipeline_with_scaler_in_front_raises_instead_of_one_list(log):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), DLARanker(**TINY))
    with pytest.raises(ValueError, match="qid") as info:
        pipe.fit(_frame(log), log.clicks)
    message = str(info.value)
    assert "set_fit_request" in message and "ColumnTransformer" in message
    assert "passthrough" in message


@pytest.mark.parametrize("cls", RANKERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_rankers_without_qid_beyond_one_list_raise(log, cls, method):
    est = cls(**TINY)
    with pytest.raises(ValueError, match=r"qid.*max_position=10"):
        getattr(est, method)(log.X[:30], log.clicks[:30])
    # One list's worth of rows (<= max_position) is one list, as documented.
    getattr(est, method)(log.X[:10], np.r_[1, np.zeros(9, dtype=int)])
    assert est.n_lists_ == 1


def test_score_without_qid_beyond_one_list_raises(log):
    est = DLARanker(**TINY).fit(log.X, log.clicks, qid=log.qid, position=log.position)
    with pytest.raises(ValueError, match="set_score_request"):
        est.score(log.X, log.relevance)
    # with qid (argument or column) it scores per list
    expected = ndcg_score(log.relevance, est.predict(log.X), qid=log.qid, k=10)
    assert est.score(log.X, log.relevance, qid=log.qid) == pytest.approx(expected)
    assert est.score(_frame(log), log.relevance) == pytest.approx(expected)


@pytest.mark.parametrize("cls", [RandomizationPropensity, RegressionEMPropensity])
def test_position_propensity_without_qid_beyond_one_list_raises(log, cls):
    with pytest.raises(ValueError, match=r"qid.*max_position=10"):
        cls().fit(log.X[:30], log.clicks[:30])
    cls().fit(log.X[:10], np.r_[1, 1, np.zeros(8, dtype=int)])  # one list: fine


def test_column_and_argument_must_agree(log):
    frame = _frame(log)
    est = DLARanker(**TINY).fit(frame, log.clicks, qid=log.qid)  # same values: accepted
    assert est.n_lists_ == len(np.unique(log.qid))
    other = log.qid.copy()
    other[5] += 1000
    with pytest.raises(ValueError, match="qid.*differ.*row 5"):
        DLARanker(**TINY).fit(frame, log.clicks, qid=other)


# -- 3. make_ranking_scorer reads a DataFrame's qid column like make_click_scorer ----------
def test_ranking_scorer_reads_the_qid_column(log):
    frame = _frame(log)
    est = DLARanker(**TINY).fit(frame, log.clicks)
    scorer = make_ranking_scorer("ndcg", k=10)
    expected = ndcg_score(log.relevance, est.predict(log.X), qid=log.qid, k=10)
    assert scorer(est, frame, log.relevance) == pytest.approx(expected)
    assert scorer(est, frame, log.relevance, qid=log.qid) == pytest.approx(expected)
    with pytest.raises(ValueError, match="no qid"):
        scorer(est, log.X, log.relevance)


# -- 4. nothing to learn from ---------------------------------------------------------------
@pytest.mark.parametrize("cls", RANKERS, ids=lambda c: c.__name__)
def test_all_zero_clicks(log, cls):
    zeros = np.zeros_like(log.clicks)
    with pytest.raises(ValueError, match="no click"):
        cls(**TINY).fit(log.X, zeros, qid=log.qid, position=log.position)
    est = cls(**TINY).fit(log.X, log.clicks, qid=log.qid, position=log.position)
    with pytest.warns(UserWarning, match="no click"):
        est.partial_fit(log.X, zeros, qid=log.qid, position=log.position)


def test_no_row_at_position_one_warns(log):
    keep = log.position > 1
    args = (log.X[keep], log.clicks[keep])
    side = {"qid": log.qid[keep], "position": log.position[keep]}
    with pytest.warns(UserWarning, match="position 1"):
        est = DLARanker(**TINY).fit(*args, **side)
    assert np.isnan(est.propensity_).all()
    for cls in (RandomizationPropensity, RegressionEMPropensity):
        with pytest.warns(UserWarning, match="position 1"):
            cls().fit(*args, **side)
    with pytest.raises(ValueError, match="position 1"):
        IPWRanker(**TINY).fit(*args, **side)


# -- 5. IPW on short lists, weights relative to position 1 ----------------------------------
def test_ipw_default_propensity_on_lists_shorter_than_max_position(log):
    keep = log.position <= 6
    est = IPWRanker(**TINY).fit(
        log.X[keep], log.clicks[keep], qid=log.qid[keep], position=log.position[keep]
    )
    assert np.isfinite(est.propensity_[:6]).all() and np.isnan(est.propensity_[6:]).all()
    assert np.isfinite(est.predict(log.X)).all()
    # a later batch that displays a position without a propensity is an error
    with pytest.raises(ValueError, match="position 7"):
        est.partial_fit(log.X, log.clicks, qid=log.qid, position=log.position)


def _two_list_batch():
    # list 0 shows positions 1-2, list 1 shows positions 3-4 (slots 0-1 are padding)
    torch.manual_seed(0)
    features = torch.randn(2, 4, 3)
    clicks = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    positions = torch.arange(4).expand(2, 4).contiguous()
    mask = torch.tensor([[True, True, False, False], [False, False, True, True]])
    return features, clicks, positions, mask


def test_ipw_weights_are_relative_to_position_one():
    propensity = np.array([1.0, 0.5, 0.25, 0.125])
    est = IPWRanker(propensity=propensity, max_weight=None, max_position=4, **TINY)
    est.propensity_ = propensity
    est.n_features_in_ = 3
    module = est._build_module()
    _, _, positions, mask = _two_list_batch()
    log_w = est._log_weights(module, positions, mask)
    # w_i = p_1 / p_{pos_i}: 2 at position 2, 4 at position 3, 8 at position 4, for every list
    np.testing.assert_allclose(np.exp(log_w[1, 2:].numpy()), [4.0, 8.0], rtol=1e-6)
    np.testing.assert_allclose(np.exp(log_w[0, :2].numpy()), [1.0, 2.0], rtol=1e-6)


def test_dla_ranker_weights_are_relative_to_position_one():
    est = DLARanker(max_weight=None, max_position=4, **TINY)
    est.n_features_in_ = 3
    module = est._build_module()
    with torch.no_grad():
        module.propensity_logits.copy_(torch.log(torch.tensor([1.0, 0.5, 0.25, 0.125])))
    features, clicks, positions, mask = _two_list_batch()
    _, parts = est._loss(module, (features, clicks, positions, mask))
    with torch.no_grad():
        s = module(features)
        log_p = torch.log_softmax(s.masked_fill(~mask, -1e30), dim=1)
        w = torch.tensor([2.0, 8.0])  # clicks at positions 2 and 4: p_1 / p_pos
        nll = -torch.stack([log_p[0, 1], log_p[1, 3]])
        expected = (w * nll).sum() / w.sum()
    assert float(parts["ranker_loss"]) == pytest.approx(float(expected), rel=1e-5)


# -- 6. feature scaling -----------------------------------------------------------------------
def test_feature_scaling_makes_the_ranker_invariant_to_feature_scales(log):
    raw = log.X * 1e3 + 500.0
    side = {"qid": log.qid, "position": log.position}
    a = DLARanker(**TINY).fit(log.X, log.clicks, **side)
    b = DLARanker(**TINY).fit(raw, log.clicks, **side)
    np.testing.assert_allclose(a.predict(log.X), b.predict(raw), rtol=1e-3, atol=1e-4)
    assert a.feature_scaling == "standard"
    np.testing.assert_allclose(b.scaler_.mean_, raw.mean(axis=0))


def test_feature_scaling_recovers_quality_on_raw_scales():
    X, y, qid = make_ranking_dataset(400, random_state=0)
    Xt, yt, qt = make_ranking_dataset(200, random_state=1)
    log = make_click_log(
        X,
        y,
        qid,
        n_sessions=6000,
        score_noise=0.7,
        click_model=PositionBasedModel(eta=1.0),
        random_state=0,
    )
    scale = np.linspace(1.0, 3.0, X.shape[1]) * 1e3
    shift = np.linspace(-2.0, 5.0, X.shape[1]) * 1e3
    params = {"hidden_layer_sizes": (16,), "max_epochs": 4, "device": "cpu", "random_state": 0}
    side = {"qid": log.qid, "position": log.position}
    scores = {}
    for scaling in ("standard", None):
        est = DLARanker(feature_scaling=scaling, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(log.X * scale + shift, log.clicks, **side)
        scores[scaling] = est.score(Xt * scale + shift, yt, qid=qt)
    reference = DLARanker(feature_scaling=None, **params).fit(log.X, log.clicks, **side)
    assert scores["standard"] == pytest.approx(reference.score(Xt, yt, qid=qt), abs=0.03)
    assert scores["standard"] > scores[None] + 0.1, scores


def test_feature_scaling_constant_feature_and_partial_fit(log):
    X = np.column_stack([log.X, np.full(len(log.X), 7.0)])
    side = {"qid": log.qid, "position": log.position}
    est = DLARanker(**TINY).fit(X, log.clicks, **side)
    assert np.isfinite(est.predict(X)).all()
    mean = est.scaler_.mean_.copy()
    est.partial_fit(
        X[:200] + 100.0, log.clicks[:200], qid=log.qid[:200], position=log.position[:200]
    )
    np.testing.assert_array_equal(est.scaler_.mean_, mean)  # statistics of the first fit
    assert DLARanker(feature_scaling=None, **TINY).fit(X, log.clicks, **side).scaler_ is None
