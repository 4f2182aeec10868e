"""Slow and many clients: bounds on what the server holds before a request reaches a route.

- **In-flight requests** (:class:`InFlightLimit`, ASGI middleware): at most ``max_in_flight`` requests
  are handled at once, from the first byte of their body on (reading a body, counting its tokens,
  waiting for the encoder); one more is answered 503 with Retry-After at once, in OpenAI's error
  shape, before its body is read. The encoder queue (``max_queue``) only bounded the last of these.
- **Slow headers** (:class:`HeaderTimeoutProtocol`, uvicorn's h11 protocol with a timer): a connection
  must deliver a request's complete headers within ``header_timeout_s`` of opening (or of its
  previous response); else it is answered 408 and closed. uvicorn times out neither: every byte a
  client trickles cancels its keep-alive timer, so a client sending one header byte a minute held
  its connection for ever.
- **Connections**: uvicorn's ``limit_concurrency`` bounds connections and tasks together (its own
  503 beyond it), a backstop above the in-flight limit.

:func:`server_config` builds the uvicorn configuration with all three; ``cardiolora serve`` and the
tests use it.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.h11_impl import H11Protocol

from cardiolora.serve.http import RETRY_AFTER_S, APIError, ServeSettings


class InFlightLimit:
    """ASGI middleware: at most ``limit`` HTTP requests handled at once; beyond, 503 + Retry-After."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    # Monitoring answers even when the server is full: it is how an operator sees that it is.
    EXEMPT = ("/health", "/metrics")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            busy = APIError(
                503,
                f"the server is handling {self.limit} requests already; retry shortly",
                type_="server_error",
                code="server_busy",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
            await busy.response()(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def _timeout_response() -> bytes:
    body = json.dumps(
        {
            "error": {
                "message": "the request headers did not arrive in time",
                "type": "invalid_request_error",
                "param": None,
                "code": "timeout",
            }
        }
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for a request's headers (see the module docstring).

    By hand: uvicorn has no header timeout (its keep-alive timer is cancelled by any byte received),
    and the ASGI app cannot see a request before its headers are complete."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._header_timer = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers arrived: the route's deadlines take over
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being handled: not a header wait
        self.transport.write(_timeout_response())
        self.transport.close()


def server_config(app, host: str, port: int, settings: ServeSettings):
    """uvicorn's configuration for ``app`` with the limits of ``settings`` (see the module docstring)."""
    import uvicorn

    protocol = type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": settings.header_timeout_s})
    return uvicorn.Config(
        InFlightLimit(app, settings.max_in_flight),
        host=host,
        port=port,
        http=protocol,
        limit_concurrency=settings.max_connections,
        log_level="warning",
        timeout_graceful_shutdown=30,
    )


def run_server(app, host: str, port: int, settings: ServeSettings) -> None:
    """Serve ``app`` until stopped, with :func:`server_config`'s limits (``cardiolora serve``)."""
    import uvicorn

    uvicorn.Server(server_config(app, host, port, settings)).run()
