"""Learning-to-rank data: SVMlight loader, synthetic lists and the click-log simulator."""

import os
from pathlib import Path

import numpy as np
import pytest

from skultr.datasets import load_svmlight_ranking, make_click_log, make_ranking_dataset
from skultr.datasets._ltr import true_relevance_utility
from skultr.ranking import CascadeModel, PositionBasedModel


# -- loader ----------------------------------------------------------------------------------
def _write(path, text):
    path.write_text(text)
    return path


def test_load_with_qid_tokens(tmp_path):
    path = _write(tmp_path / "a.txt", "2 qid:7 1:0.5 3:1 # doc a\n0 qid:7 2:0.1\n1 qid:9 1:0.2\n")
    X, y, qid = load_svmlight_ranking(path)
    assert X.shape == (3, 3) and isinstance(X, np.ndarray)
    assert y.tolist() == [2.0, 0.0, 1.0] and qid.tolist() == [7, 7, 9]
    assert qid.dtype == np.int64
    X_sparse, _, _ = load_svmlight_ranking(path, dense=False, n_features=5)
    assert X_sparse.shape == (3, 5) and hasattr(X_sparse, "tocsr")


def test_load_with_query_and_position_side_files(tmp_path):
    path = _write(tmp_path / "rank.train", "1 1:1\n0 1:2\n2 1:3\n0 2:1\n")
    _write(tmp_path / "rank.train.query", "3\n1\n")
    _write(tmp_path / "rank.train.position", "0\n1\n2\n0\n")
    X, y, qid, position = load_svmlight_ranking(path, return_position=True)
    assert qid.tolist() == [0, 0, 0, 1] and position.tolist() == [1, 2, 3, 1]
    _, _, _, one_based = load_svmlight_ranking(
        path,
        return_position=True,
        position_file=tmp_path / "rank.train.position",
        position_start=0,
    )
    assert one_based.tolist() == [1, 2, 3, 1]


@pytest.mark.parametrize(
    "files, kwargs, message",
    [
        ({}, {}, "has no qid: tokens and no group file"),
        ({".query": "3\n"}, {}, "add up to 3 rows"),
        ({".query": "2\n2\n"}, {"return_position": True}, "no position file was found"),
        ({".query": "2\n2\n", ".position": "0\n1\n0\n"}, {"return_position": True}, "has 3 lines"),
        ({".query": "2\n1.5\n"}, {}, r"must hold integers; got 1.5 on line 2"),
        ({".query": "4\n", ".position": "0\n1\n2\n-1\n"}, {"return_position": True}, "line 4"),
    ],
)
def test_loader_errors(tmp_path, files, kwargs, message):
    path = _write(tmp_path / "t.txt", "1 1:1\n0 1:2\n2 1:3\n0 2:1\n")
    for suffix, text in files.items():
        _write(tmp_path / f"t.txt{suffix}", text)
    with pytest.raises(ValueError, match=message):
        load_svmlight_ranking(path, **kwargs)


def test_loader_missing_path(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_svmlight_ranking(tmp_path / "nope.txt")


def _shared_ltr():
    root = Path(os.environ.get("SKULTR_DATA", Path(__file__).parents[4] / "shared" / "data"))
    return root / "ltr" / "lightgbm_rank"


@pytest.mark.skipif(not (_shared_ltr() / "rank.train").exists(), reason="shared LTR data absent")
def test_lightgbm_example_data():
    X, y, qid, position = load_svmlight_ranking(_shared_ltr() / "rank.train", return_position=True)
    assert X.shape == (3005, 300) and len(np.unique(qid)) == 201
    assert set(np.unique(y)) == {0.0, 1.0, 2.0, 3.0, 4.0}
    assert position.min() == 1
    # positions are a 1..n permutation within each query
    for q in np.unique(qid)[:20]:
        assert sorted(position[qid == q]) == list(range(1, (qid == q).sum() + 1))
    Xt, yt, qt = load_svmlight_ranking(_shared_ltr() / "rank.test", n_features=300)
    assert Xt.shape == (768, 300) and len(np.unique(qt)) == 50


# -- synthetic lists -------------------------------------------------------------------------
def test_make_ranking_dataset_shape_grades_and_determinism():
    X, y, qid = make_ranking_dataset(300, n_documents=(5, 8), n_features=7, random_state=0)
    sizes = np.bincount(qid)
    assert X.shape[1] == 7 and len(sizes) == 300 and sizes.min() >= 5 and sizes.max() <= 8
    shares = np.bincount(y.astype(int), minlength=5) / len(y)
    np.testing.assert_allclose(shares, [0.45, 0.27, 0.15, 0.09, 0.04], atol=0.04)
    X2, y2, qid2 = make_ranking_dataset(300, n_documents=(5, 8), n_features=7, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_grades_follow_the_known_utility():
    X, y, _ = make_ranking_dataset(300, noise=0.0, random_state=0)
    utility = true_relevance_utility(X)
    for grade in range(4):  # noiseless grades are ordered bins of the utility
        assert utility[y == grade].max() <= utility[y == grade + 1].min()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_queries": 0}, "n_queries"),
        ({"n_features": 4}, "n_features must be an integer >= 5"),
        ({"n_documents": (5, 3)}, "low <= high"),
        ({"n_documents": "many"}, "n_documents"),
        ({"noise": -1}, "noise"),
    ],
)
def test_make_ranking_dataset_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_ranking_dataset(**{"n_queries": 10, **kwargs})


