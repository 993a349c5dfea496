"""FairTTTS: fairness-aware test-time simulation through a fitted tree ensemble."""

import dataclasses
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_array, check_is_fitted

from skultr.utils._deprecation import DEPRECATED, resolve_renamed
from skultr.utils._sklearn_compat import Interval, StrOptions, _fit_context
from skultr.utils._validation import preview, protected_index

from ._ttts import (
    _ENGINE_NOTES,
    _FLIP_DOC,
    _PRUNE_NOTES,
    _SAMPLE_WEIGHT_DOC,
    _BaseTTTS,
    _expected_proba,
    _make_fairness_rule,
)
from ._ttts._estimators import _is_frame

__all__ = ["FairTTTSClassifier"]

MIN_GROUP_ROWS = 30
"""A protected group with fewer rows than this in ``fit`` gets a warning naming it: its
selection and true positive rates, and any ``alpha`` tuned on them, are then noisy."""


class FairTTTSClassifier(_BaseTTTS):
    """FairTTTS: post-process a fitted tree ensemble towards demographic parity.

    The fitted trees are traversed as in :class:`TTTSClassifier` (each sample leaves its
    natural branch at node ``n`` with a small probability ``p_n(x)``), and at every node
    that splits on the protected attribute a sample of the unprivileged group whose
    natural branch is the child with the larger share of unfavourable classes is sent to
    the other child with the amplified probability ``min(alpha * p_n(x), 0.5)``
    (Cohen-Inger et al., 2025). The model is not retrained: only prediction changes. Two
    optional extensions, off by default, widen the rule: ``amplified_nodes="all"`` and
    ``flip_cap``.

    The protected attribute is a column of ``X``, so :meth:`predict` needs no extra
    argument and the post-processor works in ``Pipeline``, ``GridSearchCV`` and
    ``cross_validate`` with ordinary scorers (see
    :func:`skultr.metrics.make_fairness_scorer`).

    Parameters
    ----------
    estimator : estimator instance
        A :class:`~sklearn.tree.DecisionTreeClassifier`,
        :class:`~sklearn.ensemble.RandomForestClassifier`,
        :class:`~sklearn.ensemble.ExtraTreesClassifier`, or a binary
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier` or
        :class:`~sklearn.ensemble.GradientBoostingClassifier` (subclasses included; a
        booster is traversed in logit space, see Notes), or a
        :class:`~sklearn.pipeline.Pipeline` whose last step is one of them. A fitted
        estimator, or one wrapped in :class:`~sklearn.frozen.FrozenEstimator`, is used as
        is; an unfitted one is cloned and fitted in :meth:`fit`. :func:`~sklearn.base.clone`
        (used by ``GridSearchCV``) un-fits a plain fitted estimator, so wrap a trained
        model in ``FrozenEstimator`` to search over ``alpha`` without refitting it.

    protected_attribute : int, str or list of them
        Column of ``X`` holding the protected attribute: a position, or a column name
        when ``X`` is a pandas DataFrame; a list of columns for intersectional groups.
        With a Pipeline it is a column of the Pipeline's input; the trees' split on it is
        found by name among the preprocessing's ``get_feature_names_out()``. A DataFrame
        is given to the Pipeline as it is (its steps may select columns by name and encode
        strings); then only the protected columns must be numeric.

    unprivileged_value : float
        Value of the protected column that marks the unprivileged group (rows with
        ``x[protected] == unprivileged_value``). The column must take at most two
        distinct values in :meth:`fit` unless ``protected_threshold`` is given; then the
        column is first binarised to ``1 if x > protected_threshold else 0`` and
        ``unprivileged_value`` must be 0 or 1. A list of values: the unprivileged set of a
        multi-valued attribute (any number of distinct values). With several protected
        columns: a tuple of one value per column, or a list of such tuples (the
        unprivileged combinations). A group with fewer than 30 rows in :meth:`fit` gets a
        warning naming it.

    protected_threshold : float or None, default=None
        Binarise a continuous protected attribute (for example age) at this value; see
        ``unprivileged_value``. Every node that splits on the protected column is then a
        protected node.

    pos_label : label, default=1
        The favourable outcome (one of ``classes_``); all other classes are unfavourable.
        Same name and meaning as ``pos_label`` in the fairness metrics of
        :mod:`skultr.metrics` and in scikit-learn.

    favorable_class : label
        The former name of ``pos_label``.

        .. deprecated:: 0.1
           ``favorable_class`` was renamed ``pos_label`` in 0.1 and will be removed in 0.3.

    alpha : float >= 1, default=9.0
        Amplification of the flip probability at protected nodes (paper: 9).
        ``alpha=1`` is plain TTTS.

    flip_cap : float in [0, 1], default=0.5
        Largest amplified flip probability, ``p' = min(alpha * p, flip_cap)``. The paper
        caps at 0.5 (an amplified node then averages both subtrees); ``1`` allows routing
        an unprivileged sample fully as if it were privileged (an extension, see Notes).

    amplified_nodes : {"protected", "all"}, default="protected"
        Where the amplification applies. ``"protected"`` (the paper): nodes that split on
        the protected attribute. ``"all"`` (an extension, see Notes): every internal node,
        so that bias carried by proxies of the protected attribute is also counteracted;
        choose ``alpha`` by cross-validation, e.g. with
        :func:`~skultr.metrics.make_fairness_tradeoff_scorer`, as too large a value
        overshoots parity.
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

    protected_index_ : int or ndarray of int
        Position of the protected column in ``X`` (an array for several columns).

    protected_nodes_ : ndarray of shape (n_protected_nodes, 2)
        ``(tree index, node id within the tree)`` of every node that splits on the
        protected attribute.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    TTTSClassifier : the same traversal without the fairness amplification.
    skultr.metrics.demographic_parity_difference : the gap FairTTTS is meant to reduce.
    FairnessTradeoffDisplay : accuracy and fairness over ``alpha``.

    Notes
    -----
    At an internal node ``n`` with feature ``f`` and threshold ``t_n`` the natural branch
    of ``x`` is left when ``x_f <= t_n``, and the base flip probability ``p_n(x)`` follows
    ``heuristic`` (by default ``p_n(x) = max(p_max - |x_f - t_n| / s, 0)``). Let ``u_c``
    be the share of unfavourable classes among the training rows of child ``c``
    (``u_c = 1 - v_c(pos_label)``) and call the child with the larger ``u_c`` the
    worse child (no child is worse when the shares are equal). FairTTTS uses, with the cap
    ``c = flip_cap`` (0.5 in the paper),

    .. math::

        p'_n(x) = \\begin{cases}
            \\min(\\alpha\\, p_n(x), c) & \\text{if } f = \\text{protected},\\
                x \\text{ unprivileged and its natural branch is the worse child},\\\\
            p_n(x) & \\text{otherwise,}
        \\end{cases}

    and the prediction is the expectation over the random traversal,

    .. math::

        P(\\text{root}) = 1, \\quad
        P(\\text{natural child}) = P(n)\\,(1 - p'_n(x)), \\quad
        P(\\text{other child}) = P(n)\\,p'_n(x), \\quad
        \\hat p(y \\mid x) = \\frac{1}{T} \\sum_{k=1}^{T}
            \\sum_{\\ell \\in \\text{leaves}_k} P(\\ell)\\, v_\\ell(y).

    ``method="exact"`` evaluates these sums (deterministic); ``method="monte_carlo"``
    draws ``S = n_simulations`` paths per tree and row as the paper does. With the
    default ``distance_scale="max_threshold"`` (the authors' code) and unscaled data,
    ``p_n(x)`` is close to ``p_max`` at a binary protected node, so with ``alpha >= 5``
    the amplified probability is the cap 0.5: an unprivileged sample heading to the worse
    child is routed half the time as if it were privileged. With
    ``distance_scale="node_std"`` (the TTTS paper's scale) ``p_n(x)`` is 0 at a binary
    node, so the amplification has no effect; use a constant heuristic or the default
    scale for binary protected attributes. On standardised features the largest
    threshold is small and the default distance heuristic gives ``p = 0`` at binary nodes
    too; ``heuristic="fixed"`` then reproduces the paper's behaviour unit-free.

    Extensions (not in the paper). Trees often encode the protected attribute through
    proxies (on Adult, ``relationship`` carries sex) and rarely split on it directly, so
    the protected nodes are seldom on a sample's path and FairTTTS changes little. With
    ``amplified_nodes="all"`` the same rule ("an unprivileged sample heading to the worse
    child flips with ``min(alpha p, c)``") applies at every internal node; its effect
    grows quickly with ``alpha`` and overshoots parity where the gap is small, so choose
    ``alpha`` (including 1, plain TTTS) by cross-validation with a fairness-aware scorer.
    ``flip_cap=1`` lets the rule route a sample fully as if privileged.

    Gradient-boosted trees (an extension). The raw score
    ``F(x) = b(x) + sum_t f_t(x)`` has, with independent flips in each tree, the exact
    expectation ``E[F(x)] = b(x) + sum_t sum_l P(l) v_l`` (``v_l`` the leaf value, learning
    rate included); ``decision_function`` returns it, ``predict_proba`` is its sigmoid
    (the sigmoid of the expected logit, not the expected probability), and the
    Monte-Carlo mode estimates the same ``E[F(x)]`` from ``n_simulations`` paths per tree.
    A node's value is the training-count weighted mean of its leaves; the worse child is
    the one of smaller value (larger when ``pos_label`` is ``classes_[0]``).

    Departures from the authors' code: the random generator is seeded by
    ``random_state``; ``alpha`` is a parameter; equal unfavourable shares amplify
    nothing (the code treats the left child as worse); in Monte-Carlo mode a forest draws
    ``n_simulations`` paths per tree (the code's forest drew one).

    {engine_notes}

    {prune_notes}

    References
    ----------
    .. [1] N. Cohen-Inger, L. Rokach, B. Shapira, S. Cohen, "FairTTTS: A Tree Test Time
       Simulation Method for Fairness-Aware Classification", arXiv:2501.08155, 2025.
    .. [2] S. Cohen, O. Arbili, Y. Mirsky, L. Rokach, "TTTS: Tree Test Time Simulation
       for Enhancing Decision Tree Robustness against Adversarial Examples", AAAI 2024.

    Examples
    --------
    Column 0 of :func:`~skultr.datasets.make_biased_classification` is the group
    (0 = unprivileged); its labels favour group 1 at equal merit.

    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skultr.datasets import make_biased_classification
    >>> from skultr.fairness import FairTTTSClassifier
    >>> from skultr.metrics import demographic_parity_difference
    >>> X, y = make_biased_classification(1000, random_state=0)
    >>> tree = DecisionTreeClassifier(min_samples_leaf=20, random_state=0).fit(X, y)
    >>> fair = FairTTTSClassifier(tree, protected_attribute=0, unprivileged_value=0)
    >>> fair = fair.fit(X, y)
    >>> for model in (tree, fair):
    ...     gap = demographic_parity_difference(y, model.predict(X), sensitive_features=X[:, 0])
    ...     print(f"{type(model).__name__}: parity gap {gap:.3f}")
    DecisionTreeClassifier: parity gap 0.435
    FairTTTSClassifier: parity gap 0.134
    """

    _parameter_constraints: dict = {
        **_BaseTTTS._parameter_constraints,
        "protected_attribute": [Interval(Integral, 0, None, closed="left"), str, list, tuple],
        "unprivileged_value": [Real, list, tuple],
        "protected_threshold": [Real, None],
        "pos_label": "no_validation",
        "favorable_class": "no_validation",
        "alpha": [Interval(Real, 1, None, closed="left")],
        "flip_cap": [Interval(Real, 0, 1, closed="both")],
        "amplified_nodes": [StrOptions({"protected", "all"})],
    }

    def __init__(
        self,
        estimator,
        *,
        protected_attribute,
        unprivileged_value,
        protected_threshold=None,
        pos_label=1,
        alpha=9.0,
        flip_cap=0.5,
        amplified_nodes="protected",
        heuristic="distance",
        p_max=0.1,
        depth_rate=0.05,
        distance_scale="max_threshold",
        method="exact",
        n_simulations=100,
        prune_tol=0.0,
        random_state=None,
        favorable_class=DEPRECATED,
    ):
        self.estimator = estimator
        self.protected_attribute = protected_attribute
        self.unprivileged_value = unprivileged_value
        self.protected_threshold = protected_threshold
        self.pos_label = pos_label
        self.alpha = alpha
        self.flip_cap = flip_cap
        self.amplified_nodes = amplified_nodes
        self.heuristic = heuristic
        self.p_max = p_max
        self.depth_rate = depth_rate
        self.distance_scale = distance_scale
        self.method = method
        self.n_simulations = n_simulations
        self.prune_tol = prune_tol
        self.random_state = random_state
        self.favorable_class = favorable_class

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the wrapped estimator if needed, compile its trees and check the groups.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, including the protected column. With a fitted ``estimator``
            it is used to check the protected attribute and, for
            ``heuristic="confidence"`` or ``distance_scale="node_std"``, for the per-node
            feature statistics.
        y : array-like of shape (n_samples,)
            Class labels, of at least two classes.
        {sample_weight_doc}

        Returns
        -------
        self : FairTTTSClassifier
            The fitted post-processor.
        """
        pos_label = resolve_renamed(self, "favorable_class", "pos_label")
        self._fit_base(X, y, sample_weight)
        matches = np.flatnonzero(self.classes_ == pos_label)
        if matches.size == 0:
            raise ValueError(
                f"pos_label={pos_label!r} is not one of the classes {self.classes_.tolist()}."
            )
        favorable_index = int(matches[0])
        self._pos_label = self.classes_[favorable_index]
        forest, booster = self._forest, self._booster
        feature = forest.feature if booster is None else booster.source_feature
        tree_columns = self._tree_protected_columns()
        favorability = None
        if booster is not None:  # raw score of classes_[1]: larger favours classes_[1]
            favorability = forest.value[:, 0] * (1.0 if favorable_index == 1 else -1.0)
        self._fairness_rule = _make_fairness_rule(
            forest,
            protected_index=tree_columns,
            favorable_index=favorable_index,
            alpha=self.alpha,
            cap=self.flip_cap,
            all_nodes=self.amplified_nodes == "all",
            feature=feature,
            favorability=favorability,
        )
        nodes = np.flatnonzero(~forest.is_leaf & np.isin(feature, tree_columns))
        tree = self._forest.tree[nodes]
        self.protected_nodes_ = np.column_stack([tree, nodes - self._forest.n_nodes_ptr[tree]])
        return self

    # -- the protected group ------------------------------------------------------------
    def _check_before_fit(self, X, y):
        self.protected_index_ = self._resolve_protected_index(X)
        self._unprivileged = self._unprivileged_values()
        self._check_protected_column(X)
        self._warn_small_groups(X)

    def _columns(self):
        return np.atleast_1d(self.protected_index_)

    def _column_name(self, index):
        names = getattr(self, "feature_names_in_", None)
        return str(names[index]) if names is not None else f"x{index}"

    def _protected_name(self):
        if np.ndim(self.protected_index_):
            return "columns " + ", ".join(repr(self._column_name(i)) for i in self._columns())
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return repr(str(names[self.protected_index_]))
        return f"at index {self.protected_index_}"

    def _resolve_protected_index(self, X):
        names = getattr(self, "feature_names_in_", None)
        attribute = self.protected_attribute
        if not isinstance(attribute, (list, tuple)):
            return protected_index(attribute, names, X.shape[1])
        if len(attribute) == 0:
            raise ValueError("protected_attribute is an empty list; name at least one column.")
        index = np.array([protected_index(a, names, X.shape[1]) for a in attribute])
        if np.unique(index).size != index.size:
            raise ValueError(
                f"protected_attribute={list(attribute)!r} names a column twice; each "
                "protected column must appear once."
            )
        if self.protected_threshold is not None:
            raise ValueError(
                "protected_threshold binarises one protected column; it cannot be used with "
                f"several (protected_attribute={list(attribute)!r})."
            )
        return index

    def _unprivileged_values(self):
        """``unprivileged_value`` as an (m, k) array: m unprivileged combinations of the
        k protected columns."""
        value, k = self.unprivileged_value, self._columns().size
        if k == 1:
            values = list(value) if isinstance(value, (list, tuple)) else [value]
            rows = [[v] for v in values]
        elif isinstance(value, tuple):
            rows = [list(value)]
        elif isinstance(value, list) and all(isinstance(v, tuple) for v in value):
            rows = [list(v) for v in value]
        else:
            raise ValueError(
                f"With {k} protected columns, unprivileged_value must be a tuple of {k} "
                f"values (one per column) or a list of such tuples; got {value!r}."
            )
        for row in rows:
            bad = [v for v in row if not isinstance(v, Real) or isinstance(v, bool)]
            if len(row) != k or bad:
                raise ValueError(
                    f"unprivileged_value={value!r}: each unprivileged group must give one "
                    f"number per protected column ({k}); found {tuple(row)!r}."
                )
        if not rows:
            raise ValueError("unprivileged_value is an empty list; name at least one group.")
        return np.asarray(rows, dtype=np.float64)

    def _group_labels(self, X):
        """Each row's protected group: its protected values (binarised with a threshold)."""
        cols = self._protected_block(X)
        if self.protected_threshold is not None:
            cols = (cols > self.protected_threshold).astype(np.float64)
        return cols

    def _warn_small_groups(self, X):
        groups, counts = np.unique(self._group_labels(X), axis=0, return_counts=True)
        names = [self._column_name(i) for i in self._columns()]
        for group, count in zip(groups, counts, strict=True):
            if count < MIN_GROUP_ROWS:
                label = ", ".join(
                    f"{n}={_scalar_repr(v)}" for n, v in zip(names, group, strict=True)
                )
                warnings.warn(
                    f"The protected group ({label}) has only {count} rows in X, fewer than "
                    f"MIN_GROUP_ROWS={MIN_GROUP_ROWS}: its group rates, and any alpha tuned "
                    "on them, are noisy.",
                    UserWarning,
                    stacklevel=6,
                )

    def _protected_block(self, X):
        """The protected columns of validated X as floats (X a float array, or the
        DataFrame a Pipeline receives as it is, whose protected columns must be numeric)."""
        if not _is_frame(X):
            return X[:, self._columns()]
        block = X.iloc[:, self._columns()]
        try:
            return check_array(block, dtype=np.float64, ensure_all_finite="allow-nan")
        except (TypeError, ValueError) as exc:
            dtypes = ", ".join(f"{c!r}: {d}" for c, d in block.dtypes.items())
            raise ValueError(
                f"The protected column {self._protected_name()} must be numeric (FairTTTS "
                f"compares it with unprivileged_value); found dtypes {{{dtypes}}} "
                f"({exc}). Encode it as numbers before FairTTTS."
            ) from exc

    def _protected_values(self, X):
        """The protected column(s) of X; a missing value (NaN) is an error naming its row."""
        cols = self._protected_block(X)
        missing = np.flatnonzero(np.isnan(cols).any(axis=1))
        if missing.size:
            raise ValueError(
                f"The protected column {self._protected_name()} holds a missing value (NaN) "
                f"at row {missing[0]}; every row needs a protected group."
            )
        return cols

    def _check_protected_column(self, X):
        """In fit: the column is binary (or binarised) and the value names a group."""
        cols = self._protected_values(X)
        column = cols[:, 0]
        multi = np.ndim(self.protected_index_) or isinstance(self.unprivileged_value, list)
        if multi:
            if self._unprivileged_mask(X).any():
                return
            raise ValueError(
                f"unprivileged_value={self.unprivileged_value!r} matches no row of X: the "
                f"protected {self._protected_name()} take the values "
                f"{preview(np.unique(cols, axis=0).tolist())}."
            )
        if self.protected_threshold is None:
            values = np.unique(column)
            if values.size > 2:
                raise ValueError(
                    f"The protected column {self._protected_name()} must be binary; it takes "
                    f"{values.size} distinct values ({preview(values)}). Pass "
                    "protected_threshold to binarise a continuous attribute, or a list of "
                    "the unprivileged values as unprivileged_value for a categorical one."
                )
        elif self.unprivileged_value not in (0, 1):
            raise ValueError(
                "With protected_threshold set, the protected column is binarised to 0/1 and "
                f"unprivileged_value must be 0 or 1; got {self.unprivileged_value!r}."
            )
        if self._unprivileged_mask(X).any():
            return
        values = preview(np.unique(column))
        if self.protected_threshold is None:
            raise ValueError(
                f"unprivileged_value={self.unprivileged_value!r} matches no row of X: the "
                f"protected column {self._protected_name()} takes the values {values}."
            )
        # A threshold rule is defined on values, not on categories: an empty group in the
        # fit data is possible (the rule still applies at prediction), so only warn.
        warnings.warn(
            f"No row of X falls in the unprivileged group (protected column "
            f"{self._protected_name()} binarised at protected_threshold="
            f"{self.protected_threshold}, unprivileged_value={self.unprivileged_value}; "
            f"values {values}). FairTTTS amplifies flips only for unprivileged rows.",
            UserWarning,
            stacklevel=6,
        )

    def _unprivileged_mask(self, X):
        """Boolean mask of the unprivileged rows of X: rows whose protected values are one
        of the unprivileged combinations."""
        cols = self._protected_values(X)
        if self.protected_threshold is not None:
            return (cols[:, 0] > self.protected_threshold) == bool(self.unprivileged_value)
        return (cols[:, None, :] == self._unprivileged[None]).all(axis=2).any(axis=1)

    def _tree_protected_columns(self):
        """The protected columns in the numbering of the features the trees split.

        Without a Pipeline they are the columns of X. With one, each input column is
        looked up by name among the preprocessing's ``get_feature_names_out()``: the
        output named like it, or ``<transformer>__<name>`` (a ColumnTransformer's prefix).
        """
        columns = self._columns()
        if self._preprocess is None:
            return columns
        try:
            out = np.asarray(self._preprocess.get_feature_names_out(), dtype=object)
        except (AttributeError, TypeError, ValueError) as exc:
            raise ValueError(
                "The protected column cannot be located among the features of the "
                "Pipeline's preprocessing: it does not give its output feature names "
                f"({type(exc).__name__}: {exc}). Use transformers that implement "
                "get_feature_names_out."
            ) from exc
        found = []
        for index in columns:
            name = self._column_name(index)
            match = np.flatnonzero([o == name or str(o).endswith("__" + name) for o in out])
            if match.size != 1:
                raise ValueError(
                    f"The protected column {name!r} of X "
                    f"{'is not' if match.size == 0 else 'is not uniquely'} among the features "
                    f"the Pipeline's preprocessing outputs ({preview(out.tolist())}); the "
                    "trees must split on it for FairTTTS to act: pass it through unchanged "
                    "or monotonically (e.g. ColumnTransformer(remainder='passthrough'))."
                )
            found.append(int(match[0]))
        return np.asarray(found)

    def _fairness_for(self, X, alpha=None):
        rule = self._fairness_rule
        if alpha is not None:
            rule = dataclasses.replace(rule, alpha=np.float32(alpha))
        return rule, self._unprivileged_mask(X)

    # -- introspection -------------------------------------------------------------------
    def protected_decision_path(self, X):
        """How often the protected nodes fire, in expectation (exact mode).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        activity : :class:`~sklearn.utils.Bunch`
            With ``k`` nodes where the amplification applies (those of
            ``protected_nodes_``; every internal node with ``amplified_nodes="all"``):

            - ``tree_index``, ``node_index`` : ndarray of shape (k,), the nodes;
            - ``reach`` : ndarray of shape (n_samples, k), probability that the simulated
              traversal visits the node;
            - ``base_flip_probability`` : (n_samples, k), the heuristic's ``p_n(x)``;
            - ``flip_probability`` : (n_samples, k), ``p'_n(x)`` after amplification;
            - ``amplified`` : bool (n_samples, k), whether the fairness rule applied;
            - ``firing_rate`` : (n_samples,), expected number of amplified flips per
              tree traversal, ``sum_n reach * amplified * p'_n / n_trees``;
            - ``extra_flip_rate`` : (n_samples,), the part of it due to the amplification,
              ``sum_n reach * amplified * (p'_n - p_n) / n_trees``.

            The arrays are dense; with ``amplified_nodes="all"`` pass a few rows only.
        """
        check_is_fitted(self)
        X, X32 = self._validate_X_predict(X)
        rule, unprivileged = self._fairness_for(X)
        nodes = np.flatnonzero(rule.protected)
        recorder = _ProtectedRecorder(X.shape[0], nodes)
        _expected_proba(
            self._forest,
            X32,
            self._flip_model,
            fairness=rule,
            unprivileged=unprivileged,
            prune_tol=float(self.prune_tol),
            recorder=recorder,
        )
        return _protected_summary(self._forest, recorder, nodes, self.n_trees_)


