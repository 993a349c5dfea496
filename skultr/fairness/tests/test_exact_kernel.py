"""The compiled exact-mode kernel (numba) against the numpy engine, and the engine switch."""

import ast
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

import skultr
from skultr.fairness import FairTTTSClassifier, TTTSClassifier
from skultr.fairness._ttts import _kernel
from skultr.fairness._ttts._kernel import ENGINE_VARIABLE

needs_numba = pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="numba is not installed"
)

# Summation order is the only difference between the engines (float64 leaf sums): the
# reach probabilities are the same float32 numbers.
ATOL = 1e-12


def both_engines(model, X, monkeypatch, **kwargs):
    """predict_proba through the kernel, then through the numpy engine."""
    monkeypatch.setenv(ENGINE_VARIABLE, "numba")
    compiled = model.predict_proba(X, **kwargs)
    monkeypatch.setenv(ENGINE_VARIABLE, "numpy")
    plain = model.predict_proba(X, **kwargs)
    monkeypatch.delenv(ENGINE_VARIABLE)
    return compiled, plain


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, flip_y=0.1, random_state=0
    )
    X[:, 0] = (X[:, 0] > 0).astype(float)  # a binary column to protect
    return X, y


@pytest.fixture(scope="module")
def forests(data):
    X, y = data
    grown = RandomForestClassifier(n_estimators=6, random_state=0).fit(X, y)
    leafy = RandomForestClassifier(n_estimators=6, min_samples_leaf=15, random_state=0)
    leafy.fit(X, y)
    # a forest with single-leaf trees among the others
    stumps = RandomForestClassifier(n_estimators=4, max_depth=5, random_state=1).fit(X, y)
    leaf_only = DecisionTreeClassifier(min_samples_split=10**6).fit(X, y)
    assert leaf_only.tree_.node_count == 1
    stumps.estimators_[1] = leaf_only
    stumps.estimators_[3] = clone(leaf_only).fit(X[:50], y[:50])
    return {"fully grown": grown, "min_samples_leaf=15": leafy, "single-leaf trees": stumps}


@needs_numba
@pytest.mark.parametrize("name", ["fully grown", "min_samples_leaf=15", "single-leaf trees"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"heuristic": "distance"},
        {"heuristic": "distance", "distance_scale": "node_std", "p_max": 0.5},
        {"heuristic": "fixed", "p_max": 0.3},
        {"heuristic": "depth", "depth_rate": 0.1, "p_max": 0.5},
        {"heuristic": "agreement", "p_max": 0.5},  # p = 0 at pure nodes: zero subtrees
        {"heuristic": "confidence", "p_max": 0.5},
    ],
    ids=["distance", "node_std", "fixed", "depth", "agreement", "confidence"],
)
def test_kernel_matches_the_numpy_engine(data, forests, name, kwargs, monkeypatch):
    X, y = data
    model = TTTSClassifier(forests[name], **kwargs).fit(X, y)
    compiled, plain = both_engines(model, X, monkeypatch)
    assert np.abs(compiled - plain).max() <= ATOL
    assert not np.array_equal(compiled, forests[name].predict_proba(X))  # something flips


@needs_numba
@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # the faithful rule: nodes on the protected column, cap 0.5
        {"amplified_nodes": "all", "alpha": 2.0},
        {"amplified_nodes": "all", "flip_cap": 1.0, "heuristic": "fixed", "p_max": 0.4},
        {"amplified_nodes": "all", "heuristic": "agreement", "p_max": 0.5, "alpha": 3.0},
    ],
    ids=["faithful", "all-nodes", "cap-1-fixed", "agreement"],
)
def test_kernel_matches_the_numpy_engine_with_the_fairness_rule(
    data, forests, kwargs, monkeypatch
):
    X, y = data
    model = FairTTTSClassifier(
        forests["fully grown"], protected_attribute=0, unprivileged_value=0, **kwargs
    ).fit(X, y)
    compiled, plain = both_engines(model, X, monkeypatch)
    assert np.abs(compiled - plain).max() <= ATOL
    # and under another alpha, as the trade-off display evaluates it
    monkeypatch.setenv(ENGINE_VARIABLE, "numba")
    compiled = model._proba(X, alpha=5.0)
    monkeypatch.setenv(ENGINE_VARIABLE, "numpy")
    assert np.abs(compiled - model._proba(X, alpha=5.0)).max() <= ATOL


