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

from typing import TYPE_CHECKING

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
    "serve": "_cli",
    "mcp": "_cli",
    "keys_app": "_cli",
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
    "keys_app",
    "mcp",
    "serve",
    "build_mcp",
    "create_app",
    "scoped",
    "unscoped",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time names load lazily
    from engram.serve._app import create_app as create_app
    from engram.serve._cli import app as app, keys_app as keys_app, mcp as mcp, serve as serve
    from engram.serve._datasets import FeedbackDatasets as FeedbackDatasets
    from engram.serve._jobs import Job as Job, JobStore as JobStore
    from engram.serve._keys import KeyStore as KeyStore, Principal as Principal, SCOPES as SCOPES
    from engram.serve._mcp import build_mcp as build_mcp
    from engram.serve._service import Service as Service
    from engram.serve._settings import ServeSettings as ServeSettings
    from engram.serve._tenancy import scoped as scoped, unscoped as unscoped
    from engram.serve._worker import JobRunner as JobRunner
