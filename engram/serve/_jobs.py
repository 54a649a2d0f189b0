"""The job table: queued and running work that survives a restart, each result recorded once.

Jobs live in SQL (SQLite under ``ENGRAM_HOME`` by default; a PostgreSQL URL lets several
server processes share one queue). A worker *claims* a job with a conditional update
(``status='queued'`` -> ``'running'`` with its owner id and a lease); it renews the lease
while it works. A job whose lease ran out (its process was killed) is claimed again.
Finishing is conditional too (``status='running' and owner=me``), so a result is written
exactly once even if two processes ever ran the same job::

    jobs = JobStore("sqlite:///serve.db")
    job = jobs.submit("acme", "extract", {"messages": [...]})
    claimed = jobs.claim("worker-1", lease=30)       # the same job, status 'running'
    jobs.finish(claimed.id, "worker-1", {"written": 2})   # True; a second call: False

Handlers make the work itself idempotent (extraction uses the memory manager's ledger,
keyed by the job id; optimization checks the registry for a version tagged with it).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engram.errors import ConfigurationError

STATUSES = ("queued", "running", "succeeded", "failed")


@dataclass(frozen=True)
class Job:
    """One job row (``payload``/``result``/``usage`` decoded)."""

    id: str
    tenant: str
    kind: str
    status: str
    payload: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    usage: dict[str, Any] | None
    thread_key: str | None
    attempts: int
    created_at: float
    updated_at: float

    def public(self) -> dict[str, Any]:
        """What ``GET /v1/jobs/{id}`` shows (no payload: it can hold conversation text)."""
        return {"id": self.id, "kind": self.kind, "status": self.status, "result": self.result,
                "error": self.error, "usage": self.usage, "attempts": self.attempts,
                "created_at": self.created_at, "updated_at": self.updated_at}


def _table(metadata: Any) -> Any:
    import sqlalchemy as sa

    return sa.Table(
        "engram_jobs", metadata,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("usage", sa.Text),
        sa.Column("thread_key", sa.String(600), index=True),
        sa.Column("owner", sa.String(64)),
        sa.Column("lease_until", sa.Float, nullable=False, default=0.0),
        sa.Column("due_at", sa.Float, nullable=False, default=0.0),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


class JobStore:
    """Jobs in a SQL table (see the module docstring). Thread- and process-safe."""

    def __init__(self, url: str):
        import sqlalchemy as sa

        url = _driver_url(url)
        try:
            connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
            self.engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
            if url.startswith("sqlite"):
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self._meta = sa.MetaData()
            self.table = _table(self._meta)
            self._meta.create_all(self.engine)
        except Exception as err:  # noqa: BLE001 - a bad URL or an unreachable database
            raise ConfigurationError(f"the job database {url!r} is unusable ({err}); set ENGRAM_SERVE_DB to "
                                     "a SQLite path URL or a PostgreSQL URL.") from None
        self._local = threading.Lock()  # SQLite serializes writers anyway; this avoids busy retries

    # -- reads ----------------------------------------------------------------------------
    def get(self, job_id: str, tenant: str | None = None) -> Job | None:
        """The job, or None; with ``tenant`` only that tenant's job (another tenant's id is None)."""
        t = self.table
        query = t.select().where(t.c.id == job_id)
        if tenant is not None:
            query = query.where(t.c.tenant == tenant)
        with self.engine.connect() as db:
            row = db.execute(query).mappings().first()
        return _job(row) if row else None

    def counts(self) -> dict[str, int]:
        import sqlalchemy as sa

        t = self.table
        with self.engine.connect() as db:
            rows = db.execute(sa.select(t.c.status, sa.func.count()).group_by(t.c.status)).all()
        return {status: n for status, n in rows}

    # -- writes ---------------------------------------------------------------------------
    def submit(self, tenant: str, kind: str, payload: dict[str, Any], *, thread_key: str | None = None,
               delay: float = 0.0, merge: Callable[[dict, dict], dict] | None = None) -> tuple[Job, bool]:
        """Queue a job; with ``thread_key`` and ``merge``, a still-queued job of the same thread
        absorbs this one (its payload merged, its due time moved ``delay`` seconds on).
        Returns (job, merged)."""
        t, now = self.table, time.time()
        with self._local, self.engine.begin() as db:
            if thread_key is not None and merge is not None:
                row = db.execute(t.select().where(t.c.tenant == tenant, t.c.kind == kind,
                                                  t.c.thread_key == thread_key, t.c.status == "queued")
                                 .order_by(t.c.created_at).limit(1)).mappings().first()
                if row is not None:
                    merged = merge(json.loads(row["payload"]), payload)
                    done = db.execute(t.update().where(t.c.id == row["id"], t.c.status == "queued").values(
                        payload=json.dumps(merged), due_at=now + delay, updated_at=now)).rowcount
                    if done == 1:
                        return self._get(db, row["id"]), True
            job_id = uuid.uuid4().hex
            db.execute(t.insert().values(id=job_id, tenant=tenant, kind=kind, status="queued",
                                         payload=json.dumps(payload), thread_key=thread_key, owner=None,
                                         lease_until=0.0, due_at=now + delay, attempts=0,
                                         created_at=now, updated_at=now))
            return self._get(db, job_id), False

    def _get(self, db: Any, job_id: str) -> Job:
        return _job(db.execute(self.table.select().where(self.table.c.id == job_id)).mappings().first())

    def claim(self, owner: str, *, lease: float, kinds: tuple[str, ...] | None = None) -> Job | None:
        """Take the oldest due job (queued, or running with an expired lease), or None."""
        import sqlalchemy as sa

        t, now = self.table, time.time()
        ready = sa.or_(sa.and_(t.c.status == "queued", t.c.due_at <= now),
                       sa.and_(t.c.status == "running", t.c.lease_until < now))
        # One thread's work runs one job at a time (as ReflectionExecutor does): a job whose
        # thread has another job running with a live lease waits for it.
        other = t.alias("other")
        busy = sa.exists().where(other.c.thread_key == t.c.thread_key, other.c.id != t.c.id,
                                 other.c.status == "running", other.c.lease_until >= now)
        query = sa.select(t.c.id, t.c.status).where(ready, sa.or_(t.c.thread_key.is_(None), ~busy))
        if kinds:
            query = query.where(t.c.kind.in_(kinds))
        with self._local, self.engine.begin() as db:
            for job_id, status in db.execute(query.order_by(t.c.created_at).limit(5)).all():
                cond = [t.c.id == job_id, t.c.status == status]
                if status == "running":
                    cond.append(t.c.lease_until < now)
                done = db.execute(t.update().where(*cond).values(
                    status="running", owner=owner, lease_until=now + lease,
                    attempts=t.c.attempts + 1, updated_at=now)).rowcount
                if done == 1:
                    return self._get(db, job_id)
        return None

    def renew(self, job_id: str, owner: str, lease: float) -> bool:
        """Extend a running job's lease; False if this owner lost it."""
        t, now = self.table, time.time()
        with self._local, self.engine.begin() as db:
            return db.execute(t.update().where(t.c.id == job_id, t.c.owner == owner, t.c.status == "running")
                              .values(lease_until=now + lease)).rowcount == 1

    def finish(self, job_id: str, owner: str, result: dict[str, Any], usage: dict[str, Any] | None = None) -> bool:
        """Record the result once: True if this call wrote it."""
        return self._close(job_id, owner, status="succeeded", result=_dumps(result),
                           usage=_dumps(usage) if usage is not None else None, error=None)

    def fail(self, job_id: str, owner: str, error: str) -> bool:
        """Mark a job failed (once); the error message is shown to its tenant."""
        return self._close(job_id, owner, status="failed", error=error[:2000], result=None, usage=None)

    def _close(self, job_id: str, owner: str, **values: Any) -> bool:
        t = self.table
        with self._local, self.engine.begin() as db:
            return db.execute(t.update().where(t.c.id == job_id, t.c.owner == owner, t.c.status == "running")
                              .values(updated_at=time.time(), lease_until=0.0, **values)).rowcount == 1

    def close(self) -> None:
        self.engine.dispose()


