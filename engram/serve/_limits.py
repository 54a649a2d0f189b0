"""Request limits and the access log: body size, per-key rate, one JSON line per request.

- :class:`BodyLimit` refuses a body over ``max_bytes`` with 413 — by ``Content-Length``
  before reading, and by counting while streaming when the length is not declared.
- :class:`RateLimiter` is a token bucket per key id (``rate`` per second, ``burst`` at once);
  a request over it gets 429 with ``Retry-After``. Limits are per server process.
- :class:`AccessLog` writes ``{"method", "route", "status", "ms", "key_id", "tenant"}`` to the
  ``engram.serve.access`` logger: the route template (``/v1/memories/{key}``), never the
  concrete path, the key, a query string or a body, so no secret or memory text is logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

access_log = logging.getLogger("engram.serve.access")


def _error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                    field: str | None = None) -> Any:
    from starlette.responses import JSONResponse

    from engram.serve._errors import body

    return JSONResponse(body(code, message, field), status_code=status, headers=headers)


def _too_large_error(max_bytes: int) -> Exception:
    # An HTTPException, so that FastAPI's body reader passes it on (it turns other errors
    # raised while reading into a 400) and the app's handler answers 413 in the JSON shape.
    from starlette.exceptions import HTTPException

    class TooLarge(HTTPException):
        pass

    return TooLarge(413, f"the request body is over {max_bytes:,} bytes; split it into smaller requests "
                         "(ENGRAM_SERVE_MAX_BODY_BYTES raises the limit).")


class BodyLimit:
    """ASGI middleware: 413 for bodies over ``max_bytes`` (see the module docstring)."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _too_large_error(self.max_bytes)
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except Exception as err:  # only our own limit error is answered here; others re-raise
            if getattr(err, "status_code", None) != 413 or started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: dict, receive: Any, send: Any) -> None:
        response = _error_response(413, "payload_too_large",
                                   f"the request body is over {self.max_bytes:,} bytes; split it into smaller "
                                   "requests (ENGRAM_SERVE_MAX_BODY_BYTES raises the limit).")
        await response(scope, receive, send)


class RateLimiter:
    """Token buckets per key id (see the module docstring)."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        """0.0 if the request may go ahead, else the seconds until it could."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate


class AccessLog:
    """ASGI middleware: one structured line per HTTP request (see the module docstring)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def watch(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                route = scope.get("route")
                state = scope.get("state") or {}
                access_log.info(json.dumps({
                    "method": scope.get("method"),
                    "route": getattr(route, "path", None) or _coarse(scope.get("path", "")),
                    "status": status, "ms": round((time.perf_counter() - start) * 1000, 2),
                    "key_id": state.get("key_id"), "tenant": state.get("tenant")}))


def _coarse(path: str) -> str:
    # An unmatched path can carry anything a client typed: log only its first segment.
    parts = [p for p in path.split("/") if p]
    return "/" + parts[0] + ("/..." if len(parts) > 1 else "") if parts else "/"


__all__ = ["AccessLog", "BodyLimit", "RateLimiter", "access_log"]
