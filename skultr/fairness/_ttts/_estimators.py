"""Estimator plumbing shared by TTTSClassifier and FairTTTSClassifier, and TTTSClassifier."""

from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from skultr.utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    _check_sample_weight,
    _check_y,
    _fit_context,
)
from skultr.utils._versions import VersionedPickleMixin

from ._boosting import SUPPORTED_BOOSTERS, _compile_booster, _is_booster
from ._docs import _ENGINE_NOTES, _FLIP_DOC, _PRUNE_NOTES, _SAMPLE_WEIGHT_DOC
from ._exact import _expected_proba, _pruning_bound, _ReachRecorder
from ._flip import _make_flip_model
from ._forest import _compile_forest
from ._montecarlo import _mc_generator, _simulated_proba

__all__ = ["TTTSClassifier"]

SUPPORTED_ESTIMATORS = (
    DecisionTreeClassifier,
    RandomForestClassifier,
    ExtraTreesClassifier,
    *SUPPORTED_BOOSTERS,
)
"""Fitted estimators whose trees the engine can traverse (subclasses included); the
gradient-boosted ones for binary classification."""

HEURISTICS = ("fixed", "depth", "agreement", "confidence", "distance")
DISTANCE_SCALES = ("max_threshold", "node_std")


def _supported_names():
    return ", ".join(cls.__name__ for cls in SUPPORTED_ESTIMATORS)


def _unwrap(estimator):
    return estimator.estimator if isinstance(estimator, FrozenEstimator) else estimator


def _final_model(estimator):
    """The tree model: ``estimator`` unwrapped from FrozenEstimator and Pipeline."""
    inner = _unwrap(estimator)
    if isinstance(inner, Pipeline):
        inner = _unwrap(inner.steps[-1][1])
    return inner


def _preprocessing(estimator):
    """The Pipeline's steps before the model (fitted or not), or None without a Pipeline."""
    inner = _unwrap(estimator)
    return inner[:-1] if isinstance(inner, Pipeline) else None


def _check_supported(estimator):
    inner = _final_model(estimator)
    if not isinstance(inner, SUPPORTED_ESTIMATORS):
        raise TypeError(
            f"estimator must be one of {_supported_names()} (binary classification for the "
            "gradient-boosted ones; fitted or not, optionally wrapped in FrozenEstimator or "
            f"as the last step of a Pipeline); got {type(inner).__name__}."
        )
    return inner


def _takes_nan(estimator):
    """Whether X may hold NaN: a Pipeline (its steps decide) or a histogram booster."""
    inner = _unwrap(estimator)
    return isinstance(inner, Pipeline) or isinstance(
        _final_model(estimator), HistGradientBoostingClassifier
    )


def _is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def _check_two_classes(classes, name):
    """TTTS moves probability between classes: one class is a mistake, not a model."""
    if len(classes) < 2:
        raise ValueError(
            f"{'y has' if name == 'y' else name + ' hold'} only one class "
            f"({_scalar(classes[0])!r}); TTTS needs a classifier of at least two classes. "
            "Check that y is the label column."
        )


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def _weight_params(estimator, sample_weight):
    """``fit`` keywords routing ``sample_weight`` to the model (a Pipeline's last step)."""
    if sample_weight is None:
        return {}
    inner = _unwrap(estimator)
    if isinstance(inner, Pipeline):
        return {f"{inner.steps[-1][0]}__sample_weight": sample_weight}
    return {"sample_weight": sample_weight}


def _is_frame(X):
    """Whether X is a pandas DataFrame (its columns have names and dtypes)."""
    return hasattr(X, "iloc") and hasattr(X, "columns") and hasattr(X, "dtypes")


def _passes_frame(estimator, X):
    """Whether the Pipeline receives X as it is: a Pipeline with preprocessing, and a
    DataFrame, so that its steps select columns by name and encode non-numeric ones."""
    return _preprocessing(estimator) is not None and _is_frame(X)


def _tree_list(inner):
    return [inner] if isinstance(inner, DecisionTreeClassifier) else list(inner.estimators_)