def _dumps(value: Any) -> str:
    """JSON as the API writes it: datetimes in RFC 3339 (``2026-12-02T00:26:44.904916Z``, as the memory
    endpoints return them, not ``str(datetime)``), other non-JSON values as ``str``."""
    from pydantic_core import to_jsonable_python

    return json.dumps(to_jsonable_python(value, fallback=str))


def _driver_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed (SQLAlchemy 2.1 assumes psycopg 3;
    engram's dev extra ships psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            try:
                import psycopg  # noqa: F401

                driver = "psycopg"
            except ImportError:
                driver = "psycopg2"
            return f"postgresql+{driver}://" + url.removeprefix(prefix)
    return url


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("pragma journal_mode=wal")
    cursor.execute("pragma synchronous=normal")
    cursor.close()


def _job(row: Any) -> Job:
    def load(value: str | None) -> Any:
        return json.loads(value) if value else None

    return Job(id=row["id"], tenant=row["tenant"], kind=row["kind"], status=row["status"],
               payload=load(row["payload"]) or {}, result=load(row["result"]), error=row["error"],
               usage=load(row["usage"]), thread_key=row["thread_key"], attempts=row["attempts"],
               created_at=row["created_at"], updated_at=row["updated_at"])


__all__ = ["STATUSES", "Job", "JobStore"]
