"""Semantic search: an embedded FAISS index in a directory, built, opened and searched, and an
index scored against query/relevant pairs with the retrieval metrics of
:mod:`cardiolora.evaluation.retrieval` (where an evaluation set as a retrieval task lives too,
ranked by exact cosine without an index).

An index directory holds ``index.faiss`` (flat inner product, exact; or HNSW, approximate),
``meta.jsonl`` (one corpus row per vector, in order) and ``index.json`` (model, adapter,
dimension, kind, counts, package versions). It is written to a temporary directory and renamed into
place, so a half-built index never exists; ``overwrite`` replaces only an index directory, swapped
in once the new one is complete, under a lock on the directory.

``index.json`` names the adapter by its absolute path with the sha256 of its weights: a search
finds it from any working directory, and refuses an adapter that changed since the vectors were made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cardiolora.directories import lock_directory, refuse_foreign_directory
from cardiolora.errors import CardioloraError, InputError
from cardiolora.evaluation.retrieval import DEFAULT_KS, RetrievalResult, evaluate_rankings
from cardiolora.io import atomic_directory, iter_jsonl, read_json_object, sha256_file

INDEX_KINDS = ("flat", "hnsw")
INDEX_SCHEMA = "cardiolora.index/1"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def is_index_directory(path: str | Path) -> bool:
    """Whether ``path`` holds an index written by :func:`build_index` (its ``index.json`` says so)."""
    return read_json_object(Path(path) / "index.json").get("schema") == INDEX_SCHEMA


def check_index_out(out: str | Path, overwrite: bool = False) -> None:
    """Refuse an ``out`` that exists (without ``overwrite``) or that is not an index directory (with it)."""
    import os

    out = Path(out)
    if not overwrite:
        if os.path.lexists(out):
            raise CardioloraError(f"{out} exists; pass --overwrite to replace it")
        return
    refuse_foreign_directory(out, is_index_directory, "cardiolora index directory")


JSONL_SUFFIXES = (".jsonl", ".ndjson")
LINE_SUFFIXES = (".txt",)
DOCUMENT_SUFFIXES = (".md", ".markdown", ".html", ".htm", ".pdf")
CORPUS_FORMATS = (
    ".jsonl (one JSON object a line, with a text field), .txt (one text a line) or "
    ".md, .html, .pdf (one text a paragraph)"
)
Record = tuple[int | None, Any, dict[str, Any]]  # (line, id or None, row)


def _jsonl_texts(path: Path, text_field: str, id_field: str) -> Iterator[Record]:
    for line, record in iter_jsonl(path):
        text = record.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"missing or empty text field {text_field!r}", path=path, line=line, field=text_field)
        yield line, record.get(id_field), {**record, "text": text}


def _line_texts(path: Path) -> Iterator[Record]:
    from cardiolora.io import iter_text_lines

    for line, raw in iter_text_lines(path):
        if raw.strip():
            yield line, None, {"text": raw.strip()}


def _document_texts(path: Path) -> Iterator[Record]:
    """The cleaned paragraphs of a Markdown, HTML or PDF file (the readers of ``cardiolora data
    corpus``), each with where it came from (``source``, ``page`` for a PDF, ``paragraph``)."""
    from cardiolora.data.corpus import CorpusSettings, clean_block, iter_blocks

    for block in iter_blocks(path, CorpusSettings()):
        text = clean_block(block.text)
        if text:
            row = {"text": text, "source": block.source, "paragraph": block.paragraph}
            yield None, None, row if block.page is None else {**row, "page": block.page}


def read_corpus(path: str | Path, text_field: str = "text", id_field: str = "id") -> list[dict[str, Any]]:
    """Corpus rows ``{"id", "text", ...}`` from a file, read by its suffix (:data:`CORPUS_FORMATS`):
    JSONL rows with a non-empty ``text_field`` (other fields kept), a text file's non-blank lines,
    or a document's paragraphs. A missing id becomes the row number; ids must be unique."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        records = _jsonl_texts(path, text_field, id_field)
    elif suffix in LINE_SUFFIXES:
        records = _line_texts(path)
    elif suffix in DOCUMENT_SUFFIXES:
        records = _document_texts(path)
    else:
        raise InputError(f"unsupported corpus format {suffix or '(no suffix)'!r}; expected {CORPUS_FORMATS}", path=path)
    rows, seen = [], set()
    for line, given_id, record in records:
        row_id = str(len(rows) if given_id is None else given_id)
        if row_id in seen:
            raise InputError(f"duplicate id {row_id!r}", path=path, line=line, field=id_field)
        seen.add(row_id)
        rows.append({**record, "id": row_id})
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


def build_index(
    embedder,
    corpus: list[dict[str, Any]],
    out: str | Path,
    *,
    kind: str = "flat",
    overwrite: bool = False,
    show_progress: bool | None = False,
) -> Path:
    """Embed ``corpus`` (passage role) and write an index directory at ``out``; ``overwrite``
    replaces an index directory there (never anything else) once the new one is complete.
    ``show_progress``: the encoding's progress bar (None: above 512 texts)."""
    import faiss

    from cardiolora.versions import package_versions

    out = Path(out)
    if kind not in INDEX_KINDS:
        raise CardioloraError(f"index kind must be one of {', '.join(INDEX_KINDS)}, got {kind!r}")
    with lock_directory(out, what="index directory"):
        check_index_out(out, overwrite)
        vectors = embedder.encode([row["text"] for row in corpus], role="passage", show_progress=show_progress)
        index = _faiss_index(vectors, kind)
        described = embedder.describe()
        adapter = None
        if embedder.adapter is not None:
            # Absolute, so that a search from any directory finds it; hashed, so that a changed
            # adapter (retrained in place) is noticed instead of embedding queries differently.
            adapter = Path(embedder.adapter).resolve()
            described["adapter"] = str(adapter)
        with atomic_directory(out, replace=overwrite) as tmp:
            faiss.write_index(index, str(tmp / "index.faiss"))
            with open(tmp / "meta.jsonl", "w") as handle:
                handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in corpus)
            info = {
                "schema": INDEX_SCHEMA,
                "kind": kind,
                "count": len(corpus),
                "dimension": int(vectors.shape[1]),
                "model": embedder.reload_name,
                "adapter": str(adapter) if adapter else None,
                "adapter_sha256": sha256_file(adapter / ADAPTER_WEIGHTS) if adapter else None,
                "embedder": described,
                "versions": package_versions(("faiss-cpu",)),
            }
            (tmp / "index.json").write_text(json.dumps(info, indent=2))
    return out


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

            adapter = index_adapter(path, info)
            scale = (info.get("embedder") or {}).get("adapter_scale") if adapter else None
            embedder = Embedder.load(info["model"], adapter=adapter, adapter_scale=scale or 1.0)
        if embedder.dimension != info["dimension"]:
            raise CardioloraError(
                f"{path} holds {info['dimension']}-dimensional vectors; the embedder makes {embedder.dimension}"
            )
        return cls(path, info, faiss.read_index(str(path / "index.faiss")), rows, embedder)

    def search(self, queries: Sequence[str], k: int = 5) -> list[list[tuple[float, dict[str, Any]]]]:
        if k < 1:
            raise CardioloraError("k must be >= 1")
        vectors = self.embedder.encode(list(queries), role="query")
        scores, ids = self.index.search(np.ascontiguousarray(vectors), min(k, len(self.rows)))
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
