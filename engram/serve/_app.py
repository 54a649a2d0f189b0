"""The FastAPI app: memory, extraction, prompts, optimization jobs and feedback under ``/v1``.

    from engram.serve import create_app
    app = create_app()                       # uvicorn engram.serve:create_app --factory

Every route authenticates the bearer key, checks its scope and scopes namespaces to its
tenant (see :mod:`engram.serve._tenancy`). Route functions are plain ``def``: FastAPI
runs them in its thread pool, so a slow embedding or Chroma call never blocks the loop.
"""

import contextlib
import logging
from typing import Annotated, Any

from engram.serve._settings import ServeSettings

log = logging.getLogger("engram.serve")

API_DESCRIPTION = ("Long-term memory and prompt optimization for LLM agents (engram). Every namespace is "
                   "relative to the tenant of your API key. Errors are `{error: {code, message, field}}`.")


def create_app(settings: ServeSettings | None = None, *, service: Any = None, mcp: bool = True) -> Any:
    """The service as an ASGI app (FastAPI), with ``/mcp`` (streamable HTTP) unless ``mcp=False``."""
    from fastapi import FastAPI

    from engram.serve import _errors
    from engram.serve._handlers import run_extract, run_optimize
    from engram.serve._limits import AccessLog, BodyLimit, RateLimiter
    from engram.serve._service import Service
    from engram.serve._worker import JobRunner

    settings = settings or ServeSettings.from_env()
    _log_to_stderr()
    service = service or Service.from_settings(settings)
    mcp_server = None
    if mcp:
        from engram.serve._mcp import build_mcp, http_tenant_resolver

        mcp_server = build_mcp(service, http_tenant_resolver(service))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        runner = None
        if settings.run_jobs:
            runner = JobRunner(service.jobs, {"extract": run_extract(service), "optimize": run_optimize(service)},
                               concurrency=settings.job_concurrency, lease=settings.job_lease_seconds)
            runner.start()
        app.state.runner = runner
        async with contextlib.AsyncExitStack() as stack:
            if mcp_server is not None:
                await stack.enter_async_context(mcp_server.session_manager.run())
            try:
                yield
            finally:
                if runner is not None:
                    runner.stop(wait=False)

    app = FastAPI(title="engram", version="0.1.0", description=API_DESCRIPTION, lifespan=lifespan)
    app.state.service, app.state.settings = service, settings
    app.state.limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
    _errors.install(app)
    _routes(app, service)
    if mcp_server is not None:
        from engram.serve._mcp import mount_http

        mount_http(app, mcp_server, host=settings.host, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLog)
    return app


