"""
Max-activating contexts of a learned feature
============================================

A dictionary atom is a direction in activation space; what it means is read
from the tokens whose codes use it most (the paper's Appendix G does this for
token embeddings). For hidden states, a token's activation depends on its
context, so the unit of evidence is a token *in its text*.
:meth:`~skfeatsparse.activations.TransformerActivations.provenance` says which
text, which token and which characters each activation row comes from.

The ranking is by a **feature's coefficient** in the sparse code
(``transform``), on texts the dictionary never saw, not by a raw hidden unit:
a unit is one coordinate of a basis the model never chose, and whatever
features point along it share its top tokens (the reason to learn a
dictionary at all); the last cell shows one for comparison.
"""

# %%
import sys

import matplotlib.pyplot as plt
import numpy as np

from skfeatsparse.activations import TransformerActivations, default_corpus
from skfeatsparse.decomposition import GreedyL1DictionaryLearning
from skfeatsparse.metrics import plot_firing_frequency, sparsity_report

quick = "--quick" in sys.argv  # the docs build runs the small version
texts = default_corpus(300 if quick else 3000, shuffle=True, random_state=0)
train_texts, test_texts = texts[: len(texts) * 2 // 3], texts[len(texts) * 2 // 3 :]
act = TransformerActivations("default", layer=3).fit()
dl = GreedyL1DictionaryLearning(
    n_components=384, max_iter=5 if quick else 20, random_state=0
).fit(act.transform(train_texts))

X_test = act.transform(test_texts)
prov = act.provenance(test_texts)
codes = dl.transform(X_test)
report = sparsity_report(dl, X_test)
print(f"held out: normalized loss {report['normalized_loss']:.2f}, "
      f"{report['dead_atoms']} dead and {report['dense_atoms']} dense atoms "
      f"of {dl.n_components}")  # fmt: skip


def context(row, width=40):
    """The token of activation row ``row`` in its text, in [brackets]."""
    text = test_texts[prov.text_index[row]]
    start, end = prov.start[row], prov.end[row]
    if start < 0:  # a special token: no characters of its own
        return f"[{prov.token[row]}] " + text[:width]
    left = text[max(0, start - width) : start]
    return f"...{left}[{text[start:end]}]{text[end : end + width]}..."


# %%
# Features used by 0.5% to 5% of the held-out tokens: specific enough to
# read, common enough to have many examples. Four of them, evenly spaced in
# order of their largest coefficient (the strongest are often punctuation at
# the end of a sentence), each with its eight held-out tokens of largest
# coefficient. Read them honestly: some are clear, some are not.
frequency = report["firing_frequency"]
candidates = np.flatnonzero((frequency > 0.005) & (frequency < 0.05))
by_strength = candidates[np.argsort(codes[:, candidates].max(axis=0))[::-1]]
picks = by_strength[np.linspace(0, len(by_strength) - 1, 4).astype(int)]
for atom in picks:
    top = np.argsort(codes[:, atom])[::-1][:8]
    print(f"\nfeature {atom} (used by {100 * frequency[atom]:.1f}% of tokens)")
    for row in top:
        print(f"  {codes[row, atom]:6.2f}  {context(row)}")

# %%
# The same view for raw hidden unit 7, the ranking a feature is often
# mistaken for. A unit can read coherently too; but its values mix every
# feature with a component along it, and units are not comparable with
# each other the way coefficients of unit-norm atoms are.
unit = X_test[:, 7]
print("\nhidden unit 7 (not a learned feature)")
for row in np.argsort(unit)[::-1][:8]:
    print(f"  {unit[row]:6.2f}  {context(row)}")

# %%
# How often each atom fires on the held-out tokens: one mode well below 1 is
# a healthy dictionary; dense atoms sit at the right, dead ones are counted
# in the title.
plot_firing_frequency(report)
plt.show()
