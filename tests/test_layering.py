"""The import layering of skultr's subpackages (issue "One engine, one vocabulary").

- The numpy subpackages import without torch; torch loads only with the neural estimators.
- Every subpackage imports on its own in a fresh interpreter (an import cycle would fail).
- No module imports a private module (``_name``) of another subpackage: what a subpackage
  shares goes through its public ``__init__``, or through the shared private layers
  ``skultr._torch`` (the torch engine) and ``skultr.utils._*`` (helpers).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import skultr

PACKAGE = Path(skultr.__file__).parent
SUBPACKAGES = sorted(
    path.name
    for path in PACKAGE.iterdir()
    if (path / "__init__.py").is_file() and not path.name.startswith("_")
)
# Subpackages whose import must not load torch (the others hold torch estimators).
TORCH_FREE = ["calibration", "datasets", "fairness", "metrics", "propensity", "ranking", "utils"]
# Layers every subpackage may reach into, private modules included.
SHARED_LAYERS = {"_torch", "utils"}
# Test infrastructure that drives the estimators of every subpackage.
EXEMPT = {PACKAGE / "utils" / "_drop_in.py", PACKAGE / "utils" / "_test_common.py"}


def _run(code):
    """Run ``code`` in a fresh interpreter; return its last line of output."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("name", TORCH_FREE)
def test_subpackage_imports_without_torch(name):
    code = f"import sys\nimport skultr.{name}\nprint('torch' in sys.modules)"
    assert _run(code) == "False"


def test_make_click_log_runs_without_torch():
    code = (
        "import sys\n"
        "from skultr.datasets import make_click_log, make_ranking_dataset\n"
        "from skultr.ranking import PositionBasedModel, make_click_scorer\n"
        "X, y, qid = make_ranking_dataset(5, random_state=0)\n"
        "make_click_log(X, y, qid, n_sessions=10, click_model='cascade', random_state=0)\n"
        "print('torch' in sys.modules)"
    )
    assert _run(code) == "False"


def test_rankers_load_torch_on_first_use():
    code = (
        "import sys, skultr.ranking as r\n"
        "assert 'torch' not in sys.modules\n"
        "assert r.DLARanker.__name__ == 'DLARanker' and 'DLARanker' in dir(r)\n"
        "print('torch' in sys.modules)"
    )
    assert _run(code) == "True"


def test_subpackages_are_all_known():
    assert set(TORCH_FREE) <= set(SUBPACKAGES)
    assert "recommendation" in SUBPACKAGES


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_imports_on_its_own(name):
    assert _run(f"import skultr.{name}\nprint('ok')") == "ok"


def _owner(path):
    """The top-level subpackage (``"ranking"``, ``"_torch"``, ...) a file belongs to."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def _imported_modules(tree, path):
    """Absolute dotted names of the modules ``tree`` imports (``from x import y``: x and x.y)."""
    package = ".".join(("skultr",) + path.relative_to(PACKAGE).parent.parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def _private_cross_imports():
    """``path:line imports module`` for each import of another subpackage's private module."""
    reported = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if "tests" in path.relative_to(PACKAGE).parts or path in EXEMPT:
            continue
        owner = _owner(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for lineno, module in _imported_modules(tree, path):
            parts = module.split(".")
            if parts[0] != "skultr" or len(parts) < 3:
                continue
            target = parts[1]
            if target == owner or target in SHARED_LAYERS:
                continue
            private = [part for part in parts[2:-1] if part.startswith("_")]
            # the last part may be a name imported from a module rather than a module
            last = parts[-1]
            if (PACKAGE.joinpath(*parts[1:]).with_suffix(".py")).is_file() or (
                PACKAGE.joinpath(*parts[1:]) / "__init__.py"
            ).is_file():
                private += [last] if last.startswith("_") else []
            if private and (path, lineno) not in reported:
                reported.add((path, lineno))
                yield f"{path.relative_to(PACKAGE.parent)}:{lineno} imports {module}"


def test_no_private_module_of_another_subpackage_is_imported():
    offenders = list(_private_cross_imports())
    assert not offenders, "\n".join(offenders)


def test_nothing_distributed_is_imported_by_skultr():
    """Dask and torch.distributed load only when the user runs them (issue 14, item 5)."""
    names = ", ".join(f"skultr.{name}" for name in ("ranking", "recommendation", "propensity"))
    code = (
        f"import sys, skultr, {names}\n"
        "from skultr.ranking import DLARanker\n"
        "DLARanker(max_epochs=1, device='cpu')\n"
        "print(sorted(m for m in ('dask', 'distributed', 'dask_ml') if m in sys.modules))"
    )
    assert _run(code) == "[]"
