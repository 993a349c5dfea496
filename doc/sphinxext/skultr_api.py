"""Build the API reference from the ``__all__`` of skultr's public modules.

At the start of every build this extension

1. walks the ``skultr`` package and collects every public module (no path component starts
   with ``_``, test packages excluded) that defines a non-empty ``__all__``;
2. writes ``doc/generated/api_sections.rst`` (git-ignored): one section per module with an
   autosummary table of its classes and one of its functions, which ``doc/api.rst`` includes;
3. writes the autosummary stub page of every listed name into ``doc/generated/`` and removes
   stub pages of names that are no longer public, so a renamed or removed estimator does not
   leave an orphan page behind (an orphan would fail the ``-W`` build).

Adding a name to a subpackage's ``__all__`` is therefore all it takes to document it. A module
that fails to import is reported as a Sphinx warning, which fails the ``-W`` build.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

PACKAGE = "skultr"
GENERATED_DIR = "generated"
SECTIONS_FILE = f"{GENERATED_DIR}/api_sections.rst"
SKIPPED_MODULE_NAMES = frozenset({"tests", "conftest"})


@dataclass
class ModuleEntry:
    """The public names of one module, split by kind (kinds get different stub templates)."""

    name: str
    classes: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    @property
    def fullnames(self) -> list[str]:
        names = self.classes + self.functions + self.other
        return [f"{self.name}.{name}" for name in names]


def _is_public_module_name(dotted: str) -> bool:
    parts = dotted.split(".")[1:]
    return all(not part.startswith("_") and part not in SKIPPED_MODULE_NAMES for part in parts)


def _public_module_names(package_name: str) -> list[str]:
    """Dotted names of the public modules below ``package_name``, parents before children."""
    package = importlib.import_module(package_name)
    found = []

    def walk(path, prefix):
        for info in pkgutil.iter_modules(path, prefix=prefix):
            if not _is_public_module_name(info.name):
                continue
            found.append(info.name)
            if info.ispkg:
                try:
                    module = importlib.import_module(info.name)
                except Exception as exc:  # reported later, when the module is read
                    logger.debug("skultr_api: cannot walk %s: %s", info.name, exc)
                    continue
                walk(module.__path__, prefix=info.name + ".")

    walk(package.__path__, prefix=package_name + ".")
    return sorted(found)


def collect_modules(package_name: str = PACKAGE) -> list[ModuleEntry]:
    """Read ``__all__`` of every public module; a name already listed under a parent package
    (the same object re-exported) is listed once, under the shortest import path."""
    entries = []
    seen_objects: set[int] = set()
    for module_name in _public_module_names(package_name):
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            logger.warning(
                "skultr_api: cannot import %s, so it is missing from the API reference: %s: %s",
                module_name,
                type(exc).__name__,
                exc,
            )
            continue
        public = getattr(module, "__all__", None)
        if not public:
            continue
        entry = ModuleEntry(name=module_name)
        for name in public:
            try:
                obj = getattr(module, name)
            except AttributeError:
                logger.warning(
                    "skultr_api: %s lists %r in __all__ but has no such attribute",
                    module_name,
                    name,
                )
                continue
            if inspect.ismodule(obj):  # documented as its own section when public
                continue
            if id(obj) in seen_objects and (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue
            seen_objects.add(id(obj))
            if inspect.isclass(obj):
                entry.classes.append(name)
            elif inspect.isroutine(obj):
                entry.functions.append(name)
            else:
                entry.other.append(name)
        if entry.fullnames:
            entries.append(entry)
    return entries


def _autosummary(names: list[str]) -> list[str]:
    # No :template: option: autosummary picks _templates/autosummary/<objtype>.rst itself.
    lines = [".. autosummary::", f"   :toctree: {GENERATED_DIR}/", "   :nosignatures:", ""]
    lines += [f"   {name}" for name in names]
    return lines + [""]


def render_sections(entries: list[ModuleEntry]) -> str:
    """The reStructuredText included by ``doc/api.rst`` (section levels ``=`` then ``-``)."""
    lines = [
        ".. This file is written by doc/sphinxext/skultr_api.py at the start of every build.",
        "   Edit __all__ in the package, not this file.",
        "",
    ]
    for entry in entries:
        label = "api-" + entry.name.replace(".", "-")
        title = f"``{entry.name}``"
        lines += [f".. _{label}:", "", title, "=" * len(title), ""]
        lines += [f".. automodule:: {entry.name}", ""]
        lines += [f".. currentmodule:: {entry.name}", ""]
        for heading, names in (
            ("Classes", entry.classes),
            ("Functions", entry.functions),
            ("Other objects", entry.other),
        ):
            if names:
                lines += [heading, "-" * len(heading), ""]
                lines += _autosummary(names)
    if not entries:
        lines += ["No public module of skultr defines ``__all__`` yet.", ""]
    return "\n".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    # An unchanged file keeps its mtime, so an incremental build does not re-read api.rst.
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    path.write_text(text, encoding="utf-8")


def _remove_stale_stubs(generated: Path, expected: set[str]) -> None:
    for stub in generated.glob(f"{PACKAGE}.*.rst"):
        if stub.stem not in expected:
            logger.info("skultr_api: removing stale stub %s", stub.name)
            stub.unlink()


def generate_api_reference(app) -> None:
    from sphinx.ext.autosummary.generate import generate_autosummary_docs

    srcdir = Path(app.srcdir)
    generated = srcdir / GENERATED_DIR
    generated.mkdir(parents=True, exist_ok=True)

    entries = collect_modules(PACKAGE)
    sections = generated / Path(SECTIONS_FILE).name
    _write_if_changed(sections, render_sections(entries))

    expected = {name for entry in entries for name in entry.fullnames}
    _remove_stale_stubs(generated, expected)
    if expected:
        # The toctree option in the sections file is relative to api.rst (the including
        # document), so the stubs are written with an explicit output directory.
        generate_autosummary_docs(
            [str(sections)],
            output_dir=generated,
            suffix=".rst",
            app=app,
            imported_members=app.config.autosummary_imported_members,
            overwrite=True,
            encoding="utf-8",
        )
    names = ", ".join(entry.name for entry in entries) or "none"
    logger.info("skultr_api: %d public names from %s", len(expected), names)


# Docstrings that scikit-learn generates or defines (``set_fit_request`` and the other
# ``set_*_request`` methods of every estimator) use roles that point into scikit-learn's own
# documentation, which is not linked here (no intersphinx). Labels with a local counterpart
# are redirected to it; other ``:ref:`` and ``:term:`` roles become plain text.
_SKLEARN_ROLE = re.compile(r":(ref|term):`([^`<]+?)(?:\s*<([^`>]+)>)?`")
LOCAL_LABELS = {"metadata_routing": "metadata-routing"}


def _localise_sklearn_roles(line: str) -> str:
    def replace(match):
        role, text, target = match.group(1), match.group(2).strip(), match.group(3)
        if role == "ref" and (target or text) in LOCAL_LABELS:
            return f":ref:`{text} <{LOCAL_LABELS[target or text]}>`"
        return text

    return _SKLEARN_ROLE.sub(replace, line)


def process_docstring(app, what, name, obj, options, lines):
    """Adjust docstrings that do not come from skultr's own source."""
    if not name.startswith(PACKAGE + "."):
        return
    if what == "data" and not inspect.isroutine(obj) and not inspect.isclass(obj):
        # autodoc falls back to the docstring of the value's type (``int``, ``dict``); a
        # constant without a ``#:`` comment of its own gets no docstring instead.
        type_doc = inspect.getdoc(type(obj)) or ""
        if type_doc and "\n".join(lines).strip() == type_doc.strip():
            lines[:] = []
        return
    if (getattr(obj, "__module__", None) or "").startswith("sklearn"):
        lines[:] = [_localise_sklearn_roles(line) for line in lines]


def setup(app):
    app.setup_extension("sphinx.ext.autosummary")
    # Before autosummary's own builder-inited handler (priority 500) and before Sphinx
    # re-discovers the source files, so new stubs are read and removed ones are forgotten.
    app.connect("builder-inited", generate_api_reference, priority=400)
    # Before numpydoc (priority 500) turns the docstring into reStructuredText sections.
    app.connect("autodoc-process-docstring", process_docstring, priority=400)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
