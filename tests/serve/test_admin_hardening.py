"""Run-time adapter loading under bad input (issue 13): reserved and malformed names, files that
fail to load (the name must stay usable and the model unchanged), NUL bytes and over-long paths,
and symlinks out of the adapter directory."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cardiolora.serve import AdapterPool, ServeSettings, create_app
from cardiolora.serve.pool import check_adapter_name

AUTH = {"Authorization": "Bearer s3cret"}
TEXTS = ["mitral valve stenosis", "pericardial effusion with chest pain"]


@pytest.fixture
def admin(tiny_model_dir, two_adapters, tmp_path):
    """A server with no adapter loaded yet, an adapter directory holding a copy of ``alpha`` as
    ``good``, and a client; yields (client, pool, adapter directory)."""
    _, adapters = two_adapters
    root = tmp_path / "adapters"
    root.mkdir()
    shutil.copytree(adapters["alpha"], root / "good")
    pool = AdapterPool.load(str(tiny_model_dir("bert")), adapter_root=root)
    with TestClient(create_app(pool, ServeSettings(admin_token="s3cret", window_ms=1))) as client:
        yield client, pool, root


def _load(client, name, path):
    # json.dumps escapes lone surrogates, which httpx's own JSON encoding refuses.
    return client.post(
        "/admin/adapters",
        content=json.dumps({"name": name, "path": path}),
        headers={**AUTH, "content-type": "application/json"},
    )


def _embed(client, model):
    response = client.post("/v1/embeddings", json={"model": model, "input": TEXTS})
    assert response.status_code == 200, response.text
    return np.array([d["embedding"] for d in response.json()["data"]])


def _error(response) -> dict:
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("__base__", "reserved"),
        ("__mine", "reserved"),
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("a/b", "invalid adapter name"),
        ("nul\x00byte", "invalid adapter name"),
        ("new\nline", "invalid adapter name"),
        (" padded", "invalid adapter name"),
        ("half\ud800", "invalid adapter name"),
        ("x" * 65, "longer than 64"),
    ],
)
def test_reserved_and_malformed_names_are_refused(admin, name, fragment):
    client, pool, _ = admin
    response = _load(client, name, "good")
    assert response.status_code == 400
    error = _error(response)
    assert fragment in error["message"] and error["param"] == "name"
    assert "\x00" not in error["message"] and "\ud800" not in response.text
    assert pool.names() == [pool.base_name] and pool._peft_names() == set()


def test_the_base_models_name_is_refused(admin):
    client, pool, _ = admin
    response = _load(client, pool.base_name, "good")
    assert response.status_code == 400 and "base model's name" in _error(response)["message"]
    assert check_adapter_name("x" * 64) == "x" * 64 and check_adapter_name("cardio-v2.1_final") == "cardio-v2.1_final"


def _corrupt_variants(root):
    good = root / "good"
    config = json.loads((good / "adapter_config.json").read_text())
    weights = (good / "adapter_model.safetensors").read_bytes()

    def variant(name, *, config_text=None, weights_bytes=None):
        directory = root / name
        shutil.copytree(good, directory)
        if config_text is not None:
            (directory / "adapter_config.json").write_text(config_text)
        if weights_bytes is not None:
            (directory / "adapter_model.safetensors").write_bytes(weights_bytes)
        return name

    return [
        variant("garbage-weights", weights_bytes=b"not a safetensors file" * 4),
        variant("truncated-weights", weights_bytes=weights[: len(weights) // 2]),
        variant("config-not-json", config_text="{not json"),
        variant("config-wrong-types", config_text=json.dumps({**config, "r": "eight"})),
        variant("config-other-model", config_text=json.dumps({**config, "target_modules": ["no_such_layer"]})),
    ]


def test_a_failed_load_leaves_nothing_behind_and_the_name_stays_usable(admin, two_adapters, tiny_model_dir):
    client, pool, root = admin
    base_before = _embed(client, pool.base_name)
    variants = _corrupt_variants(root)
    # First as the only adapter, then beside a loaded one: both paths of PEFT's bookkeeping.
    for already_loaded in ([], ["gamma"]):
        for variant in variants:
            response = _load(client, "delta", variant)
            assert response.status_code == 400, (variant, response.text)
            error = _error(response)
            assert error["param"] == "path" and "could not be loaded" in error["message"], variant
            assert pool.names() == [pool.base_name, *already_loaded]
            assert pool._peft_names() == set(already_loaded), f"{variant} left a half-loaded adapter"
            assert np.allclose(_embed(client, pool.base_name), base_before, atol=1e-6), variant
        if not already_loaded:
            assert _load(client, "gamma", "good").status_code == 200
            gamma = _embed(client, "gamma")
        else:
            assert np.allclose(_embed(client, "gamma"), gamma, atol=1e-6), "a failed load changed another adapter"
    # The name that failed five times per round loads now.
    loaded = _load(client, "delta", "good")
    assert loaded.status_code == 200 and "delta" in loaded.json()["models"]
    assert np.allclose(_embed(client, "delta"), gamma, atol=1e-5)
    _, adapters = two_adapters
    from cardiolora.embedding import Embedder

    offline = Embedder.load(str(tiny_model_dir("bert")), adapter=adapters["alpha"]).encode(TEXTS)
    assert (_embed(client, "delta") * offline).sum(1).min() >= 0.999


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("good\x00", "NUL byte"),
        ("\x00", "NUL byte"),
        ("x" * 5000, "cannot be read"),
        ("a/" * 3000, "cannot be read"),
        ("../" * 40 + "etc", "outside the adapter directory"),
    ],
)
def test_nul_bytes_and_overlong_paths_are_400(admin, path, fragment):
    client, pool, _ = admin
    response = _load(client, "gamma", path)
    assert response.status_code == 400, response.text
    error = _error(response)
    assert fragment in error["message"] and error["param"] == "path"
    assert len(error["message"]) < 400
    assert pool.names() == [pool.base_name]


def test_symlinks_out_of_the_adapter_directory_are_refused(admin, tmp_path):
    client, pool, root = admin
    outside = tmp_path / "outside"
    shutil.copytree(root / "good", outside)
    linked = root / "linked"
    linked.mkdir()
    shutil.copy(root / "good" / "adapter_config.json", linked)
    (linked / "adapter_model.safetensors").symlink_to(outside / "adapter_model.safetensors")
    response = _load(client, "gamma", "linked")
    assert response.status_code == 400
    assert "adapter_model.safetensors is not a regular file" in _error(response)["message"]
    config_linked = root / "config-linked"
    config_linked.mkdir()
    shutil.copy(root / "good" / "adapter_model.safetensors", config_linked)
    (config_linked / "adapter_config.json").symlink_to(outside / "adapter_config.json")
    assert _load(client, "gamma", "config-linked").status_code == 400
    (root / "dir-link").symlink_to(outside, target_is_directory=True)
    assert "outside the adapter directory" in _error(_load(client, "gamma", "dir-link"))["message"]
    assert pool.names() == [pool.base_name] and pool._peft_names() == set()
    # Files are read as regular files only: a symlink is refused even when it stays inside (what
    # it points at may change between the check and the load).
    inside = root / "inside-link"
    inside.mkdir()
    shutil.copy(root / "good" / "adapter_config.json", inside)
    (inside / "adapter_model.safetensors").symlink_to(root / "good" / "adapter_model.safetensors")
    assert _load(client, "gamma", "inside-link").status_code == 400
    assert _load(client, "gamma", "good").status_code == 200


def test_unload_then_reload_under_the_same_name_forgets_the_old_scaling(tiny_model_dir, two_adapters, tmp_path):
    """scale_adapter remembers each layer's trained scaling by adapter name; an adapter loaded later
    under the same name (here with twice the lora_alpha) must not inherit the old one."""
    _, adapters = two_adapters
    doubled = tmp_path / "doubled"
    shutil.copytree(adapters["alpha"], doubled)
    config = json.loads((doubled / "adapter_config.json").read_text())
    (doubled / "adapter_config.json").write_text(json.dumps({**config, "lora_alpha": config["lora_alpha"] * 2}))
    model = str(tiny_model_dir("bert"))
    expected = AdapterPool.load(model, {"g": doubled}).encode(TEXTS, "g")
    pool = AdapterPool.load(model, {"g": adapters["alpha"]})
    before = pool.encode(TEXTS, "g")
    pool.remove("g")
    pool.add("g", doubled, startup=True)
    after = pool.encode(TEXTS, "g")
    assert np.abs(before - expected).max() > 1e-4, "the doubled alpha must change the embeddings"
    assert np.allclose(after, expected, atol=1e-5)


def test_a_run_whose_adapter_links_out_of_the_directory_is_refused(admin, two_adapters, tmp_path):
    """check_adapter_dir picks RUN/adapter for a run: that directory is resolved and checked too."""
    client, pool, root = admin
    _, adapters = two_adapters
    (root / "run").mkdir()
    (root / "run" / "adapter").symlink_to(adapters["beta"])  # outside the adapter directory
    response = _load(client, "sneaky", "run")
    assert response.status_code == 400 and "outside the adapter directory" in _error(response)["message"]
    assert "sneaky" not in pool.names()


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_only_regular_files_are_loaded(admin, kind):
    import os

    client, pool, root = admin
    shutil.copytree(root / "good", root / "odd")
    weights = root / "odd" / "adapter_model.safetensors"
    weights.unlink()
    if kind == "symlink":
        weights.symlink_to(root / "good" / "adapter_model.safetensors")  # inside, but a link
    else:
        os.mkfifo(weights)  # a read would block the encoding thread forever
    response = _load(client, "odd", "odd")
    assert response.status_code == 400 and "not a regular file" in _error(response)["message"]


def test_an_adapter_of_another_base_model_is_refused_at_run_time(admin):
    client, pool, root = admin
    shutil.copytree(root / "good", root / "other")
    config_file = root / "other" / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "base_model_name_or_path": "mpnet"}))
    response = _load(client, "other", "other")
    assert response.status_code == 400 and "trained on model 'mpnet'" in _error(response)["message"]
    assert "other" not in pool.names()


def test_run_time_loads_take_the_servers_adapter_scale(tiny_model_dir, two_adapters, tmp_path):
    from cardiolora.embedding import Embedder

    _, adapters = two_adapters
    root = tmp_path / "adapters"
    root.mkdir()
    shutil.copytree(adapters["alpha"], root / "good")
    pool = AdapterPool.load(str(tiny_model_dir("bert")), adapter_root=root, adapter_scale=0.5)
    with TestClient(create_app(pool, ServeSettings(admin_token="s3cret", window_ms=1))) as client:
        assert _load(client, "good", "good").status_code == 200
        served = _embed(client, "good")
    half = Embedder.load(str(tiny_model_dir("bert")), adapter=adapters["alpha"], adapter_scale=0.5).encode(TEXTS)
    full = Embedder.load(str(tiny_model_dir("bert")), adapter=adapters["alpha"]).encode(TEXTS)
    assert (served * half).sum(1).min() >= 0.9999 and (served * full).sum(1).min() < 0.9999


def test_admin_errors_name_no_server_path_and_no_library_text(admin):
    client, pool, root = admin
    shutil.copytree(root / "good", root / "broken")
    (root / "broken" / "adapter_model.safetensors").write_bytes(b"not safetensors")
    for path in ("broken", "nowhere", "a\ud800b"):
        response = _load(client, "x", path)
        assert response.status_code == 400, (path, response.text)
        # The served model's own name (public: GET /v1/models lists it) aside, no path of the server's.
        message = _error(response)["message"].replace(pool.base_name, "MODEL")
        assert str(root) not in message and "/tmp" not in message and "Error" not in message, message
