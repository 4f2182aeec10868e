"""Search over an index's corpus inside the server (``cardiolora serve --index DIR``), for every
served model: ``GET /v1/index`` describes the corpus, ``POST /v1/search`` ranks it for one model.

The corpus is embedded by each model with the vectors the server itself returns (the same
``encode`` as ``/v1/embeddings``), not read from the index's stored vectors: those were made by one
model only, and a comparison of models must rank the same rows on equal terms. The base model's and
the startup adapters' vectors are made before the server starts (:meth:`ServedCorpus.embed_all`); an
adapter loaded at run time gets its vectors on its first search, in chunks on the encoding thread,
so other requests are served between them. Ranking is exact (a matrix product over unit vectors).

An IVF index (``ivf-flat``, ``ivf-pq``: built for corpora too large to embed again at every start) is
searched through its stored, memory-mapped FAISS index instead, and only by the served model that
made its vectors (the index's model without an adapter, or the startup adapter it was built with);
its rows are read from disk as hits need them. A search's ``nprobe`` (1..nlist) sets the cells probed,
default the index's; it is refused (400) for flat and hnsw indexes, whose search here is exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, StrictInt

from cardiolora.errors import CardioloraError
from cardiolora.index.recipe import IVF_TYPES, check_nprobe
from cardiolora.io import read_json_object
from cardiolora.serve.batcher import QueueFull
from cardiolora.serve.http import (
    APIError,
    ServeSettings,
    busy,
    check_model,
    check_text,
    json_body,
    model_gone,
    not_served_in_time,
)
from cardiolora.serve.pool import AdapterNotFound

# Rows embedded per call of the encoder: small enough that requests queued behind it wait little.
CHUNK_ROWS = 256
MAX_K = 50


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    query: str
    k: StrictInt = 5
    nprobe: StrictInt | None = None


class ServedCorpus:
    """An index directory's rows (``meta.jsonl``) and, per served model, their unit vectors."""

    # Row fields that name files of the machine that built the index (a document's path, its page):
    # given to search clients, who need no login, only when the server is told to (--show-sources).
    SOURCE_FIELDS = ("source",)

    def __init__(
        self,
        path: Path,
        rows,
        info: dict[str, Any],
        show_sources: bool = False,
        index=None,
        nprobe: int | None = None,
        exact: np.ndarray | None = None,
    ) -> None:
        self.path, self.rows, self.info = path, rows, info
        self.show_sources = show_sources
        # An IVF index's FAISS index, searched for the model that made it (see the module); None: exact.
        # ``exact``: an ivf-pq index's memory-mapped float32 vectors, its candidates re-ranked with them.
        self.index, self.nprobe, self.exact = index, nprobe, exact
        self.stored_model: str | None = None
        self.texts = [row["text"] for row in rows] if index is None else []
        self.vectors: dict[str, np.ndarray] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # Bumped by forget(): vectors embedded while the model was replaced are not kept.
        self._generation: dict[str, int] = {}

    @classmethod
    def open(cls, path: str | Path, show_sources: bool = False, nprobe: int | None = None) -> ServedCorpus:
        """The corpus of an index directory written by ``cardiolora index build``; ``show_sources``
        gives search clients each row's ``source`` (a file path, for rows read from documents);
        ``nprobe``: the cells an IVF index's searches probe by default."""
        from cardiolora.index.build import INDEX_SCHEMA
        from cardiolora.index.rows import open_rows
        from cardiolora.index.search import index_type, open_exact_vectors, open_faiss_index
        from cardiolora.io import iter_jsonl

        path = Path(path)
        info = read_json_object(path / "index.json")
        if info.get("schema") != INDEX_SCHEMA or not (path / "meta.jsonl").is_file():
            raise CardioloraError(f"--index {path} is not a cardiolora index directory (no index.json / meta.jsonl)")
        check_nprobe(info, nprobe, f"--index {path} ")
        exact = None
        if index_type(info) in IVF_TYPES:
            rows, index, exact = open_rows(path), open_faiss_index(path, info), open_exact_vectors(path, info)
        else:
            rows, index = [row for _, row in iter_jsonl(path / "meta.jsonl")], None
        if not len(rows):
            raise CardioloraError(f"--index {path} holds no rows")
        return cls(path, rows, info, show_sources, index, nprobe, exact=exact)

    @property
    def type(self) -> str:
        from cardiolora.index.search import index_type

        return index_type(self.info)

    @property
    def nlist(self) -> int | None:
        return (self.info.get("recipe") or {}).get("nlist")

    def bind(self, backend) -> None:
        """For an IVF index: find the served model that made its vectors (``stored_model``), or refuse
        to start; the corpus is then not embedded by any model."""
        if self.index is None:
            return
        model, adapter = self.info.get("model"), self.info.get("adapter")
        base = getattr(backend, "base_name", None)
        if adapter is None and base is not None and _same_model(model, base):
            self.stored_model = base
        for name, directory in (getattr(backend, "adapters", None) or {}).items():
            if adapter is not None and Path(directory).resolve() == Path(adapter):
                self.stored_model = name
        if self.stored_model is None:
            made_by = f"model {model!r}" + (f" with the adapter {adapter}" if adapter else " without an adapter")
            raise CardioloraError(
                f"--index {self.path} is an {self.type} index searched through its stored vectors, made by "
                f"{made_by}: serve that model (--model, and --adapter NAME={adapter or 'DIR'} for an adapter)"
            )

    def search_stored(self, query: np.ndarray, k: int, nprobe: int | None = None) -> list[dict[str, Any]]:
        """The ``k`` nearest rows of an IVF index for the unit vector ``query`` (blocking: run it off the loop)."""
        from cardiolora.index.search import search_vectors

        nprobe = self.nprobe if nprobe is None else nprobe
        scores, ids = search_vectors(self.index, self.info, query[None, :], min(k, len(self.rows)), nprobe, self.exact)
        hits = [(float(score), int(i)) for score, i in zip(scores[0], ids[0], strict=True) if i >= 0]
        return [self._hit(rank, score, self.rows[i]) for rank, (score, i) in enumerate(hits, start=1)]

    def chunks(self) -> list[list[str]]:
        """The rows' texts, :data:`CHUNK_ROWS` at a time (one encoder call each)."""
        return [self.texts[start : start + CHUNK_ROWS] for start in range(0, len(self.texts), CHUNK_ROWS)]

    def embed(self, encode: Callable[[list[str], str], np.ndarray], name: str, advance=None) -> None:
        """Embed every row with model ``name`` now (``advance(rows)`` after each chunk)."""
        parts = []
        for chunk in self.chunks():
            parts.append(encode(chunk, name))
            if advance is not None:
                advance(len(chunk))
        self.vectors[name] = np.concatenate(parts).astype(np.float32, copy=False)

    def embed_all(self, encode, names: list[str], advance=None) -> None:
        for name in names:
            self.embed(encode, name, advance)

    def forget(self, name: str) -> None:
        """Drop ``name``'s vectors (its adapter was unloaded or replaced)."""
        self.vectors.pop(name, None)
        self._generation[name] = self._generation.get(name, 0) + 1

    async def ensure(self, batcher, encode, name: str) -> np.ndarray:
        """``name``'s vectors, embedded first (on the encoding thread, a chunk at a time) if missing."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:  # two first searches of one model embed the corpus once
            while name not in self.vectors:
                generation = self._generation.get(name, 0)
                parts = [await batcher.run_exclusive(encode, chunk, name) for chunk in self.chunks()]
                if self._generation.get(name, 0) == generation:
                    self.vectors[name] = np.concatenate(parts).astype(np.float32, copy=False)
            return self.vectors[name]

    def top(self, vectors: np.ndarray, query: np.ndarray, k: int) -> list[dict[str, Any]]:
        """The ``k`` rows closest to the unit vector ``query``, best first."""
        scores = vectors @ query
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [self._hit(rank, float(scores[i]), self.rows[int(i)]) for rank, i in enumerate(best, start=1)]

    def _hit(self, rank: int, score: float, row: dict[str, Any]) -> dict[str, Any]:
        hidden = ("id", "text") if self.show_sources else ("id", "text", *self.SOURCE_FIELDS)
        extra = {key: value for key, value in row.items() if key not in hidden}
        # The row's own fields apart, so that a corpus field named "score" or "rank" cannot pass for ours.
        return {"rank": rank, "score": score, "id": row["id"], "text": row["text"], "metadata": extra}

    def describe(self) -> dict[str, Any]:
        described = {
            "object": "index",
            "name": self.path.name,
            "count": len(self.rows),
            "type": self.type,
            "built_with": self.info.get("model"),
            "embedded_for": sorted(self.vectors),
        }
        if self.index is not None:
            recipe = self.info.get("recipe") or {}
            nprobe = self.nprobe or recipe.get("nprobe")
            described.update(embedded_for=[self.stored_model], nlist=recipe.get("nlist"), nprobe=nprobe)
        return described


def _same_model(recorded: str | None, served: str) -> bool:
    """Whether the index's model (its reload name: a zoo name or a directory) is the served one."""
    if recorded is None:
        return False
    if recorded == served:
        return True
    return Path(recorded).exists() and Path(served).exists() and Path(recorded).resolve() == Path(served).resolve()


