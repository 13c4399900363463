"""
Token embeddings are sparse (the paper's Figure 2)
==================================================

Section 4.1 of Deng, Tao & Benton (2023) fits a dictionary of ``8d`` atoms to
a model's input token-embedding matrix (centred) and compares the normalized
loss with that of a Gaussian of the same shape: embeddings come out far
sparser. Here on the embedded all-MiniLM-L6-v2 (BERT architecture, d=384),
offline; pass other models with ``skfeatsparse embeddings --model NAME``.
"""

# %%
import sys

from skfeatsparse.studies import (
    embeddings_study,
    format_embeddings_table,
    plot_embeddings,
)

quick = "--quick" in sys.argv
rows = embeddings_study(
    ["default"],
    dictionary_ratio=8,
    max_rows=2048 if quick else 8192,  # a random subset of the 30522 tokens
    max_iter=5 if quick else 30,
)
print(format_embeddings_table(rows))

# %%
# A lower normalized loss means fewer active features per sample: the
# embeddings need far fewer than a Gaussian of the same dimension does.
plot_embeddings(rows, "token_embeddings.png")
