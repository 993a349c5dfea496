"""Discovery of skultr's public estimators (the registry behind the common tests)."""

import importlib
import inspect
import pkgutil
from operator import itemgetter

from sklearn.base import BaseEstimator

from skultr.utils._sklearn_compat import validate_params

__all__ = ["all_estimators"]

_MODULES_TO_IGNORE = {"tests", "conftest"}


def _public_modules():
    import skultr

    for info in pkgutil.walk_packages(skultr.__path__, prefix="skultr."):
        parts = info.name.split(".")
        if any(part.startswith("_") or part in _MODULES_TO_IGNORE for part in parts[1:]):
            continue
        yield info.name


@validate_params(
    {},
    prefer_skip_nested_validation=True,
)
def all_estimators():
    """List every public estimator class of skultr.

    An estimator is public when a public subpackage exports it in ``__all__``
    (``skultr.ranking.DLARanker``, say) and it derives from
    :class:`sklearn.base.BaseEstimator`. Abstract classes are left out.

    Returns
    -------
    estimators : list of (str, type)
        ``(name, class)`` pairs sorted by name, without duplicates.

    Examples
    --------
    >>> from skultr.utils.discovery import all_estimators
    >>> all(isinstance(name, str) for name, _ in all_estimators())
    True
    """
    found = {}
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseEstimator)
                and not inspect.isabstract(obj)
                and not name.startswith("_")
            ):
                found[name] = obj
    return sorted(found.items(), key=itemgetter(0))
