"""The service object: one store, the key and job tables, feedback datasets, tenant-scoped calls.

Every method takes the caller's tenant and a *relative* namespace; the store only ever
sees ``("tenants", tenant, *namespace)``. HTTP routes and MCP tools both call these::

    service = Service.from_settings(ServeSettings.from_env())
    service.put("acme", ["memories", "u1"], key="lang", content="prefers Python")
    service.search("acme", ["memories", "u1"], query="which language?")
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from engram.errors import ConfigurationError, ConflictError, NotFoundError, ValidationError
from engram.serve._datasets import FeedbackDatasets
from engram.serve._jobs import JobStore
from engram.serve._keys import KeyStore
from engram.serve._settings import ServeSettings
from engram.serve._tenancy import ROOT, check_memory_key, is_internal, scoped, unscoped

log = logging.getLogger("engram.serve")


def record_out(tenant: str, record: Any) -> dict[str, Any]:
    """A MemoryRecord as the API shows it: namespace relative to the tenant, no provenance internals."""
    return {"id": record.id, "namespace": list(unscoped(tenant, record.namespace)), "kind": record.kind,
            "content": record.content, "metadata": record.metadata, "version": record.version,
            "created_at": record.created_at, "updated_at": record.updated_at, "deleted": record.deleted,
            "score": record.score}


class Service:
    """Everything the HTTP app and the MCP server share (see the module docstring)."""

    def __init__(self, store: Any, keys: KeyStore, jobs: JobStore, datasets: FeedbackDatasets,
                 settings: ServeSettings, home: Path):
        self.store, self.keys, self.jobs, self.datasets = store, keys, jobs, datasets
        self.settings, self.home = settings, home

    @classmethod
    def from_settings(cls, settings: ServeSettings | None = None, *, store: Any = None) -> Service:
        from engram.config import get_settings

        settings = settings or ServeSettings.from_env()
        home = get_settings().home
        home.mkdir(parents=True, exist_ok=True)
        if store is None:
            from engram.serve._batching import BatchingEmbedder
            from engram.store import MemoryStore, get_embedder

            store = MemoryStore.from_settings(embedder=BatchingEmbedder(get_embedder()))
        return cls(store, KeyStore(settings.resolved_keys_path(home)), JobStore(settings.resolved_db(home)),
                   FeedbackDatasets(home), settings, home)

    def close(self) -> None:
        self.jobs.close()
        self.store.close()

    # -- memories -------------------------------------------------------------------------
    def put(self, tenant: str, namespace: Any, *, content: Any, key: str | None = None, kind: str = "memory",
            metadata: dict | None = None, expected_version: int | None = None) -> dict[str, Any]:
        ns = scoped(tenant, namespace)
        key = check_memory_key(key) if key is not None else None
        if isinstance(content, dict) and not content:
            raise ValidationError("content is an empty object; store some text or fields.", field="content")
        metadata = _metadata(metadata)
        try:
            record = self.store.put(ns, key, content, kind=kind, metadata=metadata,
                                    expected_version=expected_version)
        except ConflictError:
            raise self._stale(ns, namespace, key, expected_version) from None
        return record_out(tenant, record)

    def get(self, tenant: str, namespace: Any, key: str) -> dict[str, Any]:
        ns, key = scoped(tenant, namespace), check_memory_key(key)
        record = self.store.get(ns, key)
        if record is None:
            raise NotFoundError(f"no memory {key!r} in namespace {list(namespace)!r}.")
        return record_out(tenant, record)

    def patch(self, tenant: str, namespace: Any, key: str, changes: dict[str, Any],
              expected_version: int | None = None) -> dict[str, Any]:
        ns, key = scoped(tenant, namespace), check_memory_key(key)
        if not changes:
            raise ValidationError("nothing to change: send content, kind or metadata.", field="body")
        if "content" in changes and isinstance(changes["content"], dict) and not changes["content"]:
            raise ValidationError("content is an empty object.", field="content")
        if "metadata" in changes:
            changes["metadata"] = _metadata(changes["metadata"], allow_null=True)
        try:
            record = self.store.update(ns, key, expected_version=expected_version, **changes)
        except NotFoundError:
            raise NotFoundError(f"no memory {key!r} in namespace {list(namespace)!r} to change; create it "
                                "with POST /v1/memories first.") from None
        except ConflictError:
            raise self._stale(ns, namespace, key, expected_version) from None
        return record_out(tenant, record)

    def delete(self, tenant: str, namespace: Any, key: str, *, hard: bool = False) -> dict[str, Any] | None:
        ns, key = scoped(tenant, namespace), check_memory_key(key)
        try:
            record = self.store.delete(ns, key, hard=hard)
        except NotFoundError:
            what = "no memory" if hard else "no live memory"
            raise NotFoundError(f"{what} {key!r} in namespace {list(namespace)!r} to delete"
                                f"{'' if hard else ' (never stored, already deleted, or expired)'}.") from None
        return record_out(tenant, record) if record is not None else None

    def history(self, tenant: str, namespace: Any, key: str) -> list[dict[str, Any]]:
        ns, key = scoped(tenant, namespace), check_memory_key(key)
        versions = self.store.history(ns, key)
        if not versions:
            raise NotFoundError(f"no memory {key!r} in namespace {list(namespace)!r}.")
        return [record_out(tenant, r) for r in versions]

    def restore(self, tenant: str, namespace: Any, key: str, version: int) -> dict[str, Any]:
        ns, key = scoped(tenant, namespace), check_memory_key(key)
        try:
            return record_out(tenant, self.store.restore(ns, key, version))
        except NotFoundError:
            have = [r.version for r in self.store.history(ns, key)]
            if not have:
                raise NotFoundError(f"no memory {key!r} in namespace {list(namespace)!r} (never stored, or "
                                    "erased).") from None
            raise NotFoundError(f"memory {key!r} in namespace {list(namespace)!r} has no version {version}; "
                                f"its versions are {have} (GET /v1/memories/{key}/history).",
                                field="version") from None

    def _stale(self, ns: tuple[str, ...], namespace: Any, key: str | None, expected: int | None) -> Exception:
        """A failed expected_version check, told in the client's terms (relative namespace, HTTP)."""
        current = self.store.get(ns, key) if key is not None else None
        have = current.version if current is not None else 0
        state = f"is at version {have}" if have else "does not exist"
        return ConflictError(f"memory {key!r} in namespace {list(namespace)!r} {state}, not version "
                             f"{expected}; re-read it with GET /v1/memories/{key}?namespace=... and retry "
                             "with its version as expected_version.", field="expected_version")

    def search(self, tenant: str, namespace: Any, *, query: str | None = None, limit: int = 10, offset: int = 0,
               filter: dict | None = None, kind: str | None = None,
               min_score: float | None = None) -> list[dict[str, Any]]:
        ns = scoped(tenant, namespace)
        if query is not None and not query.strip():
            raise ValidationError("query is blank; send some text or leave it out.", field="query")
        if min_score is not None and query is None:
            raise ValidationError("min_score needs a query: without one nothing is scored.", field="min_score")
        found = self.store.search(ns, query, filter=filter or None, kind=kind, limit=limit, offset=offset,
                                  min_score=min_score)
        return [record_out(tenant, r) for r in found]

    def namespaces(self, tenant: str, prefix: Any = (), *, limit: int = 100, offset: int = 0) -> list[list[str]]:
        base = scoped(tenant, prefix or (), allow_empty=True)
        found = [ns for ns in self.store.list_namespaces(base, limit=100_000) if not is_internal(ns)]
        return [list(unscoped(tenant, ns)) for ns in found][offset: offset + limit]

    # -- prompts and feedback -----------------------------------------------------------------
    def prompt(self, tenant: str, name: str, alias: str | None = None, version: int | None = None) -> dict[str, Any]:
        from engram.serve._prompts import load_tenant_prompt

        prompt = load_tenant_prompt(tenant, name, alias, version)
        template = prompt.template if isinstance(prompt.template, str) else _chat_text(prompt.template)
        try:
            number = int(prompt.version) if prompt.version is not None else None
        except ValueError:
            number = None
        return {"name": name, "version": number, "template": template,
                "variables": _variables(prompt), "source": prompt.metadata.get("source")}

    def feedback(self, tenant: str, dataset: str, trajectories: list[dict[str, Any]]) -> dict[str, Any]:
        appended, total = self.datasets.append(tenant, dataset, trajectories)
        return {"dataset": dataset, "appended": appended, "total": total}

    # -- health -----------------------------------------------------------------------------
    def ready(self) -> dict[str, str]:
        """Which dependencies answer: the store, tracking, the job table."""
        checks: dict[str, str] = {}
        try:
            self.store.list_namespaces((ROOT, "~ready"), limit=1)
            checks["store"] = "ok"
        except Exception as err:  # noqa: BLE001 - readiness reports any failure
            checks["store"] = f"error: {type(err).__name__}"
        checks["tracking"] = _tracking_ready()
        try:
            self.jobs.counts()
            checks["jobs"] = "ok"
        except Exception as err:  # noqa: BLE001 - readiness reports any failure
            checks["jobs"] = f"error: {type(err).__name__}"
        return checks


