"""The versions every pickled skultr estimator records, checked when it is loaded.

An estimator pickled by one skultr (or, for the torch estimators, one torch release) and
loaded by another may load without complaint and then compute something else: a grid
search whose candidates run on Dask workers with another skultr, or a model trained on a
cluster and served elsewhere, would give silently different results. So the pickle
records the versions, and loading it under other versions is an
:class:`InconsistentVersionError` naming both. On a Dask cluster that error is raised on
the worker at the estimator's first use (``get_params``, which ``set_params``, ``clone``
and every ``fit`` call) and comes back to the client as the task's error.
:func:`allow_version_mismatch` loads such a pickle anyway, with a warning.

Torch-free: :mod:`skultr.propensity` and the correctors use it without importing torch.
"""

import contextlib
import os
import sys
import threading
import warnings

from skultr.utils._sklearn_compat import validate_params

__all__ = ["InconsistentVersionError", "InconsistentVersionWarning", "allow_version_mismatch"]

_STATE_KEY = "_skultr_versions"
_ENV = "SKULTR_ALLOW_VERSION_MISMATCH"
_PENDING = "_skultr_version_error"
_local = threading.local()


class InconsistentVersionError(ValueError):
    """An estimator is loaded under other skultr or torch versions than it was pickled with.

    Attributes
    ----------
    pickled : dict
        ``{"skultr": ..., "torch": ...}`` of the process that pickled it (``torch`` only for
        estimators that run on torch); empty for a pickle from before versions were recorded.
    loaded : dict
        The same versions in this process.
    """

    def __init__(self, message, *, pickled=None, loaded=None):
        super().__init__(message)
        self.pickled = pickled or {}
        self.loaded = loaded or {}

    def __reduce__(self):  # it travels from a Dask worker to the client
        return type(self), self.args, {"pickled": self.pickled, "loaded": self.loaded}


class InconsistentVersionWarning(UserWarning):
    """An estimator pickled under other versions was loaded inside
    :func:`allow_version_mismatch`."""


@validate_params({}, prefer_skip_nested_validation=True)
@contextlib.contextmanager
def allow_version_mismatch():
    """Load estimators pickled under other skultr or torch versions, with a warning.

    Inside this context (or with the environment variable
    ``SKULTR_ALLOW_VERSION_MISMATCH=1``, for example on the workers of a cluster) a version
    mismatch is an :class:`InconsistentVersionWarning` instead of an
    :class:`InconsistentVersionError`. Use it to read the fitted attributes of an old model
    or to refit it; its predictions are not guaranteed to be those it gave when it was
    pickled.

    Examples
    --------
    >>> import pickle
    >>> from skultr.propensity import PopularityPropensity
    >>> from skultr.utils import allow_version_mismatch
    >>> blob = pickle.dumps(PopularityPropensity().fit([[0, 0], [1, 1]]))
    >>> with allow_version_mismatch():
    ...     model = pickle.loads(blob)
    """
    previous = getattr(_local, "allow", False)
    _local.allow = True
    try:
        yield
    finally:
        _local.allow = previous


def _torch_release():
    """torch's release without its build label: a model from ``2.13.0+cu124`` loads on
    ``2.13.0+cpu``."""
    return sys.modules["torch"].__version__.split("+")[0]


def current_versions(uses_torch):
    """The versions an estimator records (and is checked against) in this process."""
    import skultr

    versions = {"skultr": skultr.__version__}
    if uses_torch:
        versions["torch"] = _torch_release()
    return versions


def _describe(versions):
    if not versions:
        return "a skultr that recorded no version (before 0.1.0)"
    return ", ".join(f"{name} {version}" for name, version in versions.items())


class VersionedPickleMixin:
    """Record the versions in the pickled state; check them when it is loaded.

    Put it before ``BaseEstimator`` in the bases. ``_PICKLE_TORCH_VERSION = True`` on the
    estimators that run on torch also records torch's release.
    """

    _PICKLE_TORCH_VERSION = False

    def __getstate__(self):
        # A copy: on Python >= 3.11 object.__getstate__ returns the live __dict__.
        state = dict(super().__getstate__())
        state[_STATE_KEY] = current_versions(self._PICKLE_TORCH_VERSION)
        return state

    def __setstate__(self, state):
        pickled = state.pop(_STATE_KEY, {})
        loaded = current_versions(self._PICKLE_TORCH_VERSION)
        error = None
        if any(pickled.get(name) != version for name, version in loaded.items()):
            message = (
                f"This {type(self).__name__} was pickled with {_describe(pickled)} and is "
                f"loaded with {_describe(loaded)}. An estimator loaded under other versions "
                "may compute something else than it did (and a search or a model shipped "
                "to workers with other versions would give silently different results). "
                "Install the same versions everywhere; to load it anyway (to read or refit "
                "it), wrap the load in `with skultr.utils.allow_version_mismatch():` or set "
                f"{_ENV}=1."
            )
            error = InconsistentVersionError(message, pickled=pickled, loaded=loaded)
            if getattr(_local, "allow", False) or os.environ.get(_ENV, "") not in ("", "0"):
                warnings.warn(message, InconsistentVersionWarning, stacklevel=2)
                error = None
            elif not _in_dask_worker():
                raise error
        super().__setstate__(state)
        if error is not None:
            # A Dask worker unpickles a task's arguments while it reads the message, where an
            # exception drops the connection instead of failing the task; so the error is
            # raised at the first use (get_params: set_params, clone, every fit), inside the
            # task, and Dask hands it to the client like any error of a task.
            self.__dict__[_PENDING] = error

    def get_params(self, deep=True):
        error = self.__dict__.get(_PENDING)
        if error is not None:
            raise error
        return super().get_params(deep=deep)


def _in_dask_worker():
    """Whether this process runs a ``dask.distributed`` worker (without importing it)."""
    distributed = sys.modules.get("distributed")
    return distributed is not None and bool(getattr(distributed.Worker, "_instances", ()))
