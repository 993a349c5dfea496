"""scikit-learn's private API is imported in one module only: skultr.utils._sklearn_compat.

A private import is one from a module path with an underscore-led part
(``sklearn.utils._param_validation``) or of an underscore-led name
(``from sklearn.base import _fit_context``).
"""

import ast
from pathlib import Path

import numpy as np
import pytest

import skultr
from skultr.utils import _sklearn_compat as compat

PACKAGE_ROOT = Path(skultr.__file__).parent
COMPAT_MODULE = PACKAGE_ROOT / "utils" / "_sklearn_compat.py"


def _is_private_sklearn(module):
    parts = module.split(".")
    return parts[0] == "sklearn" and any(part.startswith("_") for part in parts[1:])


def private_sklearn_imports(source, filename="<string>"):
    """``(line, text)`` for each import of scikit-learn private API in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_private_sklearn(alias.name):
                    found.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "sklearn":
                continue
            if _is_private_sklearn(node.module):
                names = [alias.name for alias in node.names]
            else:
                names = [alias.name for alias in node.names if alias.name.startswith("_")]
            if names:
                found.append((node.lineno, f"from {node.module} import {', '.join(names)}"))
    return found


@pytest.mark.parametrize(
    ("source", "n_found"),
    [
        ("from sklearn.utils._param_validation import Interval", 1),
        ("from sklearn.base import BaseEstimator, _fit_context", 1),
        ("import sklearn.utils._testing", 1),
        ("def f():\n    from sklearn.metrics._scorer import _Scorer", 1),
        ("from sklearn.base import BaseEstimator, clone", 0),
        ("from sklearn.utils.validation import check_is_fitted", 0),
        ("from ._private import thing", 0),
        ("from skultr.utils._sklearn_compat import _fit_context", 0),
    ],
)
def test_detector(source, n_found):
    assert len(private_sklearn_imports(source)) == n_found


def test_no_private_sklearn_import_outside_the_compat_module():
    offenders = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        if path == COMPAT_MODULE:
            continue
        for line, text in private_sklearn_imports(path.read_text(), filename=str(path)):
            offenders.append(f"{path.relative_to(PACKAGE_ROOT.parent)}:{line}: {text}")
    assert not offenders, (
        "import scikit-learn private API from skultr.utils._sklearn_compat instead:\n"
        + "\n".join(offenders)
    )


def test_compat_module_exports_what_it_lists():
    for name in compat.__all__:
        assert hasattr(compat, name), name


def test_check_sample_weight_rejects_all_zero_weights_on_every_release():
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="non-zero"):
        compat._check_sample_weight(np.zeros(3), X)
    weight = compat._check_sample_weight(np.zeros(3), X, allow_all_zero_weights=True)
    np.testing.assert_array_equal(weight, np.zeros(3))
    with pytest.raises(ValueError, match="sample_weight"):
        compat._check_sample_weight([1.0, -1.0, 1.0], X, ensure_non_negative=True)


def test_column_or_1d_names_the_argument_on_every_release():
    np.testing.assert_array_equal(compat.column_or_1d([[1], [2]]), [1, 2])
    with pytest.warns(compat.DataConversionWarning):
        compat.column_or_1d([[1], [2]], warn=True)
    with pytest.raises(ValueError, match="y_pred should be a 1d array"):
        compat.column_or_1d(np.zeros((2, 2)), input_name="y_pred")
