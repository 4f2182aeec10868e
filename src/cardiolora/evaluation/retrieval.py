"""Retrieval as an evaluation: a task is data (a corpus and queries with their relevant ids) plus a
metric (Recall@k, MRR, nDCG@k with binary relevance), as in MTEB; the runner knows neither.

An evaluation set becomes a retrieval task with :func:`eval_set_retrieval`: every distinct text is
in the corpus, and each similar or paraphrase pair's first text queries for its second (the other
texts are distractors). :func:`evaluate_eval_set_retrieval` scores an embedder on it by exact
cosine in numpy: corpus texts embedded in the passage role, queries in the query role (what a
FAISS flat index built by ``cardiolora index build`` and searched by ``cardiolora search`` does),
so the numbers are those of that index without building one.

Nothing here imports FAISS, torch or FastAPI: the metrics are plain Python and numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cardiolora.errors import InputError
from cardiolora.io import iter_jsonl

if TYPE_CHECKING:
    from cardiolora.embedding import Embedder
    from cardiolora.evaluation.evalset import EvalSet

DEFAULT_KS = (1, 5, 10)
Query = tuple[str, set[str]]


def retrieval_metrics(
    ranked: list[list[str]], relevant: list[set[str]], ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """Recall@k, MRR@max(k) and nDCG@k with binary relevance, averaged over queries.

    ``ranked[i]`` is the ids retrieved for query ``i``, best first; ``relevant[i]`` its relevant ids.
    Written out here: the formulas are a few lines, and the evaluation libraries that have them
    (pytrec_eval, ir-measures) are heavy dependencies for three averages.
    """
    depth = max(ks)
    totals = {f"recall@{k}": 0.0 for k in ks} | {f"ndcg@{k}": 0.0 for k in ks} | {f"mrr@{depth}": 0.0}
    for ids, wanted in zip(ranked, relevant, strict=True):
        hits = [1.0 if i in wanted else 0.0 for i in ids[:depth]]
        for k in ks:
            totals[f"recall@{k}"] += sum(hits[:k]) / len(wanted)
            dcg = sum(h / math.log2(rank + 2) for rank, h in enumerate(hits[:k]))
            ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(wanted))))
            totals[f"ndcg@{k}"] += dcg / ideal
        first = next((rank for rank, h in enumerate(hits) if h), None)
        totals[f"mrr@{depth}"] += 0.0 if first is None else 1.0 / (first + 1)
    return {name: value / max(1, len(ranked)) for name, value in totals.items()}


def read_queries(path: str | Path) -> list[Query]:
    """JSONL rows ``{"query": text, "relevant": [corpus id, ...]}`` (one id may be given bare)."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    queries = []
    for line, record in iter_jsonl(path):
        query = record.get("query")
        if not isinstance(query, str) or not query.strip():
            raise InputError("missing or empty query", path=path, line=line, field="query")
        relevant = record.get("relevant")
        if isinstance(relevant, str | int):
            relevant = [relevant]
        if not isinstance(relevant, list) or not relevant:
            raise InputError("relevant must be a non-empty list of corpus ids", path=path, line=line, field="relevant")
        queries.append((query, {str(r) for r in relevant}))
    if not queries:
        raise InputError("no queries", path=path)
    return queries


def eval_set_retrieval(eval_set: EvalSet) -> tuple[list[dict[str, Any]], list[Query]]:
    """A retrieval task from an evaluation set: every text is in the corpus (id = its position),
    and each similar or paraphrase pair's first text queries for its second."""
    texts = eval_set.sentences()
    ids = {t: str(i) for i, t in enumerate(texts)}
    corpus = [{"id": ids[t], "text": t} for t in texts]
    queries: dict[str, set[str]] = {}
    for pair in eval_set.pairs:
        if pair.category in ("similar", "paraphrase"):
            queries.setdefault(pair.sentence1, set()).add(ids[pair.sentence2])
    return corpus, list(queries.items())


@dataclass(frozen=True)
class RetrievalResult:
    """The metrics of one retrieval task: ``scores`` maps ``recall@k``, ``ndcg@k`` and ``mrr@K``
    (K the largest cut-off) to their mean over ``queries`` queries.

    :meth:`to_dict` is the ``metrics`` object of ``cardiolora evaluate-retrieval --out`` and of a
    study's evaluation files: ``{"queries": n, "recall@1": ..., ..., "mrr@10": ...}``."""

    task: str
    queries: int
    scores: dict[str, float]
    ks: tuple[int, ...] = DEFAULT_KS
    corpus_size: int | None = field(default=None, compare=False)

    @property
    def mrr(self) -> float:
        return self.scores[f"mrr@{max(self.ks)}"]

    def recall(self, k: int) -> float:
        return self.scores[f"recall@{k}"]

    def to_dict(self) -> dict[str, Any]:
        return {"queries": self.queries, **self.scores}


