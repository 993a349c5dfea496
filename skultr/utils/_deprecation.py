"""Renamed parameters: one deprecation cycle, one message, one place that resolves them.

A parameter that gets a new name keeps its old name for two minor releases. The old name is
a keyword whose default is the string ``"deprecated"`` (for an estimator's ``__init__``:
listed in ``_parameter_constraints`` as ``Hidden(StrOptions({"deprecated"}))`` next to its
real constraint). ``fit`` or the function body asks :func:`resolve_renamed` (estimators) or
:func:`resolve_renamed_value` (functions, ``fit`` keywords) for the value to use: the new
one, or the old one with a :class:`FutureWarning` when the old name was given. Estimators
resolve into a local value and never write to their parameters.
"""

import inspect
import warnings

import numpy as np

__all__ = [
    "CLIP_HINT",
    "DEPRECATED",
    "clip_to_max_weight",
    "renamed_message",
    "resolve_renamed",
    "resolve_renamed_value",
]

# Default of an old parameter name: "not given".
DEPRECATED = "deprecated"
# The release a rename first ships in and the one that drops the old name (two minors on).
DEPRECATED_IN = "0.1"
REMOVED_IN = "0.3"


def _is_unset(value, unset):
    """Whether the old name kept its "not given" default (a string compares by value)."""
    if isinstance(unset, str):
        return isinstance(value, str) and value == unset
    return value is unset


def _equals_default(value, default):
    """Whether ``value`` is the parameter's default (arrays and estimators: by identity)."""
    if value is default:
        return True
    if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
        return False
    try:
        return type(value) is type(default) and bool(value == default)
    except (TypeError, ValueError):
        return False


def renamed_message(old, new, *, where, hint=""):
    """The warning text of a renamed parameter: both names, and when the old one goes."""
    text = (
        f"{where}: `{old}` was deprecated in {DEPRECATED_IN} and will be removed in "
        f"{REMOVED_IN}; use `{new}` instead."
    )
    return f"{text} {hint}" if hint else text


def resolve_renamed_value(
    old_value,
    new_value,
    *,
    old,
    new,
    new_default,
    where,
    unset=DEPRECATED,
    convert=None,
    hint="",
    stacklevel=3,
):
    """The value to use for ``new`` when its old name ``old`` may have been given.

    Parameters
    ----------
    old_value, new_value : object
        What the caller passed under each name.
    old, new : str
        The two names.
    new_default : object
        Default of the new name: passing both names is an error unless ``new`` kept it.
    where : str
        The estimator or function, for the messages.
    unset : object, default="deprecated"
        The old name's default, meaning "not given" (``None`` for ``fit`` keywords).
    convert : callable or None, default=None
        Maps an old value to the new name's scale (for example ``1 / x``).
    hint : str, default=""
        Appended to the warning (how to convert, for instance).
    stacklevel : int, default=3
        Passed to :func:`warnings.warn`.

    Returns
    -------
    value : object
        ``new_value`` when ``old`` was not given, else ``old_value`` (converted).
    """
    if _is_unset(old_value, unset):
        return new_value
    if not _equals_default(new_value, new_default):
        raise ValueError(f"{where}: got both `{old}` (deprecated) and `{new}`; pass only `{new}`.")
    warnings.warn(
        renamed_message(old, new, where=where, hint=hint), FutureWarning, stacklevel=stacklevel
    )
    return old_value if convert is None else convert(old_value)


def resolve_renamed(estimator, old, new, *, convert=None, hint=""):
    """The value of the estimator parameter ``new``, honouring its deprecated name ``old``.

    Reads both parameters (never writes them), warns with a :class:`FutureWarning` when
    ``old`` was set and raises a ``ValueError`` when both were.

    Parameters
    ----------
    estimator : estimator instance
        Has both parameters; ``old`` defaults to ``"deprecated"``.
    old, new : str
        The deprecated and the new parameter name.
    convert : callable or None, default=None
        Maps an old value to the new name's scale.
    hint : str, default=""
        Appended to the warning.

    Returns
    -------
    value : object
        The value to use for ``new``.
    """
    default = inspect.signature(type(estimator).__init__).parameters[new].default
    return resolve_renamed_value(
        getattr(estimator, old),
        getattr(estimator, new),
        old=old,
        new=new,
        new_default=default,
        where=type(estimator).__name__,
        convert=convert,
        hint=hint,
        stacklevel=4,
    )


# -- clip (a propensity floor) -> max_weight (a cap on the inverse propensity weight) -------
CLIP_HINT = "clip=c is max_weight=1/c (clip=0: max_weight=None)."


def clip_to_max_weight(clip):
    """The weight cap equivalent to the propensity floor ``clip``: ``1 / clip``.

    ``1 / max(θ, c) = min(1 / θ, 1 / c)``, so flooring the propensities at ``c`` is capping
    the weights at ``1 / c``; ``clip=0`` (no floor) is ``None`` (no cap).
    """
    clip = float(clip)
    return None if clip == 0.0 else 1.0 / clip
