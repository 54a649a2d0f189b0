"""engram as a service: a FastAPI app and an MCP server over the same library, with keys and tenants.

    engram keys create --tenant acme --scopes read,write      # prints a key once
    engram serve                                              # http://127.0.0.1:8080/docs
    engram mcp --key egk_...                                  # MCP over stdio

In Python (tests, embedding the app in your own ASGI server)::

    from engram.serve import create_app, ServeSettings
    app = create_app(ServeSettings(job_concurrency=4))

Every namespace in a request is relative to the tenant of the caller's key; see
:mod:`engram.serve._tenancy` for the rules. FastAPI, uvicorn and mcp load on first use.
"""

from __future__ import annotations

from engram._lazy import lazy_exports

_EXPORTS = {
    "create_app": "_app",
    "ServeSettings": "_settings",
    "Service": "_service",
    "KeyStore": "_keys",
    "Principal": "_keys",
    "SCOPES": "_keys",
    "JobStore": "_jobs",
    "Job": "_jobs",
    "JobRunner": "_worker",
    "FeedbackDatasets": "_datasets",
    "build_mcp": "_mcp",
    "scoped": "_tenancy",
    "unscoped": "_tenancy",
    "app": "_cli",
}

__all__ = [
    "SCOPES",
    "FeedbackDatasets",
    "Job",
    "JobRunner",
    "JobStore",
    "KeyStore",
    "Principal",
    "ServeSettings",
    "Service",
    "app",
    "build_mcp",
    "create_app",
    "scoped",
    "unscoped",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
