"""Search over an index's corpus inside the server: every model ranks the same rows, with the
vectors the server returns from /v1/embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cardiolora.serve import ServeSettings, create_app
from cardiolora.serve.corpus import ServedCorpus
from tests.serve.conftest import INDEX_CORPUS

AUTH = {"Authorization": "Bearer s3cret"}


@pytest.fixture
def corpus(index_dir, pool):
    corpus = ServedCorpus.open(index_dir)
    corpus.embed_all(pool.encode, pool.names())
    return corpus


@pytest.fixture
def client(pool, corpus):
    with TestClient(create_app(pool, ServeSettings(admin_token="s3cret", window_ms=1), corpus)) as test_client:
        yield test_client


def _embed(client, model, texts):
    body = client.post("/v1/embeddings", json={"model": model, "input": texts}).json()
    return np.array([item["embedding"] for item in body["data"]])


def test_each_model_ranks_the_whole_corpus_by_its_served_cosines(client, pool):
    described = client.get("/v1/index").json()
    assert described["count"] == len(INDEX_CORPUS) and described["embedded_for"] == sorted(pool.names())
    texts = [row["text"] for row in INDEX_CORPUS]
    rankings = {}
    for model in pool.names():
        found = client.post("/v1/search", json={"model": model, "query": "mitral valve stenosis", "k": 6})
        assert found.status_code == 200, found.text
        hits = found.json()["data"]
        corpus_vectors = _embed(client, model, texts)
        query = _embed(client, model, ["mitral valve stenosis"])[0]
        expected = corpus_vectors @ query
        assert [hit["rank"] for hit in hits] == list(range(1, 7))
        assert [hit["id"] for hit in hits] == [INDEX_CORPUS[i]["id"] for i in np.argsort(-expected, kind="stable")]
        assert np.allclose([hit["score"] for hit in hits], np.sort(expected)[::-1], atol=1e-4)
        # The row's other fields, but not its source (a file path for document rows: opt-in, see below).
        assert hits[0]["id"] == "ms" and hits[0]["metadata"] == {}
        rankings[model] = [hit["score"] for hit in hits]
    assert not np.allclose(rankings["alpha"], rankings["beta"], atol=1e-3), "each model must rank with its own vectors"
    two = client.post("/v1/search", json={"model": "alpha", "query": "pericardial effusion", "k": 2}).json()["data"]
    assert len(two) == 2


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "nope", "query": "x"}, 404, "model"),
        ({"model": "alpha", "query": "  "}, 400, "query"),
        ({"model": "alpha", "query": "x", "k": 0}, 400, "k"),
        ({"model": "alpha", "query": "x", "k": 51}, 400, "k"),
        ({"model": "alpha", "query": "x", "k": "3"}, 400, "k"),
        ({"model": "alpha"}, 400, "query"),
        ({"model": "alpha", "query": "x", "extra": 1}, 400, "extra"),
    ],
)
def test_bad_searches_are_4xx_naming_the_field(client, body, status, param):
    response = client.post("/v1/search", json=body)
    assert response.status_code == status
    assert response.json()["error"]["param"] == param


def test_a_server_without_an_index_says_so(pool):
    with TestClient(create_app(pool)) as client:
        for response in (client.get("/v1/index"), client.post("/v1/search", json={"model": "alpha", "query": "x"})):
            assert response.status_code == 404 and response.json()["error"]["code"] == "no_index"


def test_an_adapter_loaded_at_run_time_embeds_the_corpus_on_its_first_search(client, two_adapters):
    root, adapters = two_adapters
    path = str(adapters["alpha"].relative_to(root))
    assert client.post("/admin/adapters", json={"name": "gamma", "path": path}, headers=AUTH).status_code == 200
    assert "gamma" not in client.get("/v1/index").json()["embedded_for"]
    query = {"query": "atrial fibrillation", "k": 6}
    gamma = client.post("/v1/search", json={"model": "gamma", **query}).json()["data"]
    alpha = client.post("/v1/search", json={"model": "alpha", **query}).json()["data"]
    assert [h["id"] for h in gamma] == [h["id"] for h in alpha]
    assert np.allclose([h["score"] for h in gamma], [h["score"] for h in alpha], atol=1e-4)
    assert "gamma" in client.get("/v1/index").json()["embedded_for"]
    # Reloaded under the same name with other weights: the old vectors are not used.
    beta_path = str(adapters["beta"].relative_to(root))
    assert client.delete("/admin/adapters/gamma", headers=AUTH).status_code == 200
    assert "gamma" not in client.get("/v1/index").json()["embedded_for"]
    assert client.post("/admin/adapters", json={"name": "gamma", "path": beta_path}, headers=AUTH).status_code == 200
    again = client.post("/v1/search", json={"model": "gamma", **query}).json()["data"]
    beta = client.post("/v1/search", json={"model": "beta", **query}).json()["data"]
    assert np.allclose([h["score"] for h in again], [h["score"] for h in beta], atol=1e-4)


def test_serve_refuses_a_directory_that_is_not_an_index_before_loading_a_model(tmp_path):
    from cardiolora.cli import app

    result = CliRunner().invoke(app, ["serve", "--index", str(tmp_path)])
    assert result.exit_code != 0
    assert "is not a cardiolora index directory" in result.output


def test_serve_with_an_index_embeds_it_for_every_model_before_it_serves(tiny_model_dir, index_dir, monkeypatch):
    from cardiolora.cli import app
    from cardiolora.serve import connections

    served = {}
    monkeypatch.setattr(connections, "run_server", lambda application, *args: served.update(app=application))
    result = CliRunner().invoke(app, ["serve", "--model", str(tiny_model_dir("bert")), "--index", str(index_dir)])
    assert result.exit_code == 0, result.output
    assert f"embedding the index {index_dir} ({len(INDEX_CORPUS)} rows)" in result.output
    with TestClient(served["app"], base_url="http://127.0.0.1:8000") as client:  # a loopback server: loopback Host
        model = client.get("/v1/models").json()["data"][0]["id"]
        assert client.get("/v1/index").json()["embedded_for"] == [model]
        hits = client.post("/v1/search", json={"model": model, "query": "chronic kidney disease", "k": 1}).json()
        assert hits["data"][0]["id"] == "ckd"


def test_searches_are_counted_by_model_and_status(client):
    assert client.post("/v1/search", json={"model": "alpha", "query": "mitral valve stenosis"}).status_code == 200
    assert client.post("/v1/search", json={"model": "nope", "query": "x"}).status_code == 404
    text = client.get("/metrics").text
    assert 'cardiolora_search_requests_total{model="alpha",status="200"} 1.0' in text
    assert 'cardiolora_search_requests_total{model="unknown",status="404"} 1.0' in text


def test_row_sources_reach_search_clients_only_when_the_server_shows_them(index_dir, pool):
    for show, expected in ((False, {}), (True, {"source": "cardiology"})):
        corpus = ServedCorpus.open(index_dir, show_sources=show)
        with TestClient(create_app(pool, ServeSettings(window_ms=1), corpus)) as client:
            found = client.post("/v1/search", json={"model": pool.names()[0], "query": "mitral valve stenosis", "k": 6})
            hits = {hit["id"]: hit["metadata"] for hit in found.json()["data"]}
            assert hits["ms"] == expected
