"""The server's limits and error paths (issue 13, "The server"): body size, characters per input,
the bounded queue, timeouts, malformed JSON that used to be a 500, and 500s that say nothing.

Most tests run against a stand-in backend whose encoder waits for a gate, so that a test decides
when the encoder is busy and can see what was (not) tokenized or encoded."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from cardiolora.errors import CardioloraError
from cardiolora.serve import ServeSettings, create_app


class GatedBackend:
    """A backend whose ``encode`` waits for ``gate``; it records what it counted and encoded."""

    base_name = "base"
    dimension = 4
    max_length = 32

    def __init__(self, *, open_gate: bool = True, fail: Exception | None = None) -> None:
        self.gate, self.started = threading.Event(), threading.Event()
        if open_gate:
            self.gate.set()
        self.fail = fail
        self.counted: list[str] = []
        self.count_threads: set[str] = set()
        self.encoded: list[list[str]] = []

    def names(self) -> list[str]:
        return [self.base_name]

    def count_tokens(self, text: str) -> int:
        self.counted.append(text)
        self.count_threads.add(threading.current_thread().name)
        return len(text.split()) + 2

    def encode(self, texts: list[str], name: str) -> np.ndarray:
        self.encoded.append(list(texts))
        self.started.set()
        if not self.gate.wait(20):
            raise RuntimeError("the test never opened the gate")
        if self.fail is not None:
            raise self.fail
        return np.full((len(texts), self.dimension), 0.5, dtype=np.float32)

    def add(self, name: str, path: str) -> None:
        raise RuntimeError(f"/srv/secret/adapters/{path} blew up")


# What every JSON request declares (a body of another media type is refused: 415).
JSON = {"content-type": "application/json"}


def _error(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["type"]
    return body["error"]


async def _wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def _run(app, scenario) -> None:
    """Run ``scenario(http)`` with the app's lifespan and an async client on it (in-process)."""

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as http,
        ):
            await scenario(http)

    asyncio.run(main())


def _body(text="mitral stenosis", **extra) -> dict:
    return {"model": "base", "input": text, **extra}


def test_settings_and_defaults_are_sane():
    settings = ServeSettings()
    assert settings.max_body_bytes == 2 * 1024 * 1024 and settings.max_input_chars == 32_768
    assert settings.max_queue == 256 and settings.request_timeout_s == 60
    for bad in ({"max_body_bytes": 0}, {"max_input_chars": 0}, {"max_queue": 0}, {"request_timeout_s": 0},
                {"request_timeout_s": float("nan")}, {"overlong": "drop"}):  # fmt: skip
        with pytest.raises(CardioloraError):
            ServeSettings(**bad)


def test_oversized_bodies_are_413_in_openai_shape_and_never_parsed():
    backend = GatedBackend()
    with TestClient(create_app(backend, ServeSettings(max_body_bytes=1000))) as client:
        big = json.dumps(_body("word " * 400))
        assert len(big) > 1000
        declared = client.post("/v1/embeddings", content=big, headers={"content-type": "application/json"})
        assert declared.status_code == 413
        error = _error(declared)
        assert "larger than 1000 bytes" in error["message"] and error["code"] == "request_too_large"
        # Without a Content-Length (chunked), the count of bytes read stops it.
        chunked = client.post("/v1/embeddings", content=iter([big[:600].encode(), big[600:].encode()]), headers=JSON)
        assert chunked.status_code == 413 and "larger than 1000 bytes" in _error(chunked)["message"]
        # The admin API has the same limit (after its token check).
        admin = client.post("/admin/adapters", content=big, headers=JSON)
        assert admin.status_code == 403
        assert backend.counted == [] and backend.encoded == []
        # Just under the limit is served.
        assert client.post("/v1/embeddings", content=json.dumps(_body("word " * 150)), headers=JSON).status_code == 200
        text = client.get("/metrics").text
        assert 'cardiolora_requests_total{model="unknown",status="413"} 2.0' in text


