"""Index types built chunk by chunk from synthetic clustered unit vectors (tests/index/conftest.py),
searched, checked for recall, loaded memory-mapped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cardiolora.errors import CardioloraError
from cardiolora.index import INDEX_TYPES, build_index_from_chunks
from cardiolora.index.build import recall_at_k
from cardiolora.index.rows import RowStore
from cardiolora.index.search import open_exact_vectors, open_faiss_index, search_vectors
from tests.index.conftest import chunked, corpus_rows

# IVF-PQ on 3,000 clustered 64-dimensional vectors (PQ16x6, 76 lists, nprobe 4) measured 0.85.
IVF_PQ_RECALL_FLOOR = 0.75


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :10]


@pytest.mark.parametrize("index_type", INDEX_TYPES)
def test_each_type_builds_searches_and_records_its_recipe(vectors, tmp_path, index_type):
    rows = corpus_rows(len(vectors))
    built = build_index_from_chunks(
        chunked(rows, vectors, 700), tmp_path / "index", index_type=index_type, check_recall=100
    )
    info = json.loads((tmp_path / "index" / "index.json").read_text())
    assert info == built.info and info["kind"] == index_type and info["count"] == len(vectors)
    recipe = info["recipe"]
    assert recipe["type"] == index_type and recipe["dimension"] == 64
    if index_type.startswith("ivf"):
        assert recipe["nlist"] == 3000 // 39 and recipe["train_size"] == 3000 and recipe["nprobe"] >= 1
        assert info["train_sample"] == "seeded sample of the first chunks"
    if index_type == "ivf-pq":
        assert (recipe["pq_m"], recipe["pq_nbits"]) == (16, 6)
        # 20 bytes a vector of 256; the centroids and codebooks (fixed costs) weigh much at 3,000 vectors.
        assert info["index_bytes"] < info["float32_bytes"] / 7
    check = info["recall_check"]
    assert check["k"] == 10 and check["queries"] == 100 and 0 <= check["recall"] <= 1
    index = open_faiss_index(tmp_path / "index", info)
    exact = open_exact_vectors(tmp_path / "index", info)
    assert (exact is not None) == (index_type == "ivf-pq")  # only ivf-pq re-ranks
    scores, found = search_vectors(index, info, vectors[:5], 3, exact=exact)
    store = RowStore(tmp_path / "index")
    assert len(store) == len(rows) and store[int(found[0][0])]["id"].startswith("r")
    # Stored vectors find themselves first (ivf-pq too: its candidates are re-scored exactly).
    assert list(found[:, 0]) == [0, 1, 2, 3, 4]
    assert np.allclose(scores[:, 0], 1.0, atol=1e-5)
    assert store[0] == rows[0] and store[len(rows) - 1] == rows[-1]


def test_ivf_pq_recall_is_above_its_floor(vectors, tmp_path):
    built = build_index_from_chunks(
        chunked(corpus_rows(len(vectors)), vectors, 1000),
        tmp_path / "pq",
        index_type="ivf-pq",
        check_recall=300,
        rerank=0,
    )
    assert built.recall >= IVF_PQ_RECALL_FLOOR
    assert not (tmp_path / "pq" / "vectors.f32").exists() and built.info["recall_check"]["rerank"] == 0
    # The recorded check agrees with a search against exact neighbours computed here; more probes find more.
    index = open_faiss_index(tmp_path / "pq", built.info)
    queries = vectors[::10]
    truth = exact_top10(vectors, queries)
    recalls = [recall_at_k(search_vectors(index, built.info, queries, 10, p)[1], truth) for p in (1, 4, 76)]
    assert recalls[0] < recalls[1] <= recalls[2] and recalls[1] >= IVF_PQ_RECALL_FLOOR


def test_ivf_pq_reranks_its_candidates_exactly_from_vectors_on_disk(vectors, tmp_path):
    """The default ivf-pq keeps float32 vectors beside the codes and re-scores its best candidates:
    recall rises above what the codes reach, with the same probes, scores are exact cosines, and
    the index in memory stays the codes' size."""
    rows = corpus_rows(len(vectors))
    codes = build_index_from_chunks(chunked(rows, vectors, 1000), tmp_path / "codes", index_type="ivf-pq", rerank=0)
    built = build_index_from_chunks(
        chunked(rows, vectors, 1000), tmp_path / "rerank", index_type="ivf-pq", check_recall=300
    )
    info = built.info
    assert info["recipe"]["rerank"] == 100 and info["exact_vectors"] == "vectors.f32"
    assert (tmp_path / "rerank" / "vectors.f32").stat().st_size == info["float32_bytes"]
    assert info["index_bytes"] == codes.info["index_bytes"]  # the vectors are beside the index, not in it
    queries = vectors[1::10]
    truth = exact_top10(vectors, queries)
    index = open_faiss_index(tmp_path / "rerank", info)
    exact = open_exact_vectors(tmp_path / "rerank", info)
    scores, found = search_vectors(index, info, queries, 10, exact=exact)
    plain = recall_at_k(search_vectors(index, info, queries, 10)[1], truth)
    reranked = recall_at_k(found, truth)
    assert reranked > plain and reranked >= 0.95 and built.recall >= 0.95
    assert np.allclose(scores, np.take_along_axis(queries @ vectors.T, found, axis=1), atol=1e-6)
    assert (np.diff(scores, axis=1) <= 0).all()
    # A cut vectors file is refused, naming the rebuild.
    with open(tmp_path / "rerank" / "vectors.f32", "r+b") as handle:
        handle.truncate(1000)
    with pytest.raises(CardioloraError, match="build the index again"):
        open_exact_vectors(tmp_path / "rerank", info)