def _log_to_stderr() -> None:
    # uvicorn configures only its own loggers; without a handler the access log would vanish.
    import sys

    for name in ("engram.serve.access", "engram.serve.jobs", "engram.serve"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False


def _routes(app: Any, service: Any) -> None:
    from fastapi import Body, Depends, Path, Query

    from engram.serve import _schemas as s
    from engram.serve._auth import require
    from engram.serve._errors import ApiError
    from engram.serve._handlers import apply_conversation, merge_extract
    from engram.serve._keys import Principal
    from engram.serve._tenancy import namespace_key_for, scoped

    Read = Annotated[Principal, Depends(require("read"))]
    Write = Annotated[Principal, Depends(require("write"))]
    Optimize = Annotated[Principal, Depends(require("optimize"))]
    NsQuery = Annotated[list[Annotated[str, Query(min_length=1, max_length=128)]],
                        Query(min_length=1, max_length=8, description="Namespace parts (repeat the parameter).")]
    KeyPath = Annotated[str, Path(min_length=1, max_length=128)]

    def errors(*statuses: int, body: bool = False) -> dict[int | str, dict[str, Any]]:
        """The error statuses a keyed route can answer (``{error: {...}}``): the key's 401 / 403 / 429,
        422, 413 (BodyLimit) for a route with a body, and ``statuses``."""
        codes = (401, 403, 422, 429, *((413,) if body else ()), *statuses)
        return {code: {"model": s.ErrorOut} for code in sorted(codes)}

    @app.head("/healthz", include_in_schema=False)  # uptime checkers that send HEAD: GET's status, no body
    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["service"], responses={503: {"model": s.ErrorOut}})
    def readyz() -> Any:
        """Readiness: the store, tracking and the job table answer."""
        from fastapi.responses import JSONResponse

        checks = service.ready()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)

    @app.post("/v1/memories", status_code=201, response_model=s.MemoryOut, tags=["memories"],
              responses=errors(409, body=True))
    def create_memory(req: s.MemoryCreate, who: Write) -> Any:
        """Store a memory (a new version if the key exists)."""
        return service.put(who.tenant, req.namespace, content=req.content, key=req.key, kind=req.kind,
                           metadata=req.metadata, expected_version=req.expected_version)

    @app.post("/v1/memories/search", response_model=s.SearchOut, tags=["memories"], responses=errors(body=True))
    def search_memories(req: s.SearchIn, who: Read) -> Any:
        """Memories of one namespace ranked by meaning, filtered by metadata and kind."""
        return {"results": service.search(who.tenant, req.namespace, query=req.query, limit=req.limit,
                                          offset=req.offset, filter=req.filter, kind=req.kind,
                                          min_score=req.min_score)}

    @app.get("/v1/memories/{key}", response_model=s.MemoryOut, tags=["memories"], responses=errors(404))
    def get_memory(key: KeyPath, namespace: NsQuery, who: Read) -> Any:
        """The current version of one memory."""
        return service.get(who.tenant, namespace, key)

    @app.patch("/v1/memories/{key}", response_model=s.MemoryOut, tags=["memories"],
               responses=errors(404, 409, body=True))
    def patch_memory(key: KeyPath, namespace: NsQuery, req: s.MemoryPatch, who: Write) -> Any:
        """Change content, kind or metadata (metadata is merged; null removes a key).

        Idempotent: a patch that leaves the memory as it is (the same content, say) writes nothing
        and answers 200 with the current version unchanged, so a retried request adds no version."""
        changes = req.model_dump(exclude_unset=True, exclude={"expected_version"})
        changes = {k: v for k, v in changes.items() if v is not None or k == "metadata"}
        if changes.get("metadata") is None:
            changes.pop("metadata", None)
        return service.patch(who.tenant, namespace, key, changes, req.expected_version)

    @app.delete("/v1/memories/{key}", tags=["memories"], responses=errors(404))
    def delete_memory(key: KeyPath, namespace: NsQuery, who: Write, hard: bool = False) -> dict[str, Any]:
        """Soft-delete (history kept; restore brings it back) or, with ``hard=true``, erase."""
        record = service.delete(who.tenant, namespace, key, hard=hard)
        return {"deleted": key, "hard": hard, "record": record}

    @app.get("/v1/memories/{key}/history", response_model=s.HistoryOut, tags=["memories"], responses=errors(404))
    def memory_history(key: KeyPath, namespace: NsQuery, who: Read) -> Any:
        """Every version of one memory, oldest first."""
        return {"versions": service.history(who.tenant, namespace, key)}

    @app.post("/v1/memories/{key}/restore", response_model=s.MemoryOut, tags=["memories"],
              responses=errors(404, body=True))
    def restore_memory(key: KeyPath, namespace: NsQuery, req: s.RestoreIn, who: Write) -> Any:
        """Make an old version current again (as a new version)."""
        return service.restore(who.tenant, namespace, key, req.version)

    @app.get("/v1/namespaces", response_model=s.NamespacesOut, tags=["memories"], responses=errors())
    def namespaces(who: Read,
                   prefix: Annotated[list[Annotated[str, Query(min_length=1, max_length=128)]] | None,
                                     Query(max_length=8)] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> Any:
        """Your tenant's namespaces (optionally under a prefix)."""
        return {"namespaces": service.namespaces(who.tenant, prefix or (), limit=limit, offset=offset)}

    @app.post("/v1/extract", response_model=s.ExtractOut, tags=["memories"],
              responses={202: {"model": s.ExtractOut}, **errors(body=True)})
    def extract(req: s.ExtractIn, who: Write) -> Any:
        """Apply a conversation with the memory manager: now (``wait``) or as a debounced job."""
        import uuid

        from fastapi.responses import JSONResponse

        store_ns = scoped(who.tenant, req.namespace)
        messages = [m.model_dump(exclude_none=True) for m in req.messages]
        if req.wait:
            result, usage = apply_conversation(service.store, store_ns, messages, f"req-{uuid.uuid4().hex}",
                                               who.tenant)
            return {"status": "succeeded", "result": {**result, "usage": usage}}
        thread_key = namespace_key_for(store_ns, req.thread_id) if req.thread_id else None
        job, merged = service.jobs.submit(who.tenant, "extract", {"store_namespace": list(store_ns),
                                                                  "messages": messages},
                                          thread_key=thread_key, delay=req.after_seconds, merge=merge_extract)
        return JSONResponse({"job_id": job.id, "status": job.status, "merged": merged, "result": None},
                            status_code=202)

    @app.get("/v1/prompts/{name}", response_model=s.PromptOut, tags=["prompts"],
             responses=errors(404, 503))
    def get_prompt(name: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")], who: Read,
                   alias: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
                   version: Annotated[int | None, Query(ge=1, le=2**31)] = None) -> Any:
        """A prompt through the production loader (cached; the last good copy when MLflow is down)."""
        return service.prompt(who.tenant, name, alias if alias or version else "production", version)

    @app.post("/v1/optimize", status_code=202, response_model=s.JobOut, tags=["prompts"],
              responses=errors(404, body=True))
    def optimize(req: s.OptimizeIn, who: Optimize) -> Any:
        """Queue a prompt optimization (gate, MLflow run, optional register and promote)."""
        if req.prompt is None and req.prompt_name is None:
            raise ApiError(422, "invalid_request", "send prompt (text) or prompt_name.", field="prompt")
        if (req.trajectories is None) == (req.dataset is None):
            raise ApiError(422, "invalid_request", "send trajectories or dataset (one of them).", field="dataset")
        if req.promote and not (req.register_ and req.prompt_name):
            raise ApiError(422, "invalid_request", "promote needs register=true and prompt_name.", field="promote")
        if req.dataset is not None and not service.datasets.path(who.tenant, req.dataset).exists():
            raise ApiError(404, "not_found", f"no dataset {req.dataset!r}; POST /v1/feedback creates it.",
                           field="dataset")
        if req.prompt is None and req.prompt_name is not None:
            _check_prompt(who.tenant, req.prompt_name, req.alias)
        payload = req.model_dump(mode="json", exclude_none=True, by_alias=True)
        job, _ = service.jobs.submit(who.tenant, "optimize", payload)
        return job.public()

    @app.get("/v1/jobs/{job_id}", response_model=s.JobOut, tags=["jobs"], responses=errors(404))
    def get_job(job_id: Annotated[str, Path(min_length=1, max_length=64)], who: Read) -> Any:
        """A job's status, result and LM usage (your tenant's jobs only)."""
        job = service.jobs.get(job_id, tenant=who.tenant)
        if job is None:
            raise ApiError(404, "not_found", "no such job for this key's tenant.", field="job_id")
        return job.public()

    @app.post("/v1/feedback", status_code=201, response_model=s.FeedbackOut, tags=["prompts"],
              responses=errors(body=True))
    def feedback(req: Annotated[s.FeedbackBatchIn, Body()], who: Write) -> Any:
        """Append trajectories with feedback to a named dataset (for a later /v1/optimize)."""
        items = [t.model_dump(exclude_none=True) for t in req.trajectories]
        return service.feedback(who.tenant, req.dataset, items)


def _check_prompt(tenant: str, name: str, alias: str) -> None:
    """404 now for a prompt the job could not load (a registry outage is left to the job, which retries)."""
    from engram.errors import NotFoundError, TrackingError
    from engram.serve._errors import ApiError
    from engram.serve._prompts import load_tenant_prompt

    try:
        load_tenant_prompt(tenant, name, alias)
    except NotFoundError as err:
        raise ApiError(404, "not_found", f"{err} Or send the prompt's text as prompt.", field="prompt_name") from None
    except TrackingError:
        log.warning("engram serve: could not check prompt %r before queueing an optimization", name)


__all__ = ["create_app"]
