"""A meta-regressor whose predictions are corrected for shrinkage by cross-fitting."""

import inspect

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import check_cv, cross_val_predict
from sklearn.utils import get_tags
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from skultr.utils._sklearn_compat import HasMethods, _fit_context, _routing_enabled
from skultr.utils._versions import VersionedPickleMixin

from ._tweedie import TweedieCorrector

__all__ = ["DebiasedRegressor"]


def _check_not_1d(X):
    """The error check_array gives for 1-D X, raised before the feature-count check."""
    ndim = getattr(X, "ndim", None)
    if ndim == 1 or (ndim is None and isinstance(X, list) and np.ndim(X) == 1):
        raise ValueError(
            "X must be 2-D, of shape (n_samples, n_features); got a 1-D array. Reshape your "
            "data either using array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample."
        )


def _num_rows(X):
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 0:
        return shape[0]
    try:
        return len(X)
    except TypeError:
        return None


def _fit_parameters(estimator):
    """Names ``estimator.fit`` takes (every name when it takes ``**kwargs``)."""
    parameters = inspect.signature(estimator.fit).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return _AnyName()
    return set(parameters) - {"X", "y"}


class _AnyName(set):
    def __rsub__(self, other):
        return set()


class DebiasedRegressor(MetaEstimatorMixin, RegressorMixin, VersionedPickleMixin, BaseEstimator):
    """Regressor whose predictions are corrected for the shrinkage of squared-error training.

    ``fit`` calibrates a corrector (by default :class:`TweedieCorrector`) on predictions
    that the base estimator made for rows it was not trained on, then refits the base
    estimator on all rows; ``predict`` returns the corrected predictions of that refit
    model. Downstream effects estimated on these predictions are not attenuated.

    Two ways to obtain the calibration predictions:

    - cross-fitting (default): out-of-fold predictions of ``cv`` clones of ``estimator``
      calibrate the corrector, so every labelled row serves both training and calibration;
    - a model that is already trained, wrapped in :class:`sklearn.frozen.FrozenEstimator`:
      it is not refitted and all of ``(X, y)`` given to ``fit`` is calibration data (keep it
      disjoint from the model's training data).

    Read more in the :ref:`User Guide <calibration>`.

    Parameters
    ----------
    estimator : regressor
        The base model, trained with squared error. It is cloned, unless it is a
        :class:`~sklearn.frozen.FrozenEstimator`.
    corrector : corrector, default=None
        An unfitted corrector with ``fit(y_pred, y)`` and ``transform(y_pred)``: a
        :class:`TweedieCorrector` (used when None) or :class:`LinearCalibrationCorrector`.
        It is cloned.
    cv : int, cross-validation generator or iterable, default=5
        Splitting of the rows for the out-of-fold predictions, as in
        :func:`~sklearn.model_selection.cross_val_predict`: every row must be predicted
        exactly once (a partition, such as ``KFold`` or ``GroupKFold``). Ignored for a
        :class:`~sklearn.frozen.FrozenEstimator`.

    Attributes
    ----------
    estimator_ : regressor
        The base model fitted on all rows (the frozen model itself when one is given).
    corrector_ : corrector
        The corrector fitted on the calibration predictions.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    TweedieCorrector : The default corrector.
    LinearCalibrationCorrector : The linear calibration correction.
    sklearn.calibration.CalibratedClassifierCV : The same construction for classifiers.

    Notes
    -----
    The corrected predictions trade squared error for conditional unbiasedness
    (``E[\\tilde Y | Y] = Y`` instead of ``E[Y | \\hat Y] = \\hat Y``): their R², which
    :meth:`score` reports, is lower than the base model's by design. When tuning the base
    model with :class:`~sklearn.model_selection.GridSearchCV`, R² still ranks base models,
    but the number is not comparable with that of an uncorrected model.

    ``sample_weight`` (and any other fit parameter of the base estimator) weights the
    training of the base estimator, in the cross-fitting and the refit; the corrector is
    calibrated on the unweighted out-of-fold pairs, as its ``fit`` takes no weights.
    ``groups`` goes to the splitter: with ``cv=GroupKFold(k)`` no group is both in the fit
    and in the prediction fold of a split. Both are plain arguments of :meth:`fit`, and
    are routed with metadata routing enabled (see :meth:`fit`).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from skultr.calibration import DebiasedRegressor, LinearCalibrationCorrector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 3))
    >>> y = X @ [1.0, 0.5, 0.0] + rng.normal(size=400)
    >>> model = DebiasedRegressor(Ridge(), corrector=LinearCalibrationCorrector()).fit(X, y)
    >>> bool(model.predict(X).std() > model.estimator_.predict(X).std())
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "corrector": [HasMethods(["fit", "transform"]), None],
        "cv": ["cv_object"],
    }

    def __init__(self, estimator, *, corrector=None, cv=5):
        self.estimator = estimator
        self.corrector = corrector
        self.cv = cv

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags

    @_fit_context(
        # The base estimator and the corrector are validated when they are fitted.
        prefer_skip_nested_validation=False
    )
    def fit(self, X, y, **fit_params):
        """Fit the base estimator and calibrate the corrector.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Validated by the base estimator.
        y : array-like of shape (n_samples,)
            Target values.
        **fit_params : dict
            ``groups`` (array-like of shape (n_samples,)): group labels for the splitter
            of the cross-fitting, e.g. ``cv=GroupKFold(5)``, so that no group is both in
            the fit and in the prediction fold of a split. Any other parameter, such as
            ``sample_weight``, goes to the ``fit`` of the base estimator (its
            cross-fitted clones and its refit on all rows).

            With metadata routing enabled (``sklearn.set_config(
            enable_metadata_routing=True)``) they are routed instead: ``groups`` to the
            splitter (``GroupKFold`` requests it by default, so ``cross_validate(...,
            params={"groups": groups})`` reaches it without any request), and every other
            parameter to the base estimator as it requests it, e.g.
            ``Ridge().set_fit_request(sample_weight=True)``.

        Returns
        -------
        self : DebiasedRegressor
            The fitted regressor.
        """
        if _num_rows(X) == 0:
            raise ValueError(
                "X is empty (0 samples); DebiasedRegressor needs labelled rows to "
                "cross-fit and calibrate."
            )
        X, y = validate_data(self, X, y, skip_check_array=True)
        y = column_or_1d(y, warn=True)
        corrector = TweedieCorrector() if self.corrector is None else clone(self.corrector)
        frozen = isinstance(self.estimator, FrozenEstimator)
        cv = None if frozen else check_cv(self.cv, y, classifier=False)

        if _routing_enabled():
            routed = process_routing(self, "fit", **fit_params)
            fit_args, split_args = routed.estimator.fit, routed.splitter.split
        else:
            split_args = {}
            if fit_params.get("groups") is not None:
                split_args["groups"] = fit_params["groups"]
            fit_args = {k: v for k, v in fit_params.items() if k != "groups"}
            unknown = set(fit_args) - _fit_parameters(self.estimator)
            if unknown:
                raise TypeError(
                    f"DebiasedRegressor.fit got {sorted(unknown)}, which the fit of "
                    f"{type(self.estimator).__name__} does not take; groups goes to the "
                    "splitter of the cross-fitting, other parameters to the base estimator."
                )

        if frozen:
            self.estimator_ = self.estimator
            y_pred = self.estimator_.predict(X)
        else:
            splits = list(cv.split(X, y, **split_args))
            # a dict, never None: scikit-learn 1.6.0 unpacks params with routing enabled
            y_pred = cross_val_predict(
                clone(self.estimator), X, y, cv=splits, params=dict(fit_args)
            )
            self.estimator_ = clone(self.estimator).fit(X, y, **fit_args)

        self.corrector_ = corrector.fit(y_pred, y)
        return self

    def get_metadata_routing(self):
        """Routing of the fit parameters: the base estimator's fit and the splitter.

        Returns
        -------
        routing : MetadataRouter
            A :class:`~sklearn.utils.metadata_routing.MetadataRouter` encapsulating
            routing information.
        """
        # the self request carries score(sample_weight) (set_score_request)
        router = MetadataRouter(owner=self).add_self_request(self)
        router.add(
            estimator=self.estimator,
            method_mapping=MethodMapping().add(caller="fit", callee="fit"),
        )
        if not isinstance(self.estimator, FrozenEstimator):
            router.add(
                splitter=check_cv(self.cv),
                method_mapping=MethodMapping().add(caller="fit", callee="split"),
            )
        return router

    def predict(self, X):
        """Corrected predictions of the base estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The corrected predictions.
        """
        check_is_fitted(self)
        _check_not_1d(X)
        X = validate_data(self, X, reset=False, skip_check_array=True)
        y_pred = self.estimator_.predict(X)
        return np.ravel(self.corrector_.transform(y_pred))
