"""
Sparsity of every layer (the paper's Figure 3)
==============================================

Section 4.2 and Appendix H of Deng, Tao & Benton (2023): fit a dictionary to
the token activations of every hidden state of a BERT model, train with the
adaptive penalty and measure at a smaller one that explains >= 98% of the
variance. The paper finds the embedding layer sparsest, sparsity falling with
depth and rising again in the last layers. Here on the embedded
all-MiniLM-L6-v2 with an offline corpus (English sentences from the Python
standard library's docstrings).
"""

# %%
import sys

from skfeatsparse.activations import default_corpus
from skfeatsparse.studies import format_layers_table, layers_study, plot_layers

quick = "--quick" in sys.argv
texts = default_corpus(300 if quick else None, shuffle=True, random_state=0)
# The paper's dictionary of 16d atoms (6144 here) needs many more tokens than
# atoms: the whole corpus, up to 32768 tokens per layer (about half an hour on
# 2 CPU cores; ``skfeatsparse layers`` runs a 4d version in a few minutes).
rows, corpus = layers_study(
    "default",
    texts,
    dictionary_ratio=2 if quick else 16,
    max_tokens=2048 if quick else 32768,
    max_iter=5 if quick else 30,
)
print(f"{corpus['n_texts']} texts, {corpus['n_tokens_total']} tokens")
print(format_layers_table(rows))

# %%
# Normalized loss, S_1 and explained variance for each hidden state
# (0 = the embedding layer's output).
plot_layers({"all-MiniLM-L6-v2": rows}, "layer_sparsity.png")