def test_a_large_body_is_parsed_off_the_event_loop_with_the_same_answers(monkeypatch):
    from cardiolora.serve import http as app_module

    parsed_in: list[str] = []
    real_loads = json.loads

    def recording_loads(raw, *args, **kwargs):
        try:
            asyncio.get_running_loop()
            where = "event loop"
        except RuntimeError:  # no loop runs in this thread
            where = "worker thread"
        parsed_in.append((bytes(raw) if isinstance(raw, bytes | bytearray) else raw.encode(), where))
        return real_loads(raw, *args, **kwargs)

    monkeypatch.setattr(app_module.json, "loads", recording_loads)
    backend = GatedBackend()
    with TestClient(create_app(backend, ServeSettings(max_input_chars=100_000))) as client:
        large = json.dumps(_body(["word " * 2000] * 4))
        assert len(large) > app_module.PARSE_IN_THREAD_BYTES
        assert client.post("/v1/embeddings", content=large, headers=JSON).status_code == 200
        broken = client.post("/v1/embeddings", content=large[:-2], headers=JSON)  # a large body that is not JSON
        assert broken.status_code == 400 and "not valid JSON" in _error(broken)["message"]
        small = json.dumps(_body("small"))
        assert client.post("/v1/embeddings", content=small, headers=JSON).status_code == 200
    where = dict(parsed_in)  # json.loads is the module's: other callers are recorded too
    assert where[large.encode()] == where[large[:-2].encode()] == "worker thread"
    assert where[small.encode()] == "event loop"


def test_the_character_limit_applies_before_tokenization_and_counting_is_off_the_event_loop():
    backend = GatedBackend()
    with TestClient(create_app(backend, ServeSettings(max_input_chars=50))) as client:
        response = client.post("/v1/embeddings", json=_body(["short", "x" * 51]))
        assert response.status_code == 400
        error = _error(response)
        assert error["message"] == "input[1] has 51 characters; at most 50" and error["param"] == "input"
        assert backend.counted == [], "nothing may be tokenized before every input passed the character limit"
        assert client.post("/v1/embeddings", json=_body(["short", "x" * 50])).status_code == 200
    assert backend.counted == ["short", "x" * 50]
    assert backend.count_threads == {"cardiolora-count_0"}, "token counting must run on its own worker thread"


def test_a_full_queue_is_a_503_with_retry_after():
    backend = GatedBackend(open_gate=False)
    app = create_app(backend, ServeSettings(max_queue=1, max_batch=1, window_ms=0))

    async def scenario(http):
        first = asyncio.create_task(http.post("/v1/embeddings", json=_body("first")))
        await asyncio.to_thread(backend.started.wait, 10)  # the encoder is busy with "first"
        second = asyncio.create_task(http.post("/v1/embeddings", json=_body("second")))
        await _wait_for(lambda: app.state.batcher.waiting() == 1)
        third = await http.post("/v1/embeddings", json=_body("third"))
        assert third.status_code == 503 and third.headers["retry-after"] == "1"
        error = _error(third)
        assert error["code"] == "queue_full" and error["type"] == "server_error" and "busy" in error["message"]
        backend.gate.set()
        assert (await first).status_code == 200 and (await second).status_code == 200
        assert backend.encoded == [["first"], ["second"]], "the refused request must not be encoded"

    _run(app, scenario)


def test_a_request_not_served_in_time_is_a_503_and_is_never_encoded():
    backend = GatedBackend(open_gate=False)
    app = create_app(backend, ServeSettings(request_timeout_s=0.5, max_batch=1, window_ms=0))

    async def scenario(http):
        first = asyncio.create_task(http.post("/v1/embeddings", json=_body("first")))
        await asyncio.to_thread(backend.started.wait, 10)
        started = time.monotonic()
        second = await http.post("/v1/embeddings", json=_body("second"))
        assert 0.3 < time.monotonic() - started < 5
        assert second.status_code == 503 and second.headers["retry-after"] == "1"
        error = _error(second)
        assert error["code"] == "timeout" and "within 0.5 s" in error["message"]
        assert (await first).status_code == 503  # it waited as long, in the encoder
        backend.gate.set()
        third = await http.post("/v1/embeddings", json=_body("third"))
        assert third.status_code == 200
        # "second" timed out in the queue: the batcher dropped it instead of encoding it for nobody.
        assert backend.encoded == [["first"], ["third"]]

    _run(app, scenario)


