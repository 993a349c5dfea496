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

The exact mode has two engines on the same concatenated ``tree_`` arrays: a numba kernel
(``_kernel``: depth first through each tree, a block of rows at a time, compiled on first
use when numba is installed) and a numpy engine (``_exact``: all trees level by level,
vectorised over nodes and rows; Python loops over depth levels, blocks of nodes within a
level, chunks of samples). ``SKULTR_TTTS_ENGINE`` (``auto``, ``numba``, ``numpy``)
chooses; pruning and the ``decision_path`` recorders always run the numpy engine.

Modules:

- ``_forest``: the compiled forest (all trees' arrays with global node ids) and the
  per-node split statistics;
- ``_boosting``: binary gradient-boosted classifiers compiled into the same forest, with
  one raw-score leaf value per node (``E[F] = b + sum_t E[f_t]``, logit space), missing
  values and float32-exact decisions;
- ``_flip``: the flip model ``p_n(x)`` and the FairTTTS fairness rule ``p'_n(x)``, the
  one place where both are computed;
- ``_exact``: the exact mode (the numpy engine's reach propagation, pruning, the
  ``decision_path`` recorder) and the choice of engine;
- ``_kernel``: the numba kernel of the exact mode, and the ``SKULTR_TTTS_ENGINE`` switch;
- ``_montecarlo``: the Monte-Carlo engine;
- ``_estimators``: the estimator plumbing (``_BaseTTTS``) and ``TTTSClassifier``;
- ``_docs``: docstring fragments shared by TTTSClassifier and FairTTTSClassifier.

FairTTTS-only code (the estimator, the protected-node recorder) is in
``skultr/fairness/_fairttts.py``. This ``__init__`` re-exports what the rest of skultr
imports from ``skultr.fairness._ttts``.
"""

from ._docs import _ENGINE_NOTES, _FLIP_DOC, _PRUNE_NOTES, _SAMPLE_WEIGHT_DOC
from ._estimators import TTTSClassifier, _BaseTTTS, _unwrap
from ._exact import _expected_proba
from ._flip import _make_fairness_rule
from ._forest import _round_down_float32

__all__ = [
    "_ENGINE_NOTES",
    "_FLIP_DOC",
    "_PRUNE_NOTES",
    "_SAMPLE_WEIGHT_DOC",
    "TTTSClassifier",
    "_BaseTTTS",
    "_expected_proba",
    "_make_fairness_rule",
    "_round_down_float32",
    "_unwrap",
]
