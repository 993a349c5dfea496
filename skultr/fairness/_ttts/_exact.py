"""The exact mode: the expected leaf distribution, by propagating reach probabilities.

``P(root) = 1``, ``P(natural child) = P(n) (1 - p'_n(x))``, ``P(other child) = P(n)
p'_n(x)``. :func:`_expected_proba` runs the numba kernel of :mod:`._kernel` when it is
available and nothing asks for the numpy engine (``prune_tol > 0``, a recorder, or
``SKULTR_TTTS_ENGINE=numpy``); the numpy engine of this module goes level by level over
all trees at once, for a chunk of rows at a time, with the flip probabilities of
:mod:`._flip`.
"""

import numpy as np

from ._flip import _amplified_flip_probability, _flip_probability, _never_flips
from ._kernel import _kernel_available, _kernel_proba

# Elements of one (nodes x rows) block: 2**17 float32 values, 512 KiB per array; large
# enough to amortise numpy's per-call overhead, small enough for the few temporaries of a
# block to stay in cache (tuned on the Adult forests of benchmarks/bench_fairttts.py).
_BLOCK_ELEMENTS = 2**17
# Rows propagated together in exact mode, at most; fewer when the widest depth level of the
# forest would make the two frontier buffers exceed _FRONTIER_ELEMENTS float32 values.
_CHUNK_ROWS = 1024
_FRONTIER_ELEMENTS = 2**24
# Flip probabilities closer than this to 0 or 1 may give a child zero reach.
_P_VANISH = np.float32(2.0**-24)
# Columns (rows of the chunk) read first when looking for frontier nodes to drop.
_HEAD_COLUMNS = 32


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
    returned bitwise. Without pruning or recorder the numba kernel computes the same
    float32 reach probabilities when it is available (see :mod:`._kernel`).

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
    elif recorder is None and prune_tol <= 0 and _kernel_available():
        # the compiled kernel (numba installed, SKULTR_TTTS_ENGINE not "numpy")
        proba = _kernel_proba(forest, X32, model, fairness, unprivileged)
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
            p = _flip_probability(model, blk_nodes[:, None], xv)
            if protected is not None and protected[a:b].any():
                p, rows, base, amplified = _amplify_block(
                    fairness, blk_nodes, go_left, p, unprivileged
                )
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


def _amplify_block(fairness, nodes, go_left, p, unprivileged):
    """The FairTTTS rule on the protected nodes of a block; returns (p, rows, base, amplified).

    ``rows`` are the block's rows (nodes) where the rule applies, ``base`` their
    heuristic ``p`` and ``amplified`` where it was amplified (``None`` when ``rows`` is
    empty). ``p`` may be overwritten.
    """
    rows = np.flatnonzero(fairness.protected[nodes])
    if rows.size == 0:
        return p, rows, None, None
    if p.shape[1] != go_left.shape[1]:  # constant heuristics: materialise the block
        p = np.repeat(p, go_left.shape[1], axis=1)
    base = p[rows]
    p[rows], amplified = _amplified_flip_probability(
        fairness, nodes[rows][:, None], go_left[rows], base, unprivileged[None, :]
    )
    return p, rows, base, amplified


class _ReachRecorder:
    """Collects the reach probability of every visited node (for ``decision_path``).

    A recorder passed to :func:`_expected_proba` receives ``reach(nodes, reach, at)`` for
    every block of visited nodes and ``protected(nodes, reach, base, flip, amplified,
    at)`` for the nodes of a block where the FairTTTS rule applies (``at`` is the first
    row of the chunk); FairTTTS's ``_ProtectedRecorder`` collects the latter.
    """

    def __init__(self):
        self.rows, self.cols, self.vals = [], [], []

    def reach(self, nodes, reach, at):
        node_idx, sample_idx = np.nonzero(reach)
        self.rows.append(sample_idx + at)
        self.cols.append(nodes[node_idx])
        self.vals.append(reach[node_idx, sample_idx])

    def protected(self, *args):
        pass
