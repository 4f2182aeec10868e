"""Building an index directory: in memory from an embedder and a corpus (:func:`build_index`), or chunk
by chunk from vectors made elsewhere, such as the Ray path's Parquet shards (:func:`build_index_from_chunks`).

An index directory holds ``index.faiss``, ``meta.jsonl`` with ``meta.offsets.npy`` (one corpus row a
vector, in order: :mod:`cardiolora.index.rows`) and ``index.json`` (schema, recipe, counts, model,
adapter, package versions, the recall check). It is written to a temporary directory and renamed into
place, so a half-built index never exists; ``overwrite`` replaces only an index directory, swapped in
once the new one is complete, under a lock on the directory.

IVF training sample: taken from the **first chunks** (whole chunks until the sample size is reached, then a
seeded random subset of them), because the input is read once: training must come before the first vector
is added, and a reservoir over the whole input would need a second pass over it. A corpus whose order
follows its content (sorted by source or date) trains on a skewed sample; shuffle such input, or pass
``train_vectors`` drawn from across it. The recall check (``check_recall``) shows the result either way.
The in-memory build gives its vectors as one chunk, so its sample is a seeded subset of all of them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cardiolora.directories import lock_directory, refuse_foreign_directory
from cardiolora.errors import CardioloraError
from cardiolora.index.recipe import (
    IVF_TYPES,
    UNKNOWN_LARGE_COUNT,
    make_faiss_index,
    plan_recipe,
)
from cardiolora.index.rows import RowWriter
from cardiolora.io import atomic_directory, read_json_object, sha256_file

INDEX_SCHEMA = "cardiolora.index/1"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
RECALL_K = 10
EXACT_VECTORS = "vectors.f32"  # float32 rows, in row order, for an ivf-pq index's re-ranking
# Unit norm within this: float32 rounding and bf16 encoders stay inside, an unnormalised vector does not.
NORM_TOLERANCE = 1e-3
# Vectors of one chunk scored against the recall queries at a time (queries x block floats in memory).
EXACT_BLOCK = 8192


def is_index_directory(path: str | Path) -> bool:
    """Whether ``path`` holds an index written by this module (its ``index.json`` says so)."""
    return read_json_object(Path(path) / "index.json").get("schema") == INDEX_SCHEMA


def check_index_out(out: str | Path, overwrite: bool = False) -> None:
    """Refuse an ``out`` that exists (without ``overwrite``) or that is not an index directory (with it)."""
    out = Path(out)
    if not overwrite:
        if os.path.lexists(out):
            raise CardioloraError(f"{out} exists; pass --overwrite to replace it")
        return
    refuse_foreign_directory(out, is_index_directory, "cardiolora index directory")


def describe_embedder(embedder) -> dict[str, Any]:
    """The ``model_info`` of :func:`build_index_from_chunks` for vectors made by ``embedder``: its
    reload name, the adapter by absolute path (found from any directory) with the sha256 of its weights
    (a search refuses an adapter retrained in place), and the embedder's description."""
    described = embedder.describe()
    adapter = None
    if embedder.adapter is not None:
        adapter = Path(embedder.adapter).resolve()
        described["adapter"] = str(adapter)
    return {
        "model": embedder.reload_name,
        "adapter": str(adapter) if adapter else None,
        "adapter_sha256": sha256_file(adapter / ADAPTER_WEIGHTS) if adapter else None,
        "embedder": described,
    }


@dataclass
class BuiltIndex:
    """A finished index directory and its ``index.json``."""

    path: Path
    info: dict[str, Any]

    @property
    def recall(self) -> float | None:
        check = self.info.get("recall_check")
        return check["recall"] if check else None


def _check_vectors(where: str, vectors, dimension: int | None) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or (dimension is not None and vectors.shape[1] != dimension):
        want = f"(rows, {dimension})" if dimension else "(rows, dimension)"
        raise CardioloraError(f"{where}: vectors must have the shape {want}, got {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise CardioloraError(f"{where}: vectors must be finite")
    if len(vectors) and np.abs(np.linalg.norm(vectors, axis=1) - 1).max() > NORM_TOLERANCE:
        raise CardioloraError(f"{where}: vectors must be L2-normalised (inner product is the index's metric)")
    return vectors


def _check_chunk(number: int, rows: list[dict[str, Any]], vectors, dimension: int | None) -> np.ndarray:
    where = f"chunk {number}"
    vectors = _check_vectors(where, vectors, dimension)
    if len(rows) != len(vectors):
        raise CardioloraError(f"{where}: {len(rows)} rows but {len(vectors)} vectors")
    for row in rows:
        if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("text"), str):
            raise CardioloraError(f"{where}: every row must be a JSON object with an id and a text")
    return vectors


