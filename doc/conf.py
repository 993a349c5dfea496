"""Sphinx configuration for skultr.

Build (warnings are errors)::

    sphinx-build -W --keep-going -b html doc doc/_build/html

Nothing is fetched from the network at build time: no intersphinx, no remote images, no
theme assets from a CDN. The API reference is generated from the package by the local
extension ``sphinxext/skultr_api.py``; the gallery runs ``examples/plot_*.py``.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

DOC_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(DOC_DIR / "sphinxext"))

import skultr

# -- Project -------------------------------------------------------------------------------

project = "skultr"
author = "The skultr developers"
copyright = "The skultr developers"
release = skultr.__version__
version = ".".join(release.split(".")[:2])

# -- General -------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "skultr_api",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    # included by api.rst, never a page of its own
    "generated/api_sections.rst",
    # left behind by sphinx-gallery versions or settings that write a timing page
    "sg_execution_times.rst",
]
root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"
nitpicky = False

# -- autodoc / autosummary / numpydoc ------------------------------------------------------

autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # the numpydoc Parameters section is the reference

numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- sphinx-gallery ------------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("skultr",),
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    # The timing pages load jQuery and DataTables from a CDN; leave them out.
    "write_computation_times": False,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
}

# -- HTML ----------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skultr {release}"
html_static_path = []
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "icon_links": [],
    "navbar_end": ["theme-switcher", "navbar-icon-links"],
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "show_prev_next": False,
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {
    "index": [],
    "install": [],
    "benchmarks": [],
    "developer": [],
}
