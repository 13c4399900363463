"""Sphinx configuration of the skfeatsparse documentation.

Builds offline: no intersphinx. The sphinx-gallery examples are executed at
their small size (``--quick``, see _gallery.py), so every example page shows
its figure and printed tables; ``SKFEATSPARSE_DOCS_RUN_GALLERY=0`` renders
them without running them, for a fast build while writing.
"""

import os
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.parsers.rst.directives.images import Figure
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the source tree, also when not installed
sys.path.insert(0, str(DOCS))  # _gallery.py, the gallery's hooks

import skfeatsparse  # noqa: E402

# -- Project -----------------------------------------------------------------
project = "skfeatsparse"
author = "The skfeatsparse developers"
copyright = "The skfeatsparse developers"
release = skfeatsparse.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax from the build's _static/mathjax, not a CDN: math renders offline
    # (docs/check_offline.py, run by ``make html``, fails on remote scripts).
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
# _results.rst is a fragment pulled in by reproduction.rst with ``include``.
exclude_patterns = [
    "_build",
    "_results.rst",
    "_scale_results.rst",
    "Thumbs.db",
    ".DS_Store",
]
default_role = "literal"  # `x` renders as code, never as a broken reference
pygments_style = "sphinx"

# -- API reference: autosummary stubs, numpydoc docstrings -------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # docstrings carry the types (numpydoc)
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "inherited-members": False}
# The methods are documented by autodoc's :members: in the class template;
# numpydoc's extra tables would list scikit-learn's inherited ones too.
numpydoc_show_class_members = False
numpydoc_xref_param_type = False  # types stay text: no intersphinx to link them

# Without intersphinx (the build is offline) references to other projects
# cannot resolve; everything in skfeatsparse must.
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(sklearn|numpy|np|scipy|torch|transformers|hypothesis|pandas|pytest"
        r"|unittest|pathlib|dask|tqdm)(\..*)?",
    ),
    (r"py:.*", r"(int|float|str|bool|dict|list|tuple|object|callable|None)"),
]

# -- Gallery -----------------------------------------------------------------
run_gallery = os.environ.get("SKFEATSPARSE_DOCS_RUN_GALLERY", "1") == "1"
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "plot_gallery": run_gallery,
    "reset_argv": "_gallery.quick_argv",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    # The computation-times pages load jQuery and DataTables from CDNs: the
    # docs must render offline (check_offline.py), so they are not written.
    "write_computation_times": False,
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skfeatsparse {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
}
html_static_path = ["_static"]
html_css_files = ["results.css"]
html_show_sourcelink = False


# -- Figures that exist only once the benchmarks have run --------------------
class OptionalFigure(SphinxDirective):
    """A figure from ``docs/_static/<name>`` if present, else how to make it.

    ``.. optional-figure:: token_embeddings.png`` with an optional
    ``:fallback:`` (paths relative to the repository root, checked in order
    after ``_static``) and the figure's caption as content. When no file is
    found, the ``:missing:`` text is shown instead of the figure, so the build
    never warns about an image that has not been produced yet.
    """

    required_arguments = 1
    has_content = True
    option_spec = {
        "fallback": directives.unchanged,
        "missing": directives.unchanged,
        "alt": directives.unchanged,
    }

    def run(self):
        name = self.arguments[0]
        candidates = [DOCS / "_static" / name]
        candidates += [ROOT / p for p in self.options.get("fallback", "").split()]
        for path in candidates:
            if path.is_file():
                # "/..." is relative to the source directory (docs/).
                rel = "/" + os.path.relpath(path, DOCS).replace(os.sep, "/")
                options = {"alt": self.options.get("alt", name), "width": "100%"}
                figure = Figure(
                    "figure",
                    [rel],
                    options,
                    self.content,
                    self.lineno,
                    self.content_offset,
                    self.block_text,
                    self.state,
                    self.state_machine,
                )
                return figure.run()
        missing = self.options.get(
            "missing", f"The figure ``{name}`` has not been generated yet."
        )
        note = nodes.note()
        lines = StringList(missing.splitlines())
        self.state.nested_parse(lines, self.content_offset, note)
        return [note]


def setup(app):
    app.add_directive("optional-figure", OptionalFigure)
