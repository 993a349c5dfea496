"""The Monte-Carlo engine: ``n_simulations`` random paths per tree and row, as in the papers.

The flip probabilities come from :mod:`._flip`, as in the exact engine.
"""

import numpy as np
from sklearn.utils import check_random_state

from ._flip import _amplified_flip_probability, _flip_probability

# Walkers advanced together.
_MC_WALKERS = 2**16


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
            p = _flip_probability(model, node, xv)  # xv (a gathered copy) is overwritten
            if fairness is not None:
                p, _ = _amplified_flip_probability(fairness, node, go_left, p, unpriv[row])
            go_left ^= rng.random(node.shape[0], dtype=np.float32) < p
            node = np.where(go_left, forest.children[node, 0], forest.children[node, 1])
        proba[start:stop] = sums.T / paths_per_row
    return proba


def _mc_generator(random_state):
    """A numpy Generator seeded from an sklearn-style ``random_state``."""
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.random.default_rng(seed)