def _metadata(metadata: dict | None, *, allow_null: bool = False) -> dict | None:
    if metadata is None:
        return None
    for name, value in metadata.items():
        if name.startswith("_"):
            raise ValidationError(f"metadata key {name!r} starts with '_', which is reserved.", field=f"metadata.{name}")
        if name.startswith(("$", "#")) or name.lower().startswith("chroma:"):
            raise ValidationError(f"metadata key {name!r} starts with {name[0] if name[0] in '$#' else 'chroma:'!r}, "
                                  "which the store reserves; rename it.", field=f"metadata.{name}")
        if value is None and not allow_null:
            raise ValidationError(f"metadata {name!r} is null; leave it out instead.", field=f"metadata.{name}")
    return dict(metadata)


def _variables(prompt: Any) -> list[str]:
    variables = getattr(prompt, "variables", None)
    return list(variables) if variables is not None else []


def _chat_text(template: Any) -> str:
    import json

    return json.dumps(template, ensure_ascii=False, default=str)


def _tracking_ready() -> str:
    """MLflow answers: a SQLite file's directory is writable, or the server's /health is 200."""
    import os
    import urllib.request

    from engram.config import get_settings

    uri = get_settings().resolved_tracking_uri
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        folder = path.parent if path.parent != Path("") else Path(".")
        return "ok" if folder.exists() and os.access(folder, os.W_OK) else "error: not writable"
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=2) as resp:
                return "ok" if resp.status == 200 else f"error: HTTP {resp.status}"
        except Exception as err:  # noqa: BLE001 - readiness reports any failure
            return f"error: {type(err).__name__}"
    return "ok"  # file stores and databases are checked by MLflow on first use


def check_server_layout(workers: int) -> None:
    """Several worker processes need a Chroma server (embedded Chroma is single-writer)."""
    from engram.config import get_settings

    if workers > 1 and not get_settings().chroma_url:
        raise ConfigurationError(f"--workers {workers} needs a Chroma server: embedded Chroma allows one writer "
                                 "process. Run `chroma run --path DIR` and set ENGRAM_CHROMA_URL, or use "
                                 "--workers 1.")


__all__ = ["Service", "check_server_layout", "record_out"]
