"""Tree Test Time Simulation (TTTS): the engine shared by TTTS and FairTTTS, and TTTSClassifier.

A fitted scikit-learn tree is traversed with random detours: at an internal node ``n`` with
split feature ``f_n`` and threshold ``t_n`` a sample ``x`` takes its natural branch
(left when ``x_f <= t_n``) with probability ``1 - p_n(x)`` and the other branch with
probability ``p_n(x)``. The flips are independent given ``x``, so the expected leaf
distribution is computed exactly by propagating reach probabilities down the tree:

    P(root) = 1,   P(natural child) = P(n) (1 - p_n(x)),   P(other child) = P(n) p_n(x),
    proba(x) = (1 / T) sum_trees sum_leaves P(leaf) v_leaf,

where ``v_leaf`` is the leaf's class distribution and ``T`` the number of trees. The
Monte-Carlo mode samples ``S`` paths per tree instead and averages their leaves.

Everything is vectorised with numpy over samples and nodes on the ``tree_`` arrays of
the fitted trees: the only Python loops run over depth levels, blocks of nodes within a
level (to keep the working set in cache), chunks of samples, and trees.
"""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, _fit_context, clone
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

__all__ = ["TTTSClassifier"]

SUPPORTED_ESTIMATORS = (DecisionTreeClassifier, RandomForestClassifier, ExtraTreesClassifier)
"""Fitted estimators whose trees the engine can traverse (subclasses included)."""

HEURISTICS = ("fixed", "depth", "agreement", "confidence", "distance")
DISTANCE_SCALES = ("max_threshold", "node_std")

# Guard for the denominators sigma_n + eps (paper eq. 5-6) and max|t| (authors' code).
_EPS = 1e-12
# Elements of one (nodes x rows) block: 2**17 float32 values, 512 KiB per array; large
# enough to amortise numpy's per-call overhead, small enough for the few temporaries of a
# block to stay in cache (tuned on the Adult forests of benchmarks/bench_fairttts.py).
_BLOCK_ELEMENTS = 2**17
# Rows propagated together in exact mode, at most; fewer when the widest depth level of the
# forest would make the two frontier buffers exceed _FRONTIER_ELEMENTS float32 values.
_CHUNK_ROWS = 1024
_FRONTIER_ELEMENTS = 2**24
# Walkers advanced together in Monte-Carlo mode.
_MC_WALKERS = 2**16
# Flip probabilities closer than this to 0 or 1 may give a child zero reach.
_P_VANISH = np.float32(2.0**-24)
# Columns (rows of the chunk) read first when looking for frontier nodes to drop.
_HEAD_COLUMNS = 32


# --------------------------------------------------------------------------------------
# Compiled forest: every tree's ``tree_`` arrays concatenated with global node ids.
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Flip probabilities p_n(x) and the FairTTTS amplification.
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _FlipModel:
    """p_n(x) for one heuristic.

    ``kind == "constant"``: ``p_n(x) = p_node[n]`` (fixed, depth, agreement).
    ``kind == "distance"``: ``p_n(x) = max(p_max - |x_f - center[n]| * inv_scale[n], 0)``
    (distance: center = t_n; confidence: center = mu_n).
    """

    kind: str
    p_max: np.float32
    p_node: np.ndarray | None = None  # float32
    center: np.ndarray | None = None  # float32
    inv_scale: np.ndarray | None = None  # float32


def _flip_model(kind, p_max, **arrays):
    arrays = {key: np.asarray(val, dtype=np.float32) for key, val in arrays.items()}
    return _FlipModel(kind, np.float32(p_max), **arrays)


