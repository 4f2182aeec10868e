"""The HTTP API: OpenAI's embeddings schema over an adapter pool, plus health, Prometheus metrics
and bearer-token admin endpoints for loading and unloading adapters at run time.

Every client error is a 4xx in OpenAI's error shape ``{"error": {"message", "type", "param",
"code"}}``; request bodies are parsed here (not by FastAPI's validation) so that malformed JSON and
wrong fields get the same shape and a message naming the field.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from cardiolora.errors import CardioloraError
from cardiolora.serve.batcher import MicroBatcher
from cardiolora.serve.pool import AdapterNotFound, EncodingBackend


@dataclass
class ServeSettings:
    max_inputs: int = 256
    overlong: Literal["truncate", "reject"] = "truncate"
    window_ms: float = 5.0
    max_batch: int = 64
    admin_token: str | None = None


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: str | list[str]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


class AdapterLoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    path: str


class APIError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status)


def _metrics():
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry()
    return registry, {
        "requests": Counter("cardiolora_requests", "Embedding requests by model and status", ["model", "status"], registry=registry),
        "inputs": Counter("cardiolora_inputs", "Texts embedded", ["model"], registry=registry),
        "latency": Histogram("cardiolora_request_seconds", "Embedding request latency", registry=registry),
        "batch": Histogram("cardiolora_batch_texts", "Texts per micro-batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=registry),
        "groups": Histogram("cardiolora_batch_models", "Models (adapters) per micro-batch", buckets=(1, 2, 4, 8, 16), registry=registry),
        "models": Gauge("cardiolora_models_loaded", "Models served (base + adapters)", registry=registry),
    }  # fmt: skip


async def _json_body(request: Request, schema: type[BaseModel]):
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the request body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise APIError(400, f"invalid field {param!r}: {first['msg']}", param=param) from None


def create_app(backend: EncodingBackend, settings: ServeSettings | None = None) -> FastAPI:
    """The FastAPI application serving ``backend`` (an :class:`AdapterPool` or an :class:`OnnxPool`)."""
    settings = settings or ServeSettings()
    registry, metrics = _metrics()
    metrics["models"].set(len(backend.names()))
    batcher = MicroBatcher(
        backend.encode, window_ms=settings.window_ms, max_batch=settings.max_batch,
        on_batch=lambda texts, groups, seconds: (metrics["batch"].observe(texts), metrics["groups"].observe(groups)),
        encode_mixed=getattr(backend, "encode_mixed", None),
    )  # fmt: skip
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()  # uvicorn has let the requests in flight finish by now

    app = FastAPI(title="cardiolora embeddings", lifespan=lifespan)
    app.state.backend = backend
    app.state.settings = settings

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return exc.response()

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        # A fault of the server, not the request: still a JSON error in OpenAI's shape.
        return APIError(500, f"internal error: {type(exc).__name__}: {exc}", type_="server_error").response()

    @app.exception_handler(404)
    async def _not_found(request: Request, exc):
        return APIError(404, f"no route {request.method} {request.url.path}", code="not_found").response()

    @app.exception_handler(405)
    async def _not_allowed(request: Request, exc):
        return APIError(405, f"method {request.method} is not allowed on {request.url.path}").response()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": backend.names(), "dimension": backend.dimension}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": n, "object": "model", "created": created, "owned_by": "cardiolora"} for n in backend.names()]}  # fmt: skip

    @app.get("/metrics")
    async def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        started = time.perf_counter()
        model = "?"
        try:
            body = await _json_body(request, EmbeddingRequest)
            model = body.model
            texts = [body.input] if isinstance(body.input, str) else body.input
            if model not in backend.names():
                raise APIError(404, f"the model {model!r} does not exist; see GET /v1/models", param="model", code="model_not_found")
            if not texts:
                raise APIError(400, "input is an empty list", param="input")
            if len(texts) > settings.max_inputs:
                raise APIError(400, f"input has {len(texts)} texts; at most {settings.max_inputs} per request", param="input")
            tokens = []
            for index, text in enumerate(texts):
                if not text.strip():
                    raise APIError(400, f"input[{index}] is an empty string", param="input")
                count = backend.count_tokens(text)
                if count > backend.max_length and settings.overlong == "reject":
                    raise APIError(400, f"input[{index}] has {count} tokens; the maximum is {backend.max_length}", param="input")
                tokens.append(min(count, backend.max_length))
            if body.dimensions is not None and not 1 <= body.dimensions <= backend.dimension:
                raise APIError(400, f"dimensions must be within 1..{backend.dimension}", param="dimensions")
            try:
                vectors = await batcher.submit(texts, model)
            except AdapterNotFound as exc:  # unloaded while queued
                raise APIError(404, str(exc), param="model", code="model_not_found") from None
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
        finally:
            metrics["latency"].observe(time.perf_counter() - started)

    def _authorize(request: Request) -> None:
        if not settings.admin_token:
            raise APIError(403, "admin endpoints are disabled: start the server with an admin token", type_="permission_error")
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise APIError(401, "missing bearer token", type_="authentication_error")
        if not hmac.compare_digest(token.encode(), settings.admin_token.encode()):
            raise APIError(401, "wrong bearer token", type_="authentication_error")

    @app.post("/admin/adapters")
    async def load_adapter(request: Request):
        _authorize(request)
        if not hasattr(backend, "add"):
            raise APIError(400, "this backend serves a fixed set of models; run-time loading needs --backend torch")
        body = await _json_body(request, AdapterLoadRequest)
        try:
            await batcher.run_exclusive(backend.add, body.name, body.path)
        except CardioloraError as exc:
            raise APIError(400, str(exc), param="path") from None
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
        metrics["models"].set(len(backend.names()))
        return {"unloaded": name, "models": backend.names()}

    return app