@needs_numba
def test_kernel_multiclass_and_integer_features(monkeypatch):
    X, y = make_classification(
        n_samples=500, n_features=5, n_informative=4, n_redundant=0, n_classes=4, random_state=3
    )
    X_int = np.round(X * 3).astype(np.int64)
    forest = ExtraTreesClassifier(n_estimators=5, random_state=0).fit(X_int, y)
    model = TTTSClassifier(forest, heuristic="distance", p_max=0.4).fit(X_int, y)
    compiled, plain = both_engines(model, X_int, monkeypatch)
    assert compiled.shape == (500, 4)
    assert np.abs(compiled - plain).max() <= ATOL
    np.testing.assert_allclose(compiled.sum(axis=1), 1.0, atol=1e-5)
    # float32 input goes through the same float32 comparisons
    compiled32, plain32 = both_engines(model, X_int.astype(np.float32), monkeypatch)
    np.testing.assert_array_equal(compiled32, compiled)
    np.testing.assert_array_equal(plain32, plain)


@needs_numba
def test_kernel_results_do_not_depend_on_the_row_block(data, forests, monkeypatch):
    # a row's numbers depend on that row only: blocks of 7 rows (a partial last one) and
    # one row at a time give the same bits as the default block
    X, y = data
    model = FairTTTSClassifier(
        forests["fully grown"], protected_attribute=0, unprivileged_value=0
    ).fit(X, y)
    monkeypatch.setenv(ENGINE_VARIABLE, "numba")
    reference = model.predict_proba(X)
    monkeypatch.setattr(_kernel, "_KERNEL_ROWS", 7)
    np.testing.assert_array_equal(model.predict_proba(X), reference)
    np.testing.assert_array_equal(model.predict_proba(X[::-1]), reference[::-1])
    np.testing.assert_array_equal(model.predict_proba(X[5:6]), reference[5:6])


@needs_numba
def test_paths_the_kernel_leaves_to_numpy(data, forests, monkeypatch):
    X, y = data
    model = TTTSClassifier(forests["fully grown"], p_max=0.0).fit(X, y)
    monkeypatch.setenv(ENGINE_VARIABLE, "numba")
    # p_max = 0: the estimator's own predict_proba, bit for bit
    np.testing.assert_array_equal(model.predict_proba(X), forests["fully grown"].predict_proba(X))
    # prune_tol > 0 (chunk-wise pruning) and decision_path run the numpy engine
    pruned = TTTSClassifier(forests["fully grown"], prune_tol=1e-3).fit(X, y)
    compiled, plain = both_engines(pruned, X[:16], monkeypatch, return_bound=True)
    np.testing.assert_array_equal(compiled[0], plain[0])
    np.testing.assert_array_equal(compiled[1], plain[1])
    assert compiled[1].max() > 0


def test_numpy_engine_when_numba_is_missing(data, forests, monkeypatch):
    X, y = data
    model = TTTSClassifier(forests["min_samples_leaf=15"]).fit(X, y)
    monkeypatch.setenv(ENGINE_VARIABLE, "numpy")
    plain = model.predict_proba(X)
    monkeypatch.delenv(ENGINE_VARIABLE)
    monkeypatch.setattr(_kernel, "_compiled", None)
    monkeypatch.setattr(_kernel, "_numba_missing", False)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    assert not _kernel._kernel_available()
    np.testing.assert_array_equal(model.predict_proba(X), plain)
    monkeypatch.setenv(ENGINE_VARIABLE, "numba")
    with pytest.raises(ImportError, match="numba cannot be imported"):
        model.predict_proba(X)
    monkeypatch.setenv(ENGINE_VARIABLE, "fast")
    with pytest.raises(ValueError, match="SKULTR_TTTS_ENGINE='fast' is not one of"):
        model.predict_proba(X)


def test_jit_without_a_writable_cache():
    class FakeNumba:
        @staticmethod
        def njit(**options):
            if options.get("cache"):
                raise RuntimeError("cannot cache function: no locator available")
            return lambda func: ("compiled", func, options)

    assert _kernel._jit(FakeNumba, len) == ("compiled", len, {"nogil": True})


def test_numba_is_imported_inside_functions_only():
    # ``import skultr`` must not import numba: no module imports it at module level (a
    # static check; a fresh interpreter importing skultr costs seconds)
    root = Path(skultr.__file__).parent
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] == "numba" for name in names), path
