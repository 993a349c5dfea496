"""Every public parameter and fitted attribute is documented (issue 12, item 7).

The docstrings are parsed with numpydoc (:class:`numpydoc.docscrape.ClassDoc` and
:class:`~numpydoc.docscrape.FunctionDoc`). Only presence and non-empty descriptions are
checked here, not numpydoc's style rules (summary punctuation and so on):

- each parameter of a public estimator's ``__init__``, and of every public function exported
  in the ``__all__`` of a public subpackage, appears in the Parameters section with a
  description (names documented together, ``a, b : int``, count for each);
- each entry of an estimator's Attributes section has a description;
- each public attribute ending in ``_`` that an estimator has after fitting is listed in its
  Attributes section. Estimators are fitted once each, with the common checks' small
  instances and the data of their family (:mod:`skultr.utils._drop_in`);
- each constructor argument of the other exported classes (click models, displays, result
  objects) is described, in Parameters or, for a result's fields, in Attributes.

Each estimator or function is its own test case, so a failure names it.
"""

import functools
import importlib
import inspect
import warnings

import numpy as np
import pytest

numpydoc_docscrape = pytest.importorskip("numpydoc.docscrape")

from skultr.utils._drop_in import (  # noqa: E402
    ESTIMATORS,
    classification,
    click_log,
    family_of,
    fit_pairs,
    interactions,
    regression,
    small_instance,
)

PUBLIC_SUBPACKAGES = (
    "skultr.metrics",
    "skultr.ranking",
    "skultr.recommendation",
    "skultr.propensity",
    "skultr.datasets",
    "skultr.calibration",
    "skultr.fairness",
    "skultr.utils",
    "skultr.distributed",
)


# ------------------------------------------------------------------------------------------
# Parsing helpers
# ------------------------------------------------------------------------------------------
def _class_doc(cls):
    # show_class_members=False: an empty Attributes section must stay empty, not be filled
    # with the class's properties.
    return numpydoc_docscrape.ClassDoc(cls, config={"show_class_members": False})


def _entries(doc, section):
    """``{name: has a description}`` for a Parameters-like section; ``a, b`` gives two names."""
    found = {}
    for entry in doc[section]:
        described = any(line.strip() for line in entry.desc)
        for name in entry.name.split(","):
            name = name.strip().lstrip("*")
            if name:
                found[name] = found.get(name, False) or described
    return found


def _signature_parameters(obj):
    """Public parameters of a signature (``_private`` keyword arguments are internal)."""
    params = inspect.signature(obj).parameters.values()
    return [p.name for p in params if p.name not in ("self", "cls") and not p.name.startswith("_")]


def _problems(expected, documented, section):
    missing = [name for name in expected if name not in documented]
    empty = [name for name in expected if name in documented and not documented[name]]
    out = []
    if missing:
        out.append(f"not in {section}: {missing}")
    if empty:
        out.append(f"no description in {section}: {empty}")
    return out


def _param(name, obj):
    return pytest.param(name, obj, id=name)


# ------------------------------------------------------------------------------------------
# What is checked
# ------------------------------------------------------------------------------------------
def _public_functions():
    seen = {}
    for module_name in PUBLIC_SUBPACKAGES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and id(obj) not in seen:
                seen[id(obj)] = (f"{module_name}.{name}", obj)
    return sorted(seen.values(), key=lambda item: item[0])


def _public_other_classes():
    """Exported classes that are not estimators (click models, displays, results)."""
    from sklearn.base import BaseEstimator

    seen = {}
    for module_name in PUBLIC_SUBPACKAGES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if (
                inspect.isclass(obj)
                and not issubclass(obj, (BaseEstimator, BaseException))
                and id(obj) not in seen
            ):
                seen[id(obj)] = (f"{module_name}.{name}", obj)
    return sorted(seen.values(), key=lambda item: item[0])


ESTIMATOR_CASES = [_param(name, cls) for name, cls in ESTIMATORS]
FUNCTION_CASES = [_param(name, func) for name, func in _public_functions()]
OTHER_CLASS_CASES = [_param(name, cls) for name, cls in _public_other_classes()]


# ------------------------------------------------------------------------------------------
# Fitting each estimator once, on its family's small data
# ------------------------------------------------------------------------------------------
def _corrector_data():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    y_pred = 0.5 * y + 0.3 * rng.normal(size=200)
    return y_pred, y


def _fit(name, cls):
    est = small_instance(name, cls)
    family = family_of(cls)
    if family in ("click_ranker", "position_propensity"):
        log, _, _ = click_log()
        return est.fit(log.X, log.clicks, qid=log.qid, position=log.position)
    if family in ("recommender", "pair_propensity"):
        return fit_pairs(est, *interactions())
    if family == "tree_postprocessor":
        return est.fit(*classification())
    if family == "corrector":
        return est.fit(*_corrector_data())
    if family == "meta_regressor":
        return est.fit(*regression())
    raise AssertionError(f"{name}: no family in skultr.utils._drop_in, cannot fit it")


@functools.cache
def _fitted_attributes(name, cls):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = _fit(name, cls)
        found = []
        for attr in dir(est):
            if attr.startswith("_") or not attr.endswith("_"):
                continue
            try:
                getattr(est, attr)
            except AttributeError:
                continue
            found.append(attr)
    return found


# ------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, cls", ESTIMATOR_CASES)
def test_estimator_parameters_are_described(name, cls):
    doc = _class_doc(cls)
    problems = _problems(
        _signature_parameters(cls.__init__), _entries(doc, "Parameters"), "Parameters"
    )
    assert not problems, f"{name}: " + "; ".join(problems)


@pytest.mark.parametrize("name, cls", ESTIMATOR_CASES)
def test_estimator_attributes_are_described(name, cls):
    documented = _entries(_class_doc(cls), "Attributes")
    problems = _problems(list(documented), documented, "Attributes")
    undocumented = [attr for attr in _fitted_attributes(name, cls) if attr not in documented]
    if undocumented:
        problems.append(f"fitted but not in Attributes: {undocumented}")
    assert not problems, f"{name}: " + "; ".join(problems)


@pytest.mark.parametrize("name, func", FUNCTION_CASES)
def test_function_parameters_are_described(name, func):
    doc = numpydoc_docscrape.FunctionDoc(func)
    problems = _problems(_signature_parameters(func), _entries(doc, "Parameters"), "Parameters")
    assert not problems, f"{name}: " + "; ".join(problems)


@pytest.mark.parametrize("name, cls", OTHER_CLASS_CASES)
def test_other_class_parameters_are_described(name, cls):
    """Click models, displays and result objects: every constructor argument is described.

    A result object may describe its fields in Attributes rather than Parameters.
    """
    doc = _class_doc(cls)
    attributes, parameters = _entries(doc, "Attributes"), _entries(doc, "Parameters")
    documented = {
        name: attributes.get(name, False) or parameters.get(name, False)
        for name in {**attributes, **parameters}
    }
    problems = _problems(
        _signature_parameters(cls.__init__), documented, "Parameters or Attributes"
    )
    problems += _problems(list(documented), documented, "Parameters or Attributes")
    assert not problems, f"{name}: " + "; ".join(dict.fromkeys(problems))


def test_every_public_object_is_checked():
    """The parametrization is not empty (a broken import would silently check nothing)."""
    assert len(ESTIMATOR_CASES) >= 10
    assert len(FUNCTION_CASES) >= 10
