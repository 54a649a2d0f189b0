"""Bearer-key authentication and scopes, as FastAPI dependencies.

    @app.get("/v1/namespaces")
    def namespaces(who: Principal = Depends(require("read"))): ...

No or an unknown key: 401 with ``WWW-Authenticate: Bearer``. A key without the scope:
403 naming the scope. Over the key's rate: 429 with ``Retry-After``.
"""

import math
from typing import Any

from engram.serve._errors import ApiError
from engram.serve._keys import Principal


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(service: Any, authorization: str | None) -> Principal:
    principal = service.keys.verify(bearer(authorization))
    if principal is None:
        raise ApiError(401, "unauthorized", "missing or invalid API key: send 'Authorization: Bearer <key>' "
                       "with a key from `engram keys create`.", headers={"WWW-Authenticate": "Bearer"})
    return principal


def _bearer_scheme() -> Any:
    """OpenAPI's ``bearerAuth`` (HTTP bearer), so generated clients get a bearer-token setting.
    It only documents: ``auto_error=False`` never refuses, :func:`authenticate` does."""
    from fastapi.security import HTTPBearer

    return HTTPBearer(auto_error=False, scheme_name="bearerAuth",
                      description="An API key from `engram keys create`: `Authorization: Bearer <key>`.")


def require(scope: str):
    """A dependency that authenticates the request and checks ``scope``."""
    from fastapi import Request, Security
    from fastapi.security import HTTPAuthorizationCredentials

    def dependency(request: Request,
                   _documented: HTTPAuthorizationCredentials | None = Security(_bearer_scheme())) -> Principal:
        service = request.app.state.service
        principal = authenticate(service, request.headers.get("authorization"))
        request.scope.setdefault("state", {})
        request.state.key_id, request.state.tenant = principal.key_id, principal.tenant
        if not principal.allows(scope):
            raise ApiError(403, "forbidden", f"this key lacks the '{scope}' scope; create one with "
                           f"`engram keys create --tenant {principal.tenant} --scopes {scope}`.")
        wait = request.app.state.limiter.take(principal.key_id)
        if wait > 0:
            raise ApiError(429, "rate_limited", f"too many requests for this key; retry in {wait:.2f} s.",
                           headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return principal

    return dependency


__all__ = ["authenticate", "bearer", "require"]
