"""Shared by the activations tests: one torch thread per test module."""

import pytest


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # Tiny models gain nothing from threads, and on a busy 2-core machine
    # OpenMP's spinning threads make each op ~100x slower.
    torch = pytest.importorskip("torch")
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)
