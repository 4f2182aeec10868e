"""Tiny randomly initialized models built from configs, for tests and benchmarks without weights.

Each architecture keeps its real module names (so LoRA targets, pooling and tokenization paths are
the real ones) at a few hundred kilobytes. The tokenizer is a word-level one over a small clinical
vocabulary, built with the ``tokenizers`` library, so nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

TINY_ARCHITECTURES = ("bert", "xlm-roberta", "mpnet", "qwen2", "qwen3", "gemma2", "llama")
ENCODER_ARCHITECTURES = ("bert", "xlm-roberta", "mpnet")

_WORDS = (
    "the a of and with no there is was patient heart cardiac mitral aortic tricuspid valve stenosis "
    "regurgitation atrial ventricular fibrillation flutter tachycardia bradycardia block infarction "
    "myocardial acute chronic failure ejection fraction reduced preserved pericardial effusion "
    "pericarditis endocarditis myocarditis cardiomyopathy hypertrophic dilated hypertension pulmonary "
    "embolism thrombosis artery coronary disease chest pain dyspnea syncope murmur elevation st segment "
    "troponin echocardiogram shows left right ventricle atrium pressure blood lung kidney renal asthma "
    "pneumonia cough fever edema . ,"
).split()


def _encoder_tokenizer(directory: Path) -> int:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: index for index, token in enumerate([*specials, *_WORDS])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=128,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    tokenizer.save_pretrained(directory)
    return len(vocab)


def _decoder_tokenizer(directory: Path) -> int:
    """A byte-level BPE, as causal LMs use: every architecture's tokenizer class loads it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator([" ".join(_WORDS)] * 4, trainer=trainer)
    # Like most causal LM tokenizers: no EOS appended (cardiolora adds it for last-token pooling)
    # and no pad token.
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=128,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.save_pretrained(directory)
    return backend.get_vocab_size()


def _config(architecture: str, vocab_size: int):
    import transformers

    common = {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "max_position_embeddings": 128,
    }
    if architecture == "bert":
        return transformers.BertConfig(**common, pad_token_id=0)
    if architecture == "xlm-roberta":
        return transformers.XLMRobertaConfig(**{**common, "max_position_embeddings": 160}, pad_token_id=0)
    if architecture == "mpnet":
        return transformers.MPNetConfig(**{**common, "max_position_embeddings": 160}, pad_token_id=0)
    decoder = {**common, "num_key_value_heads": 2, "bos_token_id": 1, "eos_token_id": 2}
    if architecture == "qwen2":
        return transformers.Qwen2Config(**decoder)
    if architecture == "qwen3":
        return transformers.Qwen3Config(**decoder, head_dim=8)
    if architecture == "gemma2":
        return transformers.Gemma2Config(**decoder, head_dim=8)
    if architecture == "llama":
        return transformers.LlamaConfig(**decoder)
    raise ValueError(f"unknown tiny architecture {architecture!r}; choose from {', '.join(TINY_ARCHITECTURES)}")


def build_tiny_model(architecture: str, directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny random ``architecture`` model and its tokenizer to ``directory``; return it."""
    import torch
    from transformers import AutoModel

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if architecture in ENCODER_ARCHITECTURES:
        vocab_size = _encoder_tokenizer(directory)
    else:
        vocab_size = _decoder_tokenizer(directory)
    # Spare rows: some tokenizer classes add a pad token of their own on load.
    config = _config(architecture, vocab_size=vocab_size + 8)
    torch.manual_seed(seed)
    model = AutoModel.from_config(config)
    model.save_pretrained(directory, safe_serialization=True)
    return directory
