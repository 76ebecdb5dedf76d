"""ASGI middleware: refuse oversized bodies (413) before they are read, bodies that do not arrive
in time (408), and count every response.

Plain ASGI rather than BaseHTTPMiddleware: it sees the end of a streamed response (so latency
covers the whole stream) and never buffers bodies.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.exceptions import HTTPException

from slmforge.runtime.serve.metrics import ServeMetrics
from slmforge.runtime.serve.protocol import error_body

# Route labels are fixed: a label per arbitrary path would let any client grow the metrics forever.
ROUTES = {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/openapi.json"}


class BodyLimitAndMetrics:
    def __init__(self, app: Any, metrics: ServeMetrics, max_body_bytes: int, body_timeout_s: float = 10.0):
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in ROUTES else "other"
        start = time.perf_counter()
        state = {"status": 500, "done": False}

        def record() -> None:
            if not state["done"]:
                state["done"] = True
                self.metrics.requests.labels(route, str(state["status"])).inc()
                self.metrics.latency.labels(route).observe(time.perf_counter() - start)

        async def counting_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                record()

        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._too_large(counting_send)
            return
        received, body_done = 0, False
        # One deadline for the whole body, not per chunk: a client trickling a byte at a time would
        # otherwise hold its connection (and the request's task) for as long as it likes.
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s

        async def limited_receive() -> dict:
            nonlocal received, body_done
            if body_done:  # what follows the body is only the disconnect, however late it comes
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, f"The request body did not arrive within {self.body_timeout_s:g} s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
            if received > self.max_body_bytes:
                # Chunked bodies have no length up front: stop reading once over the limit.
                raise HTTPException(413, self._message())
            return message

        try:
            await self.app(scope, limited_receive, counting_send)
        finally:
            record()

    def _message(self) -> str:
        return f"The request body is larger than the limit of {self.max_body_bytes} bytes"

    async def _too_large(self, send: Any) -> None:
        body = json.dumps(error_body(self._message(), code="request_too_large")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