def add_search_routes(
    app: FastAPI, corpus: ServedCorpus | None, backend, batcher, settings: ServeSettings, counter=None
) -> None:
    """``GET /v1/index`` and ``POST /v1/search`` (both 404 when the server holds no index); each
    search is counted in ``counter`` (a Prometheus counter labelled model and status)."""

    def no_index() -> APIError:
        return APIError(404, "this server holds no index; start it with --index DIR", code="no_index")

    @app.get("/v1/index")
    async def describe_index():
        if corpus is None:
            raise no_index()
        return corpus.describe()

    @app.post("/v1/search")
    async def search(request: Request):
        try:
            body = await _search(request)
        except APIError as exc:
            if counter is not None:
                counter.labels("unknown", str(exc.status)).inc()
            raise
        if counter is not None:
            counter.labels(body["model"], "200").inc()
        return body

    async def _search(request: Request) -> dict[str, Any]:
        if corpus is None:
            raise no_index()
        loop = asyncio.get_running_loop()
        body = await json_body(request, SearchRequest, settings, loop.time() + settings.request_timeout_s)
        check_model(body.model, backend.names())
        check_text(body.query, "query", "query", settings.max_input_chars)
        if not 1 <= body.k <= MAX_K:
            raise APIError(400, f"k must be within 1..{MAX_K}", param="k")
        if body.nprobe is not None:
            if corpus.index is None:
                raise APIError(
                    400, f"nprobe applies to ivf-flat and ivf-pq indexes; this index is {corpus.type}", param="nprobe"
                )
            if not 1 <= body.nprobe <= corpus.nlist:
                raise APIError(400, f"nprobe must be within 1..{corpus.nlist} (the index's nlist)", param="nprobe")
        if corpus.index is not None:
            return await _search_stored(body)
        try:
            # A run-time adapter's first search embeds the corpus: that is not bounded by the
            # request timeout (it is work done once), the query below is.
            vectors = await corpus.ensure(batcher, backend.encode, body.model)
            async with asyncio.timeout(settings.request_timeout_s):
                query = (await batcher.submit([body.query], body.model))[0]
        except TimeoutError:
            raise not_served_in_time(settings) from None
        except QueueFull:
            raise busy(settings) from None
        except AdapterNotFound as exc:  # unloaded meanwhile
            raise model_gone(exc) from None
        return {"object": "list", "model": body.model, "query": body.query, "data": corpus.top(vectors, query, body.k)}

    async def _search_stored(body: SearchRequest) -> dict[str, Any]:
        if body.model != corpus.stored_model:
            raise APIError(
                400,
                f"this server's index ({corpus.type}) holds the vectors of model {corpus.stored_model!r} only: "
                f"search it with that model",
                param="model",
            )
        try:
            async with asyncio.timeout(settings.request_timeout_s):
                query = (await batcher.submit([body.query], body.model))[0]
                # FAISS releases the GIL: the search runs on a worker thread while the loop serves others.
                hits = await asyncio.to_thread(corpus.search_stored, query, body.k, body.nprobe)
        except TimeoutError:
            raise not_served_in_time(settings) from None
        except QueueFull:
            raise busy(settings) from None
        except AdapterNotFound as exc:
            raise model_gone(exc) from None
        return {"object": "list", "model": body.model, "query": body.query, "data": hits}
