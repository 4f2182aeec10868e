"""Opening and searching an index directory, and scoring it against query/relevant pairs with the
retrieval metrics of :mod:`cardiolora.evaluation.retrieval`.

Loading: the FAISS index is memory-mapped, so a large index opens at once and its pages are shared
between processes. IVF types map their inverted lists (``IO_FLAG_MMAP``: FAISS's read-only
``OnDiskInvertedLists`` over the file; the coarse centroids and PQ codebooks are read into memory);
flat maps its vectors (``IO_FLAG_MMAP_IFC``); HNSW maps its vectors and reads its graph into memory
(FAISS has no mapped graph). The two flags cannot be combined (IVF lists refuse the other reader).
Rows are read one at a time from ``meta.jsonl`` (:mod:`cardiolora.index.rows`). An ivf-pq index
that re-ranks maps ``vectors.f32`` too: a search reads its candidates' rows only.

``index.json`` names the adapter by its absolute path with the sha256 of its weights: a search
finds it from any working directory, and refuses an adapter that changed since the vectors were made.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cardiolora.errors import CardioloraError
from cardiolora.evaluation.retrieval import DEFAULT_KS, RetrievalResult, evaluate_rankings
from cardiolora.index.build import ADAPTER_WEIGHTS, EXACT_VECTORS
from cardiolora.index.recipe import IVF_TYPES, check_nprobe
from cardiolora.index.rows import open_rows
from cardiolora.io import sha256_file


def index_type(info: dict[str, Any]) -> str:
    """An ``index.json``'s type (indexes from before recipes were recorded name it ``kind``)."""
    return (info.get("recipe") or {}).get("type") or info.get("kind", "flat")


def open_faiss_index(path: str | Path, info: dict[str, Any], mmap: bool = True):
    """``path/index.faiss``, memory-mapped where the type allows (see the module)."""
    import faiss

    flags = 0
    if mmap:
        ivf = index_type(info) in IVF_TYPES
        flags = (faiss.IO_FLAG_MMAP if ivf else faiss.IO_FLAG_MMAP_IFC) | faiss.IO_FLAG_READ_ONLY
    try:
        return faiss.read_index(str(Path(path) / "index.faiss"), flags)
    except RuntimeError as exc:  # FAISS reports a truncated or foreign file as a RuntimeError
        raise CardioloraError(f"{path}/index.faiss could not be read: {str(exc).splitlines()[-1]}") from None


