"""Sparse dictionary learning with the greedy L1 coding step of Deng et al. (2023).

Also dictionaries trained elsewhere (sparse-autoencoder decoders, SAELens and
sparsify layouts) as fitted estimators: :func:`load_decoder`,
:func:`from_decoder`, :func:`read_decoder`.
"""

from ._dict_learning import GreedyL1DictionaryLearning
from ._greedy import greedy_l1_encode
from ._pretrained import from_decoder, load_decoder, read_decoder

__all__ = [
    "GreedyL1DictionaryLearning",
    "from_decoder",
    "greedy_l1_encode",
    "load_decoder",
    "read_decoder",
]
