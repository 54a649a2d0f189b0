"""JSON errors: ``{"error": {"code", "message", "field"}}`` for every failure, never a stack trace.

engram's own exceptions map to HTTP statuses by type; a request that fails validation
names the first bad field (``body.namespace[1]``); anything unexpected is a 500 with a
generic message (the details go to the server log only).
"""

from __future__ import annotations

import logging
import re
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


# pydantic names the member of a union that failed (``str``, ``constrained-str``, ``dict[str,...]``,
# ``function-after[...]``, a model's class name) in the error's location; the client never sent those.
_UNION_TAG = re.compile(r"^(constrained-)?(str|int|float|bool|none|bytes)$|\[|^[A-Z]")
_MISSING = object()


def _loc(loc: tuple, body: Any = _MISSING) -> str:
    """``('body', 'metadata', 'a', 'str')`` -> ``body.metadata.a``: the path of what the client sent.

    A part that names a union member is dropped, unless the request really has a key of that
    name there (``body`` is walked alongside when it is known)."""
    out = ""
    here = body if loc[:1] == ("body",) else _MISSING
    for i, part in enumerate(loc):
        if i and isinstance(part, str) and _UNION_TAG.search(part) and not (isinstance(here, dict)
                                                                           and part in here):
            continue
        if i:
            if isinstance(here, dict):
                here = here.get(part, _MISSING)
            elif isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here):
                here = here[part]
            else:
                here = _MISSING
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_message(errors: list[dict[str, Any]], body: Any = _MISSING,
                       content_type: str | None = None) -> tuple[str, str | None]:
    """(message, field) for a request that failed validation: the first problem, in the client's terms."""
    first: dict[str, Any] = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = tuple(first.get("loc", ()))
    msg = str(first.get("msg", "invalid"))
    if first.get("type") == "json_invalid":
        # loc is ("body", <character offset>): not an index into anything the client sent.
        offset = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        reason = (first.get("ctx") or {}).get("error") or "invalid JSON"
        where = f" at character {offset}" if offset is not None else ""
        return f"body: the request body is not valid JSON ({reason}{where}).", "body"
    if loc == ("body",) and not _is_json(content_type):
        shown = f"'{content_type}'" if content_type else "none"
        return (f"body: {msg}. Send the JSON body with the header 'Content-Type: application/json' "
                f"(this request's Content-Type: {shown})."), "body"
    # A union's members fail one by one: the member that got furthest into the value says most
    # (filter.$and[0].b, not filter.$and "is not a string"); several at one place make one sentence.
    fields = [_loc(tuple(e.get("loc", ())), body) for e in errors] or [""]
    nested = [f for f in fields if f == fields[0] or f.startswith((fields[0] + ".", fields[0] + "["))]
    field = max(nested, key=len)
    same = [e for e, f in zip(errors, fields) if f == field]
    reasons = list(dict.fromkeys(str(e.get("msg", "invalid")) for e in same))
    message = f"{field}: {'; or '.join(reasons)}" if field else "; or ".join(reasons)
    shape = _SHAPES.get(field.rsplit(".", 1)[-1]) if any(e.get("type") == "list_type" for e in same) else None
    if shape:  # a string where a list goes: show the list the field takes
        message += f" ({shape})"
    if len(errors) > len(same):
        message += f" (and {len(errors) - len(same)} more problem(s))"
    return message, field or None


# What a list-valued field holds, for a client that sent something else (often a string).
_SHAPES = {"namespace": 'a list of parts, e.g. ["memories", "u1"]',
           "prefix": 'a list of parts, e.g. ["memories"]',
           "messages": 'a list of messages, e.g. [{"role": "user", "content": "hi"}]',
           "trajectories": 'a list of trajectories, e.g. [{"messages": [...], "feedback": {"score": 1}}]'}


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


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

    async def validation_error(request: Any, err: RequestValidationError) -> JSONResponse:
        sent = err.body if getattr(err, "body", None) is not None else _MISSING
        message, field = validation_message(list(err.errors()), sent, request.headers.get("content-type"))
        if request.method != "POST" and request.url.path.rstrip("/") == "/v1/memories/search":
            # routed as GET /v1/memories/{key} with the key "search": say what was probably meant
            message += " (to search, POST /v1/memories/search with a JSON body {\"namespace\": [...], \"query\": ...})"
        return JSONResponse(body("invalid_request", message, field), status_code=422)

    async def http_error(request: Any, err: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden",
                 413: "payload_too_large", 400: "bad_request"}
        message = str(err.detail)
        headers = getattr(err, "headers", None) or {}
        route = f"{request.method} {request.url.path}"
        if err.status_code == 404 and message == "Not Found":  # the router's own: no such path
            message = f"no such path: {route}; the paths of this API are listed at /docs (and /openapi.json)."
        elif err.status_code == 405 and message == "Method Not Allowed":
            allowed = headers.get("Allow")  # Starlette's router sets it
            message = f"{route} is not allowed" + (f"; this path takes {allowed}." if allowed else ".")
        return JSONResponse(body(codes.get(err.status_code, "http_error"), message),
                            status_code=err.status_code, headers=headers or None)

    async def unexpected(_request: Any, err: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(body("internal", "internal error; the server log has the details."), status_code=500)

    app.add_exception_handler(EngramError, engram_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


__all__ = ["STATUS", "ApiError", "body", "for_engram_error", "install", "validation_message"]