def test_a_chunked_flat_build_equals_the_in_memory_one(vectors, tmp_path):
    rows = corpus_rows(len(vectors))
    whole = build_index_from_chunks([(rows, vectors)], tmp_path / "whole", index_type="flat")
    parts = build_index_from_chunks(chunked(rows, vectors, 333), tmp_path / "parts", index_type="flat")
    for name in ("index.faiss", "meta.jsonl", "meta.offsets.npy"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "parts" / name).read_bytes()
    a = search_vectors(open_faiss_index(whole.path, whole.info), whole.info, vectors[:20], 10)
    b = search_vectors(open_faiss_index(parts.path, parts.info), parts.info, vectors[:20], 10)
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[1], exact_top10(vectors, vectors[:20]))


def test_the_automatic_type_follows_the_count(vectors, tmp_path):
    built = build_index_from_chunks(chunked(corpus_rows(len(vectors)), vectors, 500), tmp_path / "auto")
    assert built.info["recipe"]["type"] == "flat" and "recall_check" not in built.info


def test_ivf_lists_are_memory_mapped(vectors, tmp_path):
    import faiss

    built = build_index_from_chunks(
        [(corpus_rows(len(vectors)), vectors)], tmp_path / "ivf", index_type="ivf-flat", nlist=16, nprobe=16
    )
    mapped = open_faiss_index(built.path, built.info)
    lists = faiss.downcast_InvertedLists(faiss.extract_index_ivf(mapped).invlists)
    assert type(lists).__name__ == "OnDiskInvertedLists"  # FAISS's read-only mapping of the file
    loaded = open_faiss_index(built.path, built.info, mmap=False)
    assert np.array_equal(
        search_vectors(mapped, built.info, vectors[:10], 5)[1], search_vectors(loaded, built.info, vectors[:10], 5)[1]
    )
    assert mapped.nprobe == 16  # the recorded default


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        (lambda rows, v: [(rows[:10], v[:10]), (rows[10:20], v[10:20] * 2)], "chunk 2: vectors must be L2-normalised"),
        (lambda rows, v: [(rows[:10], v[:9])], "10 rows but 9 vectors"),
        (lambda rows, v: [(rows[:10], v[:10]), (rows[10:20], v[10:20, :32])], r"shape \(rows, 64\)"),
        (lambda rows, v: [([{"text": "no id"}], v[:1])], "with an id and a text"),
        (lambda rows, v: [], "no vectors to index"),
    ],
)
def test_bad_chunks_fail_clearly_and_leave_nothing(vectors, tmp_path, chunks, message):
    rows = corpus_rows(20)
    with pytest.raises(CardioloraError, match=message):
        build_index_from_chunks(chunks(rows, vectors), tmp_path / "index", index_type="flat")
    assert list(tmp_path.iterdir()) == []  # no index, no temporary directory, no lock file


def test_a_count_that_does_not_match_fails_and_leaves_nothing(vectors, tmp_path):
    with pytest.raises(CardioloraError, match="count said 100"):
        build_index_from_chunks(
            chunked(corpus_rows(200), vectors[:200], 50), tmp_path / "index", index_type="ivf-flat", count=100
        )
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_refused_without_overwrite(vectors, tmp_path):
    rows = corpus_rows(50)
    build_index_from_chunks([(rows, vectors[:50])], tmp_path / "index", index_type="flat")
    with pytest.raises(CardioloraError, match="--overwrite"):
        build_index_from_chunks([(rows, vectors[:50])], tmp_path / "index", index_type="flat")
    again = build_index_from_chunks([(rows, vectors[:50])], tmp_path / "index", index_type="hnsw", overwrite=True)
    assert again.info["kind"] == "hnsw"