def read_index_info(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not (path / "index.json").exists() or not (path / "index.faiss").exists():
        raise CardioloraError(f"{path} is not a cardiolora index directory (no index.json / index.faiss)")
    return json.loads((path / "index.json").read_text())


def index_adapter(path: Path, info: dict[str, Any]) -> Path | None:
    """The adapter an index was built with, checked: it must still exist and, where the index
    recorded its hash, hold the same weights (else the queries would be embedded by another model
    than the corpus). Indexes from before absolute paths were stored name it relative to the
    directory they were built in; that is tried from the current one."""
    stored = info.get("adapter")
    if not stored:
        return None
    adapter = Path(stored)
    weights = adapter / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise CardioloraError(
            f"{path} was built with the adapter {adapter}, which is not there (no {ADAPTER_WEIGHTS}); "
            "rebuild the index with `cardiolora index build`"
        )
    expected = info.get("adapter_sha256")
    if expected:
        actual = sha256_file(weights)
        if actual != expected:
            raise CardioloraError(
                f"{path} was built with the adapter {adapter}, whose {ADAPTER_WEIGHTS} has changed since "
                f"(sha256 {actual[:12]}..., the index has {expected[:12]}...): the index's vectors no longer "
                "match it; rebuild the index with `cardiolora index build --overwrite`"
            )
    return adapter


def open_exact_vectors(path: str | Path, info: dict[str, Any]) -> np.ndarray | None:
    """An ivf-pq index's float32 vectors for re-ranking, memory-mapped read-only; None for an index
    that does not re-rank. A re-ranking index without its file (or with a cut one) is refused."""
    if not (info.get("recipe") or {}).get("rerank"):
        return None
    file = Path(path) / (info.get("exact_vectors") or EXACT_VECTORS)
    expected = int(info["count"]) * int(info["dimension"]) * 4
    if not file.is_file() or file.stat().st_size != expected:
        raise CardioloraError(
            f"{path} re-ranks with {file.name}, which is missing or not {expected:,} bytes: build the index again"
        )
    return np.memmap(file, dtype="<f4", mode="r", shape=(int(info["count"]), int(info["dimension"])))


def search_vectors(
    index,
    info: dict[str, Any],
    vectors: np.ndarray,
    k: int,
    nprobe: int | None = None,
    exact: np.ndarray | None = None,
):
    """``(scores, positions)`` of FAISS's search; ``nprobe`` (IVF only, checked) is passed per call,
    not set on the index, so concurrent searches with different probes do not race. With ``exact``
    (:func:`open_exact_vectors`), the recipe's ``rerank`` best candidates by code are re-scored by
    exact cosine and the best ``k`` of them returned: FAISS's own refinement (``IndexRefineFlat``)
    holds every float32 vector in memory, which is what IVF-PQ is chosen to avoid."""
    import faiss

    check_nprobe(info, nprobe)
    params = faiss.SearchParametersIVF(nprobe=nprobe) if nprobe is not None else None
    queries = np.ascontiguousarray(vectors, dtype=np.float32)
    if exact is None:
        return index.search(queries, k, params=params)
    candidates = max(k, int((info.get("recipe") or {}).get("rerank") or k))
    _, found = index.search(queries, candidates, params=params)
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    for row, (query, ranked) in enumerate(zip(queries, found, strict=True)):
        positions = np.sort(ranked[ranked >= 0])  # in file order: the reads go forward on disk
        exact_scores = np.asarray(exact[positions]) @ query
        best = np.argsort(-exact_scores, kind="stable")[:k]
        scores[row, : len(best)] = exact_scores[best]
        ids[row, : len(best)] = positions[best]
    return scores, ids


@dataclass
class SearchIndex:
    path: Path
    info: dict[str, Any]
    index: Any
    rows: Any  # a RowStore (or a list, for indexes without row offsets): len() and [position]
    embedder: Any = None
    nprobe: int | None = None
    exact: Any = None  # an ivf-pq index's memory-mapped float32 vectors, for re-ranking

    @classmethod
    def open(cls, path: str | Path, embedder=None, *, nprobe: int | None = None, mmap: bool = True) -> SearchIndex:
        """An index directory, its model and adapter loaded unless ``embedder`` is given; ``nprobe``:
        cells probed by every search (IVF only; default: the recipe's)."""
        path = Path(path)
        info = read_index_info(path)
        check_nprobe(info, nprobe, f"{path} ")
        rows = open_rows(path)
        if embedder is None:
            from cardiolora.embedding import Embedder

            adapter = index_adapter(path, info)
            scale = (info.get("embedder") or {}).get("adapter_scale") if adapter else None
            embedder = Embedder.load(info["model"], adapter=adapter, adapter_scale=scale or 1.0)
        if embedder.dimension != info["dimension"]:
            raise CardioloraError(
                f"{path} holds {info['dimension']}-dimensional vectors; the embedder makes {embedder.dimension}"
            )
        index = open_faiss_index(path, info, mmap)
        return cls(path, info, index, rows, embedder, nprobe, open_exact_vectors(path, info))

    @property
    def type(self) -> str:
        return index_type(self.info)

    def search(
        self, queries: Sequence[str], k: int = 5, nprobe: int | None = None
    ) -> list[list[tuple[float, dict[str, Any]]]]:
        if k < 1:
            raise CardioloraError("k must be >= 1")
        vectors = self.embedder.encode(list(queries), role="query")
        nprobe = self.nprobe if nprobe is None else nprobe
        scores, ids = search_vectors(self.index, self.info, vectors, min(k, len(self.rows)), nprobe, self.exact)
        return [
            [(float(s), self.rows[i]) for s, i in zip(srow, irow, strict=True) if i >= 0]
            for srow, irow in zip(scores, ids, strict=True)
        ]


def evaluate_retrieval(
    search_index: SearchIndex,
    queries: list[tuple[str, set[str]]],
    ks: Sequence[int] = DEFAULT_KS,
    exclude_self: bool = False,
    task: str = "queries",
) -> RetrievalResult:
    """Rank the index for every query and score the rankings with the metrics of
    :mod:`cardiolora.evaluation.retrieval` (one definition of Recall@k, MRR and nDCG for every
    retriever). ``exclude_self`` drops a hit whose text equals the query (for corpora that contain
    the queries)."""
    depth = max(ks) + (1 if exclude_self else 0)
    results = search_index.search([q for q, _ in queries], k=depth)
    ranked = []
    for (query, _), hits in zip(queries, results, strict=True):
        ranked.append([row["id"] for _, row in hits if not (exclude_self and row["text"] == query)][: max(ks)])
    return evaluate_rankings(task, ranked, queries, ks, corpus_size=len(search_index.rows))