# -- click logs ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus():
    return make_ranking_dataset(200, n_documents=(10, 14), random_state=0)


def test_click_log_fields_and_production_order(corpus):
    X, y, qid = corpus
    scores = X[:, 0]
    log = make_click_log(X, y, qid, scores=scores, n_sessions=300, top_k=5, random_state=0)
    n = len(log.X)
    for name in ("clicks", "qid", "position", "relevance", "row", "query", "production_position"):
        assert len(log[name]) == n, name
    assert n == 300 * 5 and log.clicks.dtype == np.int8
    np.testing.assert_array_equal(log.X, X[log.row])
    np.testing.assert_array_equal(log.relevance, y[log.row])
    np.testing.assert_array_equal(log.query, qid[log.row])
    np.testing.assert_array_equal(log.position, log.production_position)
    # within a session, positions follow decreasing production scores
    s = scores[log.row].reshape(300, 5)
    assert (np.diff(s, axis=1) <= 0).all()
    np.testing.assert_allclose(log.propensity, PositionBasedModel().propensity(5))


def test_click_log_is_deterministic_and_seed_dependent(corpus):
    X, y, qid = corpus
    a = make_click_log(X, y, qid, n_sessions=200, random_state=1)
    b = make_click_log(X, y, qid, n_sessions=200, random_state=1)
    c = make_click_log(X, y, qid, n_sessions=200, random_state=2)
    np.testing.assert_array_equal(a.clicks, b.clicks)
    np.testing.assert_array_equal(a.row, b.row)
    assert not np.array_equal(a.row, c.row)


def test_short_lists_are_not_padded(corpus):
    X, y, qid = corpus
    log = make_click_log(X, y, qid, n_sessions=100, top_k=20, random_state=0)
    sizes = np.bincount(log.qid)
    assert sizes.max() <= 14 and sizes.min() >= 10 and sizes.max() > 10
    assert (log.position <= sizes[log.qid]).all()


def test_shuffle_intervention_randomises_positions(corpus):
    X, y, qid = corpus
    log = make_click_log(X, y, qid, n_sessions=20_000, intervention="shuffle", random_state=0)
    # the top production document lands at each position ~10% of the time
    share = np.bincount(log.position[log.production_position == 1], minlength=11)[1:] / 20_000
    np.testing.assert_allclose(share, 0.1, atol=0.01)
    assert sorted(set(log.production_position.tolist())) == list(range(1, 11))


def test_swap_intervention_exchanges_position_one_with_one_other(corpus):
    X, y, qid = corpus
    log = make_click_log(X, y, qid, n_sessions=5000, intervention="swap", random_state=0)
    moved = (log.position != log.production_position).reshape(5000, 10)
    assert set(moved.sum(axis=1).tolist()) <= {0, 2}
    assert moved[:, 0].sum() == moved[:, 1:].sum()
    assert 0.85 < moved[:, 0].mean() < 0.95  # position 1 stays with probability 1/10


def test_cascade_log_has_no_propensity_and_score_noise_changes_the_order(corpus):
    X, y, qid = corpus
    log = make_click_log(X, y, qid, n_sessions=50, click_model=CascadeModel(), random_state=0)
    assert log.propensity is None and isinstance(log.click_model, CascadeModel)
    assert log.clicks.reshape(50, 10).sum(axis=1).max() <= 1
    plain = make_click_log(X, y, qid, scores=X[:, 0], n_sessions=50, random_state=0)
    noisy = make_click_log(
        X, y, qid, scores=X[:, 0], score_noise=2.0, n_sessions=50, random_state=0
    )
    assert not np.array_equal(plain.row, noisy.row)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"scores": "best"}, "scores must be an array or 'linear'"),
        ({"scores": np.ones(3)}, "scores has 3 entries"),
        ({"intervention": "flip"}, "intervention must be one of"),
        ({"n_sessions": 0}, "n_sessions"),
        ({"click_model": "dbn"}, "click_model must be one of"),
        ({"score_noise": -1.0}, "score_noise"),
    ],
)
def test_click_log_errors(corpus, kwargs, message):
    X, y, qid = corpus
    with pytest.raises(ValueError, match=message):
        make_click_log(X, y, qid, **kwargs)


def test_click_log_rejects_non_finite_scores_and_mismatched_lengths(corpus):
    X, y, qid = corpus
    scores = X[:, 0].copy()
    scores[4] = np.nan
    with pytest.raises(ValueError, match="scores must be finite; got nan at row 4"):
        make_click_log(X, y, qid, scores=scores)
    with pytest.raises(ValueError, match="same length"):
        make_click_log(X, y[:-1], qid)
