"""The paper's studies as functions: Figures 1 (synthetic), 2 (tokens) and 3 (layers).

Also its Appendix E (the synthetic study's ablations, :func:`ablation_study`)
and Appendix G (a token's features, :func:`token_features`).

Each study fits a dictionary on some rows and measures it on rows it never
saw, beside controls, with bootstrap intervals; it returns rows (dicts, each
with a ``verdict`` sentence) and has a table formatter and a plot. The command
line (``skfeatsparse``) and the gallery examples are built on these.
"""

from ._ablation import (
    ABLATIONS,
    ablation_study,
    ablation_values,
    ablation_verdict,
    format_ablation_table,
    plot_ablation,
)
from ._features import (
    TokenFeatures,
    fit_token_dictionary,
    format_token_features,
    single_token_id,
    token_features,
)
from ._language import (
    embeddings_study,
    evenly_spaced_layers,
    format_embeddings_table,
    format_layers_table,
    layers_study,
    plot_embeddings,
    plot_layers,
    random_weights_model,
)
from ._protocol import format_atoms_table
from ._synthetic import format_table, plot_synthetic, synthetic_study, synthetic_verdict

__all__ = [
    "ABLATIONS",
    "TokenFeatures",
    "fit_token_dictionary",
    "format_token_features",
    "single_token_id",
    "token_features",
    "ablation_study",
    "ablation_values",
    "ablation_verdict",
    "format_ablation_table",
    "plot_ablation",
    "embeddings_study",
    "evenly_spaced_layers",
    "format_atoms_table",
    "format_embeddings_table",
    "format_layers_table",
    "format_table",
    "layers_study",
    "plot_embeddings",
    "plot_layers",
    "plot_synthetic",
    "random_weights_model",
    "synthetic_study",
    "synthetic_verdict",
]
