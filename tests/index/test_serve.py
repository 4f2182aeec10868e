"""`/v1/search` over an IVF index: the stored vectors, searched by the model that made them, with a
checked `nprobe`; refused for a flat index."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cardiolora.errors import CardioloraError
from cardiolora.serve import AdapterPool, ServeSettings, create_app
from cardiolora.serve.corpus import ServedCorpus

TEXTS = [f"{a} {b} case {i}" for i, (a, b) in enumerate((a, b) for a in "abcdefghij" for b in "klmnopqrst")]


@pytest.fixture(scope="module")
def pool(tiny_model_dir):
    return AdapterPool.load(str(tiny_model_dir("bert")))


def index(pool, out, index_type, **recipe):
    from cardiolora.index import build_index

    rows = [{"id": f"t{i}", "text": text} for i, text in enumerate(TEXTS)]
    return build_index(pool.embedder, rows, out, index_type=index_type, **recipe)


def client_for(pool, corpus):
    corpus.bind(pool)
    if corpus.index is None:
        corpus.embed_all(pool.encode, pool.names())
    return TestClient(create_app(pool, ServeSettings(window_ms=1), corpus))


def test_an_ivf_index_is_searched_through_its_stored_vectors(pool, tmp_path):
    corpus = ServedCorpus.open(index(pool, tmp_path / "ivf", "ivf-flat", nlist=4, nprobe=1))
    assert corpus.texts == [] and corpus.vectors == {}  # nothing embedded again
    with client_for(pool, corpus) as client:
        described = client.get("/v1/index").json()
        assert described["type"] == "ivf-flat" and described["nlist"] == 4 and described["nprobe"] == 1
        assert described["embedded_for"] == [pool.base_name]
        every = client.post("/v1/search", json={"model": pool.base_name, "query": TEXTS[7], "k": 3, "nprobe": 4})
        assert every.status_code == 200, every.text
        hits = every.json()["data"]
    # Every list probed: an ivf-flat search is exact, the ranking of the served vectors (the tiny
    # model's cosines lie close together, so ties are compared by score, not by id).
    scores = pool.encode(TEXTS, pool.base_name) @ pool.encode([TEXTS[7]], pool.base_name)[0]
    assert [hit["rank"] for hit in hits] == [1, 2, 3]
    assert [hit["score"] for hit in hits] == pytest.approx(np.sort(scores)[::-1][:3], abs=1e-4)
    assert [hit["score"] for hit in hits] == pytest.approx([scores[int(h["id"][1:])] for h in hits], abs=1e-4)


@pytest.mark.parametrize("nprobe", [0, -1, 5, True, "2", 1.5])
def test_nprobe_is_a_positive_int_at_most_nlist(pool, tmp_path, nprobe):
    corpus = ServedCorpus.open(index(pool, tmp_path / "ivf", "ivf-flat", nlist=4))
    with client_for(pool, corpus) as client:
        refused = client.post("/v1/search", json={"model": pool.base_name, "query": "a k", "nprobe": nprobe})
    assert refused.status_code in (400, 422), refused.text
    assert "nprobe" in refused.text


def test_nprobe_is_refused_for_a_flat_index(pool, tmp_path):
    corpus = ServedCorpus.open(index(pool, tmp_path / "flat", "flat"))
    with client_for(pool, corpus) as client:
        refused = client.post("/v1/search", json={"model": pool.base_name, "query": "a k", "nprobe": 1})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "nprobe"
        assert client.post("/v1/search", json={"model": pool.base_name, "query": "a k"}).status_code == 200
    with pytest.raises(CardioloraError, match="--nprobe applies to ivf-flat and ivf-pq"):
        ServedCorpus.open(tmp_path / "flat", nprobe=2)


def test_an_ivf_index_needs_the_model_that_made_it(pool, tmp_path, tiny_model_dir):
    corpus = ServedCorpus.open(index(pool, tmp_path / "ivf", "ivf-flat", nlist=4))
    other = AdapterPool.load(str(tiny_model_dir("mpnet")))
    with pytest.raises(CardioloraError, match="serve that model"):
        corpus.bind(other)
