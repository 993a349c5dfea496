"""Rel-MF: the exact solver, the stochastic estimate, the bias it removes, its input contract."""

import os
import pickle

import numpy as np
import pytest
import torch
from scipy.sparse.linalg import svds
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, PredefinedSplit

from skultr.datasets import make_mnar_implicit_feedback
from skultr.metrics import dcg_score, ips_pointwise_loss, make_recommendation_scorer
from skultr.propensity import PopularityPropensity
from skultr.recommendation import (
    ImplicitMFRecommender,
    RelMFRecommender,
    WMFRecommender,
    interaction_matrix,
)
from skultr.recommendation._als import AlsSide, als_half_step

CPU = {"device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def mnar():
    """2000 users x 300 items, exposure from item popularity (theta in [0.02, 0.99])."""
    return make_mnar_implicit_feedback(n_users=2000, n_items=300, random_state=0)


@pytest.fixture(scope="module")
def small():
    return make_mnar_implicit_feedback(n_users=120, n_items=80, random_state=1)


def _scores(model):
    return model.user_factors_ @ model.item_factors_.T


def _true_dcg_at_5(relevance, scores):
    """Mean over users of the DCG@5 of the full-catalogue ranking, gain = relevance γ."""
    top = np.argsort(-scores, axis=1)[:, :5]
    gains = np.take_along_axis(relevance, top, axis=1)
    return float((gains / np.log2(np.arange(2, 7))).sum(axis=1).mean())


def _ideal_loss(relevance, scores, loss="least_squares"):
    return ips_pointwise_loss(relevance.ravel(), scores.ravel(), loss=loss)


# -- what the method is for ----------------------------------------------------------------


def test_relmf_beats_naive_mf_on_ideal_loss_and_true_relevance_dcg(mnar):
    """Same factors, solver and penalty; only the propensity weighting differs.

    Measured with this seed (n_factors=5, weight_decay=3): naive MF ideal loss 0.156,
    true-relevance DCG@5 2.055; Rel-MF with the default popularity propensity 0.141 / 2.139;
    Rel-MF with the true exposure, weights capped at 5 (1/0.2): 0.136 / 2.218. The margins
    asserted are about half of those.
    """
    params = {"n_factors": 5, "weight_decay": 3.0, **CPU}
    naive = ImplicitMFRecommender(**params).fit(mnar.X)
    popularity = RelMFRecommender(**params).fit(mnar.X)
    oracle = RelMFRecommender(propensity=mnar.exposure, max_weight=5.0, **params).fit(mnar.X)
    loss = {
        name: _ideal_loss(mnar.relevance, _scores(m))
        for name, m in [("naive", naive), ("popularity", popularity), ("oracle", oracle)]
    }
    dcg = {
        name: _true_dcg_at_5(mnar.relevance, _scores(m))
        for name, m in [("naive", naive), ("popularity", popularity), ("oracle", oracle)]
    }
    assert loss["popularity"] < loss["naive"] - 0.005, loss
    assert loss["oracle"] < loss["naive"] - 0.01, loss
    assert dcg["popularity"] > dcg["naive"] + 0.04, dcg
    assert dcg["oracle"] > dcg["naive"] + 0.08, dcg


def test_relmf_logistic_beats_naive_logistic_on_the_ideal_loss():
    """The paper's log loss, stochastic solver. Measured: naive 0.514, Rel-MF with the
    popularity propensity 0.465 (ideal log loss; true-relevance DCG@5 1.90 vs 1.94). With the
    true exposure unclipped the log loss is unbounded below and overfits with more epochs,
    which is why only the clipped/popularity variant is asserted here."""
    data = make_mnar_implicit_feedback(n_users=1000, n_items=200, random_state=0)
    params = {
        "n_factors": 5,
        "loss": "logistic",
        "weight_decay": 1.0,
        "max_epochs": 10,
        "batch_size": 1024,
        "lr": 0.05,
        **CPU,
    }
    naive = ImplicitMFRecommender(**params).fit(data.X)
    relmf = RelMFRecommender(**params).fit(data.X)
    loss = [_ideal_loss(data.relevance, _scores(m), "logistic") for m in (naive, relmf)]
    assert loss[1] < loss[0] - 0.025, loss


def test_unclipped_estimator_is_unbiased_for_the_ideal_loss():
    """For a fixed prediction matrix, average the estimate over independent click draws.

    E[Y/θ] = γ makes the M = 0 estimator unbiased: its mean over 300 draws of Y must lie within
    3 standard errors of the ideal loss (for both local losses of the paper).
    """
    data = make_mnar_implicit_feedback(n_users=150, n_items=100, random_state=3)
    rng = np.random.default_rng(0)
    scores = rng.normal(scale=1.5, size=data.relevance.shape) - 1.0
    p_click = (data.exposure * data.relevance).ravel()
    for loss in ("logistic", "squared"):
        ideal = _ideal_loss(data.relevance, scores, loss)
        estimates = np.array(
            [
                ips_pointwise_loss(
                    rng.random(p_click.shape) < p_click,
                    scores.ravel(),
                    propensity=data.exposure.ravel(),
                    loss=loss,
                )
                for _ in range(300)
            ]
        )
        standard_error = estimates.std(ddof=1) / np.sqrt(len(estimates))
        assert abs(estimates.mean() - ideal) < 3 * standard_error, (loss, ideal, estimates.mean())


def test_clipping_trades_bias_for_variance():
    """Larger M: lower variance of the estimate, larger bias (the trade-off of the paper).

    With exposure down to ~0.005 (popularity_spread=2), M = 0.1 cuts the standard deviation
    of the estimate by more than half and adds a bias of many standard errors; M = 0 has none.
    """
    data = make_mnar_implicit_feedback(
        n_users=150, n_items=100, popularity_spread=2.0, random_state=3
    )
    rng = np.random.default_rng(1)
    scores = rng.normal(scale=1.5, size=data.relevance.shape) - 1.0
    ideal = _ideal_loss(data.relevance, scores, "logistic")
    p_click = (data.exposure * data.relevance).ravel()
    draws = [rng.random(p_click.shape) < p_click for _ in range(300)]
    summary = {}
    for max_weight in (None, 50.0, 10.0):
        estimates = np.array(
            [
                ips_pointwise_loss(
                    y,
                    scores.ravel(),
                    propensity=data.exposure.ravel(),
                    loss="logistic",
                    max_weight=max_weight,
                )
                for y in draws
            ]
        )
        se = estimates.std(ddof=1) / np.sqrt(len(estimates))
        summary[max_weight] = (abs(estimates.mean() - ideal), estimates.std(ddof=1), se)
    (bias0, sd0, se0), (bias1, sd1, _), (bias2, sd2, se2) = summary.values()
    assert bias0 < 3 * se0, summary
    assert sd0 > sd1 > sd2 and sd2 < 0.5 * sd0, summary
    assert bias2 > bias1 and bias2 > 10 * se2, summary


# -- the exact solver -----------------------------------------------------------------------


def _objective(model, target, reg):
    """Full-matrix objective ||U V^T - T||^2 + reg (||U||^2 + ||V||^2) (least squares)."""
    U, V = model.user_factors_, model.item_factors_
    return float(((U @ V.T - target) ** 2).sum() + reg * ((U**2).sum() + (V**2).sum()))


def test_als_reaches_the_global_optimum_given_by_the_shrunk_svd(small):
    """The least-squares Rel-MF objective is minimised by the rank-k SVD of Y/θ with
    singular values shrunk by reg; ALS must reach it (relative gap < 1e-3)."""
    theta = small.exposure
    max_weight, reg, k = 10.0, 0.5, 4
    model = RelMFRecommender(
        n_factors=k,
        propensity=theta,
        max_weight=max_weight,
        weight_decay=reg,
        max_epochs=300,
        tol=1e-10,
        **CPU,
    ).fit(small.X)
    target = small.clicks * np.minimum(1 / theta, max_weight)
    _, sigma, _ = svds(target, k=k)
    sigma = np.sort(sigma)[::-1]
    # min over rank-k X of ||X - T||^2 + 2 reg ||X||_*: the top singular values shrunk by reg,
    # each contributing 2 reg sigma - reg^2 (or sigma^2 when sigma <= reg) instead of 0
    kept = np.where(sigma > reg, 2 * reg * sigma - reg**2, sigma**2)
    optimum = float((target**2).sum() - (sigma**2).sum() + kept.sum())
    reached = _objective(model, target, reg)
    assert reached == pytest.approx(optimum, rel=1e-3)
    # the logged objective is the Rel-MF loss: a δ¹ + (1 - a) δ⁰ = (s - a)² + a (1 - a)
    a = target[small.clicks]
    logged = (reached + (a * (1 - a)).sum()) / target.size
    assert model.history_[-1, "train_loss"] == pytest.approx(logged, rel=1e-3)


@pytest.mark.parametrize("budget", [None, 20])
def test_weighted_als_half_step_matches_a_dense_per_user_solve(budget, monkeypatch):
    """The Gram-matrix trick: (w0 VᵀV + Σ extra v vᵀ + λI) u = Σ a v, checked per user.

    ``budget=20`` floats: blocks of 2 users, pieces of 2 clicks (a user's clicks span
    several pieces), the outer products of each piece's own items (9 x 3² > 20).
    """
    if budget is not None:
        from skultr.recommendation import _als

        monkeypatch.setattr(_als, "_ALS_CHUNK_FLOATS", budget)
    rng = np.random.default_rng(0)
    n_users, n_items, k, w0, reg = 7, 9, 3, 1.0, 0.3
    clicked = rng.random((n_users, n_items)) < 0.3
    users, items = np.nonzero(clicked)
    a = rng.uniform(1, 5, size=users.size)
    extra = a - w0  # WMF: weight c = a on clicks, target 1
    V = rng.normal(size=(n_items, k))
    side = AlsSide(users, items, a, extra, shape=(n_users, n_items), n_factors=k, device="cpu")
    got = als_half_step(side, torch.as_tensor(V, dtype=torch.float32), w0=w0, reg=reg).numpy()
    for u in range(n_users):
        weight = np.full(n_items, w0)
        target = np.zeros(n_items)
        weight[items[users == u]] = a[users == u]
        target[items[users == u]] = 1.0
        system = V.T @ (weight[:, None] * V) + reg * np.eye(k)
        expected = np.linalg.solve(system, V.T @ (weight * target))
        np.testing.assert_allclose(got[u], expected, rtol=1e-4, atol=1e-5)


def test_stochastic_loss_is_an_unbiased_estimate_of_the_full_objective(small):
    """Averaged over draws of the unlabelled pairs, the minibatch loss equals J / |D|."""
    for loss in ("logistic", "least_squares"):
        model = RelMFRecommender(
            n_factors=3,
            loss=loss,
            solver="stochastic",
            max_weight=20.0,
            propensity=small.exposure,
            weight_decay=0.7,
            max_epochs=1,
            batch_size=len(small.X),
            n_negatives=8,
            **CPU,
        ).fit(small.X)
        scores = _scores(model)
        weight = small.clicks * np.minimum(1 / small.exposure, 20.0)
        exact = ips_pointwise_loss(weight.ravel(), scores.ravel(), loss=loss)
        exact += (
            0.7 / scores.size * ((model.user_factors_**2).sum() + (model.item_factors_**2).sum())
        )
        users, items = small.X[:, 0], small.X[:, 1]
        inverse = np.minimum(1 / small.exposure[users, items], 20.0)
        batch = tuple(torch.as_tensor(v) for v in (users, items)) + tuple(
            torch.as_tensor(v, dtype=torch.float32) for v in (inverse, 1 - inverse)
        )
        model._w0, model._click_share = 1.0, len(users) / scores.size
        model._reg_share = 0.7 / scores.size
        torch.manual_seed(0)
        with torch.no_grad():
            draws = np.array([float(model._loss(model.module_, batch)) for _ in range(400)])
        standard_error = draws.std(ddof=1) / np.sqrt(len(draws))
        assert abs(draws.mean() - exact) < 4 * standard_error + 1e-5, (loss, exact, draws.mean())


def test_stochastic_least_squares_approaches_the_als_solution(small):
    als = RelMFRecommender(n_factors=4, weight_decay=0.5, **CPU).fit(small.X)
    sgd = RelMFRecommender(
        n_factors=4,
        weight_decay=0.5,
        solver="stochastic",
        max_epochs=150,
        batch_size=512,
        lr=0.02,
        **CPU,
    ).fit(small.X)
    assert als.solver_ == "als" and sgd.solver_ == "stochastic"
    final_als, final_sgd = als.history_[-1, "train_loss"], sgd.history_[-1, "train_loss"]
    assert final_sgd == pytest.approx(final_als, rel=0.1)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_sigmoid_losses_train_with_the_stochastic_solver(small, loss):
    model = RelMFRecommender(n_factors=4, loss=loss, max_weight=10.0, max_epochs=5, **CPU)
    model.fit(small.X)
    assert model.solver_ == "stochastic" and model.n_iter_ == 5
    losses = model.history_[:, "train_loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


@pytest.mark.parametrize("cg_steps", [None, 3])
def test_wmf_als_decreases_its_objective_monotonically(small, cg_steps):
    model = WMFRecommender(
        n_factors=4, alpha=5.0, cg_steps=cg_steps, max_epochs=15, tol=0.0, **CPU
    ).fit(small.X)
    losses = np.asarray(model.history_[:, "train_loss"])
    assert np.all(np.diff(losses) <= 1e-6 * losses[:-1])


def test_exact_weighted_als_in_small_blocks_equals_one_block(small, monkeypatch):
    # A budget of 200 floats: blocks of 12 rows, pieces of 12 clicks, each piece with its
    # own columns' outer products (neither side's 80 or 120 x 4² fits): the same fit.
    from skultr.recommendation import _als

    params = {"n_factors": 4, "alpha": 5.0, "cg_steps": None, "max_epochs": 5, "tol": 0.0}
    one = WMFRecommender(**params, **CPU).fit(small.X)
    monkeypatch.setattr(_als, "_ALS_CHUNK_FLOATS", 200)
    blocked = WMFRecommender(**params, **CPU).fit(small.X)
    np.testing.assert_allclose(_scores(blocked), _scores(one), rtol=1e-4, atol=1e-5)


def test_wmf_conjugate_gradient_reaches_the_exact_solver_objective(small):
    params = {"n_factors": 4, "alpha": 5.0, "max_epochs": 60, "tol": 0.0, **CPU}
    exact = WMFRecommender(cg_steps=None, **params).fit(small.X)
    cg = WMFRecommender(cg_steps=3, **params).fit(small.X)
    assert cg.history_[-1, "train_loss"] == pytest.approx(
        exact.history_[-1, "train_loss"], rel=1e-3
    )


# -- fitted attributes, propensities, recommend -------------------------------------------


def test_default_propensity_is_item_popularity(small):
    model = RelMFRecommender(n_factors=2, **CPU).fit(small.X)
    expected = PopularityPropensity(n_items=small.n_items).fit(small.X).propensity_
    np.testing.assert_allclose(model.propensity_, expected)
    assert isinstance(model.propensity_estimator_, PopularityPropensity)
    assert model.n_clicks_ == len(small.X) and model.n_clipped_ == 0


def test_propensity_as_item_array_matrix_and_estimator_agree(small):
    theta_item = PopularityPropensity(eta=0.7, n_items=small.n_items).fit(small.X).propensity_
    matrix = np.tile(theta_item, (small.n_users, 1))
    fits = [
        RelMFRecommender(n_factors=3, propensity=p, **CPU).fit(small.X)
        for p in (theta_item, matrix, PopularityPropensity(eta=0.7))
    ]
    for model in fits[1:]:
        np.testing.assert_allclose(_scores(model), _scores(fits[0]), rtol=1e-5, atol=1e-6)
    assert fits[1].propensity_.shape == (small.n_users, small.n_items)


def test_max_weight_counts_and_caps_the_weights(small):
    model = RelMFRecommender(n_factors=2, propensity=small.exposure, max_weight=3.0, **CPU)
    model.fit(small.X)
    theta = small.exposure[small.X[:, 0], small.X[:, 1]]
    assert model.n_clipped_ == int((1 / theta > 3.0).sum()) > 0


def test_recommend_excludes_training_pairs_and_sorts(small):
    model = RelMFRecommender(n_factors=4, **CPU).fit(small.X)
    items, scores = model.recommend([0, 5], n=10)
    assert items.shape == scores.shape == (2, 10)
    assert np.all(np.diff(scores, axis=1) <= 0)
    for row, user in enumerate([0, 5]):
        assert not np.isin(items[row], small.X[small.X[:, 0] == user, 1]).any()
        np.testing.assert_allclose(
            scores[row], model.predict(np.column_stack([np.full(10, user), items[row]]))
        )
    with pytest.raises(ValueError, match=r"user id 999 \(entry 1 of users\) is a cold user"):
        model.set_params(cold_start="error").recommend([0, 999])


def test_zero_feedback_rows_are_unlabelled_but_seen(small):
    extra = np.array([[0, 79], [1, 78]])
    X = np.vstack([small.X, extra])
    y = np.r_[np.ones(len(small.X)), 0, 0]
    with_zeros = RelMFRecommender(n_factors=3, n_items=80, **CPU).fit(X, y)
    clicks_only = RelMFRecommender(n_factors=3, n_items=80, **CPU).fit(small.X)
    np.testing.assert_allclose(_scores(with_zeros), _scores(clicks_only), rtol=1e-6)
    assert with_zeros.seen_[0, 79] and not clicks_only.seen_[0, 79]


def test_duplicates_are_merged_with_max(small):
    X = np.vstack([small.X, small.X[:5]])
    model = RelMFRecommender(n_factors=3, **CPU).fit(X)
    reference = RelMFRecommender(n_factors=3, **CPU).fit(small.X)
    assert model.n_duplicates_ == 5 and model.n_clicks_ == len(small.X)
    np.testing.assert_allclose(_scores(model), _scores(reference), rtol=1e-6)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("X", "y", "params", "match"),
    [
        ([[0, 1], [-1, 2]], None, {}, r"X\[:, 0\].*entry 1 is -1"),
        ([[0, 1.5]], None, {}, r"X\[:, 1\].*entry 0 is 1.5"),
        ([[0, 1], [3, 2]], None, {"n_users": 3}, "user id 3"),
        ([[0, 1], [1, 2]], [1, np.nan], {}, "finite"),
        ([[0, 1], [1, 2]], [1, 2], {}, r"0 or 1.*entry 1 is 2.0"),
        ([[0, 1], [1, 2]], [0, 0], {}, "at least one click"),
        ([[0, 1], [1, 2]], None, {"propensity": [0.5, 1.5, 1.0]}, r"propensity.*1.5"),
        ([[0, 1], [1, 2]], None, {"propensity": [0.5, 0.0, 1.0]}, r"propensity.*entry 1 is 0.0"),
        (
            [[0, 1], [1, 2]],
            None,
            {"propensity": [0.5, 1.0]},
            r"shape \(2,\): one entry per item id, but item id 2",
        ),
        ([[0, 1], [1, 2]], None, {"loss": "logistic", "solver": "als"}, "least_squares"),
    ],
)
def test_bad_input_raises_a_value_error_naming_it(X, y, params, match):
    with pytest.raises(ValueError, match=match):
        RelMFRecommender(n_factors=2, **CPU, **params).fit(X, y)


def test_propensity_estimator_predictions_are_checked():
    class Broken(PopularityPropensity):
        def predict(self, X):
            return np.full(len(X), 2.0)

    with pytest.raises(ValueError, match=r"predictions of Broken.*entry 0 is 2.0"):
        RelMFRecommender(n_factors=2, propensity=Broken(), **CPU).fit([[0, 1], [1, 2]])


def test_predict_rejects_unknown_pairs(small):
    model = RelMFRecommender(n_factors=2, **CPU).fit(small.X)
    with pytest.raises(ValueError, match="item id 80"):
        model.predict([[0, 80]])


# -- scikit-learn contract ------------------------------------------------------------------


def test_clone_params_and_pickle_round_trip(small):
    model = RelMFRecommender(n_factors=3, max_weight=10.0, **CPU)
    assert clone(model).get_params() == model.get_params()
    model.set_params(n_factors=4)
    assert model.n_factors == 4
    model.fit(small.X)
    restored = pickle.loads(pickle.dumps(model))
    X = small.X_test[:50]
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    np.testing.assert_array_equal(restored.recommend([3])[0], model.recommend([3])[0])


@pytest.mark.parametrize("solver", ["als", "stochastic"])
def test_random_state_makes_fits_reproducible(small, solver):
    params = {"n_factors": 3, "solver": solver, "max_epochs": 3, "device": "cpu"}
    first = RelMFRecommender(random_state=7, **params).fit(small.X)
    second = RelMFRecommender(random_state=7, **params).fit(small.X)
    other = RelMFRecommender(random_state=8, **params).fit(small.X)
    np.testing.assert_array_equal(first.user_factors_, second.user_factors_)
    assert not np.allclose(first.user_factors_, other.user_factors_)


def test_grid_search_over_max_weight_and_n_factors_on_a_mar_test_split(small):
    """Train rows (clicks) and MAR test rows (relevance labels) in one X, PredefinedSplit."""
    X = np.vstack([small.X, small.X_test])
    y = np.r_[np.ones(len(small.X)), small.y_test]
    fold = np.r_[np.full(len(small.X), -1), np.zeros(len(small.X_test), dtype=int)]
    search = GridSearchCV(
        RelMFRecommender(n_users=small.n_users, n_items=small.n_items, **CPU),
        {"max_weight": [None, 10.0], "n_factors": [2, 8]},
        scoring=make_recommendation_scorer("dcg", k=5, gain="linear"),
        cv=PredefinedSplit(fold),
        refit=False,
    ).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (4,) and np.all(np.isfinite(scores)) and np.all(scores > 0)


def test_works_on_a_dataframe(small):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(small.X, columns=["user", "item"])
    model = RelMFRecommender(n_factors=2, **CPU).fit(frame)
    np.testing.assert_allclose(model.predict(frame.head()), model.predict(small.X[:5]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("solver", ["als", "stochastic"])
def test_cuda_fit_matches_cpu_and_pickles_back_to_numpy(small, solver):
    params = {"n_factors": 4, "solver": solver, "max_epochs": 20, "random_state": 0}
    cpu = RelMFRecommender(device="cpu", **params).fit(small.X)
    gpu = RelMFRecommender(device="cuda", **params).fit(small.X)
    assert gpu.device_.startswith("cuda")
    restored = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_allclose(restored.predict(small.X_test), gpu.predict(small.X_test))
    if solver == "als":  # same seed, same algorithm: equal up to float32 rounding
        np.testing.assert_allclose(_scores(gpu), _scores(cpu), rtol=1e-3, atol=1e-3)


# -- real data --------------------------------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("SKULTR_DATA"), reason="SKULTR_DATA is not set")
def test_coat_fits_and_scores_above_random_on_the_mar_test_set():
    from skultr.datasets import load_coat

    coat = load_coat()
    clicks = (coat.y_train >= 4).astype(float)
    relevant = (coat.y_test >= 4).astype(float)
    model = RelMFRecommender(n_users=coat.n_users, n_items=coat.n_items, **CPU)
    model.fit(coat.X_train, clicks)
    assert model.n_clicks_ == int(clicks.sum())
    users = coat.X_test[:, 0]
    dcg = dcg_score(
        relevant, model.predict(coat.X_test), qid=users, k=5, gain="linear", no_relevant="skip"
    )
    rng = np.random.default_rng(0)
    random = np.mean(
        [
            dcg_score(
                relevant, rng.random(len(users)), qid=users, k=5, gain="linear", no_relevant="skip"
            )
            for _ in range(20)
        ]
    )
    assert dcg > random + 0.1, (dcg, random)
    assert interaction_matrix(coat.X_train[:, 0], coat.X_train[:, 1], shape=(290, 300)).nnz == 6960
