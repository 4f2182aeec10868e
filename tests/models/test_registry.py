from __future__ import annotations

import pytest

from cardiolora.errors import CardioloraError, ModelNotAvailableError, UnknownNameError
from cardiolora.models import (
    MODEL_REGISTRY,
    STUDY_MODELS,
    get_model_spec,
    infer_spec,
    load_sentence_transformer,
    lora_targets_for,
    resolve_model,
)
from cardiolora.models.tiny import ENCODER_ARCHITECTURES, TINY_ARCHITECTURES


def test_the_studys_ten_models_are_registered_with_what_they_need():
    assert len(STUDY_MODELS) == 10
    for name in STUDY_MODELS:
        spec = MODEL_REGISTRY[name]
        assert spec.family in ("encoder", "decoder")
        assert spec.study_group in ("encoder", "decoder-style")
        assert spec.lora_targets, name
        assert spec.dimension > 0 and spec.parameters > 0
        expected_pooling = "lasttoken" if spec.family == "decoder" else ("mean", "cls")
        assert spec.pooling in expected_pooling, name
    decoders = {n for n in STUDY_MODELS if MODEL_REGISTRY[n].family == "decoder"}
    assert decoders == {"gemma-2-2b", "qwen2.5-0.5b", "qwen3-embedding-4b"}
    assert all(MODEL_REGISTRY[n].lora_targets == ("q_proj", "v_proj") for n in decoders)
    assert MODEL_REGISTRY["jina-v2-base"].requires_remote_code
    assert MODEL_REGISTRY["e5-large-v2"].prompt_for("passage") == "passage: "


def test_offline_packaged_models_are_registered():
    assert {"minilm", "mpnet", "smollm2-135m"} <= set(MODEL_REGISTRY)
    assert MODEL_REGISTRY["smollm2-135m"].family == "decoder"
    assert MODEL_REGISTRY["mpnet"].lora_targets == ("q", "v")


def test_unknown_name_reports_close_matches():
    with pytest.raises(UnknownNameError) as info:
        get_model_spec("minlm")
    assert "minilm" in info.value.close_matches
    assert "did you mean 'minilm'" in str(info.value)
    with pytest.raises(UnknownNameError):
        resolve_model("bge-smal")


def test_unavailable_model_says_how_to_make_it_available(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-home" / "hub"))
    with pytest.raises(ModelNotAvailableError) as info:
        resolve_model("bge-small-en-v1.5")
    message = str(info.value)
    assert "BAAI/bge-small-en-v1.5" in message and "Hugging Face cache" in message and "--model PATH" in message
    with pytest.raises(ModelNotAvailableError):
        resolve_model("someone/not-cached-model")


def test_lora_targets_follow_the_architecture():
    assert lora_targets_for("bert") == ("query", "value")
    assert lora_targets_for("xlm-roberta") == ("query", "value")
    assert lora_targets_for("mpnet") == ("q", "v")
    for decoder in ("llama", "qwen2", "qwen3", "gemma2"):
        assert lora_targets_for(decoder) == ("q_proj", "v_proj")


@pytest.mark.parametrize("architecture", TINY_ARCHITECTURES)
def test_local_directories_get_an_inferred_spec(tiny_model_dir, architecture):
    path = tiny_model_dir(architecture)
    resolved = resolve_model(str(path))
    assert resolved.path == path.resolve()
    spec = resolved.spec
    if architecture in ENCODER_ARCHITECTURES:
        assert (spec.family, spec.pooling) == ("encoder", "mean")
    else:
        assert (spec.family, spec.pooling) == ("decoder", "lasttoken")
    # Every inferred LoRA target names real modules of the model.
    model = load_sentence_transformer(resolved)
    module_names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    assert set(spec.lora_targets) <= module_names


def test_remote_code_never_runs_without_opt_in(tiny_model_dir, tmp_path):
    import json
    import shutil

    path = tmp_path / "remote"
    shutil.copytree(tiny_model_dir("bert"), path)
    config = json.loads((path / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (path / "config.json").write_text(json.dumps(config))
    resolved = resolve_model(str(path))
    assert resolved.spec.requires_remote_code
    with pytest.raises(CardioloraError, match="--trust-remote-code"):
        load_sentence_transformer(resolved)


def test_infer_spec_rejects_a_directory_without_config(tmp_path):
    with pytest.raises(CardioloraError, match="config.json"):
        infer_spec(tmp_path, "empty")