class _BaseTTTS(MetaEstimatorMixin, ClassifierMixin, VersionedPickleMixin, BaseEstimator):
    """Fit/predict plumbing of the TTTS family (not public)."""

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "heuristic": [StrOptions(set(HEURISTICS))],
        "p_max": [Interval(Real, 0, 0.5, closed="both")],
        "depth_rate": [Interval(Real, 0, None, closed="left")],
        "distance_scale": [StrOptions(set(DISTANCE_SCALES))],
        "method": [StrOptions({"exact", "monte_carlo"})],
        "n_simulations": [Interval(Integral, 1, None, closed="left")],
        "prune_tol": [Interval(Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            tags.input_tags.allow_nan = _takes_nan(self.estimator)
        except AttributeError:
            tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

    # -- fitting ----------------------------------------------------------------------
    def _fit_base(self, X, y, sample_weight=None):
        """Validate, obtain the fitted trees and compile them.

        Returns ``(X, y)``: X as a float array, or the DataFrame itself when a Pipeline
        receives it (``_passes_frame``).
        """
        _check_supported(self.estimator)
        if _passes_frame(self.estimator, X):
            # the Pipeline's steps validate and encode the columns; here only the names,
            # the width and y (the protected columns are read and checked by name later)
            validate_data(self, X, skip_check_array=True)
            y = _check_y(y, estimator=self)
            check_consistent_length(X, y)
        else:
            nan = "allow-nan" if _takes_nan(self.estimator) else True
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_all_finite=nan)
        check_classification_targets(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        self._check_before_fit(X, y)
        if _is_fitted(_unwrap(self.estimator)):
            # a FrozenEstimator or an already-fitted estimator is used as is
            self.estimator_ = self.estimator
        elif isinstance(self.estimator, FrozenEstimator):
            raise NotFittedError(
                "estimator is a FrozenEstimator around an unfitted "
                f"{type(_unwrap(self.estimator)).__name__}; freeze a fitted estimator or "
                "pass the unfitted estimator itself so that fit can train it."
            )
        else:
            _check_two_classes(np.unique(y), "y")
            self.estimator_ = clone(self.estimator).fit(
                X, y, **_weight_params(self.estimator, sample_weight)
            )
        inner = _unwrap(self.estimator_)
        _check_two_classes(inner.classes_, "the fitted estimator's classes_")
        n_in = getattr(inner, "n_features_in_", X.shape[1])
        if n_in != X.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features but the fitted estimator expects {n_in}."
            )
        names = getattr(inner, "feature_names_in_", None)
        own = getattr(self, "feature_names_in_", None)
        if names is not None and own is not None and not np.array_equal(names, own):
            raise ValueError(
                "The feature names of X differ from those the estimator was fitted with: "
                f"expected {list(names)}, found {list(own)}."
            )
        unknown = np.setdiff1d(np.unique(y), inner.classes_)
        if unknown.size:
            raise ValueError(
                f"y contains labels {unknown.tolist()} the fitted estimator does not know; "
                f"its classes_ are {inner.classes_.tolist()}."
            )
        self.classes_ = inner.classes_
        model = _final_model(self.estimator_)
        self._preprocess = _preprocessing(self.estimator_)
        Xt = X if self._preprocess is None else self._transform(X)
        if _is_booster(model):
            self._forest, self._booster = _compile_booster(model, Xt.shape[1])
            self._check_booster_options()
            trees = None
        else:
            self._booster = None
            trees = _tree_list(model)
            self._forest = _compile_forest(trees)
        self.n_trees_ = self._forest.n_trees
        X32 = self._engine_input(Xt)
        self._flip_model = _make_flip_model(
            self._forest,
            heuristic=self.heuristic,
            p_max=self.p_max,
            depth_rate=self.depth_rate,
            distance_scale=self.distance_scale,
            trees=trees,
            X32=X32,
            sample_weight=sample_weight,
        )
        return X, y

    def _check_before_fit(self, X, y):
        """Checks of the subclass's own inputs, before any training (none for TTTS)."""

    def _check_booster_options(self):
        """The heuristics that need class distributions or sklearn trees' node statistics."""
        if self.heuristic in ("agreement", "confidence") or (
            self.heuristic == "distance" and self.distance_scale == "node_std"
        ):
            raise ValueError(
                f"heuristic={self.heuristic!r} with distance_scale={self.distance_scale!r} "
                "is not available for gradient-boosted trees (their leaves hold raw scores, "
                "not class counts); use heuristic='fixed', 'depth' or 'distance' with "
                "distance_scale='max_threshold'."
            )

    def _transform(self, X):
        """The Pipeline's preprocessing of X, as the float array the trees split."""
        Xt = self._preprocess.transform(X)
        if sparse.issparse(Xt):
            Xt = Xt.toarray()
        if not _is_frame(X):
            return np.asarray(Xt, dtype=np.float64)
        # X went to the Pipeline as it is: its output was not checked by validate_data
        try:
            Xt = np.asarray(Xt, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                "The Pipeline's preprocessing outputs non-numeric values (" + str(exc) + "); "
                "encode every non-numeric column of X inside the Pipeline (e.g. a "
                "OneHotEncoder in its ColumnTransformer)."
            ) from exc
        bad = np.flatnonzero(np.isinf(Xt).any(axis=1))
        if bad.size:
            raise ValueError(
                "The Pipeline's preprocessing outputs an infinite value at row "
                f"{bad[0]} of X; the trees' flip probabilities need finite features."
            )
        return Xt

    def _engine_input(self, Xt):
        """Float32 X as the engines read it (NaN handled for boosters, see _boosting)."""
        if self._booster is not None:
            return self._booster.engine_input(Xt)
        X32 = np.asarray(Xt, dtype=np.float32)
        if np.isnan(X32).any():
            raise ValueError(
                "The Pipeline's preprocessing left missing values (NaN) in X, which the "
                f"{type(_final_model(self.estimator_)).__name__} cannot take; impute them "
                "in the Pipeline."
            )
        return X32

    # -- prediction -------------------------------------------------------------------
    def _validate_X_predict(self, X):
        check_is_fitted(self)
        if _passes_frame(self.estimator_, X):
            validate_data(self, X, reset=False, skip_check_array=True)
        else:
            nan = "allow-nan" if _takes_nan(self.estimator_) else True
            X = validate_data(
                self, X, dtype=[np.float64, np.float32], reset=False, ensure_all_finite=nan
            )
        Xt = X if self._preprocess is None else self._transform(X)
        return X, self._engine_input(Xt)

    def _to_proba(self, out, X):
        """Engine output -> probabilities: as is for trees, sigmoid of E[F] for boosters."""
        if self._booster is None:
            return out
        raw = self._booster.raw_score(out, self.n_trees_, lambda: self._booster_input(X))
        proba = np.empty((raw.shape[0], 2))
        proba[:, 1] = 1.0 / (1.0 + np.exp(-raw))
        proba[:, 0] = 1.0 - proba[:, 1]
        return proba

    def _booster_input(self, X):
        return X if self._preprocess is None else self._transform(X)

    def _fairness_for(self, X, alpha=None):
        """(rule, unprivileged mask) for FairTTTS; (None, None) for plain TTTS."""
        return None, None

    def _proba(self, X, *, alpha=None, method=None, return_bound=False):
        out = self._engine_mean(X, alpha=alpha, method=method, return_bound=return_bound)
        if return_bound:
            return out
        return self._to_proba(out, X)

    def _engine_mean(self, X, *, alpha=None, method=None, return_bound=False):
        """The engines' mean over the trees of the expected (or simulated) leaf value."""
        X, X32 = self._validate_X_predict(X)
        fairness, unprivileged = self._fairness_for(X, alpha)
        method = self.method if method is None else method
        if return_bound and self._booster is not None:
            raise ValueError(
                "return_bound=True is not available for gradient-boosted trees: the bound "
                "holds for class distributions in [0, 1], not for raw scores."
            )
        if method == "exact":
            proba, mass = _expected_proba(
                self._forest,
                X32,
                self._flip_model,
                fairness=fairness,
                unprivileged=unprivileged,
                prune_tol=float(self.prune_tol),
                return_pruned_mass=True,
            )
            if not return_bound:
                return proba
            return proba, _pruning_bound(proba, mass, self._forest)
        if return_bound:
            raise ValueError(
                "return_bound=True needs method='exact': the Monte-Carlo mode has a random "
                f"error, not a bounded one (method={method!r})."
            )
        return _simulated_proba(
            self._forest,
            X32,
            self._flip_model,
            fairness=fairness,
            unprivileged=unprivileged,
            n_simulations=self.n_simulations,
            rng=_mc_generator(self.random_state),
        )

    def predict_proba(self, X, *, return_bound=False):
        """Class probabilities averaged over the simulated traversals.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        return_bound : bool, default=False
            Also return a guaranteed bound on the error that ``prune_tol`` introduces
            (``method="exact"`` only).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Exact expectation (``method="exact"``) or Monte-Carlo average
            (``method="monte_carlo"``) of the leaf class distributions, averaged over
            the trees. Columns follow ``classes_``.

        bound : ndarray of shape (n_samples, n_classes)
            Only with ``return_bound=True``: ``|proba - proba_unpruned| <= bound``
            entrywise, where ``proba_unpruned`` is the result with ``prune_tol=0``;
            ``bound = M(x) (max(proba, 1 - proba) + 2**-23 (D + 1))`` with ``M(x)`` the
            pruned reach mass and ``D`` the depth of the deepest tree (see Notes). All zeros
            when nothing was pruned.
        """
        return self._proba(X, return_bound=return_bound)

    @available_if(lambda self: _is_booster(_final_model(self.estimator)))
    def decision_function(self, X):
        """Expected raw score (log-odds of ``classes_[1]``) of a gradient-boosted model.

        Only for gradient-boosted estimators. ``method="exact"``:
        ``E[F(x)] = b(x) + sum_t E[f_t(x)]``, exact because the trees' flips are
        independent; ``method="monte_carlo"``: ``b(x) + sum_t (1/S) sum_s f_t(x; path_s)``,
        an unbiased estimate of it. :meth:`predict_proba` is ``sigmoid`` of this value.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        raw : ndarray of shape (n_samples,)
            Expected (or simulated mean) raw score.
        """
        out = self._engine_mean(X)
        return self._booster.raw_score(out, self.n_trees_, lambda: self._booster_input(X))

    def predict(self, X):
        """Class with the largest simulated probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            ``classes_[argmax(predict_proba(X))]``.
        """
        proba = self._proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def decision_path(self, X):
        """Reach probability of every node, the expected analogue of ``decision_path``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        reach : scipy.sparse.csr_matrix of shape (n_samples, n_nodes)
            ``reach[i, j]`` is the probability that the simulated traversal of row ``i``
            visits node ``j``; columns of tree ``k`` are ``n_nodes_ptr[k]:n_nodes_ptr[k+1]``
            in the tree's own node order. Entries below ``prune_tol`` may be missing.
        n_nodes_ptr : ndarray of shape (n_trees + 1,)
            Column offsets of the trees, as in ``RandomForestClassifier.decision_path``.
        """
        X, X32 = self._validate_X_predict(X)
        fairness, unprivileged = self._fairness_for(X)
        recorder = _ReachRecorder()
        _expected_proba(
            self._forest,
            X32,
            self._flip_model,
            fairness=fairness,
            unprivileged=unprivileged,
            prune_tol=float(self.prune_tol),
            recorder=recorder,
        )
        # the roots are recorded through the first frontier
        rows = np.concatenate(recorder.rows) if recorder.rows else np.array([], dtype=int)
        cols = np.concatenate(recorder.cols) if recorder.cols else np.array([], dtype=int)
        vals = np.concatenate(recorder.vals) if recorder.vals else np.array([])
        reach = sparse.csr_matrix((vals, (rows, cols)), shape=(X.shape[0], self._forest.n_nodes))
        return reach, self._forest.n_nodes_ptr.copy()


class TTTSClassifier(_BaseTTTS):
    """Tree Test Time Simulation: random detours through a fitted tree ensemble.

    Wraps a fitted (or unfitted) :class:`~sklearn.tree.DecisionTreeClassifier`,
    :class:`~sklearn.ensemble.RandomForestClassifier` or
    :class:`~sklearn.ensemble.ExtraTreesClassifier` and, at prediction time, lets every
    sample leave its natural branch at each internal node with a small probability. The
    prediction averages the leaf class distributions over the random paths, which makes
    the model smoother and more robust to small adversarial perturbations (Cohen et al.,
    2024). The tree structure and thresholds are not changed.

    Parameters
    ----------
    estimator : estimator instance
        A :class:`~sklearn.tree.DecisionTreeClassifier`,
        :class:`~sklearn.ensemble.RandomForestClassifier` or
        :class:`~sklearn.ensemble.ExtraTreesClassifier` (subclasses included). A fitted
        estimator, or one wrapped in :class:`~sklearn.frozen.FrozenEstimator`, is used as
        is; an unfitted one is cloned and fitted in :meth:`fit`. Note that
        :func:`~sklearn.base.clone` (used by ``GridSearchCV``) un-fits a plain fitted
        estimator; wrap it in ``FrozenEstimator`` to keep it fitted.
    {flip_doc}
    Attributes
    ----------
    estimator_ : estimator instance
        The fitted estimator whose trees are traversed (``estimator`` itself when it was
        fitted or frozen).

    classes_ : ndarray of shape (n_classes,)
        Class labels, those of ``estimator_``.

    n_trees_ : int
        Number of trees traversed.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    FairTTTSClassifier : the same engine, with the fairness amplification at nodes that
        split on a protected attribute.

    Notes
    -----
    At internal node ``n`` with feature ``f`` and threshold ``t_n`` the natural branch is
    left when ``x_f <= t_n``; the traversal takes the other branch with probability
    ``p_n(x)``. Because the flips are independent given ``x``,

    .. math::

        P(\\text{root}) = 1, \\quad
        P(\\text{natural child}) = P(n)\\,(1 - p_n(x)), \\quad
        P(\\text{other child}) = P(n)\\,p_n(x),

        \\hat p(y \\mid x) = \\frac{1}{T} \\sum_{k=1}^{T}
        \\sum_{\\ell \\in \\text{leaves}_k} P(\\ell)\\, v_\\ell(y),

    with ``v_l`` the class distribution of leaf ``l`` and ``T`` the number of trees. The
    exact mode evaluates this sum (touching every node of non-zero reach probability; see
    the engines below); the Monte-Carlo mode estimates it with ``S = n_simulations`` paths per
    tree, whose per-class standard error is at most ``0.5 / sqrt(S T)``.

    The distance heuristic of the TTTS paper (eq. 6) divides ``|x_f - t_n|`` by the
    standard deviation of the feature at the node (``distance_scale="node_std"``); the
    authors' code divides by the largest absolute threshold of the tree
    (``"max_threshold"``), which on unscaled data makes ``p`` close to ``p_max`` almost
    everywhere. ``"max_threshold"`` is the default because it is what the published
    FairTTTS results were computed with, and because with ``"node_std"`` a binary
    feature (``|x - 0.5| / sigma >= 1``) never flips; for robustness studies on
    continuous features ``"node_std"`` with a larger ``p_max`` (the paper used 0.5) is
    the scale-free choice. The paper's settings were ``p = 0.05`` (fixed), ``r = 0.05``
    capped at 0.2 (depth) and caps of 0.5 for the other heuristics; the authors' code
    used ``p_max = 0.1`` for the distance heuristic.

    {engine_notes}

    {prune_notes}

    References
    ----------
    .. [1] S. Cohen, O. Arbili, Y. Mirsky, L. Rokach, "TTTS: Tree Test Time Simulation
       for Enhancing Decision Tree Robustness against Adversarial Examples", AAAI 2024.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skultr.fairness import TTTSClassifier
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> tree = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    >>> tree.predict_proba(X[[0, 5]]).round(3)
    array([[0.989, 0.011],
           [0.   , 1.   ]])
    >>> ttts = TTTSClassifier(tree, heuristic="depth", p_max=0.2).fit(X, y)
    >>> ttts.predict_proba(X[[0, 5]]).round(3)
    array([[0.804, 0.196],
           [0.177, 0.823]])
    """

    def __init__(
        self,
        estimator,
        *,
        heuristic="distance",
        p_max=0.1,
        depth_rate=0.05,
        distance_scale="max_threshold",
        method="exact",
        n_simulations=100,
        prune_tol=0.0,
        random_state=None,
    ):
        self.estimator = estimator
        self.heuristic = heuristic
        self.p_max = p_max
        self.depth_rate = depth_rate
        self.distance_scale = distance_scale
        self.method = method
        self.n_simulations = n_simulations
        self.prune_tol = prune_tol
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the wrapped estimator if needed and compile its trees.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. With a fitted ``estimator`` it is only used for validation and,
            for ``heuristic="confidence"`` or ``distance_scale="node_std"``, for the
            per-node feature statistics.
        y : array-like of shape (n_samples,)
            Class labels, of at least two classes.
        {sample_weight_doc}

        Returns
        -------
        self : TTTSClassifier
            The fitted post-processor.
        """
        self._fit_base(X, y, sample_weight)
        return self


TTTSClassifier.__doc__ = (
    TTTSClassifier.__doc__.replace("{flip_doc}", _FLIP_DOC)
    .replace("{engine_notes}", _ENGINE_NOTES)
    .replace("{prune_notes}", _PRUNE_NOTES)
)
TTTSClassifier.fit.__doc__ = TTTSClassifier.fit.__doc__.replace(
    "{sample_weight_doc}", _SAMPLE_WEIGHT_DOC
)