def _check_recall_option(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CardioloraError(f"--check-recall must be a non-negative integer, got {value!r}")


class _ExactTopK:
    """The exact top-k positions of a few query vectors over vectors seen chunk by chunk."""

    def __init__(self, queries: np.ndarray, k: int) -> None:
        self.queries, self.k = queries, k
        self.scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        self.ids = np.full((len(queries), k), -1, dtype=np.int64)

    def add(self, vectors: np.ndarray, start: int) -> None:
        for offset in range(0, len(vectors), EXACT_BLOCK):
            block = vectors[offset : offset + EXACT_BLOCK]
            scores = np.concatenate([self.scores, self.queries @ block.T], axis=1)
            ids = np.concatenate(
                [self.ids, np.broadcast_to(np.arange(len(block)) + start + offset, (len(self.queries), len(block)))],
                axis=1,
            )
            best = np.argpartition(-scores, self.k - 1, axis=1)[:, : self.k]
            self.scores = np.take_along_axis(scores, best, axis=1)
            self.ids = np.take_along_axis(ids, best, axis=1)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found top-k ∩ exact top-k| / k (ids; -1 in ``truth`` pads fewer than k rows)."""
    hits = [
        len(set(f[f >= 0]) & set(t[t >= 0])) / max(int((t >= 0).sum()), 1) for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits))


def build_index_from_chunks(
    chunks: Iterable[tuple[list[dict[str, Any]], np.ndarray]],
    out: str | Path,
    *,
    index_type: str | None = None,
    model_info: Mapping[str, Any] | None = None,
    count: int | None = None,
    nlist: int | None = None,
    pq_m: int | None = None,
    pq_nbits: int | None = None,
    nprobe: int | None = None,
    train_size: int | None = None,
    rerank: int | None = None,
    train_vectors: np.ndarray | None = None,
    check_recall: int = 0,
    seed: int = 0,
    overwrite: bool = False,
    progress=None,
) -> BuiltIndex:
    """Write an index directory at ``out`` from ``chunks`` of ``(rows, vectors)``, read once, in order.

    ``rows``: the corpus rows (JSON objects with ``id`` and ``text``; other fields are kept and shown
    with hits); ``vectors``: float32, L2-normalised, one per row. ``index_type``: one of
    :data:`~cardiolora.index.recipe.INDEX_TYPES`, or None to choose by ``count``
    (:func:`~cardiolora.index.recipe.choose_index_type`). ``count``: the number of vectors when known
    (it sets the automatic type and nlist; a different number of vectors is an error); without it, the
    first chunks are read up to the training sample of a :data:`UNKNOWN_LARGE_COUNT` corpus, and if the
    input ends within them its size is known, else it is taken as that large. ``nlist``, ``pq_m``,
    ``pq_nbits``, ``nprobe`` (the default probes recorded), ``train_size``, ``rerank``: the IVF recipe
    (:func:`~cardiolora.index.recipe.plan_recipe` fills in what is not given). ``train_vectors``: a training
    sample drawn elsewhere (else from the first chunks, see the module). ``check_recall``: recall@10 of the
    index against exact search for that many queries, seeded samples of the first chunks' stored vectors
    (exact top-10 kept chunk by chunk), saved in ``index.json``. ``model_info``: from
    :func:`describe_embedder`. ``progress(rows)``: called after each chunk is added.

    Memory: the training sample (and the chunks it was drawn from), one chunk, the index itself (for
    ivf-pq, its codes), 8 bytes of row offset a row; rows stream to ``meta.jsonl``, and for an
    ivf-pq index that re-ranks, vectors to ``vectors.f32`` (on disk, not held).
    """
    import faiss

    from cardiolora.versions import package_versions

    out = Path(out)
    _check_recall_option(check_recall)
    if count is not None and count < 1:
        raise CardioloraError(f"count must be positive, got {count}")
    rng = np.random.default_rng(seed)
    with lock_directory(out, what="index directory"):
        check_index_out(out, overwrite)
        stream: Iterator = iter(chunks)
        dimension = None
        buffered: list[tuple[list[dict[str, Any]], np.ndarray]] = []
        number = 0

        def next_chunk():
            nonlocal dimension, number
            for rows, vectors in stream:
                number += 1
                vectors = _check_chunk(number, list(rows), vectors, dimension)
                dimension = vectors.shape[1]
                if len(vectors):
                    return list(rows), vectors
            return None

        first = next_chunk()
        if first is None:
            raise CardioloraError("there are no vectors to index (every chunk is empty)")
        buffered.append(first)
        options = dict(
            nlist=nlist, pq_m=pq_m, pq_nbits=pq_nbits, nprobe=nprobe, train_size=train_size, rerank=rerank, seed=seed
        )
        needs_count = count is None and (index_type is None or index_type in IVF_TYPES)
        planned = count if count is not None else (UNKNOWN_LARGE_COUNT if needs_count else 1)
        recipe = plan_recipe(planned, dimension, index_type, **options)
        want = max(recipe.train_size or 0, check_recall) if train_vectors is None else check_recall
        held = len(first[1])
        exhausted = False
        while held < want:
            chunk = next_chunk()
            if chunk is None:
                exhausted = True
                break
            buffered.append(chunk)
            held += len(chunk[1])
        if needs_count and exhausted:  # the whole input fits in the buffer: its size is known
            recipe = plan_recipe(held, dimension, index_type, **options)
        head = np.concatenate([vectors for _, vectors in buffered]) if len(buffered) > 1 else buffered[0][1]
        index = make_faiss_index(recipe)
        if recipe.type in IVF_TYPES:
            sample = head if train_vectors is None else _check_vectors("train_vectors", train_vectors, dimension)
            if len(sample) > recipe.train_size:
                sample = sample[np.sort(rng.choice(len(sample), recipe.train_size, replace=False))]
            if len(sample) < recipe.nlist:
                raise CardioloraError(f"--nlist {recipe.nlist} needs at least {recipe.nlist:,} training vectors")
            index.train(sample)
            recipe = dataclasses.replace(recipe, train_size=len(sample))
            del sample
        queries = tracker = None
        if check_recall:
            picked = np.sort(rng.choice(len(head), min(check_recall, len(head)), replace=False))
            queries = np.array(head[picked])
            tracker = _ExactTopK(queries, RECALL_K)
        del head
        with atomic_directory(out, replace=overwrite) as tmp:
            writer = RowWriter(tmp)
            exact = open(tmp / EXACT_VECTORS, "wb") if recipe.rerank else None
            try:
                while True:
                    chunk = buffered.pop(0) if buffered else next_chunk()
                    if chunk is None:
                        break
                    rows, vectors = chunk
                    if tracker is not None:
                        tracker.add(vectors, index.ntotal)
                    index.add(vectors)
                    if exact is not None:
                        exact.write(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
                    writer.write(rows)
                    if progress is not None:
                        progress(len(rows))
            finally:
                writer.close()
                if exact is not None:
                    exact.close()
            total = int(index.ntotal)
            if count is not None and total != count:
                raise CardioloraError(f"the chunks held {total:,} vectors; count said {count:,}")
            faiss.write_index(index, str(tmp / "index.faiss"))
            info: dict[str, Any] = {
                "schema": INDEX_SCHEMA,
                "kind": recipe.type,
                "count": total,
                "dimension": int(dimension),
                "recipe": recipe.to_dict(),
                "train_sample": None
                if recipe.type not in IVF_TYPES
                else ("given" if train_vectors is not None else "seeded sample of the first chunks"),
                "index_bytes": (tmp / "index.faiss").stat().st_size,
                "float32_bytes": total * int(dimension) * 4,
                # On disk for re-ranking, read a candidate's row at a time; not part of the index in memory.
                "exact_vectors": EXACT_VECTORS if recipe.rerank else None,
                "model": None,
                "adapter": None,
                "adapter_sha256": None,
                **dict(model_info or {}),
                "versions": package_versions(("faiss-cpu",)),
            }
            if tracker is not None:
                info["recall_check"] = _recall_check(index, info, tmp, queries, tracker)
            (tmp / "index.json").write_text(json.dumps(info, indent=2))
    return BuiltIndex(out, info)


def _recall_check(index, info: dict[str, Any], directory: Path, queries, tracker: _ExactTopK) -> dict[str, Any]:
    """Recall@10 as searches will see it: the recipe's probes, and its re-ranking where it has one."""
    from cardiolora.index.search import open_exact_vectors, search_vectors

    recipe = info["recipe"]
    _, found = search_vectors(index, info, queries, RECALL_K, exact=open_exact_vectors(directory, info))
    return {
        "k": RECALL_K,
        "queries": len(queries),
        "queries_from": "stored vectors (seeded sample of the first chunks)",
        "nprobe": recipe.get("nprobe"),
        "rerank": recipe.get("rerank"),
        "recall": round(recall_at_k(found, tracker.ids), 4),
    }


def build_index(
    embedder,
    corpus: list[dict[str, Any]],
    out: str | Path,
    *,
    kind: str | None = None,
    index_type: str | None = None,
    overwrite: bool = False,
    show_progress: bool | None = False,
    **recipe: Any,
) -> Path:
    """Embed ``corpus`` (passage role) in memory and write an index directory at ``out``; ``overwrite``
    replaces an index directory there (never anything else) once the new one is complete.
    ``index_type`` (or its old name ``kind``): None chooses by corpus size. ``recipe``: the options of
    :func:`build_index_from_chunks` (nlist, pq_m, pq_nbits, nprobe, check_recall, seed...).
    ``show_progress``: the encoding's progress bar (None: above 512 texts)."""
    if kind is not None and index_type is not None and kind != index_type:
        raise CardioloraError(f"kind {kind!r} and index_type {index_type!r} disagree; give one")
    index_type = index_type or kind
    out = Path(out)
    # The options checked before the corpus is embedded (minutes, for a large one).
    options = {
        key: recipe[key] for key in ("nlist", "pq_m", "pq_nbits", "nprobe", "train_size", "rerank") if key in recipe
    }
    plan_recipe(max(len(corpus), 1), embedder.dimension, index_type, **options)
    _check_recall_option(recipe.get("check_recall", 0))
    with lock_directory(out, what="index directory"):
        check_index_out(out, overwrite)
        vectors = embedder.encode([row["text"] for row in corpus], role="passage", show_progress=show_progress)
        build_index_from_chunks(
            [(corpus, vectors)],
            out,
            index_type=index_type,
            model_info=describe_embedder(embedder),
            count=len(corpus),
            overwrite=overwrite,
            **recipe,
        )
    return out
