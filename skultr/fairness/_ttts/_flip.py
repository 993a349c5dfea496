"""The flip probability ``p_n(x)`` and the FairTTTS fairness rule ``p'_n(x)``.

Both engines (``_exact`` and ``_montecarlo``) compute the probability of leaving the
natural branch through the two functions of this module, and nothing else:

- :func:`_flip_probability`: the heuristic's ``p_n(x)`` (TTTS paper, eq. 2-6);
- :func:`_amplified_flip_probability`: the FairTTTS rule ``p' = min(alpha p, cap)`` for
  unprivileged rows whose natural branch is the less favourable child.

Both take arrays that broadcast against each other, so the exact engine passes a
(nodes x rows) block and the Monte-Carlo engine a flat array of walkers.
"""

from dataclasses import dataclass

import numpy as np

from ._forest import _node_split_statistics

# Guard for the denominators sigma_n + eps (paper eq. 5-6) and max|t| (authors' code).
_EPS = 1e-12


# --------------------------------------------------------------------------------------
# Flip probabilities p_n(x).
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


def _flip_probability(model, nodes, xv):
    """The heuristic's flip probability ``p_n(x)``, in float32.

    ``nodes`` holds global node ids and ``xv`` the split-feature values, in arrays that
    broadcast against each other: (B, 1) ids against (B, rows) values for a block of the
    exact engine, (W,) against (W,) for the walkers of the Monte-Carlo engine. May
    overwrite ``xv``. Returns an array broadcastable to ``xv.shape``: the per-node
    ``p_node[nodes]`` for a constant heuristic, ``xv`` itself otherwise.
    """
    if model.kind == "constant":
        return model.p_node[nodes]
    p = np.subtract(xv, model.center[nodes], out=xv)
    np.abs(p, out=p)
    p *= model.inv_scale[nodes]
    np.subtract(model.p_max, p, out=p)
    np.maximum(p, 0.0, out=p)
    return p


def _never_flips(model):
    """True when ``p_n(x) = 0`` at every node for every ``x``: nothing ever leaves its path.

    The FairTTTS amplification ``min(alpha p, cap)`` keeps ``p = 0`` at 0, so this holds
    for FairTTTS too.
    """
    if model.kind == "constant":
        return not np.any(model.p_node)
    return model.p_max == 0


# --------------------------------------------------------------------------------------
# The FairTTTS rule p'_n(x).
# --------------------------------------------------------------------------------------
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
    forest,
    *,
    protected_index,
    favorable_index,
    alpha,
    cap=0.5,
    all_nodes=False,
    feature=None,
    favorability=None,
):
    """The rule's per-node arrays.

    ``protected_index``: the protected column(s) (an int or an array of ints) in the
    numbering of ``feature`` (default ``forest.feature``; a booster passes the columns of
    X its nodes split on). ``favorability`` (N,): how favourable a node's value is, larger
    is better; default the share of the favourable class, ``value[:, favorable_index]``
    (a booster passes its raw-score node values, negated when the favourable class is
    ``classes_[0]``). The worse child is the less favourable one.
    """
    internal = ~forest.is_leaf
    feature = forest.feature if feature is None else feature
    on_protected = np.isin(feature, np.atleast_1d(protected_index))
    protected = internal if all_nodes else internal & on_protected
    if favorability is None:
        favorability = forest.value[:, favorable_index]
    left, right = forest.children[:, 0], forest.children[:, 1]
    fav_left = np.zeros(forest.n_nodes)
    fav_right = np.zeros(forest.n_nodes)
    fav_left[internal] = favorability[left[internal]]
    fav_right[internal] = favorability[right[internal]]
    return _FairnessRule(
        protected=protected,
        worse_left=fav_left < fav_right,
        has_worse=protected & (fav_left != fav_right),
        alpha=np.float32(alpha),
        cap=np.float32(cap),
    )


def _amplified_flip_probability(rule, nodes, go_left, p, unprivileged):
    """The FairTTTS flip probability ``p'_n(x)`` from the heuristic's ``p = p_n(x)``.

    ``p' = min(alpha p, cap)`` where the rule applies, ``p`` elsewhere: at a node of the
    rule with a worse child, for an unprivileged row whose natural branch (``go_left``)
    is that worse child. ``nodes`` (global ids), ``go_left``, ``p`` and ``unprivileged``
    broadcast against each other, as in :func:`_flip_probability`.

    Returns ``(p', amplified)``, with ``amplified`` the boolean mask of where the rule
    applied.
    """
    amplified = unprivileged & rule.has_worse[nodes] & (go_left == rule.worse_left[nodes])
    return np.where(amplified, np.minimum(rule.alpha * p, rule.cap), p), amplified
