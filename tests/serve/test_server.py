from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cardiolora.embedding import Embedder
from cardiolora.serve import ServeSettings, create_app

TEXTS = ["mitral valve stenosis", "pericardial effusion with chest pain", "atrial fibrillation"]


def _cosines(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_openai_client_gets_each_adapter_matching_the_offline_embedder(pool, two_adapters, tiny_model_dir, live_server):
    from openai import OpenAI

    base_url = live_server(create_app(pool))
    client = OpenAI(base_url=base_url + "/v1", api_key="unused")
    assert {m.id for m in client.models.list()} == {pool.base_name, "alpha", "beta"}
    served = {}
    for name in (pool.base_name, "alpha", "beta"):
        response = client.embeddings.create(model=name, input=TEXTS)  # the client asks for base64 by default
        assert response.model == name and len(response.data) == 3
        served[name] = np.array([d.embedding for d in response.data])
        assert response.usage.prompt_tokens > 0
    _, adapters = two_adapters
    for name in ("alpha", "beta"):
        offline = Embedder.load(str(tiny_model_dir("bert")), adapter=adapters[name]).encode(TEXTS)
        assert _cosines(served[name], offline).min() >= 0.999
    offline_base = Embedder.load(str(tiny_model_dir("bert"))).encode(TEXTS)
    assert _cosines(served[pool.base_name], offline_base).min() >= 0.999
    assert np.abs(served["alpha"] - served["beta"]).max() > 1e-3, "the two adapters must differ"
    floats = client.embeddings.create(model="alpha", input="atrial fibrillation", encoding_format="float")
    assert _cosines([floats.data[0].embedding], served["alpha"][2:3])[0] >= 0.9999


@pytest.fixture
def client(pool):
    app = create_app(pool, ServeSettings(max_inputs=4, admin_token="s3cret", window_ms=1))
    with TestClient(app) as test_client:
        yield test_client


def test_schema_base64_dimensions_and_usage(client, pool):
    floats = client.post("/v1/embeddings", json={"model": "alpha", "input": TEXTS}).json()
    assert floats["object"] == "list" and [d["index"] for d in floats["data"]] == [0, 1, 2]
    vectors = np.array([d["embedding"] for d in floats["data"]])
    packed = client.post("/v1/embeddings", json={"model": "alpha", "input": TEXTS, "encoding_format": "base64"}).json()
    decoded = np.array([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in packed["data"]])
    assert np.allclose(decoded, vectors, atol=1e-6)
    short = client.post("/v1/embeddings", json={"model": "alpha", "input": TEXTS, "dimensions": 8}).json()
    truncated = np.array([d["embedding"] for d in short["data"]])
    assert truncated.shape == (3, 8)
    assert np.allclose(np.linalg.norm(truncated, axis=1), 1.0, atol=1e-5)
    expected = vectors[:, :8] / np.linalg.norm(vectors[:, :8], axis=1, keepdims=True)
    assert np.allclose(truncated, expected, atol=1e-5)
    assert floats["usage"]["prompt_tokens"] == sum(pool.count_tokens(t) for t in TEXTS)


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ("{not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "JSON object"),
        (json.dumps({"input": "x"}), 400, "'model'"),
        (json.dumps({"model": "alpha"}), 400, "'input'"),
        (json.dumps({"model": "alpha", "input": [1, 2]}), 400, "input"),
        (json.dumps({"model": "gamma", "input": "x"}), 404, "does not exist"),
        (json.dumps({"model": "alpha", "input": []}), 400, "empty list"),
        (json.dumps({"model": "alpha", "input": ["ok", "  "]}), 400, "input[1] is an empty string"),
        (json.dumps({"model": "alpha", "input": ["a"] * 5}), 400, "at most 4"),
        (json.dumps({"model": "alpha", "input": "x", "dimensions": 0}), 400, "dimensions"),
        (json.dumps({"model": "alpha", "input": "x", "dimensions": 10_000}), 400, "dimensions"),
        (json.dumps({"model": "alpha", "input": "x", "encoding_format": "int8"}), 400, "encoding_format"),
    ],
)
def test_bad_requests_get_openai_shaped_4xx(client, body, status, fragment):
    response = client.post("/v1/embeddings", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert fragment in error["message"] and error["type"]


def test_overlong_inputs_truncate_or_reject(pool):
    long_text = " ".join(["ventricular"] * 2000)
    with TestClient(create_app(pool, ServeSettings(overlong="truncate"))) as client:
        ok = client.post("/v1/embeddings", json={"model": pool.base_name, "input": long_text})
        assert ok.status_code == 200 and ok.json()["usage"]["prompt_tokens"] == pool.max_length
    with TestClient(create_app(pool, ServeSettings(overlong="reject"))) as client:
        rejected = client.post("/v1/embeddings", json={"model": pool.base_name, "input": long_text})
        assert rejected.status_code == 400 and "the maximum is" in rejected.json()["error"]["message"]


def test_unknown_route_and_method_are_4xx(client):
    assert client.get("/v2/nothing").status_code == 404
    assert client.get("/v1/embeddings").status_code == 405


def test_health_models_and_metrics(client):
    assert client.get("/health").json()["status"] == "ok"
    assert len(client.get("/v1/models").json()["data"]) == 3
    client.post("/v1/embeddings", json={"model": "beta", "input": TEXTS})
    client.post("/v1/embeddings", json={"model": "nope", "input": TEXTS})
    text = client.get("/metrics").text
    assert 'cardiolora_requests_total{model="beta",status="200"} 1.0' in text
    assert 'cardiolora_requests_total{model="unknown",status="404"} 1.0' in text
    assert "cardiolora_batch_texts_bucket" in text


def test_admin_needs_the_token_and_stays_inside_the_adapter_directory(client, two_adapters, tmp_path):
    root, adapters = two_adapters
    relative = str(adapters["alpha"].relative_to(root))
    body = {"name": "gamma", "path": relative}
    assert client.post("/admin/adapters", json=body).status_code == 401
    assert client.post("/admin/adapters", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": "Bearer s3cret"}
    outside = client.post("/admin/adapters", json={"name": "evil", "path": "../../etc"}, headers=auth)
    assert outside.status_code == 400 and "outside the adapter directory" in outside.json()["error"]["message"]
    pickled = root / "pickled"
    pickled.mkdir(exist_ok=True)
    (pickled / "adapter_config.json").write_text("{}")
    (pickled / "adapter_model.bin").write_bytes(b"not really")
    refused = client.post("/admin/adapters", json={"name": "pickled", "path": "pickled"}, headers=auth)
    assert refused.status_code == 400 and "never unpickles" in refused.json()["error"]["message"]
    loaded = client.post("/admin/adapters", json=body, headers=auth)
    assert loaded.status_code == 200 and "gamma" in loaded.json()["models"]
    gamma = client.post("/v1/embeddings", json={"model": "gamma", "input": TEXTS}).json()["data"]
    alpha = client.post("/v1/embeddings", json={"model": "alpha", "input": TEXTS}).json()["data"]
    assert np.allclose([d["embedding"] for d in gamma], [d["embedding"] for d in alpha], atol=1e-5)
    assert client.delete("/admin/adapters/gamma", headers=auth).status_code == 200
    assert client.post("/v1/embeddings", json={"model": "gamma", "input": "x"}).status_code == 404
    assert client.delete("/admin/adapters/gamma", headers=auth).status_code == 404


def test_admin_is_off_without_a_token(pool):
    with TestClient(create_app(pool, ServeSettings(admin_token=None))) as client:
        response = client.post(
            "/admin/adapters", json={"name": "x", "path": "y"}, headers={"Authorization": "Bearer x"}
        )
        assert response.status_code == 403


def test_concurrent_requests_for_different_adapters_are_batched_and_correct(pool):
    import asyncio

    import httpx

    app = create_app(pool, ServeSettings(window_ms=50))
    expected = {name: pool.encode(TEXTS, name) for name in pool.names()}

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as http,
        ):
            names = pool.names() * 4
            responses = await asyncio.gather(
                *[http.post("/v1/embeddings", json={"model": n, "input": TEXTS}) for n in names]
            )
            for name, response in zip(names, responses, strict=True):
                got = np.array([d["embedding"] for d in response.json()["data"]])
                assert np.allclose(got, expected[name], atol=1e-5), name
            metrics = (await http.get("/metrics")).text
            # Fewer batches than requests: the window gathered them.
            count = float(
                next(line for line in metrics.splitlines() if line.startswith("cardiolora_batch_texts_count")).split()[
                    -1
                ]
            )
            assert count < len(names)

    asyncio.run(scenario())


def test_token_counting_uses_its_own_tokenizer(pool):
    """The server counts tokens on its event loop while the encoding thread tokenizes; sharing one
    fast tokenizer let a count flip the padding state under a running batch ("Unable to create
    tensor", a 500), found by benchmarks/serve_load.py. Counting must use a private copy."""
    assert pool.count_tokens("mitral valve stenosis") > 3
    assert pool._counter is not pool.model.tokenizer
    assert pool.count_tokens("mitral valve stenosis") == len(pool.model.tokenizer("mitral valve stenosis")["input_ids"])


def test_mixed_adapter_batches_equal_per_adapter_encoding(pool):
    names = [pool.base_name, "alpha", "beta", "alpha", pool.base_name, "beta"] * 3
    texts = [f"{t} {i}" for i, t in enumerate(TEXTS * 6)]
    mixed = pool.encode_mixed(texts, names)
    for name in set(names):
        index = [i for i, n in enumerate(names) if n == name]
        alone = pool.encode([texts[i] for i in index], name)
        assert (mixed[index] * alone).sum(1).min() >= 0.9999, name
    # The adapters differ enough for the check above to mean something.
    alpha, beta = pool.encode(texts[:6], "alpha"), pool.encode(texts[:6], "beta")
    assert (alpha * beta).sum(1).min() < 0.999


def test_graceful_shutdown_finishes_requests_in_flight(pool):
    import threading
    import time

    import httpx
    import uvicorn

    from tests.serve.conftest import free_port

    port = free_port()
    # A long batching window keeps the request queued while the shutdown begins.
    server = uvicorn.Server(uvicorn.Config(create_app(pool, ServeSettings(window_ms=800)), host="127.0.0.1", port=port,
                                           log_level="warning", timeout_graceful_shutdown=30))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    result = {}

    def call():
        result["response"] = httpx.post(
            f"http://127.0.0.1:{port}/v1/embeddings", json={"model": "alpha", "input": TEXTS}, timeout=30
        )

    client = threading.Thread(target=call)
    client.start()
    time.sleep(0.3)  # the request is in the batcher's window now
    server.should_exit = True
    client.join(timeout=30)
    thread.join(timeout=30)
    assert result["response"].status_code == 200
    assert len(result["response"].json()["data"]) == len(TEXTS)


def test_the_playground_page_is_served_and_calls_only_this_server(client):
    import re

    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "/v1/embeddings" in html and "/v1/models" in html and "<textarea" in html
    # Offline: no script, style, font or image from another host.
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert not re.search(r"https?://", html)
