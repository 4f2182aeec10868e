from __future__ import annotations

import numpy as np
import pytest


def clustered_vectors(n: int, dimension: int = 64, clusters: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors in ``clusters`` topics: each topic a centre, each vector its centre plus noise in
    an 8-dimensional subspace of the topic and a little everywhere (sentence embeddings are clustered
    and of low intrinsic dimension; isotropic noise would test PQ on data unlike them)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dimension))
    bases = rng.normal(size=(clusters, 8, dimension))
    topic = rng.integers(0, clusters, n)
    spread = np.einsum("nk,nkd->nd", rng.normal(size=(n, 8)), bases[topic])
    vectors = centres[topic] + 0.5 * spread + 0.1 * rng.normal(size=(n, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def corpus_rows(n: int) -> list[dict]:
    return [{"id": f"r{i}", "text": f"text {i}", "source": "synthetic"} for i in range(n)]


def chunked(rows: list[dict], vectors: np.ndarray, size: int):
    return [(rows[start : start + size], vectors[start : start + size]) for start in range(0, len(rows), size)]


@pytest.fixture(scope="session")
def vectors() -> np.ndarray:
    return clustered_vectors(3000)


@pytest.fixture(autouse=True)
def one_faiss_thread():
    """FAISS's OpenMP threads spin while they wait: beside another busy process on two cores, k-means
    ran 13x slower with two threads than with one (DEVELOPERS.md)."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)
