"""The compiled forest: every tree's ``tree_`` arrays concatenated with global node ids.

Also the per-node statistics of the split features (``mu_n``, ``sigma_n``) that the
confidence and ``node_std`` distance heuristics need.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _CompiledForest:
    feature: np.ndarray  # (N,) split feature; 0 at leaves so gathers stay in range
    threshold: np.ndarray  # (N,) split threshold t_n; 0 at leaves
    threshold32: np.ndarray  # (N,) largest float32 <= t_n: x32 <= t_n iff x32 <= threshold32
    children: np.ndarray  # (N, 2) global ids of (left, right); -1 at leaves
    is_leaf: np.ndarray  # (N,) bool
    value: np.ndarray  # (N, C) class distribution of the training rows at the node
    tree: np.ndarray  # (N,) index of the tree holding the node
    depth: np.ndarray  # (N,) depth of the node, root = 0
    roots: np.ndarray  # (T,) global id of each root
    n_nodes_ptr: np.ndarray  # (T + 1,) node ids of tree k are n_nodes_ptr[k]:n_nodes_ptr[k+1]
    max_abs_threshold: np.ndarray  # (T,) max |t_n| over the internal nodes of each tree

    @property
    def n_trees(self):
        return self.roots.shape[0]

    @property
    def n_nodes(self):
        return self.feature.shape[0]


def _round_down_float32(values):
    """Largest float32 not above each float64 value.

    sklearn compares float32 features with float64 thresholds; for a float32 ``x``,
    ``x <= t`` holds exactly when ``x <= _round_down_float32(t)``, so the natural branch
    can be decided in float32 without changing a single decision.
    """
    rounded = values.astype(np.float32)
    above = rounded.astype(np.float64) > values
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


def _node_depths(children_left, children_right):
    """Depth of every node of one tree (root = 0), one vectorised step per level."""
    depth = np.zeros(children_left.shape[0], dtype=np.intp)
    frontier = np.array([0], dtype=np.intp)
    level = 0
    while frontier.size:
        depth[frontier] = level
        internal = frontier[children_left[frontier] >= 0]
        frontier = np.concatenate([children_left[internal], children_right[internal]])
        level += 1
    return depth


def _compile_forest(trees):
    """Concatenate the ``tree_`` arrays of fitted single-output classification trees."""
    features, thresholds, children, values, tree_ids, depths, sizes, max_thr = (
        [],
        [],
        [],
        [],
        [],
        [],
        [],
        [],
    )
    offset = 0
    for k, est in enumerate(trees):
        tree = est.tree_
        if tree.n_outputs != 1:
            raise ValueError(
                "TTTS supports single-output classification trees; the estimator's trees "
                f"have n_outputs={tree.n_outputs}."
            )
        left = tree.children_left.astype(np.intp)
        right = tree.children_right.astype(np.intp)
        leaf = left < 0
        features.append(np.where(leaf, 0, tree.feature).astype(np.intp))
        thresholds.append(np.where(leaf, 0.0, tree.threshold))
        pair = np.stack([left, right], axis=1)
        pair[~leaf] += offset
        pair[leaf] = -1
        children.append(pair)
        value = tree.value[:, 0, :].astype(np.float64)
        # Same normalisation as DecisionTreeClassifier.predict_proba, so leaves agree bitwise.
        total = value.sum(axis=1, keepdims=True)
        total[total == 0.0] = 1.0
        values.append(value / total)
        tree_ids.append(np.full(left.shape[0], k, dtype=np.intp))
        depths.append(_node_depths(left, right))
        sizes.append(left.shape[0])
        internal = tree.threshold[~leaf]
        max_thr.append(np.abs(internal).max() if internal.size else 0.0)
        offset += left.shape[0]
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
    children = np.concatenate(children)
    threshold = np.concatenate(thresholds)
    return _CompiledForest(
        feature=np.concatenate(features),
        threshold=threshold,
        threshold32=_round_down_float32(threshold),
        children=children,
        is_leaf=children[:, 0] < 0,
        value=np.concatenate(values),
        tree=np.concatenate(tree_ids),
        depth=np.concatenate(depths),
        roots=ptr[:-1].copy(),
        n_nodes_ptr=ptr,
        max_abs_threshold=np.asarray(max_thr, dtype=np.float64),
    )


def _node_split_statistics(trees, forest, X32, sample_weight=None):
    """Mean and standard deviation of each node's split feature over the rows reaching it.

    These are the ``mu_n`` and ``sigma_n`` of the TTTS paper's confidence (eq. 5) and
    distance (eq. 6) heuristics, computed on the rows given to ``fit``, weighted by
    ``sample_weight`` (an integer weight counts as that many copies of the row). Nodes
    that no row reaches (or only rows of weight 0) get ``mu_n = t_n`` and ``sigma_n = 0``.
    """
    if sample_weight is None:
        sample_weight = np.ones(X32.shape[0])
    mean = forest.threshold.copy()
    std = np.zeros_like(mean)
    for k, est in enumerate(trees):
        start = forest.n_nodes_ptr[k]
        indicator = est.tree_.decision_path(X32)  # CSR (n_samples, n_nodes_k)
        rows = np.repeat(np.arange(X32.shape[0]), np.diff(indicator.indptr))
        nodes = indicator.indices.astype(np.intp)
        feature = forest.feature[start + nodes]
        x = X32[rows, feature].astype(np.float64)
        w = sample_weight[rows]
        n_nodes = est.tree_.node_count
        count = np.bincount(nodes, weights=w, minlength=n_nodes)
        reached = count > 0
        node_mean = np.bincount(nodes, weights=w * x, minlength=n_nodes)
        node_mean[reached] /= count[reached]
        sq = np.bincount(nodes, weights=w * (x - node_mean[nodes]) ** 2, minlength=n_nodes)
        node_std = np.zeros(n_nodes)
        node_std[reached] = np.sqrt(sq[reached] / count[reached])
        internal = ~forest.is_leaf[start : start + n_nodes]
        keep = reached & internal
        mean[start : start + n_nodes][keep] = node_mean[keep]
        std[start : start + n_nodes][keep] = node_std[keep]
    return mean, std
