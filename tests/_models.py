"""Tiny random language models, saved to a directory.

A BERT-like and a GPT-2-like model (2 layers, 32 wide) with tokenizers trained
here on a few sentences: fast enough for unit tests, and loaded back through
the same ``from_pretrained(directory)`` route users take. The session fixtures
of tests/conftest.py build them; tests/test_common.py builds a BERT at import,
since scikit-learn's checks need their estimators at collection time.
"""

import contextlib

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


def save_tiny_model(kind, directory):
    """Save the tiny ``kind`` ("bert" or "gpt2") model and tokenizer there."""
    with _no_progress_bars():
        {"bert": _save_bert, "gpt2": _save_gpt2}[kind](directory)
    return directory