def _make_flip_model(
    forest,
    *,
    heuristic,
    p_max,
    depth_rate,
    distance_scale,
    trees=None,
    X32=None,
    sample_weight=None,
):
    """Per-node parameters of the flip probability (paper eq. 2-6, code variant for scale)."""
    p_max = float(p_max)
    if heuristic == "fixed":  # eq. 2: p = p_fixed
        return _flip_model("constant", p_max, p_node=np.full(forest.n_nodes, p_max))
    if heuristic == "depth":  # eq. 3: p = min(r d, p_max)
        p_node = np.minimum(depth_rate * forest.depth, p_max)
        return _flip_model("constant", p_max, p_node=p_node)
    if heuristic == "agreement":  # eq. 4: p = min(1 - c_max / n, p_max)
        p_node = np.clip(1.0 - forest.value.max(axis=1), 0.0, p_max)
        return _flip_model("constant", p_max, p_node=p_node)
    if heuristic == "confidence":  # eq. 5: p = max(p_max - |x - mu| / (sigma + eps), 0)
        mean, std = _node_split_statistics(trees, forest, X32, sample_weight)
        return _flip_model("distance", p_max, center=mean, inv_scale=1.0 / (std + _EPS))
    # eq. 6: p = max(p_max - |x - t| / scale, 0)
    if distance_scale == "node_std":
        _, std = _node_split_statistics(trees, forest, X32, sample_weight)
        inv_scale = 1.0 / (std + _EPS)
    else:  # "max_threshold": the authors' code, one scale per tree
        inv_scale = 1.0 / np.maximum(forest.max_abs_threshold, _EPS)[forest.tree]
    return _flip_model("distance", p_max, center=forest.threshold, inv_scale=inv_scale)


@dataclass(frozen=True)
class _FairnessRule:
    """FairTTTS: at protected nodes, p' = min(alpha p, cap) for unprivileged rows whose
    natural branch is the child with the larger share of unfavourable classes."""

    protected: np.ndarray  # (N,) bool, internal node where the rule applies
    worse_left: np.ndarray  # (N,) bool, the left child is the less favourable one
    has_worse: np.ndarray  # (N,) bool, the children's unfavourable shares differ
    alpha: np.float32
    cap: np.float32 = np.float32(0.5)


def _make_fairness_rule(
    forest, *, protected_index, favorable_index, alpha, cap=0.5, all_nodes=False
):
    internal = ~forest.is_leaf
    protected = internal if all_nodes else internal & (forest.feature == protected_index)
    left, right = forest.children[:, 0], forest.children[:, 1]
    unfav_left = np.zeros(forest.n_nodes)
    unfav_right = np.zeros(forest.n_nodes)
    unfav_left[internal] = 1.0 - forest.value[left[internal], favorable_index]
    unfav_right[internal] = 1.0 - forest.value[right[internal], favorable_index]
    return _FairnessRule(
        protected=protected,
        worse_left=unfav_left > unfav_right,
        has_worse=protected & (unfav_left != unfav_right),
        alpha=np.float32(alpha),
        cap=np.float32(cap),
    )


def _block_flip_probability(model, nodes, xv):
    """p_n(x) for a block of nodes; ``xv`` (B, nc) holds the split-feature values.

    May overwrite ``xv``. Returns a float32 array broadcastable to (B, nc).
    """
    if model.kind == "constant":
        return model.p_node[nodes][:, None]
    p = np.subtract(xv, model.center[nodes][:, None], out=xv)
    np.abs(p, out=p)
    p *= model.inv_scale[nodes][:, None]
    np.subtract(model.p_max, p, out=p)
    np.maximum(p, 0.0, out=p)
    return p


def _amplify(fairness, nodes, go_left, p, unprivileged):
    """Apply the FairTTTS rule to the rows of a block; returns (p, rows, base, amplified)."""
    rows = np.flatnonzero(fairness.protected[nodes])
    if rows.size == 0:
        return p, rows, None, None
    if p.shape[1] != go_left.shape[1]:  # constant heuristics: materialise the block
        p = np.repeat(p, go_left.shape[1], axis=1)
    prot_nodes = nodes[rows]
    amplified = (
        unprivileged[None, :]
        & fairness.has_worse[prot_nodes][:, None]
        & (go_left[rows] == fairness.worse_left[prot_nodes][:, None])
    )
    base = p[rows]
    p[rows] = np.where(amplified, np.minimum(fairness.alpha * base, fairness.cap), base)
    return p, rows, base, amplified


# --------------------------------------------------------------------------------------
# Exact expectation.
# --------------------------------------------------------------------------------------
def _never_flips(model):
    """True when ``p_n(x) = 0`` at every node for every ``x``: nothing ever leaves its path.

    The FairTTTS amplification ``min(alpha p, cap)`` keeps ``p = 0`` at 0, so this holds
    for FairTTTS too.
    """
    if model.kind == "constant":
        return not np.any(model.p_node)
    return model.p_max == 0


