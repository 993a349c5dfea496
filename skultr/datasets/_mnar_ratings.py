"""A semi-synthetic generator of missing-not-at-random explicit ratings with a known truth.

Every (user, item) pair of the catalogue has a rating, but only a self-selected subset is
observed, as in Coat or Yahoo! R3: people rate what they chose to see, and they choose what
they expect to like. Because the full rating matrix and the observation propensities are
returned, the ideal loss of a model (its mean error over *all* pairs), the bias of an
estimator of it and the covariate imbalance between observed and all pairs can be computed
exactly.
"""

import numbers
from numbers import Integral, Real

import numpy as np
from scipy.special import expit
from sklearn.utils import Bunch, check_random_state

from skultr.utils._sklearn_compat import validate_params
from skultr.utils._validation import check_int, check_real

# Share of ratings 1..5 over all pairs (the missing-at-random distribution): Coat's and Yahoo!
# R3's random samples are dominated by low ratings.
_MAR_RATING_SHARES = (0.40, 0.20, 0.20, 0.13, 0.07)


def _intercept_for_mean(score, target, n_steps=60):
    """The intercept ``a`` with ``mean(sigmoid(a + score)) == target`` (bisection)."""
    low, high = -30.0, 30.0
    for _ in range(n_steps):
        middle = 0.5 * (low + high)
        if expit(middle + score).mean() < target:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


