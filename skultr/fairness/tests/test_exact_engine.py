"""The exact-mode engine against a plain per-row recursion, and the pruning error bound."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from skultr.datasets import make_biased_classification
from skultr.fairness import FairTTTSClassifier, TTTSClassifier
from skultr.fairness._ttts._kernel import ENGINE_VARIABLE

F32 = np.float32


def reference_proba(model, X):
    """E[proba(x)] by walking each tree for one row at a time (a stack of nodes).

    It repeats the engine's float32 operations on scalars (the same IEEE roundings):
    ``p = max(p_max - |x - t| * s, 0)`` with ``s = 1 / max|t|`` of the tree (the default
    distance heuristic), the FairTTTS amplification ``min(alpha p, cap)``, ``q_left =
    |[x <= t] - p|``, ``left = reach * q_left``, ``right = reach - left``; leaves are
    summed in float64. Slow: small forests only.
    """
    fair = isinstance(model, FairTTTSClassifier)
    X32 = np.asarray(X, dtype=F32)
    proba = np.zeros((X32.shape[0], len(model.classes_)))
    trees = model.estimator_.estimators_
    for tree in trees:
        t = tree.tree_
        inner = t.children_left >= 0
        s = F32(1.0 / max(np.abs(t.threshold[inner]).max(), 1e-12))
        value = t.value[:, 0, :] / t.value[:, 0, :].sum(axis=1, keepdims=True)
        unfav = 1.0 - value[:, 1]  # favourable class 1
        for i, x in enumerate(X32):
            stack = [(0, F32(1.0))]
            while stack:
                node, reach = stack.pop()
                left, right = t.children_left[node], t.children_right[node]
                if left < 0:
                    proba[i] += value[node] * np.float64(reach)
                    continue
                xf = x[t.feature[node]]
                go_left = float(xf) <= t.threshold[node]  # sklearn's comparison
                p = max(F32(model.p_max) - abs(xf - F32(t.threshold[node])) * s, F32(0))
                if fair and t.feature[node] == 0 and x[0] == 0:
                    worse_left = unfav[left] > unfav[right]
                    if unfav[left] != unfav[right] and go_left == worse_left:
                        p = min(F32(model.alpha) * p, F32(model.flip_cap))
                q_left = abs(F32(go_left) - p)
                reach_left = F32(reach * q_left)
                stack += [(left, reach_left), (right, F32(reach - reach_left))]
    return proba / len(trees)


@pytest.fixture(scope="module")
def biased():
    X, y = make_biased_classification(600, random_state=1)
    forest = RandomForestClassifier(n_estimators=4, max_depth=7, random_state=0).fit(X, y)
    return X, y, forest


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("cls", [TTTSClassifier, FairTTTSClassifier])
def test_exact_mode_matches_a_per_row_recursion(biased, cls, engine, monkeypatch):
    # both engines (the compiled depth-first kernel and the level-by-level, all-trees-at-
    # once numpy engine) must give the recursion's numbers to float64 summation order
    # (1e-12), with p_max high enough that every node matters
    if engine == "numba":
        pytest.importorskip("numba")
    monkeypatch.setenv(ENGINE_VARIABLE, engine)
    X, y, forest = biased
    kwargs = {"protected_attribute": 0, "unprivileged_value": 0, "alpha": 4.0}
    model = cls(forest, p_max=0.3, **(kwargs if cls is FairTTTSClassifier else {}))
    model = model.fit(X, y)
    rows = X[:40]
    np.testing.assert_allclose(model.predict_proba(rows), reference_proba(model, rows), atol=1e-12)


def test_prune_tol_zero_is_exact_and_has_a_zero_bound(biased, monkeypatch):
    # pruning runs the numpy engine: compare it with itself at prune_tol=0
    monkeypatch.setenv(ENGINE_VARIABLE, "numpy")
    X, y, forest = biased
    exact = TTTSClassifier(forest, p_max=0.3).fit(X, y)
    proba, bound = exact.predict_proba(X, return_bound=True)
    np.testing.assert_array_equal(proba, exact.predict_proba(X))
    assert not bound.any()
    # a tolerance below every non-zero reach prunes nothing and changes no bit
    tiny = clone(exact).set_params(prune_tol=1e-37).fit(X, y)
    np.testing.assert_array_equal(tiny.predict_proba(X), proba)


@pytest.fixture(scope="module")
def deep_forest():
    X, y = make_classification(
        n_samples=2000, n_features=8, n_informative=6, flip_y=0.2, random_state=0
    )
    X[:, 0] = (X[:, 0] > 0).astype(float)  # a binary column to protect
    forest = RandomForestClassifier(n_estimators=10, min_samples_leaf=2, random_state=0)
    return X, y, forest.fit(X, y)


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (TTTSClassifier, {"heuristic": "fixed", "p_max": 0.1}),
        (TTTSClassifier, {}),
        (FairTTTSClassifier, {"protected_attribute": 0, "unprivileged_value": 0}),
    ],
    ids=["fixed", "distance", "fairttts"],
)
@pytest.mark.parametrize("prune_tol", [1e-3, 1e-2])
def test_pruning_error_is_within_the_returned_bound(deep_forest, cls, kwargs, prune_tol):
    X, y, forest = deep_forest
    rows = X[:64]  # few rows per chunk: many nodes are negligible for all of them
    exact = cls(forest, **kwargs).fit(X, y)
    pruned = clone(exact).set_params(prune_tol=prune_tol).fit(X, y)
    full = exact.predict_proba(rows)
    approx, bound = pruned.predict_proba(rows, return_bound=True)
    error = np.abs(approx - full)
    assert bound.max() > 0  # something was pruned, so the comparison is not vacuous
    assert np.all(error <= bound + 1e-12)
    # renormalised rows are distributions again, and on this forest the pruned mass
    # stays below the tolerance itself
    np.testing.assert_allclose(approx.sum(axis=1), 1.0, atol=1e-5)
    assert bound.max() < prune_tol
    # and pruning skipped work: fewer nodes are visited
    assert pruned.decision_path(rows)[0].nnz < exact.decision_path(rows)[0].nnz


def test_return_bound_needs_the_exact_mode(biased):
    X, y, forest = biased
    mc = TTTSClassifier(forest, method="monte_carlo", n_simulations=2, random_state=0)
    with pytest.raises(ValueError, match="return_bound=True needs method='exact'"):
        mc.fit(X, y).predict_proba(X, return_bound=True)


def test_single_tree_without_flips_is_the_tree():
    # p = 0 takes the natural-path shortcut; a lone tree must not be divided or reordered
    X, y = make_classification(n_samples=200, random_state=0)
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    ttts = TTTSClassifier(tree, heuristic="fixed", p_max=0.0).fit(X, y)
    np.testing.assert_array_equal(ttts.predict_proba(X), tree.predict_proba(X))


def test_rows_with_most_mass_pruned_are_computed_exactly(deep_forest):
    # p = 0.5 everywhere halves the reach at every level: with prune_tol = 0.1 whole
    # trees would be pruned after a few levels; such rows fall back to the exact mode
    X, y, forest = deep_forest
    exact = TTTSClassifier(forest, heuristic="fixed", p_max=0.5).fit(X, y)
    pruned = clone(exact).set_params(prune_tol=0.1).fit(X, y)
    approx, bound = pruned.predict_proba(X[:20], return_bound=True)
    assert np.all(np.isfinite(approx))
    np.testing.assert_allclose(approx, exact.predict_proba(X[:20]), rtol=0, atol=1e-12)
    assert not bound.any()
