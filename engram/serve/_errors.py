"""JSON errors: ``{"error": {"code", "message", "field"}}`` for every failure, never a stack trace.

engram's own exceptions map to HTTP statuses by type; a request that fails validation
names the first bad field (``body.namespace[1]``); anything unexpected is a 500 with a
generic message (the details go to the server log only).
"""

from __future__ import annotations

import logging
from typing import Any

from engram.errors import (
    BudgetExceededError,
    ConfigurationError,
    ConflictError,
    EngramError,
    LMError,
    NamespaceError,
    NotFoundError,
    OptimizationError,
    StoreError,
    TemplateError,
    TrackingError,
    ValidationError,
)

log = logging.getLogger("engram.serve")

# Most specific first: ConflictError is a StoreError.
STATUS: list[tuple[type[EngramError], int, str]] = [
    (NamespaceError, 422, "invalid_namespace"),
    (ValidationError, 422, "invalid"),
    (TemplateError, 422, "invalid_template"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (BudgetExceededError, 429, "budget_exceeded"),
    (StoreError, 503, "store_unavailable"),
    (TrackingError, 503, "tracking_unavailable"),
    (LMError, 502, "lm_error"),
    (OptimizationError, 422, "optimization_failed"),
    (ConfigurationError, 503, "not_configured"),
]


class ApiError(Exception):
    """An HTTP error with a code (auth, scopes, limits)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def for_engram_error(err: EngramError) -> tuple[int, dict[str, Any]]:
    for cls, status, code in STATUS:
        if isinstance(err, cls):
            field = getattr(err, "field", None) or ("namespace" if isinstance(err, NamespaceError) else None)
            return status, body(code, str(err), field)
    return 400, body("error", str(err))


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def install(app: Any) -> None:
    """Register the handlers on a FastAPI app."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    async def engram_error(_request: Any, err: EngramError) -> JSONResponse:
        status, content = for_engram_error(err)
        return JSONResponse(content, status_code=status)

    async def api_error(_request: Any, err: ApiError) -> JSONResponse:
        return JSONResponse(body(err.code, err.message, err.field), status_code=err.status, headers=err.headers)

    async def validation_error(_request: Any, err: RequestValidationError) -> JSONResponse:
        errors = err.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _loc(tuple(first.get("loc", ())))
        message = f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg"))
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem(s))"
        return JSONResponse(body("invalid_request", message, field or None), status_code=422)

    async def http_error(_request: Any, err: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden",
                 413: "payload_too_large", 400: "bad_request"}
        return JSONResponse(body(codes.get(err.status_code, "http_error"), str(err.detail)),
                            status_code=err.status_code, headers=getattr(err, "headers", None))

    async def unexpected(_request: Any, err: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(body("internal", "internal error; the server log has the details."), status_code=500)

    app.add_exception_handler(EngramError, engram_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


__all__ = ["STATUS", "ApiError", "body", "for_engram_error", "install"]