@validate_params(
    {
        "n_users": [Integral],
        "n_items": [Integral],
        "n_factors": [Integral],
        "density": [Real],
        "rating_selection": [Real],
        "feature_selection": [Real],
        "noise": [Real],
        "n_mar_per_user": [Integral],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_mnar_ratings(
    n_users=200,
    n_items=150,
    *,
    n_factors=4,
    density=0.05,
    rating_selection=0.3,
    feature_selection=0.5,
    noise=0.5,
    n_mar_per_user=10,
    random_state=None,
):
    """Generate explicit ratings observed missing-not-at-random, with the truth behind them.

    Users and items get latent factors ``U_u, V_i ~ N(0, I/√k)`` and biases; the *full*
    rating matrix (every pair of the catalogue) comes from cutting the latent score
    ``s_ui = 2⟨U_u, V_i⟩ + b_u + c_i + noise`` at quantiles so that ratings 1..5 have the
    missing-at-random shares 40/20/20/13/7 %. Each pair is then observed with the propensity

    .. math:: p_{ui} = σ\\bigl(τ + α (r_{ui} - 3) + β \\, 2⟨U_u, V_i⟩\\bigr),

    where ``α = rating_selection`` makes observation depend on the rating itself (the
    missing-not-at-random part that a naive-Bayes propensity ``p(o | r)`` can model), ``β =
    feature_selection`` makes it depend on the user and item features (a covariate shift that
    a propensity depending on the rating only misses, and that kernel balancing on the
    features removes) and ``τ`` is set so that the mean propensity equals ``density``.

    Parameters
    ----------
    n_users, n_items : int, default=200, 150
        Catalogue size; every pair has a rating.
    n_factors : int, default=4
        Dimension ``k`` of the latent factors.
    density : float in (0, 1), default=0.05
        Mean observation propensity (the expected share of observed pairs).
    rating_selection : float >= 0, default=0.3
        ``α``: log-odds of observation per rating step above 3.
    feature_selection : float >= 0, default=0.5
        ``β``: log-odds of observation per unit of the user-item affinity ``2⟨U_u, V_i⟩``.
    noise : float >= 0, default=0.5
        Standard deviation of the Gaussian noise of the latent score.
    n_mar_per_user : int >= 0, default=10
        Size of each user's missing-at-random sample (``X_mar``): items drawn uniformly
        without replacement, as in Coat's and Yahoo! R3's test sets. ``0`` draws none.
    random_state : int, RandomState instance or None, default=None
        Seed of the latent factors, the rating noise, the observed pairs and the
        missing-at-random sample: the same seed gives the same data.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        - ``X`` (n_observed, 2) int64: observed (user, item) pairs, sorted by user then item.
        - ``y`` (n_observed,) int64: their ratings 1..5.
        - ``X_mar``, ``y_mar``: the missing-at-random sample and its ratings (it may overlap
          ``X``, as Coat's test set does).
        - ``ratings`` (n_users, n_items) int64: the full rating matrix.
        - ``propensities`` (n_users, n_items): the true ``p_ui``.
        - ``observed`` (n_users, n_items) bool: the observation indicator ``o_ui``.
        - ``user_features`` (n_users, k), ``item_features`` (n_items, k): ``U`` and ``V``.
        - ``n_users``, ``n_items``, ``DESCR``.

    Examples
    --------
    >>> from skultr.datasets import make_mnar_ratings
    >>> data = make_mnar_ratings(50, 40, random_state=0)
    >>> data.X.shape[1], data.ratings.shape, data.propensities.shape
    (2, (50, 40), (50, 40))
    >>> bool(data.y.mean() > data.ratings.mean())  # people rate what they like
    True
    """
    n_users = check_int(n_users, "n_users")
    n_items = check_int(n_items, "n_items")
    n_factors = check_int(n_factors, "n_factors")
    if isinstance(density, bool) or not isinstance(density, numbers.Real):
        raise ValueError(f"density must be a number in (0, 1); got {density!r}.")
    if not 0 < density < 1:
        raise ValueError(f"density must be a number in (0, 1); got {density!r}.")
    alpha = check_real(rating_selection, "rating_selection", low=0)
    beta = check_real(feature_selection, "feature_selection", low=0)
    noise = check_real(noise, "noise", low=0)
    if isinstance(n_mar_per_user, bool) or not isinstance(n_mar_per_user, numbers.Integral):
        raise ValueError(f"n_mar_per_user must be an integer >= 0; got {n_mar_per_user!r}.")
    if not 0 <= n_mar_per_user <= n_items:
        raise ValueError(
            f"n_mar_per_user must lie in [0, n_items={n_items}]; got {n_mar_per_user!r}."
        )
    rng = check_random_state(random_state)

    scale = n_factors**-0.25  # so that <U_u, V_i> has unit variance
    U = rng.normal(scale=scale, size=(n_users, n_factors))
    V = rng.normal(scale=scale, size=(n_items, n_factors))
    affinity = 2.0 * (U @ V.T)
    user_bias = rng.normal(scale=0.5, size=(n_users, 1))
    item_bias = rng.normal(scale=0.5, size=(1, n_items))
    score = affinity + user_bias + item_bias + rng.normal(scale=noise, size=affinity.shape)
    cuts = np.quantile(score, np.cumsum(_MAR_RATING_SHARES)[:-1])
    ratings = (1 + np.searchsorted(cuts, score.ravel(), side="right")).reshape(score.shape)

    selection = alpha * (ratings - 3.0) + beta * affinity
    tau = _intercept_for_mean(selection, density)
    propensities = expit(tau + selection)
    observed = rng.uniform(size=propensities.shape) < propensities
    if not observed.any():  # a tiny catalogue at a tiny density: observe the likeliest pair
        observed.flat[int(np.argmax(propensities))] = True
    users, items = np.nonzero(observed)
    X = np.column_stack([users, items]).astype(np.int64)

    if n_mar_per_user:
        keys = rng.uniform(size=(n_users, n_items))
        mar_items = np.argsort(keys, axis=1)[:, :n_mar_per_user]
        mar_items.sort(axis=1)
        mar_users = np.repeat(np.arange(n_users), n_mar_per_user)
        X_mar = np.column_stack([mar_users, mar_items.ravel()]).astype(np.int64)
    else:
        X_mar = np.empty((0, 2), dtype=np.int64)

    return Bunch(
        X=X,
        y=ratings[users, items].astype(np.int64),
        X_mar=X_mar,
        y_mar=ratings[X_mar[:, 0], X_mar[:, 1]].astype(np.int64),
        ratings=ratings.astype(np.int64),
        propensities=propensities,
        observed=observed,
        user_features=U,
        item_features=V,
        n_users=n_users,
        n_items=n_items,
        DESCR=(
            f"Semi-synthetic MNAR ratings: {n_users} users x {n_items} items, "
            f"{len(X)} observed (density {len(X) / observed.size:.3f}); "
            f"selection log-odds {alpha} per rating step and {beta} per unit of affinity; "
            f"intercept {tau:.3f}."
        ),
    )
