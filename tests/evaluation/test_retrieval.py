"""Retrieval as an evaluation: the metrics, exact cosine ranking, and the guarantee the move to numpy
rests on, that an evaluation set scored here gives the numbers of the FAISS index path it replaced."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from cardiolora.errors import InputError
from cardiolora.evaluation import load_eval_set
from cardiolora.evaluation.retrieval import (
    DEFAULT_KS,
    eval_set_retrieval,
    evaluate_eval_set_retrieval,
    evaluate_vectors,
    rank_by_cosine,
    read_queries,
    retrieval_metrics,
)


def test_metrics_on_a_hand_worked_ranking():
    ranked = [["a", "b", "c"], ["x", "y", "z"], ["p", "q", "r"]]
    relevant = [{"a"}, {"z"}, {"nothing"}]
    metrics = retrieval_metrics(ranked, relevant, ks=(1, 3))
    assert metrics["recall@1"] == pytest.approx(1 / 3)
    assert metrics["recall@3"] == pytest.approx(2 / 3)
    assert metrics["mrr@3"] == pytest.approx((1 + 1 / 3) / 3)
    # nDCG against scikit-learn's, query by query, with graded scores from the ranking.
    expected = []
    for ids, wanted in zip(ranked, relevant, strict=True):
        truth = np.array([[1.0 if i in wanted else 0.0 for i in ids]])
        expected.append(ndcg_score(truth, np.array([[3.0, 2.0, 1.0]]), k=3) if truth.sum() else 0.0)
    assert metrics["ndcg@3"] == pytest.approx(np.mean(expected))


def test_ties_are_broken_by_corpus_position_whatever_the_number_of_queries():
    """FAISS orders equal scores differently for one query than for a batch of 20 or more (its BLAS
    path); the exact ranking must not: lowest corpus position first, in every batch size."""
    corpus = np.array([[1, 0], [1, 0], [0, 1], [1, 0], [0.6, 0.8]], dtype=np.float32)
    assert rank_by_cosine(np.array([[1.0, 0.0]]), corpus, 4) == [[0, 1, 3, 4]]
    many = rank_by_cosine(np.tile([[1.0, 0.0]], (25, 1)), corpus, 2)
    assert many == [[0, 1]] * 25


def test_exclude_self_drops_only_the_rows_holding_the_query_text():
    corpus = [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "c", "text": "z"}]
    vectors = np.eye(3, dtype=np.float32)
    query = np.array([[0.8, 0.5, 0.33]], dtype=np.float32)  # nearest: a (itself), then b, then c
    queries = [("x", {"b"})]
    kept = evaluate_vectors("t", corpus, queries, vectors, query, ks=(1, 2), exclude_self=True)
    assert kept.recall(1) == 1.0 and kept.mrr == 1.0
    found_itself = evaluate_vectors("t", corpus, queries, vectors, query, ks=(1, 2))
    assert found_itself.recall(1) == 0.0 and found_itself.mrr == 0.5


def test_a_result_serializes_as_the_metrics_object_of_the_retrieval_files():
    corpus = [{"id": str(i), "text": t} for i, t in enumerate("abc")]
    result = evaluate_vectors("t", corpus, [("a", {"1"})], np.eye(3), np.eye(3)[:1], exclude_self=True)
    # retention_probe.py and the study read `mrr@10` / `recall@5` from exactly this shape.
    assert list(result.to_dict()) == [
        "queries",
        "recall@1",
        "recall@5",
        "recall@10",
        "ndcg@1",
        "ndcg@5",
        "ndcg@10",
        "mrr@10",
    ]
    assert result.to_dict()["queries"] == 1 and result.corpus_size == 3


def test_queries_file_takes_a_bare_id_and_refuses_an_empty_list(write_jsonl):
    good = write_jsonl("q.jsonl", [{"query": "mitral", "relevant": 7}, {"query": "aortic", "relevant": ["a", "b"]}])
    assert read_queries(good) == [("mitral", {"7"}), ("aortic", {"a", "b"})]
    bad = write_jsonl("bad.jsonl", [{"query": "mitral", "relevant": []}])
    with pytest.raises(InputError, match=r"bad.jsonl:1: field 'relevant'"):
        read_queries(bad)


def _vocabulary_eval_set(tmp_path):
    """An evaluation set over the tiny tokenizer's words only (no unknown tokens, so every text
    embeds differently and no two scores tie), each similar pair sharing words so retrieval works;
    more than 20 queries, so FAISS searches through its BLAS path."""
    from cardiolora.models.tiny import _WORDS

    words = [w for w in _WORDS if w.isalpha()]
    rng = random.Random(0)
    rows, seen = [], set()
    while len(rows) < 30:
        first = " ".join(rng.sample(words, 3))
        second = " ".join([*first.split()[:2], rng.choice(words)])
        if first in seen or second in seen or first == second:
            continue
        seen |= {first, second}
        category = "paraphrase" if len(rows) % 6 == 0 else "similar"
        rows.append({"sentence1": first, "sentence2": second, "category": category})
    rows += [
        {"sentence1": rows[i]["sentence1"], "sentence2": rows[i + 1]["sentence2"], "category": "different"}
        for i in range(0, 10, 2)
    ]
    path = tmp_path / "vocabulary.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_eval_set(path)


def _compare_with_faiss(embedder, eval_set, tmp_path):
    from cardiolora.serve.search import SearchIndex, build_index, evaluate_retrieval

    exact = evaluate_eval_set_retrieval(embedder, eval_set)
    corpus, queries = eval_set_retrieval(eval_set)
    index = SearchIndex.open(build_index(embedder, corpus, tmp_path / "index"), embedder)
    via_faiss = evaluate_retrieval(index, queries, DEFAULT_KS, exclude_self=True)
    assert exact.queries == via_faiss.queries == len(queries)
    assert exact.scores == pytest.approx(via_faiss.scores, abs=1e-9)
    # The rankings themselves, not only their averages, the query's own text included.
    depth = 12
    corpus_vectors = embedder.encode([row["text"] for row in corpus], role="passage")
    query_vectors = embedder.encode([q for q, _ in queries], role="query")
    ranked = rank_by_cosine(query_vectors, corpus_vectors, depth)
    hits = index.search([q for q, _ in queries], k=depth)
    assert ranked == [[int(row["id"]) for _, row in found] for found in hits]
    return exact


def test_exact_cosine_gives_the_numbers_of_a_faiss_flat_index(tiny_model_dir, tmp_path):
    from cardiolora.embedding import Embedder

    eval_set = _vocabulary_eval_set(tmp_path)
    embedder = Embedder.load(str(tiny_model_dir("bert")))
    exact = _compare_with_faiss(embedder, eval_set, tmp_path)
    assert exact.queries > 20
    assert exact.mrr > 0.1, "pairs sharing words should be found: a test of all-zero metrics proves little"


@pytest.mark.slow
def test_minilm_on_cardiology_matches_the_faiss_index_path(minilm, tmp_path):
    """The packaged model on the bundled set: the numbers `evaluate-retrieval -e cardiology`
    reported through a temporary FAISS index are the ones computed by exact cosine now."""
    exact = _compare_with_faiss(minilm, load_eval_set("cardiology"), tmp_path)
    assert 0.2 < exact.mrr < 0.9
