"""The "one map, many trials" simulation: a trial whose outcome is a shrunken ML prediction."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch, check_random_state
from threadpoolctl import threadpool_limits

from skultr.utils._sklearn_compat import HasMethods, Interval, StrOptions, validate_params

__all__ = ["make_shrinkage_trial"]

# Layer widths of the random "imaging" network g: Y (1 value) -> features (n_features values).
_IMAGING_HIDDEN_WIDTHS = (50, 50, 50)
_IMAGING_DROPOUT = 0.2


def _sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def _draw_imaging_network(n_features, rng):
    """Weights of a random ReLU network 1 -> 50 -> 50 -> 50 -> n_features.

    Each layer is initialised like a freshly built torch ``nn.Linear``: weights and biases
    uniform on ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``.
    """
    widths = (1, *_IMAGING_HIDDEN_WIDTHS, n_features)
    layers = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
        bound = 1.0 / np.sqrt(fan_in)
        weight = rng.uniform(-bound, bound, size=(fan_in, fan_out))
        bias = rng.uniform(-bound, bound, size=fan_out)
        layers.append((weight, bias))
    return layers


def _image_features(y, layers, feature_noise, rng):
    """X = g(Y) + N(0, feature_noise^2) with g a random network whose dropout stays active.

    Dropout (rate 0.2, surviving units scaled by 1/0.8) is drawn afresh for every unit, as in
    the authors' simulation, so g itself is stochastic: two units with the same Y get
    different images.
    """
    h = np.asarray(y, dtype=float).reshape(-1, 1)
    for weight, bias in layers[:-1]:
        h = np.maximum(h @ weight + bias, 0.0)
        keep = rng.uniform(size=h.shape) >= _IMAGING_DROPOUT
        h = h * keep / (1.0 - _IMAGING_DROPOUT)
    weight, bias = layers[-1]
    h = h @ weight + bias
    return h + feature_noise * rng.standard_normal(h.shape)


def _draw_population(n, tau, confounding, outcome_noise, layers, feature_noise, rng):
    """C ~ N(0, 1), T ~ Bernoulli(sigmoid(C)), Y = tau T + alpha C + N(0, sigma_Y^2), X = g(Y)."""
    confounder = rng.standard_normal(n)
    propensity = _sigmoid(confounder)
    treatment = (rng.uniform(size=n) < propensity).astype(np.int64)
    y = tau * treatment + confounding * confounder + outcome_noise * rng.standard_normal(n)
    X = _image_features(y, layers, feature_noise, rng)
    return X, y, treatment, confounder, propensity


def _default_predictor(name, seed):
    """The upstream model, trained with squared error on standardised features."""
    if name == "ridge":
        return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    # The authors' f: 100 -> 64 -> 32 -> 32 -> 1, Adam, weight decay, early stopping on a
    # validation split. scikit-learn's MLP is used so the generator needs no GPU or torch.
    return make_pipeline(
        StandardScaler(),
        MLPRegressor(
            hidden_layer_sizes=(64, 32, 32),
            alpha=1e-2,
            learning_rate_init=1e-3,
            batch_size=256,
            max_iter=300,
            early_stopping=True,
            n_iter_no_change=10,
            random_state=seed,
        ),
    )


def _ipw_effect(y, treatment, propensity):
    return float(np.mean(treatment * y / propensity - (1 - treatment) * y / (1 - propensity)))


@validate_params(
    {
        "n_samples": [Interval(Integral, 20, None, closed="left")],
        "tau": [Interval(Real, None, None, closed="neither")],
        "n_upstream": [Interval(Integral, 50, None, closed="left")],
        "calibration_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "feature_noise": [Interval(Real, 0, None, closed="left")],
        "confounding": [Interval(Real, None, None, closed="neither")],
        "outcome_noise": [Interval(Real, 0, None, closed="left")],
        "predictor": [StrOptions({"mlp", "ridge"}), HasMethods(["fit", "predict"])],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_shrinkage_trial(
    n_samples=10_000,
    *,
    tau=1.0,
    n_upstream=10_000,
    calibration_fraction=0.2,
    n_features=100,
    feature_noise=0.3,
    confounding=1.0,
    outcome_noise=1.0,
    predictor="mlp",
    random_state=None,
):
    """Simulate a trial whose outcome is the prediction of a model trained with squared error.

    This is the simulation of Pettersson, Jerzak and Daoud (2026). An upstream team observes
    images ``X`` of units with outcome ``Y`` (wealth, say), trains a predictor ``f`` with
    squared error on part of its labelled units and keeps the rest as a *calibration split*
    ``(f(X), Y)``. A downstream trial then uses ``f(X)`` as its outcome, without labels. Both
    populations follow the same model

    .. math::

        C \\sim N(0, 1), \\quad T \\sim \\mathrm{Bernoulli}(\\mathrm{sigmoid}(C)), \\quad
        Y = \\tau T + \\alpha C + N(0, \\sigma_Y^2), \\quad X = g(Y) + N(0, \\sigma_X^2 I),

    with ``g`` a random ReLU network (1 -> 50 -> 50 -> 50 -> ``n_features``, dropout 0.2
    left active, drawn anew for every call). Because ``f`` shrinks towards the mean, the
    effect estimated on ``f(X)`` is attenuated (to about half with the defaults).

    Read more in the :ref:`User Guide <calibration>`.

    Parameters
    ----------
    n_samples : int, default=10_000
        Number of units in the downstream trial.
    tau : float, default=1.0
        The true average treatment effect ``tau``.
    n_upstream : int, default=10_000
        Number of labelled upstream units; ``f`` is trained on the first
        ``1 - calibration_fraction`` of them.
    calibration_fraction : float, default=0.2
        Share of the upstream units held out as the calibration split.
    n_features : int, default=100
        Number of image features.
    feature_noise : float, default=0.3
        Standard deviation ``sigma_X`` of the noise added to ``g(Y)``.
    confounding : float, default=1.0
        ``alpha``, the effect of the confounder ``C`` on ``Y`` (``C`` also drives treatment).
    outcome_noise : float, default=1.0
        Standard deviation ``sigma_Y`` of the outcome noise.
    predictor : {"mlp", "ridge"} or regressor, default="mlp"
        The upstream model ``f``. ``"mlp"`` is a scikit-learn MLP with the authors'
        architecture (64, 32, 32), weight decay and early stopping (a few seconds);
        ``"ridge"`` is a standardised ridge regression (fast, for tests). A regressor is
        cloned and fitted on the training split.
    random_state : int, RandomState instance or None, default=None
        Seed of the simulation (network ``g``, all draws and the MLP's initialisation).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Trial units (``n_samples`` rows):

        - ``y_pred``: the predictions ``f(X)``, the outcome a downstream analyst sees;
        - ``y``: the true outcomes ``Y`` (unobserved in practice);
        - ``treatment``: 0/1 treatment indicator ``T``;
        - ``propensity``: the true propensity ``sigmoid(C)``;
        - ``confounder``: ``C``;
        - ``X``: the image features.

        Upstream units:

        - ``y_pred_calibration``, ``y_calibration``, ``X_calibration``: the calibration split;
        - ``X_train``, ``y_train``: the split ``f`` was trained on.

        And ``tau`` (the true effect), ``sample_ate`` (the inverse-propensity-weighted effect
        computed on the true outcomes, the best any outcome correction can hope for) and
        ``predictor`` (the fitted ``f``).

    References
    ----------
    .. [1] M. Pettersson, C. T. Jerzak and A. Daoud, "Debiasing Machine Learning Predictions
       for Causal Inference Without Additional Ground Truth Data: 'One Map, Many Trials' in
       Satellite-Driven Poverty Analysis", AAAI 2026. arXiv:2508.01341.

    Examples
    --------
    >>> from skultr.datasets import make_shrinkage_trial
    >>> data = make_shrinkage_trial(500, n_upstream=500, tau=2.0, predictor="ridge",
    ...                             random_state=0)
    >>> data.y_pred.shape, data.y_calibration.shape
    ((500,), (100,))
    >>> bool(data.y_pred.std() < data.y.std())  # predictions are shrunk towards the mean
    True
    """
    rng = check_random_state(random_state)
    layers = _draw_imaging_network(n_features, rng)

    def population(n):
        return _draw_population(n, tau, confounding, outcome_noise, layers, feature_noise, rng)

    X_up, y_up, *_ = population(n_upstream)
    X, y, treatment, confounder, propensity = population(n_samples)

    n_calibration = max(int(round(calibration_fraction * n_upstream)), 1)
    n_train = n_upstream - n_calibration
    if n_train < 10:
        raise ValueError(
            f"calibration_fraction={calibration_fraction} leaves {n_train} of the "
            f"n_upstream={n_upstream} units to train the predictor; at least 10 are needed."
        )
    seed = int(rng.randint(np.iinfo(np.int32).max))
    if isinstance(predictor, str):
        model = _default_predictor(predictor, seed)
        # The default models multiply small matrices: one BLAS thread is several times
        # faster than many competing for a few shared cores.
        with threadpool_limits(limits=1, user_api="blas"):
            model.fit(X_up[:n_train], y_up[:n_train])
    else:
        model = clone(predictor).fit(X_up[:n_train], y_up[:n_train])

    return Bunch(
        y_pred=np.asarray(model.predict(X), dtype=float),
        y=y,
        treatment=treatment,
        propensity=propensity,
        confounder=confounder,
        X=X,
        y_pred_calibration=np.asarray(model.predict(X_up[n_train:]), dtype=float),
        y_calibration=y_up[n_train:],
        X_calibration=X_up[n_train:],
        X_train=X_up[:n_train],
        y_train=y_up[:n_train],
        tau=float(tau),
        sample_ate=_ipw_effect(y, treatment, propensity),
        predictor=model,
    )
