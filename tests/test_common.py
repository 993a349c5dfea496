"""scikit-learn's estimator checks on every public skultr estimator.

Estimators are discovered by :func:`skultr.utils.discovery.all_estimators`; their test
parameters and expected failures live in :mod:`skultr.utils._test_common`.
"""

import importlib

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skultr.utils._test_common import (
    PRIVATE_ESTIMATORS_TO_CHECK,
    construct_instances,
    expected_failed_checks,
)
from skultr.utils.discovery import all_estimators


def _private_estimators():
    for spec in PRIVATE_ESTIMATORS_TO_CHECK:
        module_name, class_name = spec.split(":")
        yield class_name, getattr(importlib.import_module(module_name), class_name)


def _instances():
    for name, cls in [*all_estimators(), *_private_estimators()]:
        yield from construct_instances(name, cls)


INSTANCES = list(_instances())


@parametrize_with_checks(INSTANCES, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_registry_is_consistent():
    """Every registry entry names an estimator that exists, so stale entries fail loudly."""
    from skultr.utils import _test_common

    known = {name for name, _ in all_estimators()} | {
        spec.split(":")[1] for spec in PRIVATE_ESTIMATORS_TO_CHECK
    }
    for registry in (_test_common.TEST_PARAMS, _test_common.EXPECTED_FAILED_CHECKS):
        stale = sorted(set(registry) - known)
        assert not stale, f"registry entries for unknown estimators: {stale}"


@pytest.mark.parametrize("name, cls", all_estimators())
def test_public_estimator_is_exported_from_its_subpackage(name, cls):
    """``skultr.<sub>.Name`` is how users find an estimator; the class must live there."""
    subpackage = cls.__module__.split(".")[1]
    module = importlib.import_module(f"skultr.{subpackage}")
    assert getattr(module, name) is cls
