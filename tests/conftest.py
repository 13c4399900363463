"""Session fixtures: tiny random language models (tests/_models.py, also as GGUF), the
``gpu(device)`` marker's skips, the dask ``client``, and ``no_gram``."""

import pytest

from ._models import save_tiny_gguf, save_tiny_model


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """Directory of a tiny random BERT (2 layers, 32 wide), WordPiece tokenizer."""
    return save_tiny_model("bert", tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory):
    """Directory of a tiny random GPT-2 (2 layers, 32 wide), byte-level BPE, no pad."""
    return save_tiny_model("gpt2", tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """Directory of a tiny random Llama (2 layers, 32 wide, tied embeddings), with
    the tiny GPT-2's tokenizer."""
    return save_tiny_model("llama", tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session", params=["bert", "gpt2"])
def tiny_model_dir(request, tiny_bert_dir, tiny_gpt2_dir):
    """Each tiny model directory in turn."""
    return {"bert": tiny_bert_dir, "gpt2": tiny_gpt2_dir}[request.param]


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory):
    """A tiny random Llama as a GGUF file (float32 tensors, byte-level BPE
    tokenizer); ``tiny_gguf.parent / "reference"`` holds the same model and
    tokenizer saved the usual way."""
    pytest.importorskip("gguf")
    return save_tiny_gguf(tmp_path_factory.mktemp("tiny-gguf"))


# -- devices: one marker, ``gpu("cuda")`` or ``gpu("mps")`` (tests/test_gpu.py)
_NEEDS = {"cuda": "needs a CUDA GPU", "mps": "needs an Apple MPS device"}


def _device_available(device):
    try:
        import torch
    except ImportError:
        return False
    if device == "cuda":
        return torch.cuda.is_available()
    return torch.backends.mps.is_available()


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("gpu")
    if marker is not None:
        device = marker.args[0] if marker.args else "cuda"
        if not _device_available(device):
            pytest.skip(_NEEDS[device])


@pytest.fixture
def no_gram(monkeypatch):
    """Take the large-dictionary route at small sizes: no Gram matrix, and
    blocks capped at 64 KiB of codes (a few rows)."""
    from skfeatsparse.decomposition import _greedy

    monkeypatch.setattr(_greedy, "GRAM_MAX_BYTES", 0)
    monkeypatch.setattr(_greedy, "BLOCK_MAX_BYTES", 1 << 16)


@pytest.fixture(scope="module")
def client():
    """A two-process ``distributed`` cluster, one per test module (the dask
    tests are kept on one xdist worker by ``xdist_group("dask")``)."""
    import warnings

    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        # Without a dashboard the scheduler still serves HTTP (health checks),
        # on another port if another cluster of this machine holds 8787.
        warnings.filterwarnings("ignore", "Port .* is already in use", UserWarning)
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