FairTTTSClassifier.__doc__ = (
    FairTTTSClassifier.__doc__.replace("{flip_doc}", _FLIP_DOC)
    .replace("{engine_notes}", _ENGINE_NOTES)
    .replace("{prune_notes}", _PRUNE_NOTES)
)
FairTTTSClassifier.fit.__doc__ = FairTTTSClassifier.fit.__doc__.replace(
    "{sample_weight_doc}", _SAMPLE_WEIGHT_DOC
)


def _scalar_repr(value):
    value = float(value)
    return repr(int(value)) if value.is_integer() else repr(value)


def proba_at_alpha(estimator, X, alpha):
    """Class probabilities of a fitted FairTTTS model under another amplification ``alpha``.

    The model is not refitted or changed: only its fairness rule is evaluated with ``alpha``
    (for :class:`FairnessTradeoffDisplay` and the demo, which sweep ``alpha``).
    """
    return estimator._proba(X, alpha=float(alpha))


# --------------------------------------------------------------------------------------
# protected_decision_path: a recorder for the exact engine (see _ttts._exact._ReachRecorder).
# --------------------------------------------------------------------------------------
class _ProtectedRecorder:
    """Collects reach and flip probabilities at the protected nodes."""

    def __init__(self, n_samples, protected_nodes):
        k = protected_nodes.shape[0]
        self.column = np.full(int(protected_nodes.max(initial=-1)) + 1, -1, dtype=np.intp)
        self.column[protected_nodes] = np.arange(k)
        self.reach_ = np.zeros((n_samples, k))
        self.base_ = np.zeros((n_samples, k))
        self.flip_ = np.zeros((n_samples, k))
        self.amplified_ = np.zeros((n_samples, k), dtype=bool)

    def reach(self, *args):
        pass

    def protected(self, nodes, reach, base, flip, amplified, at):
        cols = self.column[nodes]
        n_chunk = reach.shape[1]
        sl = slice(at, at + n_chunk)
        self.reach_[sl, cols] = reach.T
        self.base_[sl, cols] = np.broadcast_to(base, reach.shape).T
        self.flip_[sl, cols] = flip.T
        self.amplified_[sl, cols] = amplified.T


def _protected_summary(forest, recorder, protected_nodes, n_trees):
    """The Bunch of ``protected_decision_path`` from a filled ``_ProtectedRecorder``."""
    tree_index = forest.tree[protected_nodes]
    node_index = protected_nodes - forest.n_nodes_ptr[tree_index]
    fired = recorder.reach_ * np.where(recorder.amplified_, recorder.flip_, 0.0)
    extra = recorder.reach_ * np.where(recorder.amplified_, recorder.flip_ - recorder.base_, 0.0)
    return Bunch(
        tree_index=tree_index,
        node_index=node_index,
        reach=recorder.reach_,
        base_flip_probability=recorder.base_,
        flip_probability=recorder.flip_,
        amplified=recorder.amplified_,
        firing_rate=fired.sum(axis=1) / n_trees,
        extra_flip_rate=extra.sum(axis=1) / n_trees,
    )
