"""Limits that keep one client from starving acc-serve: body size, body and header read deadlines.

Two layers, because a request can stall the server before the app sees it:

- ``BodyLimitMiddleware`` (ASGI, app-wide, so every route — ours and mounted ones — gets it): reads the whole body
  before the app does, refusing more than ``max_body_bytes`` (413, from ``Content-Length`` at once or while
  streaming) and a body not complete within ``body_timeout_s`` (408, a slowloris that sends its body byte by byte).
  The app then reads the buffered body. Errors are the documented JSON shape and are counted.
- ``header_deadline_protocol``: uvicorn's h11 protocol with a deadline on the request *head*: a connection that has
  not sent complete headers ``header_timeout_s`` after it opened (or after its previous response) gets 408 and is
  closed. uvicorn has no such timeout; its keep-alive timer stops at the first byte.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

DEFAULT_MAX_BODY_BYTES = 1 << 20  # 256 texts of ~4 kB (far beyond 512 tokens each) fit
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 30.0
DEFAULT_SHUTDOWN_TIMEOUT_S = 10.0

ErrorCounter = Callable[[int, str], None]


def error_body(detail: str, error: str) -> bytes:
    """The one error shape of acc-serve: ``{"detail": one line, "error": class name}``."""
    return json.dumps({"detail": " ".join(detail.split()), "error": error}).encode()


class BodyLimitMiddleware:
    """Buffer each HTTP request body under a size limit and a deadline, then hand it to ``app``."""

    def __init__(self, app: Any, *, max_body_bytes: int, body_timeout_s: float, count_error: ErrorCounter) -> None:
        self.app = app
        self.max_body_bytes = int(max_body_bytes)
        self.body_timeout_s = float(body_timeout_s)
        self.count_error = count_error

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(send, 413, "PayloadTooLarge", self._too_large(f"{declared} bytes"))
            return
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.body_timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.0))
            except TimeoutError:
                await self._refuse(send, 408, "RequestTimeout", f"the request body was not complete within "
                                   f"{self.body_timeout_s:g} s; send it at once (acc-serve --body-timeout-s)")  # fmt: skip
                return
            if message["type"] == "http.disconnect":
                return  # the client left; nothing to answer
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                await self._refuse(send, 413, "PayloadTooLarge", self._too_large(f"more than {self.max_body_bytes} "
                                                                                 "bytes"))  # fmt: skip
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if json_depth_exceeds(body, MAX_JSON_DEPTH):
            await self._refuse(send, 400, "BadRequest", "request body is not a valid JSON document (nested deeper "
                               f"than {MAX_JSON_DEPTH} levels); send an object like {{\"text\": \"...\"}}")  # fmt: skip
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self, what: str) -> str:
        return (f"request body has {what}, this server takes at most {self.max_body_bytes}; split the texts over "
                "several requests (or raise acc-serve --max-body-bytes)")  # fmt: skip

    async def _refuse(self, send: Callable[..., Any], status: int, error: str, detail: str) -> None:
        self.count_error(status, error)
        body = error_body(detail, error)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]  # fmt: skip
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Callable[..., Any]) -> Callable[..., Any]:
    """A ``receive`` that gives the buffered body once, then defers to the server's (for ``http.disconnect``)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def header_deadline_protocol(header_timeout_s: float, count_error: ErrorCounter | None = None) -> type:
    """A uvicorn ``http`` protocol class (h11) that answers 408 and closes a connection whose request head is not
    complete ``header_timeout_s`` after the connection opened or its previous response was sent."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    body = error_body(f"request headers were not complete within {header_timeout_s:g} s; send the request at once",
                      "RequestTimeout")  # fmt: skip
    response = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)  # fmt: skip

    class HeaderDeadlineProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm()  # the head is in; the body has its own deadline (BodyLimitMiddleware)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(header_timeout_s, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
                return
            if count_error is not None:
                count_error(408, "RequestTimeout")
            self.transport.write(response)
            self.transport.close()

    return HeaderDeadlineProtocol


MAX_JSON_DEPTH = 64  # no request of ours nests deeper than 4; the JSON parser's own limit moves with the interpreter's


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether ``body`` nests JSON arrays/objects deeper than ``limit`` (brackets inside strings do not count).

    Checked before parsing so the answer does not depend on the interpreter's recursion limit (which libraries such
    as torch raise); cheap for ordinary bodies, which have fewer brackets than ``limit`` and are not scanned.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False
