"""
Choosing the dictionary size with GridSearchCV, on cached activations
=====================================================================

How many atoms should the dictionary have? The paper uses ``8d`` for token
embeddings and ``16d`` for layers, but on a finite sample a larger dictionary
also memorises more. Cross-validation answers the question for your data: it
fits on some texts and scores on others, so memorisation shows as a worse
held-out score.

Two things make the comparison fair and fast:

* **Cache the activations once.** A search refits the dictionary many times;
  running the transformer inside each fit would repeat the same forward
  passes. :func:`~skfeatsparse.activations.cache_activations` writes them
  once (memory-mapped), with the provenance of every row.
* **Split by text, not by token.** Tokens of one text share its context, so a
  random token split puts near-copies on both sides. ``GroupKFold`` with the
  text index as the group keeps each text on one side.

The scorer is the paper's normalized loss (negated for ``GridSearchCV``,
where greater is better). It is scale-invariant, so dictionaries of every
size are compared on one scale; ``return_train_score=True`` gives the
in-sample value beside it, and the gap between the two is the memorisation.
"""

# %%
import sys
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold

from skfeatsparse.activations import (
    TransformerActivations,
    cache_activations,
    default_corpus,
)
from skfeatsparse.decomposition import GreedyL1DictionaryLearning
from skfeatsparse.metrics import neg_normalized_loss

quick = "--quick" in sys.argv  # the docs build runs the small version
texts = default_corpus(200 if quick else 2000, shuffle=True, random_state=0)
act = TransformerActivations("default", layer=3)
folder = tempfile.mkdtemp()
cache = cache_activations(act, texts, f"{folder}/acts", layers=[3])
X = np.asarray(cache[3], dtype=np.float32)
groups = cache.provenance.text_index
print(f"{X.shape[0]} tokens of {len(texts)} texts, width {X.shape[1]}")

# %%
# Search ``n_components`` from d/4 to 2d, three folds of texts. Each fit
# learns its own adaptive penalty, and each is scored at it.
d = X.shape[1]
sizes = [d // 4, d // 2, d, 2 * d] if not quick else [d // 8, d // 4, d // 2]
search = GridSearchCV(
    GreedyL1DictionaryLearning(max_iter=5 if quick else 20, random_state=0),
    {"n_components": sizes},
    scoring=neg_normalized_loss,
    cv=GroupKFold(n_splits=3),
    return_train_score=True,
    refit=False,  # only the table is wanted, not a final fit on every row
)
search.fit(X, groups=groups)
held_out = -search.cv_results_["mean_test_score"]
spread = search.cv_results_["std_test_score"]
in_sample = -search.cv_results_["mean_train_score"]
print("| atoms | training tokens per atom | held out | in-sample | gap |")
print("|---|---|---|---|---|")
n_train = X.shape[0] * 2 / 3
for k, h, s, i in zip(sizes, held_out, spread, in_sample):
    print(f"| {k} | {n_train / k:.0f} | {h:.2f} +- {s:.2f} | {i:.2f} "
          f"| {100 * (h / i - 1):+.0f}% |")  # fmt: skip
print(f"best n_components: {search.best_params_['n_components']}")

# %%
# Read the table as a choice, not a verdict: the held-out normalized loss
# usually falls with more atoms while the gap grows. Where the gap passes
# about 15% the dictionary has started to learn the rows rather than the
# distribution, and its held-out value is what you would quote. More texts
# move that point to larger dictionaries.
fig, ax = plt.subplots(figsize=(6, 4))
ax.errorbar(sizes, held_out, yerr=spread, marker="o", capsize=3, label="held out")
ax.plot(sizes, in_sample, marker="s", linestyle="--", label="in-sample")
ax.set_xscale("log", base=2)
ax.set_xlabel("n_components")
ax.set_ylabel("normalized loss (lower is sparser)")
ax.set_title("MiniLM layer 3: dictionary size by cross-validation")
ax.legend()
fig.tight_layout()
plt.show()
