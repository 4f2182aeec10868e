"""Pooling is right for each family: padding never leaks in, last-token pooling reads the EOS state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from cardiolora.embedding import Embedder
from cardiolora.models.tiny import ENCODER_ARCHITECTURES, TINY_ARCHITECTURES

SHORT = "mitral stenosis"
LONG = "there is no pericardial effusion and the patient has chest pain with dyspnea and a murmur ."
DECODERS = [a for a in TINY_ARCHITECTURES if a not in ENCODER_ARCHITECTURES]


@pytest.mark.parametrize("architecture", TINY_ARCHITECTURES)
def test_padding_is_ignored(tiny_model_dir, architecture):
    embedder = Embedder.load(str(tiny_model_dir(architecture)))
    alone = embedder.encode([SHORT])[0]
    batched = embedder.encode([SHORT, LONG], batch_size=2)[0]  # SHORT is padded to LONG's length
    np.testing.assert_allclose(alone, batched, atol=1e-5)


@pytest.mark.parametrize("architecture", DECODERS)
@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_last_token_pooling_reads_the_appended_eos_under_both_paddings(tiny_model_dir, architecture, padding_side):
    path = tiny_model_dir(architecture)
    embedder = Embedder.load(str(path))
    tokenizer = embedder.model.tokenizer
    tokenizer.padding_side = padding_side
    assert tokenizer.pad_token is not None, "a pad token is set where the tokenizer lacks one"
    ids = tokenizer(SHORT)["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id, "EOS is appended for last-token pooling"

    pooled = embedder.encode([SHORT, LONG], batch_size=2)

    # Independent computation: the raw transformers model on each text alone, hidden state of EOS.
    raw_tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    for row, text in enumerate([SHORT, LONG]):
        raw_ids = raw_tokenizer(text)["input_ids"] + [raw_tokenizer.eos_token_id]
        with torch.no_grad():
            hidden = model(input_ids=torch.tensor([raw_ids])).last_hidden_state[0, -1].numpy()
        expected = hidden / np.linalg.norm(hidden)
        np.testing.assert_allclose(pooled[row], expected, atol=1e-5)


@pytest.mark.parametrize("architecture", ENCODER_ARCHITECTURES)
def test_mean_pooling_equals_the_mean_over_real_tokens(tiny_model_dir, architecture):
    path = tiny_model_dir(architecture)
    pooled = Embedder.load(str(path)).encode([SHORT, LONG], batch_size=2)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    for row, text in enumerate([SHORT, LONG]):
        encoded = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**encoded).last_hidden_state[0].mean(dim=0).numpy()
        np.testing.assert_allclose(pooled[row], hidden / np.linalg.norm(hidden), atol=1e-5)
