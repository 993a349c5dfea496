"""Gradient-boosted trees for the TTTS engines: the raw score, in logit space.

A binary boosted classifier predicts ``sigmoid(F(x))`` with the raw score

    F(x) = b(x) + sum_{t=1}^{T} f_t(x),

``b`` the initial raw prediction (a constant log-odds, or ``init_``'s for a
``GradientBoostingClassifier`` with a custom ``init``) and ``f_t`` the ``t``-th tree's leaf
value, the learning rate included (``HistGradientBoostingClassifier`` stores shrunk leaf
values; for ``GradientBoostingClassifier`` the regression tree's value is multiplied by
``learning_rate`` here). Each tree is traversed with its own independent flips, so

    E[F(x)] = b(x) + sum_t E[f_t(x)] = b(x) + sum_t sum_{leaves l of t} P(l) v_l,

which is the TTTS engines' forest sum with a one-column leaf value ``v_l`` in place of a
class distribution: :func:`_compile_booster` produces the same compiled forest as
:func:`._forest._compile_forest`, and the numpy engine, the numba kernel and the
Monte-Carlo engine run on it unchanged.

Node values. An internal node's value is the training-count weighted mean of the leaf
values below it (the raw-score analogue of a classifier node's class distribution); the
FairTTTS rule compares the two children's values to find the less favourable one.

Missing values (``HistGradientBoostingClassifier``). A node sends NaN to the child named
by ``missing_go_to_left``. The engines decide ``x <= t`` in float32 and read one column
per node, so the features of nodes that send NaN left are appended to ``X`` as copies
with NaN replaced by ``-inf`` (always left) and those nodes read the copy; the other
nodes read the original column with NaN replaced by ``+inf`` (always right; a node whose
threshold is ``+inf``, "missing values right, the rest left", gets the largest float32).
A missing value is at infinite distance from every threshold, so the distance heuristics
never flip it; constant heuristics flip it like any other value.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier

from ._forest import _node_depths, _round_down_float32

SUPPORTED_BOOSTERS = (HistGradientBoostingClassifier, GradientBoostingClassifier)
"""Binary gradient-boosted classifiers whose trees the engines can traverse."""

_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class _Booster:
    """What turns the engines' mean leaf value into the expected raw score."""

    model: object  # the fitted booster (for a non-constant initial prediction)
    baseline: float | None  # b when constant, None when init_ depends on x
    source_feature: np.ndarray  # (N,) feature of X each node splits on (before remapping)
    missing_left: np.ndarray  # (m,) features appended as NaN -> -inf copies, in order
    thresholds: dict  # feature -> sorted unique finite thresholds (float64) splitting it

    def engine_input(self, X):
        """Float32 X with NaN -> +inf, and the NaN -> -inf copies of ``missing_left``."""
        X32 = _exact_float32(X, self.thresholds)
        missing = np.isnan(X32)
        if not missing.any():
            return (
                X32 if not self.missing_left.size else np.hstack([X32, X32[:, self.missing_left]])
            )
        right = np.where(missing, np.float32(np.inf), X32)
        left = np.where(
            missing[:, self.missing_left], np.float32(-np.inf), X32[:, self.missing_left]
        )
        return np.hstack([right, left]).astype(np.float32, copy=False)

    def raw_score(self, mean_value, n_trees, get_X):
        """``b(x) + T * mean``: the engines return the leaf value averaged over the trees.

        ``get_X()`` gives the model's input X, asked for only when ``b`` depends on ``x``.
        """
        raw = mean_value[:, 0] * n_trees
        if self.baseline is not None:
            return raw + self.baseline
        X = np.asarray(get_X(), dtype=np.float32)
        return raw + self.model._raw_predict_init(X)[:, 0]


def _exact_float32(X, thresholds):
    """Float32 values on the same side of every threshold as the float64 ``X``.

    The engines decide ``x32 <= round_down(t)``; ``x32 = round_down(x)`` keeps every
    ``x <= t`` decision, but ``x > t`` is lost when ``x`` and ``t`` round down to the same
    float32 (a histogram booster's thresholds are often data values). Such a value is
    moved up to the next float32 above ``round_down(t)``, which changes it by at most one
    float32 spacing (two thresholds that close cannot be told apart in float32 anyway).
    """
    X = np.asarray(X, dtype=np.float64)
    X32 = _round_down_float32(X)
    for f, t in thresholds.items():
        x = X[:, f]
        below = np.searchsorted(t, x, side="left") - 1  # largest threshold < x
        has = (below >= 0) & ~np.isnan(x)
        t32 = _round_down_float32(t[below[has]])
        rows = np.flatnonzero(has)
        tie = X32[rows, f] <= t32
        X32[rows[tie], f] = np.nextafter(t32[tie], np.float32(np.inf))
    return X32


def _is_booster(model):
    return isinstance(model, SUPPORTED_BOOSTERS)


def _check_binary_booster(model):
    n_classes = len(getattr(model, "classes_", ()))
    if n_classes > 2:
        raise TypeError(
            f"{type(model).__name__} is supported for binary classification only; the fitted "
            f"model has {n_classes} classes."
        )


