"""Tiny random language models, saved to disk once per session.

A BERT-like and a GPT-2-like model (2 layers, 32 wide) with tokenizers trained
here on a few sentences: fast enough for unit tests, and loaded back through
the same ``from_pretrained(directory)`` route users take.
"""

import contextlib

import pytest

TRAINING_SENTENCES = [
    "The cat sat on the mat and looked at the moon.",
    "A dog barked at the postman every single morning.",
    "Sparse features are directions in activation space.",
    "Language models turn tokens into vectors, layer by layer.",
    "Dictionary learning finds a few features that explain each vector.",
    "The quick brown fox jumps over the lazy dog!",
    "Is the embedding layer sparser than the last layer?",
    "We measure sparsity with a normalized loss.",
]


def _save_bert(directory):
    import torch
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=specials, show_progress=False
    )
    tok.train_from_iterator(TRAINING_SENTENCES, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        pad_token_id=tok.token_to_id("[PAD]"),
    )
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def _save_gpt2(directory):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TRAINING_SENTENCES, trainer)
    # Like GPT-2: no special tokens added, no pad token.
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>"
    )
    torch.manual_seed(0)
    eos = tok.token_to_id("<|endoftext|>")
    config = GPT2Config(
        vocab_size=tok.get_vocab_size(),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=64,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    GPT2Model(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


@contextlib.contextmanager
def _no_progress_bars():
    from transformers.utils import logging

    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.enable_progress_bar()


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """Directory of a tiny random BERT (2 layers, 32 wide), WordPiece tokenizer."""
    directory = tmp_path_factory.mktemp("tiny-bert")
    with _no_progress_bars():
        _save_bert(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory):
    """Directory of a tiny random GPT-2 (2 layers, 32 wide), byte-level BPE, no pad."""
    directory = tmp_path_factory.mktemp("tiny-gpt2")
    with _no_progress_bars():
        _save_gpt2(directory)
    return directory


@pytest.fixture(scope="session", params=["bert", "gpt2"])
def tiny_model_dir(request, tiny_bert_dir, tiny_gpt2_dir):
    """Each tiny model directory in turn."""
    return {"bert": tiny_bert_dir, "gpt2": tiny_gpt2_dir}[request.param]


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
