"""Semi-synthetic missing-not-at-random implicit feedback with known relevance and exposure."""

from numbers import Integral, Real

import numpy as np
from scipy.special import expit
from sklearn.utils import Bunch, check_random_state

from skultr.utils._sklearn_compat import validate_params
from skultr.utils._validation import check_int, check_real

_DESCR = """\
Simulated implicit feedback (clicks) missing not at random.

Relevance gamma[u, i] = sigmoid(relevance_scale * <p_u, q_i> / sqrt(n_latent) + relevance_offset)
with standard normal latent factors p_u, q_i; exposure
theta[u, i] = sigmoid(b_i + c_u + exposure_offset) ** exposure_power with item popularity
b_i ~ N(0, popularity_spread^2) and user activity c_u ~ N(0, 0.3^2). A click is
Y = O * R with O ~ Bernoulli(theta) and R ~ Bernoulli(gamma) independent. X lists the
clicked (user, item) pairs; every other pair of the catalogue is unlabelled. The MAR test
set draws n_test_items items per user uniformly (without replacement) and reveals R for
them, as the randomly assigned items of the Yahoo! R3 and Coat test sets do.
"""


@validate_params(
    {
        "n_users": [Integral],
        "n_items": [Integral],
        "n_latent": [Integral],
        "relevance_scale": [Real],
        "relevance_offset": [Real],
        "popularity_spread": [Real],
        "exposure_offset": [Real],
        "exposure_power": [Real],
        "n_test_items": [Integral],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_mnar_implicit_feedback(
    n_users=1000,
    n_items=300,
    *,
    n_latent=5,
    relevance_scale=2.0,
    relevance_offset=-2.0,
    popularity_spread=1.0,
    exposure_offset=0.0,
    exposure_power=1.0,
    n_test_items=10,
    random_state=None,
):
    """Simulate MNAR clicks with a known relevance ``γ`` and exposure ``θ`` for every pair.

    Each (user, item) pair is relevant with probability ``γ_ui`` (a low-rank logistic model)
    and shown to the user with probability ``θ_ui`` (item popularity and user activity,
    independent of relevance); a click needs both, ``Y = O · R``. Because ``γ`` and ``θ``
    are returned for the whole catalogue, the ideal loss of Saito et al. and the
    true-relevance ranking quality of any model can be computed exactly, and fresh click
    matrices can be drawn for the same truth (``rng.random(shape) < theta * gamma``).

    Read more in the :ref:`User Guide <relmf>`.

    Parameters
    ----------
    n_users, n_items : int, default=1000, 300
        Catalogue size.
    n_latent : int, default=5
        Rank of the relevance logits.
    relevance_scale, relevance_offset : float, default=2.0, -2.0
        ``γ = σ(scale · ⟨p_u, q_i⟩ / sqrt(n_latent) + offset)``: the offset sets the share of
        relevant pairs (about 0.22 with the defaults), the scale how personal relevance is.
    popularity_spread : float >= 0, default=1.0
        Standard deviation of the item popularity logits ``b_i``: the strength of the
        popularity bias of exposure (0: every item equally exposed, up to user activity).
    exposure_offset : float, default=0.0
        Shifts all exposure logits (lower: fewer items shown, fewer clicks).
    exposure_power : float > 0, default=1.0
        ``θ = σ(b_i + c_u + offset)^power``; larger powers skew exposure further (as the
        power ``p`` of Saito et al.'s semi-synthetic study).
    n_test_items : int, default=10
        Items drawn uniformly per user for the missing-at-random test set (at most
        ``n_items``).
    random_state : int, RandomState instance or None, default=None
        Seed of the latent factors, the exposures, the clicks and the test set: the same
        seed gives the same data.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        - ``X``: int64 array of shape (n_clicks, 2), the clicked (user, item) pairs, sorted.
        - ``y``: float64 array of ones of shape (n_clicks,) (the clicks, for APIs that want
          a ``y``).
        - ``relevance``: float64 array (n_users, n_items), ``γ``.
        - ``exposure``: float64 array (n_users, n_items), ``θ``.
        - ``clicks``: bool array (n_users, n_items), the click matrix ``Y``.
        - ``X_test``: int64 array (n_users * n_test_items, 2): MAR test pairs, grouped by
          user.
        - ``y_test``: int64 array, the relevance ``R ~ Bernoulli(γ)`` of the test pairs (what
          a user would say if shown the item).
        - ``relevance_test``: float64 array, ``γ`` of the test pairs.
        - ``n_users``, ``n_items``: int; ``DESCR``: str.

    Notes
    -----
    Test relevance is drawn independently of the training clicks (the same ``γ``, fresh
    draws), and test items are drawn without regard to the training clicks, so a test pair
    may also be a training click.

    References
    ----------
    .. [1] Y. Saito, S. Yaginuma, Y. Nishino, H. Sakata and K. Nakata, "Unbiased Recommender
       Learning from Missing-Not-At-Random Implicit Feedback", WSDM 2020, section 5.1 (the
       semi-synthetic design this generator follows, with simulated instead of
       MovieLens-fitted factors).

    Examples
    --------
    >>> from skultr.datasets import make_mnar_implicit_feedback
    >>> data = make_mnar_implicit_feedback(n_users=100, n_items=50, random_state=0)
    >>> data.X.shape[1], data.relevance.shape, data.X_test.shape
    (2, (100, 50), (1000, 2))
    >>> bool(data.clicks[data.X[:, 0], data.X[:, 1]].all())
    True
    """
    n_users = check_int(n_users, "n_users")
    n_items = check_int(n_items, "n_items")
    n_latent = check_int(n_latent, "n_latent")
    n_test_items = check_int(n_test_items, "n_test_items")
    if n_test_items > n_items:
        raise ValueError(f"n_test_items={n_test_items} exceeds n_items={n_items}.")
    relevance_scale = check_real(relevance_scale, "relevance_scale")
    relevance_offset = check_real(relevance_offset, "relevance_offset")
    popularity_spread = check_real(popularity_spread, "popularity_spread", low=0)
    exposure_offset = check_real(exposure_offset, "exposure_offset")
    exposure_power = check_real(exposure_power, "exposure_power", low=0, strict=True)
    rng = check_random_state(random_state)

    user_latent = rng.normal(size=(n_users, n_latent))
    item_latent = rng.normal(size=(n_items, n_latent))
    logits = relevance_scale * (user_latent @ item_latent.T) / np.sqrt(n_latent)
    relevance = expit(logits + relevance_offset)
    popularity = rng.normal(scale=popularity_spread, size=n_items)
    activity = rng.normal(scale=0.3, size=n_users)
    exposure = expit(popularity[None, :] + activity[:, None] + exposure_offset) ** exposure_power

    exposed = rng.random_sample((n_users, n_items)) < exposure
    relevant = rng.random_sample((n_users, n_items)) < relevance
    clicks = exposed & relevant
    X = np.column_stack(np.nonzero(clicks)).astype(np.int64)

    # MAR test set: n_test_items uniform items per user (argsort of uniform keys is a
    # uniform random subset without replacement, for all users at once).
    test_items = np.argsort(rng.random_sample((n_users, n_items)), axis=1)[:, :n_test_items]
    test_users = np.repeat(np.arange(n_users), n_test_items)
    test_items = test_items.reshape(-1)
    relevance_test = relevance[test_users, test_items]
    y_test = (rng.random_sample(relevance_test.shape) < relevance_test).astype(np.int64)
    return Bunch(
        X=X,
        y=np.ones(X.shape[0]),
        relevance=relevance,
        exposure=exposure,
        clicks=clicks,
        X_test=np.column_stack([test_users, test_items]).astype(np.int64),
        y_test=y_test,
        relevance_test=relevance_test,
        n_users=n_users,
        n_items=n_items,
        DESCR=_DESCR,
    )
