"""Semantic search: an embedded FAISS index in a directory, queries against it, and retrieval
metrics (Recall@k, MRR, nDCG) for query/relevant pairs.

An index directory holds ``index.faiss`` (flat inner product, exact; or HNSW, approximate),
``meta.jsonl`` (one corpus row per vector, in order) and ``index.json`` (model, adapter,
dimension, kind, counts, package versions). It is written to a temporary directory and renamed into
place, so a half-built index never exists.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cardiolora.errors import CardioloraError, InputError
from cardiolora.io import atomic_directory, iter_jsonl

INDEX_KINDS = ("flat", "hnsw")


def read_corpus(path: str | Path, text_field: str = "text", id_field: str = "id") -> list[dict[str, Any]]:
    """Corpus rows with a non-empty ``text_field``; a missing id becomes the row number."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    rows, seen = [], set()
    for line, record in iter_jsonl(path):
        text = record.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"missing or empty text field {text_field!r}", path=path, line=line, field=text_field)
        row_id = str(record.get(id_field, len(rows)))
        if row_id in seen:
            raise InputError(f"duplicate id {row_id!r}", path=path, line=line, field=id_field)
        seen.add(row_id)
        rows.append({**record, "id": row_id, "text": text})
    if not rows:
        raise InputError("the corpus is empty", path=path)
    return rows


def _faiss_index(vectors: np.ndarray, kind: str):
    import faiss

    dimension = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dimension)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 64
    else:
        raise CardioloraError(f"index kind must be one of {', '.join(INDEX_KINDS)}, got {kind!r}")
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def build_index(embedder, corpus: list[dict[str, Any]], out: str | Path, *, kind: str = "flat", overwrite: bool = False) -> Path:
    """Embed ``corpus`` (passage role) and write an index directory at ``out``."""
    import shutil

    import faiss

    from cardiolora.versions import package_versions

    out = Path(out)
    if kind not in INDEX_KINDS:
        raise CardioloraError(f"index kind must be one of {', '.join(INDEX_KINDS)}, got {kind!r}")
    if out.exists() and not overwrite:
        raise CardioloraError(f"{out} exists; pass --overwrite to replace it")
    vectors = embedder.encode([row["text"] for row in corpus], role="passage")
    index = _faiss_index(vectors, kind)
    with atomic_directory(out) as tmp:
        faiss.write_index(index, str(tmp / "index.faiss"))
        with open(tmp / "meta.jsonl", "w") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in corpus)
        described = embedder.describe()
        (tmp / "index.json").write_text(json.dumps({
            "schema": "cardiolora.index/1", "kind": kind, "count": len(corpus), "dimension": int(vectors.shape[1]),
            "model": described["name"] if not described.get("source", "").startswith("path:") else described["source"][5:],
            "adapter": described.get("adapter"), "embedder": described, "versions": package_versions(("faiss-cpu",)),
        }, indent=2))  # fmt: skip
        if out.exists():  # --overwrite: the old index goes only once the new one is complete
            shutil.rmtree(out)
    return out


@dataclass
class SearchIndex:
    path: Path
    info: dict[str, Any]
    index: Any
    rows: list[dict[str, Any]]
    embedder: Any = None

    @classmethod
    def open(cls, path: str | Path, embedder=None) -> SearchIndex:
        import faiss

        path = Path(path)
        if not (path / "index.json").exists() or not (path / "index.faiss").exists():
            raise CardioloraError(f"{path} is not a cardiolora index directory (no index.json / index.faiss)")
        info = json.loads((path / "index.json").read_text())
        with open(path / "meta.jsonl") as handle:
            rows = [json.loads(line) for line in handle]
        if embedder is None:
            from cardiolora.embedding import Embedder

            embedder = Embedder.load(info["model"], adapter=info.get("adapter"))
        if embedder.dimension != info["dimension"]:
            raise CardioloraError(f"{path} holds {info['dimension']}-dimensional vectors; the embedder makes {embedder.dimension}")
        return cls(path, info, faiss.read_index(str(path / "index.faiss")), rows, embedder)

    def search(self, queries: Sequence[str], k: int = 5) -> list[list[tuple[float, dict[str, Any]]]]:
        if k < 1:
            raise CardioloraError("k must be >= 1")
        vectors = self.embedder.encode(list(queries), role="query")
        scores, ids = self.index.search(np.ascontiguousarray(vectors), min(k, len(self.rows)))
        return [[(float(s), self.rows[i]) for s, i in zip(srow, irow) if i >= 0] for srow, irow in zip(scores, ids)]


def retrieval_metrics(ranked: list[list[str]], relevant: list[set[str]], ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Recall@k, MRR@max(k) and nDCG@k with binary relevance, averaged over queries.

    Written out here: the formulas are a few lines, and the evaluation libraries that have them
    (pytrec_eval, ir-measures) are heavy dependencies for three averages.
    """
    depth = max(ks)
    totals: dict[str, float] = {f"recall@{k}": 0.0 for k in ks} | {f"ndcg@{k}": 0.0 for k in ks} | {f"mrr@{depth}": 0.0}
    for ids, wanted in zip(ranked, relevant):
        hits = [1.0 if i in wanted else 0.0 for i in ids[:depth]]
        for k in ks:
            totals[f"recall@{k}"] += sum(hits[:k]) / len(wanted)
            dcg = sum(h / math.log2(rank + 2) for rank, h in enumerate(hits[:k]))
            ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(wanted))))
            totals[f"ndcg@{k}"] += dcg / ideal
        first = next((rank for rank, h in enumerate(hits) if h), None)
        totals[f"mrr@{depth}"] += 0.0 if first is None else 1.0 / (first + 1)
    return {name: value / max(1, len(ranked)) for name, value in totals.items()}


def read_queries(path: str | Path) -> list[tuple[str, set[str]]]:
    """JSONL rows ``{"query": text, "relevant": [corpus id, ...]}``."""
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


def eval_set_retrieval(eval_set) -> tuple[list[dict[str, Any]], list[tuple[str, set[str]]]]:
    """A retrieval task from an evaluation set: every text is in the corpus, and each similar or
    paraphrase pair's first text queries for its second (the other texts are distractors)."""
    texts = eval_set.sentences()
    ids = {t: str(i) for i, t in enumerate(texts)}
    corpus = [{"id": ids[t], "text": t} for t in texts]
    queries: dict[str, set[str]] = {}
    for pair in eval_set.pairs:
        if pair.category in ("similar", "paraphrase"):
            queries.setdefault(pair.sentence1, set()).add(ids[pair.sentence2])
    return corpus, list(queries.items())


def evaluate_retrieval(search_index: SearchIndex, queries: list[tuple[str, set[str]]], ks: Sequence[int] = (1, 5, 10),
                       exclude_self: bool = False) -> dict[str, Any]:  # fmt: skip
    """Rank the index for every query and average the metrics. ``exclude_self`` drops a hit whose
    text equals the query (for corpora that contain the queries)."""
    depth = max(ks) + (1 if exclude_self else 0)
    results = search_index.search([q for q, _ in queries], k=depth)
    ranked = []
    for (query, _), hits in zip(queries, results):
        ranked.append([row["id"] for _, row in hits if not (exclude_self and row["text"] == query)][: max(ks)])
    return {"queries": len(queries), **retrieval_metrics(ranked, [r for _, r in queries], ks)}
