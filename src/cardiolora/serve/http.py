"""Request plumbing shared by the server's routes: the settings, OpenAI's error shape, and body
reading with its limits (size, time) and parsing against a pydantic schema, every failure a 4xx
naming the field."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StrictInt, ValidationError
from starlette.requests import ClientDisconnect

from cardiolora.errors import CardioloraError

# Seconds a client is told to wait (Retry-After) when the queue is full or a request timed out.
RETRY_AFTER_S = 1
# Bodies above this many bytes are parsed off the event loop.
PARSE_IN_THREAD_BYTES = 32_768
SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class ServeSettings:
    """What the server accepts; the defaults are ``cardiolora serve``'s."""

    max_inputs: int = 256
    overlong: Literal["truncate", "reject"] = "truncate"
    window_ms: float = 5.0
    max_batch: int = 64
    admin_token: str | None = None
    max_body_bytes: int = 2 * 1024 * 1024
    max_input_chars: int = 32_768
    max_queue: int = 256
    request_timeout_s: float = 60.0
    # Host header values the server answers (without port); None: any. A server bound to loopback
    # answers only loopback names: a web page on another host cannot reach it by DNS rebinding.
    allowed_hosts: tuple[str, ...] | None = None
    # Requests handled at once, from their body's first byte on (beyond: 503); seconds a connection
    # has to deliver a request's headers (beyond: 408); connections at once (uvicorn's backstop).
    # See cardiolora.serve.connections.
    max_in_flight: int = 512
    header_timeout_s: float = 10.0
    max_connections: int = 1024

    def __post_init__(self) -> None:
        if self.overlong not in ("truncate", "reject"):
            raise CardioloraError(f"--overlong must be truncate or reject, got {self.overlong!r}")
        if self.max_inputs < 1 or self.max_batch < 1 or self.window_ms < 0:
            raise CardioloraError("--max-inputs and --max-batch must be >= 1 and --batch-window-ms >= 0")
        if min(self.max_body_bytes, self.max_input_chars, self.max_queue) < 1 or not self.request_timeout_s > 0:
            raise CardioloraError(
                "--max-body-bytes, --max-input-chars and --max-queue must be >= 1 and --request-timeout-s > 0"
            )
        if min(self.max_in_flight, self.max_connections) < 1 or not self.header_timeout_s > 0:
            raise CardioloraError("--max-in-flight and --max-connections must be >= 1 and --header-timeout-s > 0")


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: str | list[str]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: StrictInt | None = None  # strict: true and "3" are not dimensions
    user: str | None = None


class AdapterLoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    path: str


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers

    def response(self) -> JSONResponse:
        body = {
            "error": {
                "message": _printable(self.message),
                "type": self.type,
                "param": _printable(self.param),
                "code": self.code,
            }
        }
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _printable(text: str | None) -> str | None:
    """``text`` encodable as UTF-8: a lone surrogate from the request (a field name, say) would
    make the error response itself fail."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if text is not None else None


def overloaded(message: str, code: str) -> APIError:
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    return APIError(503, message, type_="server_error", code=code, headers=headers)


async def read_body(request: Request, limit: int, deadline: float) -> bytes:
    """The body, refused (413) past ``limit`` bytes without reading the rest, and (408) when it has
    not arrived by ``deadline`` (event-loop time).

    By hand, because FastAPI's ``max_body_size`` answers a plain-text 413 (it replaces any
    response to a body with a large Content-Length), not OpenAI's error shape; and neither uvicorn
    nor Starlette time out a body that arrives slowly.
    """
    declared = request.headers.get("content-length", "")
    too_large = APIError(413, f"the request body is larger than {limit} bytes", code="request_too_large")
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise too_large
    chunks, size = [], 0
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise APIError(408, "the request body did not arrive in time", code="timeout") from None
    except ClientDisconnect:
        raise APIError(400, "the client disconnected before the request body was complete") from None
    return b"".join(chunks)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def host_name(header: str) -> str:
    """A Host header without its port: ``example.org:8000`` -> ``example.org``, ``[::1]:8000`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def check_host(request: Request, settings: ServeSettings) -> None:
    """400 unless the Host header names an allowed host (see ``ServeSettings.allowed_hosts``)."""
    if settings.allowed_hosts is None:
        return
    if host_name(request.headers.get("host", "")) not in settings.allowed_hosts:
        raise APIError(
            400,
            "this server answers only requests addressed to " + ", ".join(settings.allowed_hosts),
            code="host_not_allowed",
        )


def check_json_content_type(request: Request) -> None:
    """415 unless the body is declared JSON (``application/json`` or ``application/*+json``): a web page
    may POST ``text/plain`` to any host without asking, and must not make the server compute."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise APIError(
            415,
            f"the request body must be application/json, not {media or 'undeclared'}",
            code="unsupported_media_type",
        )


async def json_body(request: Request, schema: type[BaseModel], settings: ServeSettings, deadline: float | None = None):
    check_json_content_type(request)
    if deadline is None:
        deadline = asyncio.get_running_loop().time() + settings.request_timeout_s
    raw = await read_body(request, settings.max_body_bytes, deadline)
    try:
        # A large body (up to max_body_bytes: megabytes) is parsed on a worker thread, so that one
        # request does not hold up every other on the event loop; a small one is cheaper in place.
        data = await asyncio.to_thread(json.loads, raw) if len(raw) > PARSE_IN_THREAD_BYTES else json.loads(raw)
    except RecursionError:
        raise APIError(400, "the request body is not valid JSON (nested too deeply)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the request body is not valid JSON ({exc})") from None
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise APIError(400, "the request body is not valid JSON (a number with too many digits)") from None
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise APIError(400, f"invalid field {param!r}: {first['msg']}", param=param) from None


def check_model(model: str, names: list[str]) -> None:
    """404 unless ``model`` is served."""
    if model not in names:
        raise APIError(
            404, f"the model {model!r} does not exist; see GET /v1/models", param="model", code="model_not_found"
        )


def check_text(text: str, label: str, param: str, max_chars: int) -> None:
    """400 for a text longer than ``max_chars``, blank, or holding a lone surrogate (JSON's "\\ud800"
    escapes decode to text no tokenizer takes); ``label`` names it in the message (``input[3]``)."""
    if len(text) > max_chars:
        raise APIError(400, f"{label} has {len(text)} characters; at most {max_chars}", param=param)
    if not text.strip():
        raise APIError(400, f"{label} is an empty string", param=param)
    if SURROGATE.search(text):
        raise APIError(400, f"{label} holds a lone surrogate (not valid Unicode)", param=param)


def not_served_in_time(settings: ServeSettings) -> APIError:
    return overloaded(f"the request was not served within {settings.request_timeout_s:g} s", "timeout")


def busy(settings: ServeSettings) -> APIError:
    return overloaded(f"the server is busy ({settings.max_queue} requests waiting)", "queue_full")


def model_gone(exc: Exception) -> APIError:
    """The model was unloaded while the request waited."""
    return APIError(404, str(exc), param="model", code="model_not_found")
