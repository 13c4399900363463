"""
Token embeddings are sparse (the paper's Figure 2)
==================================================

Section 4.1 of Deng, Tao & Benton (2023) fits a dictionary of ``8d`` atoms to
a model's input token-embedding matrix (centred) and compares the normalized
loss with that of a Gaussian of the same shape: embeddings come out far
sparser. Here on the embedded all-MiniLM-L6-v2 (BERT architecture, d=384),
offline, fitted on 80% of the vocabulary and measured on the other tokens,
beside a Gaussian with the embeddings' mean and covariance and the token
embeddings of the same architecture with random weights; pass other models
with ``skfeatsparse embeddings --model NAME``.
"""

# %%
import sys

import matplotlib.pyplot as plt

from skfeatsparse.studies import (
    embeddings_study,
    format_embeddings_table,
    plot_embeddings,
)

quick = "--quick" in sys.argv
rows = embeddings_study(
    ["default"],
    dictionary_ratio=1 if quick else 8,  # the paper's 8d: about 3 tokens per atom
    max_rows=4096 if quick else None,  # None: all 30522 tokens
    max_iter=5 if quick else 30,
)
print(format_embeddings_table(rows))
print(rows[0]["verdict"])

# %%
# A lower normalized loss means fewer active features per sample. At 8d the
# dictionary has about 3 training tokens per atom and memorises them: the
# verdict then says how far the held-out value lies above the in-sample one.
plot_embeddings(rows)
plt.show()
