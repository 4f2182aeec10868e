"""The HTTP API: OpenAI's embeddings schema over an adapter pool, plus health, Prometheus metrics
and bearer-token admin endpoints for loading and unloading adapters at run time.

Every client error is a 4xx in OpenAI's error shape ``{"error": {"message", "type", "param",
"code"}}``; request bodies are parsed here (not by FastAPI's validation) so that malformed JSON and
wrong fields get the same shape and a message naming the field. A fault of the server is a 500 with
a generic message; its detail and traceback go to the log (logger ``cardiolora.serve``), never to
the client.

Limits (:class:`ServeSettings`), each checked before the work it bounds:

- ``max_body_bytes``: a larger body is refused (413) from its Content-Length, or as soon as the
  bytes read pass the limit, without reading the rest;
- ``max_input_chars`` per text, checked before tokenization (400); token counting then runs on a
  worker thread of its own, never on the event loop;
- ``max_queue`` requests waiting for the encoder: beyond, 503 with ``Retry-After``;
- ``request_timeout_s`` per request: a body still arriving then is a 408 (the client is slow); a
  request still waiting for the encoder is a 503 with ``Retry-After`` (the server is overloaded)
  and is dropped from the queue unencoded.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from cardiolora.errors import CardioloraError
from cardiolora.serve.batcher import MicroBatcher, QueueFull
from cardiolora.serve.http import (
    AdapterLoadRequest,
    APIError,
    EmbeddingRequest,
    ServeSettings,
    busy,
    check_host,
    check_model,
    check_text,
    json_body,
    model_gone,
    not_served_in_time,
)
from cardiolora.serve.metrics import prometheus_metrics, watch_merged_copies
from cardiolora.serve.pool import AdapterNotFound, EncodingBackend, InvalidAdapterName

__all__ = ["APIError", "ServeSettings", "create_app"]

logger = logging.getLogger("cardiolora.serve")


def create_app(backend: EncodingBackend, settings: ServeSettings | None = None, corpus=None) -> FastAPI:
    """The FastAPI application serving ``backend`` (an :class:`AdapterPool` or an :class:`OnnxPool`);
    with ``corpus`` (a :class:`~cardiolora.serve.corpus.ServedCorpus`), search over it for every model."""
    from cardiolora.serve.corpus import add_search_routes

    settings = settings or ServeSettings()
    registry, metrics = prometheus_metrics()
    metrics["models"].set(len(backend.names()))
    watch_merged_copies(metrics["merged"], backend)
    batcher = MicroBatcher(
        backend.encode,
        window_ms=settings.window_ms,
        max_batch=settings.max_batch,
        on_batch=lambda texts, groups, seconds: (metrics["batch"].observe(texts), metrics["groups"].observe(groups)),
        encode_mixed=getattr(backend, "encode_mixed", None),
        max_queue=settings.max_queue,
    )
    # Token counting off the event loop, on one thread: the backend's counting tokenizer is a
    # private copy that must not be used from two threads at once (see AdapterPool.count_tokens).
    counter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cardiolora-count")
    created = int(time.time())

    def count_all(texts: list[str]) -> list[int]:
        return [backend.count_tokens(text) for text in texts]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()  # uvicorn has let the requests in flight finish by now
        counter.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="cardiolora embeddings", lifespan=lifespan)
    app.state.backend = backend
    app.state.settings = settings
    app.state.batcher = batcher

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return exc.response()

    if settings.allowed_hosts is not None:

        @app.middleware("http")
        async def _only_allowed_hosts(request: Request, call_next):
            try:
                check_host(request, settings)
            except APIError as exc:
                return exc.response()
            return await call_next(request)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        # A fault of the server, not the request: still a JSON error in OpenAI's shape, but the
        # exception's text (paths, internals) goes to the log only.
        logger.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return _internal_error()

    @app.exception_handler(404)
    async def _not_found(request: Request, exc):
        return APIError(404, f"no route {request.method} {request.url.path}", code="not_found").response()

    @app.exception_handler(405)
    async def _not_allowed(request: Request, exc):
        return APIError(405, f"method {request.method} is not allowed on {request.url.path}").response()

    @app.get("/", include_in_schema=False)
    async def playground() -> Response:
        """A page to compare models by eye: phrases in, each model's cosine matrix as a heat map,
        through this server's own /v1/embeddings (static, shipped in the package, no other host)."""
        from importlib import resources

        page = (resources.files("cardiolora") / "resources" / "playground.html").read_text(encoding="utf-8")
        return Response(page, media_type="text/html; charset=utf-8")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": backend.names(), "dimension": backend.dimension}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": created, "owned_by": "cardiolora"} for n in backend.names()
            ],
        }

    @app.get("/metrics")
    async def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.request_timeout_s
        model = "?"
        try:
            body = await json_body(request, EmbeddingRequest, settings, deadline)
            model = body.model
            texts = [body.input] if isinstance(body.input, str) else body.input
            check_model(model, backend.names())
            if not texts:
                raise APIError(400, "input is an empty list", param="input")
            if len(texts) > settings.max_inputs:
                raise APIError(
                    400, f"input has {len(texts)} texts; at most {settings.max_inputs} per request", param="input"
                )
            for index, text in enumerate(texts):
                check_text(text, f"input[{index}]", "input", settings.max_input_chars)
            if body.dimensions is not None and not 1 <= body.dimensions <= backend.dimension:
                raise APIError(400, f"dimensions must be within 1..{backend.dimension}", param="dimensions")
            try:
                async with asyncio.timeout_at(deadline) as window:
                    counts = await loop.run_in_executor(counter, count_all, texts)
                    for index, count in enumerate(counts):
                        if count > backend.max_length and settings.overlong == "reject":
                            raise APIError(
                                400,
                                f"input[{index}] has {count} tokens; the maximum is {backend.max_length}",
                                param="input",
                            )
                    tokens = [min(count, backend.max_length) for count in counts]
                    vectors = await batcher.submit(texts, model)
            except TimeoutError:
                if not window.expired():
                    raise
                raise not_served_in_time(settings) from None
            except QueueFull:
                raise busy(settings) from None
            except AdapterNotFound as exc:  # unloaded while queued
                raise model_gone(exc) from None
            if body.dimensions is not None:
                vectors = vectors[:, : body.dimensions]
                vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            vectors = vectors.astype(np.float32, copy=False)
            if body.encoding_format == "base64":
                data = [base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") for v in vectors]
            else:
                data = [v.tolist() for v in vectors]
            metrics["requests"].labels(model, "200").inc()
            metrics["inputs"].labels(model).inc(len(texts))
            return {
                "object": "list",
                "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(data)],
                "model": model,
                "usage": {"prompt_tokens": sum(tokens), "total_tokens": sum(tokens)},
            }
        except APIError as exc:
            metrics["requests"].labels(model if model in backend.names() else "unknown", str(exc.status)).inc()
            return exc.response()
        except Exception:
            logger.exception("internal error on POST /v1/embeddings (model %r)", model)
            metrics["requests"].labels(model if model in backend.names() else "unknown", "500").inc()
            return _internal_error()
        finally:
            metrics["latency"].observe(time.perf_counter() - started)

    def _authorize(request: Request) -> None:
        if not settings.admin_token:
            raise APIError(
                403, "admin endpoints are disabled: start the server with an admin token", type_="permission_error"
            )
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise APIError(401, "missing bearer token", type_="authentication_error")
        if not hmac.compare_digest(token.encode(), settings.admin_token.encode()):
            raise APIError(401, "wrong bearer token", type_="authentication_error")

    add_search_routes(app, corpus, backend, batcher, settings, metrics["searches"])

    @app.post("/admin/adapters")
    async def load_adapter(request: Request):
        _authorize(request)
        if not hasattr(backend, "add"):
            raise APIError(400, "this backend serves a fixed set of models; run-time loading needs --backend torch")
        body = await json_body(request, AdapterLoadRequest, settings)
        try:
            await batcher.run_exclusive(backend.add, body.name, body.path)
        except InvalidAdapterName as exc:
            raise APIError(400, str(exc), param="name") from None
        except CardioloraError as exc:
            raise APIError(400, str(exc), param="path") from None
        if corpus is not None:
            corpus.forget(body.name)
        metrics["models"].set(len(backend.names()))
        return {"loaded": body.name, "models": backend.names()}

    @app.delete("/admin/adapters/{name}")
    async def unload_adapter(name: str, request: Request):
        _authorize(request)
        if not hasattr(backend, "remove"):
            raise APIError(400, "this backend serves a fixed set of models; run-time unloading needs --backend torch")
        try:
            await batcher.run_exclusive(backend.remove, name)
        except AdapterNotFound as exc:
            raise APIError(404, str(exc), param="name", code="model_not_found") from None
        if corpus is not None:
            corpus.forget(name)
        metrics["models"].set(len(backend.names()))
        return {"unloaded": name, "models": backend.names()}

    return app


def _internal_error() -> JSONResponse:
    return APIError(500, "internal server error (the details are in the server's log)", type_="server_error").response()
