"""Every public function validates its parameters with ``validate_params``.

The functions are found automatically: each public subpackage's ``__all__`` plus
``skultr.utils.discovery``, so a new public function is checked without editing this file.
"""

import importlib
import inspect
import pkgutil
import re

import pytest

import skultr
from skultr.utils._sklearn_compat import generate_valid_param, make_constraint


def _public_functions():
    modules = ["skultr", "skultr.utils.discovery"]
    modules += [
        f"skultr.{info.name}"
        for info in pkgutil.iter_modules(skultr.__path__)
        if not info.name.startswith("_")  # public subpackages and modules
    ]
    found = {}
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return sorted(found.items())


PUBLIC_FUNCTIONS = _public_functions()
PUBLIC_IDS = [qualified.rsplit(".", 1)[1] for qualified, _ in PUBLIC_FUNCTIONS]


class _WrongType:
    """An object no documented parameter of any public function accepts."""

    def __repr__(self):
        return "<_WrongType>"


def _constraints(func):
    return getattr(func, "_skl_parameter_constraints", None)


def _named_parameters(func):
    """The parameters of ``func`` other than ``*args`` and ``**kwargs``."""
    return [
        p
        for p in inspect.signature(func).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _validated_cases():
    for (_, func), func_id in zip(PUBLIC_FUNCTIONS, PUBLIC_IDS, strict=True):
        for name, constraint in (_constraints(func) or {}).items():
            if constraint != "no_validation":
                yield pytest.param(func, name, id=f"{func_id}-{name}")


def test_public_functions_are_found():
    # a sanity floor, so a broken discovery cannot make the tests below vacuous
    assert len(PUBLIC_FUNCTIONS) >= 30, PUBLIC_IDS


@pytest.mark.parametrize("func", [f for _, f in PUBLIC_FUNCTIONS], ids=PUBLIC_IDS)
def test_public_function_is_decorated(func):
    """``validate_params`` covers every named parameter ("no_validation" must be explicit)."""
    constraints = _constraints(func)
    assert constraints is not None, (
        f"{func.__module__}.{func.__name__} is public but not decorated with "
        "validate_params (import it from skultr.utils._sklearn_compat)"
    )
    names = [p.name for p in _named_parameters(func)]
    missing = sorted(set(names) - set(constraints))
    unknown = sorted(set(constraints) - set(names))
    assert not missing, f"{func.__name__}: parameters without a constraint: {missing}"
    assert not unknown, f"{func.__name__}: constraints for no parameter: {unknown}"


@pytest.mark.parametrize(("func", "param_name"), list(_validated_cases()))
def test_public_function_rejects_a_wrong_type(func, param_name):
    """A wrong-typed value raises a ValueError/TypeError that names the parameter."""
    constraints = _constraints(func)
    kwargs = {}
    for param in _named_parameters(func):
        if param.default is not param.empty or param.name == param_name:
            continue
        # required parameters get a value that passes their first constraint
        constraint = constraints[param.name]
        assert constraint != "no_validation", (
            f"{func.__name__}: required parameter {param.name!r} needs a constraint (its "
            "type at least), so that a wrong type is rejected and this test can call it"
        )
        kwargs[param.name] = generate_valid_param(make_constraint(constraint[0]))
    kwargs[param_name] = _WrongType()
    with pytest.raises((ValueError, TypeError)) as info:
        func(**kwargs)
    message = str(info.value)
    assert re.search(rf"\b{re.escape(param_name)}\b", message), (
        f"{func.__name__}({param_name}=<wrong type>) raised {type(info.value).__name__} "
        f"without naming {param_name!r}: {message}"
    )