def _cutoffs(ks: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(sorted(set(ks)))
    if not ks or ks[0] < 1:
        raise ValueError(f"cut-offs must be integers >= 1, got {ks}")
    return ks


def rank_by_cosine(
    query_vectors: np.ndarray,
    corpus_vectors: np.ndarray,
    depth: int,
    exclude: Sequence[Sequence[int]] | None = None,
) -> list[list[int]]:
    """The ``depth`` corpus positions of highest inner product (cosine for unit vectors) for each
    query, best first, exactly (every score is computed, in float32 like a FAISS flat index).

    The corpus positions in ``exclude[i]`` are left out of query ``i``'s ranking. Equal scores
    are broken by corpus position, lowest first, whatever the number of queries: FAISS's own tie
    order depends on its code path (a query batch of 20 or more goes through BLAS and breaks ties
    differently), so only exact ties can differ from an index, and those are arbitrary there.
    """
    queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
    corpus = np.ascontiguousarray(corpus_vectors, dtype=np.float32)
    if queries.ndim != 2 or corpus.ndim != 2 or queries.shape[1] != corpus.shape[1]:
        raise ValueError(f"expected (n, d) query and corpus arrays, got {queries.shape} and {corpus.shape}")
    scores = queries @ corpus.T
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = []
    for i, row in enumerate(order):
        skip = exclude[i] if exclude is not None else ()
        kept = row[~np.isin(row, skip)] if len(skip) else row
        ranked.append(kept[:depth].tolist())
    return ranked


def evaluate_rankings(
    task: str,
    ranked: list[list[str]],
    queries: list[Query],
    ks: Sequence[int] = DEFAULT_KS,
    corpus_size: int | None = None,
) -> RetrievalResult:
    """A :class:`RetrievalResult` from each query's ranked ids (any retriever: exact, FAISS...)."""
    ks = _cutoffs(ks)
    scores = retrieval_metrics(ranked, [relevant for _, relevant in queries], ks)
    return RetrievalResult(task, len(queries), scores, ks, corpus_size)


def evaluate_vectors(
    task: str,
    corpus: list[dict[str, Any]],
    queries: list[Query],
    corpus_vectors: np.ndarray,
    query_vectors: np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
    exclude_self: bool = False,
) -> RetrievalResult:
    """Score embedded queries against an embedded corpus by exact cosine.

    ``exclude_self`` leaves out every corpus row whose text equals the query (for corpora that
    contain their queries, as an evaluation set's does): the query finding itself is no retrieval.
    """
    ks = _cutoffs(ks)
    exclude: list[list[int]] | None = None
    if exclude_self:
        positions: dict[str, list[int]] = {}
        for i, row in enumerate(corpus):
            positions.setdefault(row["text"], []).append(i)
        exclude = [positions.get(query, []) for query, _ in queries]
    ranked_positions = rank_by_cosine(query_vectors, corpus_vectors, max(ks), exclude)
    ranked = [[corpus[j]["id"] for j in row] for row in ranked_positions]
    return evaluate_rankings(task, ranked, queries, ks, len(corpus))


def evaluate_eval_set_retrieval(
    embedder: Embedder, eval_set: EvalSet, ks: Sequence[int] = DEFAULT_KS, *, batch_size: int | None = None
) -> RetrievalResult:
    """An evaluation set as a retrieval task (:func:`eval_set_retrieval`), scored by exact cosine.

    The same numbers as building a flat FAISS index of the set's texts with this embedder and
    searching it with every query, the query's own text left out (``cardiolora evaluate-retrieval
    -e NAME`` did exactly that before it computed them here)."""
    corpus, queries = eval_set_retrieval(eval_set)
    corpus_vectors = embedder.encode([row["text"] for row in corpus], role="passage", batch_size=batch_size)
    query_vectors = embedder.encode([query for query, _ in queries], role="query", batch_size=batch_size)
    return evaluate_vectors(eval_set.name, corpus, queries, corpus_vectors, query_vectors, ks, exclude_self=True)