def _subtree_means(value, count, left, right, leaf):
    """Count-weighted mean of the leaf values below every node (leaves keep their own)."""
    value = value.astype(np.float64).copy()
    count = count.astype(np.float64).copy()
    depth = _node_depths(np.where(leaf, -1, left), np.where(leaf, -1, right))
    for level in range(int(depth.max()) - 1, -1, -1):
        nodes = np.flatnonzero((depth == level) & ~leaf)
        lc, rc = left[nodes], right[nodes]
        total = count[lc] + count[rc]
        safe = np.where(total > 0, total, 1.0)
        mean = (count[lc] * value[lc] + count[rc] * value[rc]) / safe
        value[nodes] = np.where(total > 0, mean, 0.5 * (value[lc] + value[rc]))
        count[nodes] = total
    return value


def _tree_arrays(model):
    """Per tree: (feature, threshold, left, right, leaf, value, count, missing_left)."""
    if isinstance(model, HistGradientBoostingClassifier):
        for predictors in model._predictors:
            nodes = predictors[0].nodes
            leaf = nodes["is_leaf"].astype(bool)
            if np.any(nodes["is_categorical"][~leaf]):
                raise ValueError(
                    "HistGradientBoostingClassifier with categorical splits is not supported "
                    "by TTTS (a split on a category set has no threshold to flip around); "
                    "encode the categorical features numerically (e.g. OrdinalEncoder in a "
                    "Pipeline, with categorical_features=None)."
                )
            yield (
                nodes["feature_idx"].astype(np.intp),
                nodes["num_threshold"].astype(np.float64),
                nodes["left"].astype(np.intp),
                nodes["right"].astype(np.intp),
                leaf,
                nodes["value"],
                nodes["count"],
                nodes["missing_go_to_left"].astype(bool) & ~leaf,
            )
    else:  # GradientBoostingClassifier: regression trees on the raw score
        for est in model.estimators_[:, 0]:
            tree = est.tree_
            left = tree.children_left.astype(np.intp)
            leaf = left < 0
            missing = getattr(tree, "missing_go_to_left", None)
            missing_left = np.zeros(left.shape[0], bool)
            if missing is not None:
                missing_left = np.asarray(missing).astype(bool) & ~leaf
            yield (
                tree.feature.astype(np.intp),
                tree.threshold.astype(np.float64),
                left,
                tree.children_right.astype(np.intp),
                leaf,
                tree.value[:, 0, 0] * model.learning_rate,
                tree.weighted_n_node_samples,
                missing_left,
            )


def _compile_booster(model, n_features):
    """The compiled forest of a fitted binary booster and its ``_Booster`` description."""
    from ._forest import _CompiledForest

    _check_binary_booster(model)
    parts = {key: [] for key in ("feature", "source", "threshold", "children", "value", "tree")}
    depths, sizes, max_thr, missing_cols = [], [], [], {}
    offset = 0
    for k, (feature, threshold, left, right, leaf, value, count, miss) in enumerate(
        _tree_arrays(model)
    ):
        n = leaf.shape[0]
        source = np.where(leaf, 0, feature)
        read = source.copy()
        for f in np.unique(source[miss]):
            missing_cols.setdefault(int(f), n_features + len(missing_cols))
        if miss.any():
            read[miss] = [missing_cols[int(f)] for f in source[miss]]
        threshold = np.where(leaf, 0.0, threshold)
        finite = np.isfinite(threshold)
        max_thr.append(np.abs(threshold[~leaf & finite]).max(initial=0.0))
        threshold = np.where(finite, threshold, np.sign(threshold) * _FLOAT32_MAX)
        pair = np.stack([left, right], axis=1) + offset
        pair[leaf] = -1
        parts["feature"].append(read)
        parts["source"].append(source)
        parts["threshold"].append(threshold)
        parts["children"].append(pair)
        parts["value"].append(_subtree_means(value, count, left, right, leaf))
        parts["tree"].append(np.full(n, k, dtype=np.intp))
        depths.append(_node_depths(np.where(leaf, -1, left), np.where(leaf, -1, right)))
        sizes.append(n)
        offset += n
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
    children = np.concatenate(parts["children"])
    threshold = np.concatenate(parts["threshold"])
    forest = _CompiledForest(
        feature=np.concatenate(parts["feature"]),
        threshold=threshold,
        threshold32=_round_down_float32(threshold),
        children=children,
        is_leaf=children[:, 0] < 0,
        value=np.concatenate(parts["value"])[:, None],
        tree=np.concatenate(parts["tree"]),
        depth=np.concatenate(depths),
        roots=ptr[:-1].copy(),
        n_nodes_ptr=ptr,
        max_abs_threshold=np.asarray(max_thr, dtype=np.float64),
    )
    source = np.concatenate(parts["source"])
    booster = _Booster(
        model=model,
        baseline=_constant_baseline(model),
        source_feature=source,
        missing_left=np.array(sorted(missing_cols, key=missing_cols.get), dtype=np.intp),
        thresholds=_feature_thresholds(forest, source),
    )
    return forest, booster


def _feature_thresholds(forest, source):
    internal = ~forest.is_leaf
    return {
        int(f): np.unique(forest.threshold[internal & (source == f)])
        for f in np.unique(source[internal])
    }


def _constant_baseline(model):
    """The initial raw score ``b`` when it does not depend on ``x`` (else None)."""
    if isinstance(model, HistGradientBoostingClassifier):
        return float(np.ravel(model._baseline_prediction)[0])
    init = model.init_
    if isinstance(init, str):  # "zero"
        return 0.0
    from sklearn.dummy import DummyClassifier

    if isinstance(init, DummyClassifier):
        return float(model._raw_predict_init(np.zeros((1, model.n_features_in_)))[0, 0])
    return None
