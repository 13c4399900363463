"""The paper's studies as functions: Figures 1 (synthetic), 2 (tokens) and 3 (layers).

Each study fits and measures, returns rows (dicts), and has a table formatter
and a plot. The command line (``skfeatsparse``) and the gallery examples are
built on these.
"""

from ._language import (
    embeddings_study,
    format_embeddings_table,
    format_layers_table,
    layers_study,
    plot_embeddings,
    plot_layers,
)
from ._synthetic import format_table, plot_synthetic, synthetic_study

__all__ = [
    "embeddings_study",
    "format_embeddings_table",
    "format_layers_table",
    "format_table",
    "layers_study",
    "plot_embeddings",
    "plot_layers",
    "plot_synthetic",
    "synthetic_study",
]