def test_a_body_that_arrives_too_slowly_is_a_408():
    backend = GatedBackend()
    app = create_app(backend, ServeSettings(request_timeout_s=0.5))

    def trickle(pause: float):
        async def chunks():
            yield b'{"model": "base", '
            await asyncio.sleep(pause)
            yield b'"input": "slow"}'

        return chunks()

    async def scenario(http):
        slow = await http.post("/v1/embeddings", content=trickle(2.0), headers=JSON)
        assert slow.status_code == 408
        error = _error(slow)
        assert error["code"] == "timeout" and "did not arrive in time" in error["message"]
        assert backend.counted == [] and backend.encoded == []
        assert (await http.post("/v1/embeddings", content=trickle(0.05), headers=JSON)).status_code == 200

    _run(app, scenario)


def test_a_500_says_nothing_of_the_exception_and_logs_it(caplog):
    backend = GatedBackend(fail=RuntimeError("/srv/secret/weights.bin is corrupt"))
    app = create_app(backend, ServeSettings(admin_token="t"))
    with (
        caplog.at_level(logging.ERROR, logger="cardiolora.serve"),
        TestClient(app, raise_server_exceptions=False) as client,
    ):
        response = client.post("/v1/embeddings", json=_body())
        assert response.status_code == 500
        error = _error(response)
        assert error["type"] == "server_error" and "server's log" in error["message"]
        assert "secret" not in response.text and "RuntimeError" not in response.text
        # Any other route's unhandled exception goes through the app-wide handler, the same way.
        admin = client.post("/admin/adapters", json={"name": "x", "path": "y"}, headers={"Authorization": "Bearer t"})
        assert admin.status_code == 500 and "secret" not in admin.text and "RuntimeError" not in admin.text
        assert "server's log" in _error(admin)["message"]
        assert 'cardiolora_requests_total{model="base",status="500"} 1.0' in client.get("/metrics").text
    logged = [r for r in caplog.records if r.name == "cardiolora.serve" and r.exc_info]
    assert len(logged) == 2
    assert "/srv/secret/weights.bin" in str(logged[0].exc_info[1]) and "/srv/secret/adapters" in str(
        logged[1].exc_info[1]
    )
    assert "Traceback" in caplog.text


@pytest.fixture
def client(pool):
    with TestClient(create_app(pool, ServeSettings(max_inputs=4, window_ms=1))) as test_client:
        yield test_client


