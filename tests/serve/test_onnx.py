from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cardiolora.embedding import Embedder
from cardiolora.serve import create_app
from cardiolora.serve.onnx import OnnxPool

TEXTS = ["mitral valve stenosis", "pericardial effusion with chest pain", "atrial fibrillation", "aortic"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.mark.parametrize(
    ("architecture", "quantize", "floor"), [("bert", False, 0.9999), ("qwen2", False, 0.9999), ("bert", True, 0.95)]
)
def test_onnx_backends_match_the_torch_embedder(
    tiny_model_dir, two_adapters, monkeypatch, cache, architecture, quantize, floor
):
    monkeypatch.setenv("CARDIOLORA_CACHE", str(cache))
    model = str(tiny_model_dir(architecture))
    adapters = two_adapters[1] if architecture == "bert" else {}
    pool = OnnxPool.load(model, adapters, quantize=quantize)
    assert pool.names() == [model, *adapters]
    for name, adapter in {model: None, **adapters}.items():
        expected = Embedder.load(model, adapter=adapter).encode(TEXTS)
        got = pool.encode(TEXTS, name)
        assert (expected * got).sum(1).min() >= floor, name
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_exports_are_cached(tiny_model_dir, monkeypatch, cache):
    from cardiolora.serve.onnx import export_onnx

    monkeypatch.setenv("CARDIOLORA_CACHE", str(cache))
    first = export_onnx(str(tiny_model_dir("bert")), None, quantize=False)
    stamp = first.stat().st_mtime_ns
    assert export_onnx(str(tiny_model_dir("bert")), None, quantize=False) == first
    assert first.stat().st_mtime_ns == stamp


def test_the_server_runs_on_the_onnx_backend_without_runtime_loading(tiny_model_dir, two_adapters, monkeypatch, cache):
    monkeypatch.setenv("CARDIOLORA_CACHE", str(cache))
    pool = OnnxPool.load(str(tiny_model_dir("bert")), two_adapters[1])
    from cardiolora.serve import ServeSettings

    with TestClient(create_app(pool, ServeSettings(admin_token="t"))) as client:
        response = client.post("/v1/embeddings", json={"model": "beta", "input": TEXTS})
        assert response.status_code == 200 and len(response.json()["data"]) == 4
        refused = client.post("/admin/adapters", json={"name": "x", "path": "y"}, headers={"Authorization": "Bearer t"})
        assert refused.status_code == 400 and "--backend torch" in refused.json()["error"]["message"]


def test_an_edited_adapter_config_is_a_new_export(tiny_model_dir, two_adapters, tmp_path, monkeypatch, cache):
    """The cache key covers adapter_config.json: an edited lora_alpha must not serve the old export."""
    import json
    import shutil

    from cardiolora.serve.onnx import export_onnx

    monkeypatch.setenv("CARDIOLORA_CACHE", str(cache))
    adapter = tmp_path / "adapter"
    shutil.copytree(two_adapters[1]["alpha"], adapter)
    first = export_onnx(str(tiny_model_dir("bert")), adapter, quantize=False)
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "lora_alpha": config["lora_alpha"] * 4}))
    second = export_onnx(str(tiny_model_dir("bert")), adapter, quantize=False)
    assert second != first and second.exists() and first.exists()
    assert (first.parent.parent / f"{first.parent.name}.lock").exists()  # exports are made under a lock
