"""Sphinx configuration of the emfast documentation.

Build (warnings are errors) from the repository root::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

or ``bash docs/build.sh``. What the build needs is in ``docs/requirements.txt``.
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Document the checkout the docs belong to, even if another emfast is installed.
sys.path.insert(0, str(ROOT))
# The local extension that builds the examples gallery.
sys.path.insert(0, str(DOCS / "_ext"))

import emfast  # noqa: E402

project = "emfast"
author = "the emfast developers"
copyright = "2026, the emfast developers"
version = release = emfast.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "emfast_gallery",
]

exclude_patterns = ["_build", "README.md", "requirements.txt", "build.sh"]
templates_path = ["_templates"]

# -- API reference ----------------------------------------------------------
# Every public name gets its own page (docs/api/generated/), written by
# autosummary from the templates in docs/_templates/autosummary/.
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
# numpydoc's Parameters sections give the types; the hints would expand
# ArrayLike and DTypeLike into long unions in every signature
autodoc_typehints = "none"
# numpydoc renders the docstrings; the class template lists the methods itself,
# so numpydoc's own member tables (which would need a stub page per method) are
# turned off.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True


def skip_inherited_from_other_packages(app, what, name, obj, skip, options):
    """Leave out of the class pages the methods emfast does not define.

    The estimators inherit ``get_params``, ``set_params`` and the metadata-routing
    methods from scikit-learn's ``BaseEstimator`` (and DivergenceError its methods
    from ``FloatingPointError``). Those are scikit-learn's and Python's API, whose
    docstrings point into scikit-learn's own documentation; docs/api/index.rst
    names them and refers to scikit-learn for them.
    """
    if what in ("method", "function", "property", "attribute"):
        module = getattr(obj, "__module__", None) or ""
        if not module.startswith("emfast"):
            return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", skip_inherited_from_other_packages)


# -- Examples gallery --------------------------------------------------------
# The gallery is made by docs/_ext/emfast_gallery.py rather than by
# sphinx-gallery, for two reasons. (1) A docs build must stay fast and must not
# need MNIST: the quick scripts (wine_two_gaussians, how_many_components,
# poisson_counts, speed; a few seconds each) are run at their full sizes during
# the build and their pages show the figures that run wrote, while
# vae_mnist.py, which trains two VAEs on MNIST for minutes, is not run and its
# page shows the figures committed in examples/figures/. (2) The scripts stay
# plain command-line programs (argparse, ``--out DIR``, ``--quick``), written
# for ``python examples/NAME.py``, with no gallery-specific docstring format;
# the build runs them exactly as a user would, writing into the build tree, so
# it never touches the committed figures.
emfast_gallery_examples = str(ROOT / "examples")
emfast_gallery_timeout = 600  # seconds per script, generous for numba compiling

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"emfast {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_sidebars = {"index": [], "install": []}
html_static_path = []