DIGITS_5000 = "9" * 5000
DIGITS_4000 = "9" * 4000


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ("[" * 100_000, None, "nested too deeply"),
        ('{"model": "alpha", "input": ' + "[" * 50_000 + "]" * 50_000 + "}", None, "nested too deeply"),
        ('{"model": "alpha", "input": "x", "dimensions": ' + DIGITS_5000 + "}", None, "too many digits"),
        ('{"model": "alpha", "input": "x", "dimensions": ' + DIGITS_4000 + "}", "dimensions", "within 1.."),
        ('{"model": "alpha", "input": "x", "dimensions": -' + DIGITS_4000 + "}", "dimensions", "within 1.."),
        ('{"model": "alpha", "input": "x", "dimensions": true}', "dimensions", "valid integer"),
        ('{"model": "alpha", "input": "x", "dimensions": "3"}', "dimensions", "valid integer"),
        ('{"model": "alpha", "input": "x", "dimensions": 3.0}', "dimensions", "valid integer"),
        ('{"model": "alpha", "input": "x", "dimensions": NaN}', "dimensions", "valid integer"),
        ('{"model": "alpha", "input": "\\ud800"}', "input", "input[0] holds a lone surrogate"),
        ('{"model": "alpha", "input": ["fine", "half \\udfff pair"]}', "input", "input[1] holds a lone surrogate"),
        (b'{"model": "alpha", "input": "\xff\xfe"}', None, "not valid JSON"),
        (b'{"model": "alpha", "input": "x"', None, "not valid JSON"),
    ],
)
def test_hostile_json_is_a_400_not_a_500(client, body, param, fragment):
    response = client.post("/v1/embeddings", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = _error(response)
    assert fragment in error["message"] and error["param"] == param
    assert DIGITS_4000[:50] not in response.text  # the huge number is not echoed either
    # The server is unharmed.
    assert client.post("/v1/embeddings", json={"model": "alpha", "input": "x", "dimensions": 3}).status_code == 200


def test_a_lone_surrogate_in_the_model_name_is_a_404_that_still_encodes(client):
    response = client.post("/v1/embeddings", content='{"model": "al\\ud800pha", "input": "x"}', headers=JSON)
    assert response.status_code == 404
    assert "\\ud800" in _error(response)["message"]


def test_a_body_not_declared_json_is_a_415_before_any_work(client):
    """A web page may POST text/plain to any host without asking; the server must not compute for it."""
    body = json.dumps({"model": client.app.state.backend.names()[0], "input": "mitral stenosis"})
    for headers in ({"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {}):
        response = client.post("/v1/embeddings", content=body, headers=headers)
        assert response.status_code == 415, headers
        assert _error(response)["code"] == "unsupported_media_type"
    for media in ("application/json", "application/json; charset=utf-8", "application/vnd.api+json"):
        assert client.post("/v1/embeddings", content=body, headers={"content-type": media}).status_code == 200


def test_a_loopback_server_answers_only_loopback_host_names(pool):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends Host: evil.example."""
    from cardiolora.cli.serve import _allowed_hosts

    assert _allowed_hosts("127.0.0.1", None) == ("127.0.0.1", "localhost", "::1")
    assert _allowed_hosts("0.0.0.0", None) is None and _allowed_hosts("::1", None) is not None
    assert _allowed_hosts("127.0.0.1", ["Embeddings.Example:8000"]) == ("embeddings.example",)
    app = create_app(pool, ServeSettings(allowed_hosts=_allowed_hosts("127.0.0.1", None)))
    with TestClient(app, base_url="http://127.0.0.1:8000") as local:
        assert local.get("/v1/models").status_code == 200
        for host in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
            assert local.get("/v1/models", headers={"host": host}).status_code == 200, host
        for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example"):
            refused = local.post("/v1/search", content="{}", headers={"host": host, **JSON})
            assert refused.status_code == 400 and _error(refused)["code"] == "host_not_allowed", host


def _live(app, settings):
    """Serve ``app`` with cardiolora's uvicorn configuration (connections.server_config) on a free
    loopback port in a thread; returns (base URL, port, stop)."""
    import socket

    import uvicorn

    from cardiolora.serve.connections import server_config

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started

    def stop():
        server.should_exit = True
        thread.join(timeout=30)

    return f"http://127.0.0.1:{port}", port, stop


def test_a_client_trickling_its_headers_is_answered_408_and_closed():
    import socket

    settings = ServeSettings(header_timeout_s=1.0)
    url, port, stop = _live(create_app(GatedBackend(), settings), settings)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            started = time.monotonic()
            slow.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for _ in range(4):  # a header byte now and then: each used to cancel uvicorn's timer
                time.sleep(0.4)
                try:
                    slow.sendall(b"X")
                except OSError:
                    break
            reply = b""
            while chunk := slow.recv(4096):
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 408") and b'"code": "timeout"' in reply
            assert time.monotonic() - started < 5
        # A client that sends its headers in time is served as before, twice on one connection.
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(2):
                assert client.get("/health").status_code == 200
                time.sleep(0.6)  # the timer re-arms after each response, and is met again
    finally:
        stop()


def test_requests_beyond_the_in_flight_limit_are_503_before_their_body_is_read():
    backend = GatedBackend(open_gate=False)
    settings = ServeSettings(max_in_flight=2, request_timeout_s=30)
    url, _, stop = _live(create_app(backend, settings), settings)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            body = json.dumps(_body())
            held = [
                threading.Thread(
                    target=client.post, args=("/v1/embeddings",), kwargs={"content": body, "headers": JSON}
                )
                for _ in range(2)
            ]
            for thread in held:
                thread.start()
            assert backend.started.wait(10)
            deadline = time.monotonic() + 10
            while len(backend.encoded) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            refused = client.post("/v1/embeddings", content=body, headers=JSON)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert _error(refused)["code"] == "server_busy"
            assert client.get("/health").status_code == 200  # monitoring still answers
            backend.gate.set()
            for thread in held:
                thread.join(30)
            assert client.post("/v1/embeddings", content=body, headers=JSON).status_code == 200
    finally:
        backend.gate.set()
        stop()
