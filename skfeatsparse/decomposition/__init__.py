"""Sparse dictionary learning with the greedy L1 coding step of Deng et al. (2023)."""

from ._dict_learning import GreedyL1DictionaryLearning
from ._greedy import greedy_l1_encode

__all__ = ["GreedyL1DictionaryLearning", "greedy_l1_encode"]