def _natural_proba(forest, X32):
    """The wrapped estimator's own ``predict_proba``: every row follows its natural path.

    The leaves are added tree by tree in the forest's order and divided by the number of
    trees, as ``ForestClassifier.predict_proba`` does, so the result is bitwise the same.
    """
    n_samples = X32.shape[0]
    proba = np.zeros((n_samples, forest.value.shape[1]))
    chunk = max(1, _FRONTIER_ELEMENTS // (4 * forest.n_trees))  # (trees x rows) node ids
    for start in range(0, n_samples, chunk):
        XT = np.ascontiguousarray(X32[start : start + chunk].T)
        n_chunk = XT.shape[1]
        node = np.repeat(forest.roots[:, None], n_chunk, axis=1)  # (T, n_chunk)
        flat = node.reshape(-1)
        active = np.flatnonzero(~forest.is_leaf[flat])
        while active.size:
            at = flat[active]
            x = XT[forest.feature[at], active % n_chunk]
            side = (x > forest.threshold32[at]).astype(np.intp)  # 0: left, 1: right
            at = forest.children[at, side]
            flat[active] = at
            active = active[~forest.is_leaf[at]]
        out = proba[start : start + chunk]
        for k in range(forest.n_trees):  # same summation order as ForestClassifier
            out += forest.value[node[k]]
    if forest.n_trees > 1:
        proba /= forest.n_trees
    return proba


class _Workspace:
    """Buffers reused across the levels and chunks of one exact-mode call.

    Two frontier buffers alternate between levels (fresh multi-megabyte arrays would be
    page-faulted in again at every level), and the block temporaries are allocated once.
    """

    def __init__(self, frontier_rows, block_rows, n_cols):
        self.frontier = [np.empty((frontier_rows, n_cols), np.float32) for _ in range(2)]
        self.xv = np.empty((block_rows, n_cols), np.float32)
        self.q = np.empty((block_rows, n_cols), np.float32)
        self.go_left = np.empty((block_rows, n_cols), bool)
        self.children = np.empty((2, block_rows, n_cols), np.float32)


def _expected_proba(
    forest,
    X32,
    model,
    *,
    fairness=None,
    unprivileged=None,
    prune_tol=0.0,
    recorder=None,
    return_pruned_mass=False,
):
    """E[proba(x)] over the random traversal, exactly, for every row of ``X32``.

    Level by level, the frontier holds the internal nodes of all trees whose reach
    probability is non-zero for at least one row of the current chunk, with a
    (nodes x rows) float32 matrix of reach probabilities, processed in cache-sized blocks.
    An internal node whose reach is ``<= prune_tol`` for every row of the chunk is not
    expanded (``prune_tol=0``: exact zeros only, which changes nothing); the dropped reach
    mass ``M(x)`` of each row is summed, and with ``prune_tol > 0`` the row is divided by
    ``1 - M(x)`` (see ``_PRUNE_NOTES``); rows with ``M(x) > 1/2`` are computed again
    without pruning. Reach and flip probabilities are float32 (relative error ~1e-6), the
    natural branch is decided exactly as sklearn does, and the leaves are summed in
    float64. When no node can flip (``p = 0``) the estimator's own prediction is
    returned bitwise.

    Returns ``proba`` (n_samples, n_classes), and ``M`` (n_samples,) when
    ``return_pruned_mass``.
    """
    n_samples = X32.shape[0]
    n_trees = forest.n_trees
    n_classes = forest.value.shape[1]
    mass = np.zeros(n_samples)
    if n_samples == 0:
        proba = np.zeros((0, n_classes))
    elif recorder is None and _never_flips(model):
        proba = _natural_proba(forest, X32)
    else:
        proba = np.empty((n_samples, n_classes))
        XT = np.ascontiguousarray(X32.T)  # (n_features, n_samples)
        internal_per_level = np.bincount(forest.depth[~forest.is_leaf], minlength=1)
        widest = max(1, int(internal_per_level.max()))
        chunk = min(n_samples, _CHUNK_ROWS, max(64, _FRONTIER_ELEMENTS // (2 * widest)))
        block = max(1, _BLOCK_ELEMENTS // chunk)
        work = _Workspace(widest, block, chunk)
        value_T = np.ascontiguousarray(forest.value.T)  # (n_classes, n_nodes)
        tol = np.float32(prune_tol)
        for start in range(0, n_samples, chunk):
            stop = min(start + chunk, n_samples)
            total, dropped = _expected_proba_chunk(
                forest,
                value_T,
                np.ascontiguousarray(XT[:, start:stop]),
                model,
                fairness,
                None if unprivileged is None else unprivileged[start:stop],
                tol,
                recorder,
                start,
                work,
            )
            proba[start:stop] = total.T
            mass[start:stop] = dropped
        if n_trees > 1:
            proba /= n_trees
            mass /= n_trees
        redo = np.flatnonzero(mass > 0.5)
        if redo.size and recorder is None:  # too much pruned: renormalising would amplify
            proba[redo] = _expected_proba(
                forest,
                X32[redo],
                model,
                fairness=fairness,
                unprivileged=None if unprivileged is None else unprivileged[redo],
            )
            mass[redo] = 0.0
        pruned = np.flatnonzero(mass > 0.0)
        if prune_tol > 0 and pruned.size:
            proba[pruned] /= (1.0 - mass[pruned])[:, None]
    return (proba, mass) if return_pruned_mass else proba


def _pruning_bound(proba, mass, forest):
    """Entrywise bound on |proba - unpruned proba| (see ``_PRUNE_NOTES``)."""
    if not np.any(mass):
        return np.zeros_like(proba)
    # float32 children conserve their parent's mass to 2**-24 per level
    slack = 2.0**-23 * (int(forest.depth.max()) + 1)
    return mass[:, None] * (np.maximum(proba, 1.0 - proba) + slack)


def _may_vanish(model, fairness):
    """Whether a child can receive zero reach for every row of a chunk.

    ``reach * q`` and ``reach - reach * q`` are positive wherever ``reach`` is when
    ``2**-24 < p < 1 - 2**-24`` (then ``q`` rounds to neither 0 nor 1). That holds at
    every node for a constant heuristic with positive ``p`` and ``p_max <= 0.5``, unless
    the FairTTTS cap lets the amplified ``p`` reach 1. Float32 underflow can still leave
    all-zero rows; they cost time and change nothing.
    """
    if fairness is not None and fairness.cap >= 1 - _P_VANISH:
        return True
    return model.kind != "constant" or bool(np.any(model.p_node <= _P_VANISH))


def _expected_proba_chunk(
    forest, value_T, XcT, model, fairness, unprivileged, tol, recorder, at, work
):
    """Leaf sums (n_classes, n_chunk) and dropped reach mass (n_chunk,) of one chunk.

    Both are summed over the trees (not yet divided by their number).
    """
    n_chunk = XcT.shape[1]
    total = np.zeros((forest.value.shape[1], n_chunk))
    dropped = np.zeros(n_chunk)
    root_leaf = forest.is_leaf[forest.roots]
    if root_leaf.any():  # single-leaf trees: reach 1 at the root
        leaves = forest.roots[root_leaf]
        ones = np.ones((leaves.shape[0], n_chunk), np.float32)
        total += value_T[:, leaves] @ ones.astype(np.float64)
        if recorder is not None:
            recorder.reach(leaves, ones, at)
    nodes = forest.roots[~root_leaf]
    flip = 0
    reach = work.frontier[flip][: nodes.shape[0], :n_chunk]
    reach[...] = 1.0
    block = work.xv.shape[0]
    # Internal nodes whose reach is <= tol for every row are not expanded. With tol > 0
    # (or for the recorder) each block's internal children are checked while in cache.
    # With tol = 0 the only such nodes are exact zeros, whose subtrees add nothing: they
    # are looked for at the start of each level, and only when they can occur.
    check_children = tol > 0 or recorder is not None
    check_frontier = not check_children and _may_vanish(model, fairness)
    while nodes.size:
        if check_frontier:
            # a row whose first columns are non-zero is alive; only the others are read
            alive = reach[:, :_HEAD_COLUMNS].max(axis=1) > 0
            unsure = np.flatnonzero(~alive)
            if unsure.size:
                alive[unsure] = reach[unsure].max(axis=1) > 0
            if not alive.all():
                live = np.flatnonzero(alive)
                nodes = nodes[live]
                reach[: live.shape[0]] = reach[live]
                reach = reach[: live.shape[0]]
                if not nodes.size:
                    break
        m = nodes.shape[0]
        children = forest.children[nodes]  # (m, 2)
        child_leaf = forest.is_leaf[children]  # (m, 2)
        protected = None if fairness is None else fairness.protected[nodes]
        next_reach = work.frontier[1 - flip]
        next_nodes = []
        n_next = 0
        for a in range(0, m, block):
            b = min(a + block, m)
            nb = b - a
            blk_nodes = nodes[a:b]
            blk_reach = reach[a:b]
            if recorder is not None:
                recorder.reach(blk_nodes, blk_reach, at)
            xv = np.take(
                XcT, forest.feature[blk_nodes], axis=0, out=work.xv[:nb, :n_chunk], mode="clip"
            )
            # natural branch: x_f <= t_n, decided exactly (threshold32 rounds t_n down)
            go_left = np.less_equal(
                xv, forest.threshold32[blk_nodes][:, None], out=work.go_left[:nb, :n_chunk]
            )
            p = _block_flip_probability(model, blk_nodes, xv)
            if protected is not None and protected[a:b].any():
                p, rows, base, amplified = _amplify(fairness, blk_nodes, go_left, p, unprivileged)
                if recorder is not None:
                    recorder.protected(
                        blk_nodes[rows], blk_reach[rows], base, p[rows], amplified, at
                    )
            # probability of the left branch: 1 - p if natural is left, p otherwise
            q_left = np.subtract(go_left, p, out=work.q[:nb, :n_chunk], dtype=np.float32)
            np.abs(q_left, out=q_left)
            split = work.children[:, :nb, :n_chunk]
            np.multiply(blk_reach, q_left, out=split[0])
            np.subtract(blk_reach, split[0], out=split[1])
            for side in (0, 1):
                child_reach = split[side]
                kids = children[a:b, side]
                is_leaf = child_leaf[a:b, side]
                leaf_rows = np.flatnonzero(is_leaf)
                if leaf_rows.size:  # leaves are never pruned: they cost no further work
                    leaf_reach = child_reach[leaf_rows]
                    leaves = kids[leaf_rows]
                    total += value_T[:, leaves] @ leaf_reach.astype(np.float64)
                    if recorder is not None:
                        recorder.reach(leaves, leaf_reach, at)
                inner_rows = np.flatnonzero(~is_leaf)
                if check_children and inner_rows.size:
                    keep = child_reach[inner_rows].max(axis=1) > tol
                    if not keep.all():
                        if tol > 0:
                            gone = inner_rows[~keep]
                            dropped += child_reach[gone].sum(axis=0, dtype=np.float64)
                        inner_rows = inner_rows[keep]
                k = inner_rows.shape[0]
                if k:
                    np.take(
                        child_reach,
                        inner_rows,
                        axis=0,
                        out=next_reach[n_next : n_next + k, :n_chunk],
                        mode="clip",  # the default mode buffers ``out``
                    )
                    next_nodes.append(kids[inner_rows])
                    n_next += k
        nodes = np.concatenate(next_nodes) if next_nodes else nodes[:0]
        flip = 1 - flip
        reach = next_reach[:n_next, :n_chunk]
    return total, dropped


# --------------------------------------------------------------------------------------
# Monte-Carlo simulation.
# --------------------------------------------------------------------------------------
def _simulated_proba(forest, X32, model, *, fairness=None, unprivileged=None, n_simulations, rng):
    """Average leaf distribution over ``n_simulations`` random paths per tree and row.

    All paths of a chunk of rows through all trees advance together, one vectorised step
    per depth level; a path leaves the working set when it reaches a leaf.
    """
    n_samples, n_features = X32.shape
    n_trees = forest.n_trees
    n_classes = forest.value.shape[1]
    proba = np.zeros((n_samples, n_classes))
    if n_samples == 0:
        return proba
    paths_per_row = n_trees * n_simulations
    chunk = max(1, _MC_WALKERS // paths_per_row)
    for start in range(0, n_samples, chunk):
        stop = min(start + chunk, n_samples)
        n_chunk = stop - start
        flat_x = X32[start:stop].ravel()
        node = np.tile(np.repeat(forest.roots, n_simulations), n_chunk)
        row = np.repeat(np.arange(n_chunk), paths_per_row)
        unpriv = None if unprivileged is None else unprivileged[start:stop]
        sums = np.zeros((n_classes, n_chunk))
        while True:
            at_leaf = forest.is_leaf[node]
            if at_leaf.any():
                leaf_nodes, leaf_rows = node[at_leaf], row[at_leaf]
                for c in range(n_classes):
                    sums[c] += np.bincount(
                        leaf_rows, weights=forest.value[leaf_nodes, c], minlength=n_chunk
                    )
                inside = ~at_leaf
                node, row = node[inside], row[inside]
            if node.size == 0:
                break
            xv = flat_x[row * n_features + forest.feature[node]]
            go_left = xv <= forest.threshold32[node]
            if model.kind == "constant":
                p = model.p_node[node]
            else:
                p = np.abs(xv - model.center[node])
                p *= model.inv_scale[node]
                np.subtract(model.p_max, p, out=p)
                np.maximum(p, 0.0, out=p)
            if fairness is not None:
                amplified = (
                    fairness.has_worse[node] & unpriv[row] & (go_left == fairness.worse_left[node])
                )
                p = np.where(amplified, np.minimum(fairness.alpha * p, fairness.cap), p)
            go_left ^= rng.random(node.shape[0], dtype=np.float32) < p
            node = np.where(go_left, forest.children[node, 0], forest.children[node, 1])
        proba[start:stop] = sums.T / paths_per_row
    return proba


def _mc_generator(random_state):
    """A numpy Generator seeded from an sklearn-style ``random_state``."""
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------
# Introspection recorders.
# --------------------------------------------------------------------------------------
class _ReachRecorder:
    """Collects the reach probability of every visited node (for ``decision_path``)."""

    def __init__(self):
        self.rows, self.cols, self.vals = [], [], []

    def reach(self, nodes, reach, at):
        node_idx, sample_idx = np.nonzero(reach)
        self.rows.append(sample_idx + at)
        self.cols.append(nodes[node_idx])
        self.vals.append(reach[node_idx, sample_idx])

    def protected(self, *args):
        pass


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


# --------------------------------------------------------------------------------------
# Estimator plumbing shared by TTTSClassifier and FairTTTSClassifier.
# --------------------------------------------------------------------------------------
def _supported_names():
    return ", ".join(cls.__name__ for cls in SUPPORTED_ESTIMATORS)


def _unwrap(estimator):
    return estimator.estimator if isinstance(estimator, FrozenEstimator) else estimator


def _check_supported(estimator):
    inner = _unwrap(estimator)
    if not isinstance(inner, SUPPORTED_ESTIMATORS):
        raise TypeError(
            f"estimator must be one of {_supported_names()} (fitted or not, optionally "
            f"wrapped in FrozenEstimator); got {type(inner).__name__}."
        )
    return inner


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


def _tree_list(inner):
    return [inner] if isinstance(inner, DecisionTreeClassifier) else list(inner.estimators_)


_SAMPLE_WEIGHT_DOC = """sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows. Passed to the ``fit`` of an unfitted
            ``estimator`` trained here, and used by the per-node feature statistics
            (``heuristic="confidence"``, ``distance_scale="node_std"``), where an integer
            weight counts as that many copies of the row. A fitted or frozen estimator
            keeps the weights it was trained with. With metadata routing enabled, request
            it with ``set_fit_request(sample_weight=True)``."""


class _BaseTTTS(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
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
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

    # -- fitting ----------------------------------------------------------------------
    def _fit_base(self, X, y, sample_weight=None):
        """Validate, obtain the fitted trees and compile them. Returns float32 X."""
        _check_supported(self.estimator)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
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
            fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
            self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
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
        trees = _tree_list(inner)
        self.n_trees_ = len(trees)
        self._forest = _compile_forest(trees)
        X32 = np.asarray(X, dtype=np.float32)
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

    # -- prediction -------------------------------------------------------------------
    def _validate_X_predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return X, np.asarray(X, dtype=np.float32)

    def _fairness_for(self, X, alpha=None):
        """(rule, unprivileged mask) for FairTTTS; (None, None) for plain TTTS."""
        return None, None

    def _proba(self, X, *, alpha=None, method=None, return_bound=False):
        X, X32 = self._validate_X_predict(X)
        fairness, unprivileged = self._fairness_for(X, alpha)
        method = self.method if method is None else method
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


_FLIP_DOC = """
    heuristic : {"distance", "fixed", "depth", "agreement", "confidence"}, default="distance"
        How the flip probability ``p_n(x)`` of internal node ``n`` is computed (TTTS paper,
        eq. 2-6): ``"fixed"``: ``p = p_max``; ``"depth"``: ``p = min(depth_rate * d_n,
        p_max)`` with the root at depth 0; ``"agreement"``: ``p = min(1 - c_max / n_n,
        p_max)`` from the class distribution at the node; ``"confidence"``: ``p = max(p_max
        - |x_f - mu_n| / (sigma_n + eps), 0)``; ``"distance"``: ``p = max(p_max - |x_f -
        t_n| / s_n, 0)`` with the scale ``s_n`` set by ``distance_scale``.

    p_max : float in [0, 0.5], default=0.1
        Largest base flip probability. ``p_max=0`` reproduces the wrapped estimator.

    depth_rate : float >= 0, default=0.05
        Increase of ``p`` per level for ``heuristic="depth"``.

    distance_scale : {"max_threshold", "node_std"}, default="max_threshold"
        Scale ``s_n`` of the distance heuristic. ``"max_threshold"``: the largest ``|t|``
        over the internal nodes of the tree (the authors' code); ``"node_std"``: the
        standard deviation ``sigma_n + eps`` of the split feature over the rows given to
        ``fit`` that reach the node (TTTS paper, eq. 6). See Notes.

    method : {"exact", "monte_carlo"}, default="exact"
        ``"exact"`` propagates reach probabilities and returns the expectation over the
        random traversal (deterministic); ``"monte_carlo"`` samples ``n_simulations``
        paths per tree and row, as in the papers.

    n_simulations : int >= 1, default=100
        Paths per tree and row in Monte-Carlo mode (the paper's ``S``).

    prune_tol : float in [0, 1), default=0.0
        Exact mode only: an internal node whose reach probability is ``<= prune_tol``
        for every row of a chunk (the rows predicted together, up to 1024) is not
        expanded; its reach mass is dropped and each row is renormalised, which moves
        every class probability by at most the row's pruned mass ``M(x)`` times
        ``max(p, 1 - p)`` (see Notes; ``predict_proba(X, return_bound=True)`` returns
        the bound). ``0`` skips exact zeros only and changes nothing.

    random_state : int, RandomState instance or None, default=None
        Seeds the Monte-Carlo paths; every call of ``predict_proba`` with an int seed
        draws the same paths.
"""


_PRUNE_NOTES = """Pruning (``prune_tol = tau > 0``, exact mode). An internal node ``s`` whose reach
    ``P(s)`` is ``<= tau`` for every row of a chunk is not expanded. Let ``S_k(x)`` be
    the unexpanded nodes of tree ``k`` (their subtrees are disjoint) and

    .. math::

        M(x) = \\frac{1}{T} \\sum_{k=1}^{T} \\sum_{s \\in S_k(x)} P(s)
        \\le \\tau \\, \\frac{1}{T} \\sum_{k=1}^{T} |S_k(x)|

    the pruned mass of row ``x``. The unpruned prediction splits as
    ``p_hat_y = A_y + B_y``: ``A_y`` from the leaves still reached, ``B_y`` from the
    skipped subtrees, with ``0 <= B_y <= M(x)``. The pruned prediction is renormalised,
    ``p_tilde_y = A_y / (1 - M(x))`` (a distribution again), so

    .. math::

        \\hat p_y - \\tilde p_y = B_y - M(x)\\, \\tilde p_y
        \\in \\bigl[-M(x)\\, \\tilde p_y,\\ M(x)\\, (1 - \\tilde p_y)\\bigr],
        \\qquad
        |\\hat p_y - \\tilde p_y| \\le M(x) \\max(\\tilde p_y, 1 - \\tilde p_y)
        \\le M(x).

    Dropping the mass without renormalising, or sending it down the natural path,
    guarantees only ``M(x)``; renormalising halves that bound where it matters, at
    probabilities near 1/2. ``predict_proba(X, return_bound=True)`` returns the bound,
    plus ``2**-23 (D + 1) M(x)`` for float32 rounding of the reach probabilities (``D``
    the depth of the deepest tree). The pruned set depends on the rows predicted together;
    the bound holds for each row whatever they are. With the default distance
    heuristic ``p`` is close to ``p_max`` at almost every node, so the reach mass is
    spread over many paths and pruning buys little time for a small ``M`` (see the
    benchmarks page); it pays off when ``p`` is small or zero at many nodes."""


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
    exact mode evaluates this sum level by level (touching every node of non-zero reach
    probability); the Monte-Carlo mode estimates it with ``S = n_simulations`` paths per
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


TTTSClassifier.__doc__ = TTTSClassifier.__doc__.replace("{flip_doc}", _FLIP_DOC).replace(
    "{prune_notes}", _PRUNE_NOTES
)
TTTSClassifier.fit.__doc__ = TTTSClassifier.fit.__doc__.replace(
    "{sample_weight_doc}", _SAMPLE_WEIGHT_DOC
)


def _protected_summary(forest, recorder, protected_nodes, n_trees):
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
