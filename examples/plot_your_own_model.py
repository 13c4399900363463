"""
Measuring your own model on your own texts, held out
====================================================

The number to take home is measured on texts the dictionary never saw, with
an interval, beside a control. This example does each step by hand, for one
layer, so that you can swap in your model (a local directory, a GGUF file or
a hub id with internet) and your texts (a list of strings, or
``load_texts("file.txt")``, one text per line):

1. split the **texts**, not the tokens (tokens of one text share its
   context);
2. fit the dictionary on the training texts' activations;
3. report on the held-out texts' activations with a bootstrap interval
   (``confidence=0.95``), and the in-sample value beside it;
4. do the same to a Gaussian with the same mean and covariance: the floor of
   "not sparse-linear" for this width and spectrum.

The studies (:mod:`skfeatsparse.studies`, ``skfeatsparse layers``) do all of
this for every layer, with the random-weights control too.
"""

# %%
import sys

import matplotlib.pyplot as plt
import numpy as np

from skfeatsparse.activations import TransformerActivations, default_corpus
from skfeatsparse.decomposition import GreedyL1DictionaryLearning
from skfeatsparse.metrics import sparsity_report

quick = "--quick" in sys.argv  # the docs build runs the small version
model = "default"  # or "path/to/model", "model.gguf", "gpt2" (with internet)
texts = default_corpus(300 if quick else 3000, shuffle=True, random_state=0)
rng = np.random.default_rng(0)
order = rng.permutation(len(texts))
train = [texts[i] for i in order[len(texts) // 3 :]]
test = [texts[i] for i in order[: len(texts) // 3]]

act = TransformerActivations(model, layer=3).fit()
X_train, X_test = act.transform(train), act.transform(test)
print(f"{X_train.shape[0]} training tokens of {len(train)} texts, "
      f"{X_test.shape[0]} held-out tokens of {len(test)} texts")  # fmt: skip


def measure(X_train, X_test):
    dl = GreedyL1DictionaryLearning(
        n_components=X_train.shape[1], max_iter=5 if quick else 20, random_state=0
    ).fit(X_train)
    held_out = sparsity_report(dl, X_test, confidence=0.95)
    in_sample = sparsity_report(dl, X_train[: X_test.shape[0]])
    return held_out, in_sample


# %%
# The layer, and a Gaussian with its mean and covariance, by the same
# protocol.
mean = X_train.mean(axis=0)
root = np.linalg.cholesky(
    np.cov(X_train, rowvar=False) + 1e-6 * np.eye(X_train.shape[1])
)
gaussian = [rng.standard_normal(X.shape) @ root.T + mean for X in (X_train, X_test)]
results = {"layer 3": measure(X_train, X_test), "Gaussian": measure(*gaussian)}
for name, (held_out, in_sample) in results.items():
    low, high = held_out["normalized_loss_ci"]
    print(f"{name}: normalized loss {held_out['normalized_loss']:.2f} "
          f"[{low:.2f}, {high:.2f}] held out (in-sample "
          f"{in_sample['normalized_loss']:.2f}), explained variance "
          f"{held_out['explained_variance']:.3f}")  # fmt: skip
ratio = (
    results["Gaussian"][0]["normalized_loss"] / results["layer 3"][0]["normalized_loss"]
)
print(f"layer 3 is {ratio:.1f}x below its Gaussian: lower is sparser-linear")

# %%
# The interval covers the sampling of held-out rows (a bootstrap over them),
# not the randomness of the fit: refit with another ``random_state`` for
# that. A held-out value well above in-sample (more than about 15%) means
# the dictionary memorised its rows: use more texts or fewer atoms.
fig, ax = plt.subplots(figsize=(5, 4))
for i, (held_out, in_sample) in enumerate(results.values()):
    low, high = held_out["normalized_loss_ci"]
    value = held_out["normalized_loss"]
    ax.bar(i, value, yerr=[[value - low], [high - value]], capsize=4,
           label="held out" if i == 0 else None, color="C0")  # fmt: skip
    ax.plot(i, in_sample["normalized_loss"], "k_", markersize=30,
            label="in-sample" if i == 0 else None)  # fmt: skip
ax.set_xticks(range(len(results)), list(results))
ax.set_ylabel("normalized loss (lower is sparser)")
ax.legend()
fig.tight_layout()
plt.show()
