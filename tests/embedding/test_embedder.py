from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from cardiolora.embedding import Embedder, check_adapter_dir
from cardiolora.errors import CardioloraError

TEXTS = ["mitral stenosis", "aortic stenosis", "atrial fibrillation with chest pain", "pericardial effusion"]


@pytest.fixture(scope="module")
def tiny_bert(tiny_model_dir):
    return Embedder.load(str(tiny_model_dir("bert")))


def test_output_is_float32_unit_vectors_in_input_order(tiny_bert):
    vectors = tiny_bert.encode(TEXTS, batch_size=2)
    assert vectors.dtype == np.float32 and vectors.shape == (4, tiny_bert.dimension)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    one_by_one = np.stack([tiny_bert.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-5)


def test_bad_texts_are_rejected(tiny_bert):
    with pytest.raises(CardioloraError, match="text 1"):
        tiny_bert.encode(["fine", "   "])
    with pytest.raises(TypeError):
        tiny_bert.encode("a single string")
    assert tiny_bert.encode([]).shape == (0, tiny_bert.dimension)


def test_the_role_prompt_is_prepended(tiny_bert):
    prompted = replace(tiny_bert, spec=replace(tiny_bert.spec, prompts={"query": "chest pain"}))
    plain = prompted.encode(["mitral stenosis"], role=None)
    as_query = prompted.encode(["mitral stenosis"], role="query")
    by_hand = prompted.encode(["chest painmitral stenosis"], role=None)
    assert not np.allclose(plain, as_query)
    np.testing.assert_allclose(as_query, by_hand, atol=1e-6)


def _save_lora_adapter(model_dir, out_dir, seed):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    base = AutoModel.from_pretrained(model_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["query", "value"]))
    torch.manual_seed(seed)
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at zero; make the adapter change something
            torch.nn.init.normal_(parameter, std=0.5)
    peft_model.save_pretrained(out_dir)
    return out_dir


def test_an_adapter_changes_the_embeddings(tiny_model_dir, tmp_path, tiny_bert):
    model_dir = tiny_model_dir("bert")
    adapter = _save_lora_adapter(model_dir, tmp_path / "adapter", seed=1)
    adapted = Embedder.load(str(model_dir), adapter=adapter)
    assert adapted.describe()["adapter"] == str(adapter)
    base_vectors = tiny_bert.encode(TEXTS)
    adapted_vectors = adapted.encode(TEXTS)
    assert np.abs(base_vectors - adapted_vectors).max() > 1e-3
    np.testing.assert_allclose(np.linalg.norm(adapted_vectors, axis=1), 1.0, atol=1e-6)


def test_adapter_directories_are_checked(tmp_path):
    with pytest.raises(CardioloraError, match="does not exist"):
        check_adapter_dir(tmp_path / "missing")
    with pytest.raises(CardioloraError, match="adapter_config.json"):
        check_adapter_dir(tmp_path)
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    (tmp_path / "adapter_model.bin").write_bytes(b"pickle")
    with pytest.raises(CardioloraError, match="never unpickles"):
        check_adapter_dir(tmp_path)


def test_precision_is_validated(tiny_bert):
    with pytest.raises(CardioloraError, match="precision"):
        replace(tiny_bert, precision="fp8")


def test_bf16_autocast_stays_close_to_fp32(tiny_bert):
    from cardiolora.embedding.embedder import bf16_supported

    if not bf16_supported("cpu"):
        pytest.skip("this CPU has no native bf16")
    fp32 = tiny_bert.encode(TEXTS)
    bf16 = replace(tiny_bert, precision="bf16").encode(TEXTS)
    assert bf16.dtype == np.float32
    assert (fp32 * bf16).sum(1).min() > 0.99


def test_adapter_scale_interpolates_between_base_and_adapter(tiny_model_dir, tmp_path, tiny_bert):
    model_dir = tiny_model_dir("bert")
    adapter = _save_lora_adapter(model_dir, tmp_path / "adapter", seed=2)
    base = tiny_bert.encode(TEXTS)
    full = Embedder.load(str(model_dir), adapter=adapter).encode(TEXTS)
    np.testing.assert_allclose(
        Embedder.load(str(model_dir), adapter=adapter, adapter_scale=0.0).encode(TEXTS), base, atol=1e-5
    )
    np.testing.assert_allclose(
        Embedder.load(str(model_dir), adapter=adapter, adapter_scale=1.0).encode(TEXTS), full, atol=1e-6
    )
    half = Embedder.load(str(model_dir), adapter=adapter, adapter_scale=0.5)
    assert half.describe()["adapter_scale"] == 0.5
    halfway = half.encode(TEXTS)
    to_base, to_full = (1 - (halfway * base).sum(1)).mean(), (1 - (halfway * full).sum(1)).mean()
    assert 1e-4 < to_base < (1 - (full * base).sum(1)).mean() and 1e-4 < to_full
    # Scaling twice is relative to the trained adapter, not compounded.
    from cardiolora.embedding.embedder import scale_adapter

    scale_adapter(half.model, 0.5)
    np.testing.assert_allclose(half.encode(TEXTS), halfway, atol=1e-6)
    with pytest.raises(CardioloraError, match="needs an adapter"):
        Embedder.load(str(model_dir), adapter_scale=0.5)
    with pytest.raises(CardioloraError, match=">= 0"):
        Embedder.load(str(model_dir), adapter=adapter, adapter_scale=-1.0)


def test_the_base_model_is_one_switch_away(tiny_model_dir, tmp_path, tiny_bert):
    model_dir = tiny_model_dir("bert")
    adapter = _save_lora_adapter(model_dir, tmp_path / "adapter", seed=3)
    adapted = Embedder.load(str(model_dir), adapter=adapter)
    before = adapted.encode(TEXTS)
    with adapted.adapter_disabled():
        np.testing.assert_allclose(adapted.encode(TEXTS), tiny_bert.encode(TEXTS), atol=1e-6)
    np.testing.assert_allclose(adapted.encode(TEXTS), before, atol=1e-6)
