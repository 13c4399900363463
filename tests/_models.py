"""Tiny random language models, saved to a directory.

A BERT-like, a GPT-2-like and a Llama-like model (2 layers, 32 wide) with
tokenizers trained here on a few sentences: fast enough for unit tests, and
loaded back through the same ``from_pretrained(directory)`` route users take.
The session fixtures of tests/conftest.py build them; tests/test_common.py
builds a BERT at import, since scikit-learn's checks need their estimators at
collection time.
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


def _save_llama(directory):
    import torch
    from transformers import LlamaConfig, LlamaModel

    # The tiny GPT-2's byte-level tokenizer, a Llama body (RMSNorm, rotary,
    # gated MLP, grouped-query attention), tied embeddings like SmolLM2's.
    _save_gpt2(directory)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    LlamaModel(config).save_pretrained(directory)


@contextlib.contextmanager
def _no_progress_bars():
    from transformers.utils import logging

    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.enable_progress_bar()


def save_tiny_model(kind, directory):
    """Save the tiny ``kind`` ("bert", "gpt2" or "llama") model and tokenizer there."""
    savers = {"bert": _save_bert, "gpt2": _save_gpt2, "llama": _save_llama}
    with _no_progress_bars():
        savers[kind](directory)
    return directory


def _permute_for_gguf(weight, n_head):
    # llama.cpp's converter (convert_hf_to_gguf.py, LlamaModel.permute): the
    # rows of q and k go from rotate-half to interleaved rotary pairs.
    return (
        weight.reshape(n_head, 2, weight.shape[0] // n_head // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def save_tiny_gguf(directory):
    """Write a tiny random Llama as GGUF, and the same model as a directory.

    The GGUF file is what llama.cpp's converter would write for the model
    (float32 tensors, q/k rows permuted, byte-level BPE tokenizer stored as
    metadata), so loading it through transformers' GGUF reader must give back
    the model saved in ``directory / "reference"``, with the tiny GPT-2's
    tokenizer (the same vocabulary and merges). Returns the GGUF file's path.
    """
    import json
    from pathlib import Path

    import gguf
    import torch
    from transformers import LlamaConfig, LlamaModel

    directory = Path(directory)
    gpt2_dir = save_tiny_model("gpt2", directory / "gpt2")
    with open(gpt2_dir / "tokenizer.json", encoding="utf-8") as file:
        spec = json.load(file)
    vocab = spec["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    assert [vocab[t] for t in tokens] == list(range(len(tokens)))
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    eos = vocab["<|endoftext|>"]

    n_head, n_kv, hidden, n_layer = 4, 2, 32, 2
    rope_theta = 10000.0
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokens),
        hidden_size=hidden,
        intermediate_size=48,
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        num_key_value_heads=n_kv,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": rope_theta},
        bos_token_id=eos,
        eos_token_id=eos,
        tie_word_embeddings=True,
    )
    model = LlamaModel(config).eval()
    with torch.no_grad():  # norms away from 1, so a lost norm weight shows
        for name, param in model.named_parameters():
            if "norm" in name:
                param.uniform_(0.5, 1.5)
    reference = directory / "reference"
    with _no_progress_bars():
        model.save_pretrained(reference)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (reference / name).write_bytes((gpt2_dir / name).read_bytes())

    path = directory / "tiny-llama.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny llama")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(hidden)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_dimension_count(hidden // n_head)
    writer.add_rope_freq_base(rope_theta)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types(
        [gguf.TokenType.CONTROL if t == "<|endoftext|>" else gguf.TokenType.NORMAL
         for t in tokens]
    )  # fmt: skip
    writer.add_token_merges(merges)
    writer.add_bos_token_id(eos)
    writer.add_eos_token_id(eos)
    writer.add_add_bos_token(False)

    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    writer.add_tensor("token_embd.weight", state["embed_tokens.weight"])
    writer.add_tensor("output_norm.weight", state["norm.weight"])
    names = {
        "attn_norm": "input_layernorm",
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_norm": "post_attention_layernorm",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
    }
    for i in range(n_layer):
        for gguf_name, hf_name in names.items():
            weight = state[f"layers.{i}.{hf_name}.weight"]
            if gguf_name in ("attn_q", "attn_k"):
                weight = _permute_for_gguf(
                    weight, n_head if gguf_name == "attn_q" else n_kv
                )
            writer.add_tensor(f"blk.{i}.{gguf_name}.weight", weight.copy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
