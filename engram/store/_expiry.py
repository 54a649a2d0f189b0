"""Expiry (TTL): memories that stop being returned after a while, as in LangGraph's store.

A memory expires ``ttl`` seconds after its last write; reads that return it push the
expiry back by ``ttl`` again when its namespace's policy says ``refresh_on_read`` (the
default, as in LangGraph). The ttl of a write comes from, in order: the write's own
``ttl=`` (seconds or a :class:`~datetime.timedelta`; ``None`` = never), the
:meth:`~ExpiryMixin.using_ttl` block around it (what a ``MemoryManager(ttl=...)`` uses),
the longest prefix given to :meth:`~ExpiryMixin.set_ttl`, and the store's ``default_ttl``.
``update`` / ``mutate`` without ``ttl=`` keep the memory's own ttl and restart it. Example::

    from datetime import UTC, datetime, timedelta
    now = [datetime(2025, 1, 1, tzinfo=UTC)]
    store = MemoryStore.in_memory(clock=lambda: now[0])
    store.set_ttl(("sessions",), timedelta(hours=1), refresh_on_read=False)
    store.put(("sessions", "u1"), "mood", "tired")             # expires in an hour
    store.put(("memories", "u1"), "otp", "4721", ttl=300)      # this one in 5 minutes
    now[0] += timedelta(hours=2)
    store.get(("sessions", "u1"), "mood")                      # None: expired
    store.sweep()                                              # 2: both become tombstones
    store.history(("sessions", "u1"), "mood")[-1].expired_at   # when it expired

Expired memories leave ``get`` / ``search`` / ``list`` / ``count`` at once (``include_deleted=True``
still shows them). :meth:`~ExpiryMixin.sweep` then writes each one a tombstone version
(``deleted=True``, ``expired_at`` set), as ``delete`` does, so :meth:`history` shows
when it expired and ``restore`` can bring it back; ``purge`` is what erases for good.
The expiry is stored in each row's Chroma metadata (``_expires``, epoch seconds);
ttl policies (:meth:`set_ttl`, ``default_ttl``) are settings of this store object, not stored.
LangGraph counts ttl in minutes; engram counts seconds (or takes a timedelta).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, field_validator

from engram.errors import ValidationError
from engram.store import _query as query_mod
from engram.store._codec import expires_ts, rows
from engram.store._collections import chroma_errors
from engram.store._filters import Undecided, and_where, matches
from engram.store._namespaces import NamespaceLike, has_prefix, is_internal, validate_namespace

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

    from engram.store._collections import Collections
    from engram.store._namespaces import Namespace
    from engram.store._record import MemoryRecord

#: What a ttl may be given as: seconds (int or float > 0), a timedelta, or None (never expires).
TTLLike = float | int | timedelta | None
_Row = tuple[str, Any, dict[str, Any], Any]
MAX_TTL = 1e10   # ~300 years; longer ones overflow datetime arithmetic: pass None for "never"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: "No ttl given": the write falls back to the scope / namespace policy / memory's own ttl.
UNSET: Any = _Unset()
_SCOPED: contextvars.ContextVar[Any] = contextvars.ContextVar("engram_scoped_ttl", default=UNSET)


def check_ttl(value: Any, name: str = "ttl") -> float | None:
    """A ttl in seconds (or None = never); anything else is a ValidationError saying what to pass."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValidationError(f"{name} must be seconds (an int or float > 0), a datetime.timedelta, or "
                              f"None for never, got {type(value).__name__} {value!r}.")
    if not math.isfinite(seconds) or seconds <= 0 or seconds > MAX_TTL:
        raise ValidationError(f"{name} must be a positive, finite duration (seconds > 0 or a positive "
                              f"timedelta, at most {MAX_TTL:.0e} s), got {value!r}; pass None for a "
                              f"memory that never expires.")
    return seconds


class TTLPolicy(BaseModel):
    """How long memories of a namespace live, and whether reads extend them.

    >>> TTLPolicy(ttl=timedelta(minutes=5)).ttl
    300.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttl: float | None = None
    refresh_on_read: bool = True

    @field_validator("ttl", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float | None:
        return check_ttl(value)

    @classmethod
    def make(cls, ttl: Any, refresh_on_read: Any = True) -> TTLPolicy:
        """A checked policy; a bad value is an engram ValidationError, not pydantic's."""
        if not isinstance(refresh_on_read, bool):
            raise ValidationError(f"refresh_on_read must be True or False, got {refresh_on_read!r}.")
        return cls(ttl=check_ttl(ttl), refresh_on_read=refresh_on_read)


def is_alive(meta: dict[str, Any], now: float) -> bool:
    """Whether a row has not expired at ``now`` (epoch seconds); rows without ``_expires`` never do."""
    expires = expires_ts(meta)
    return expires is None or expires > now


def nearest_alive(col: Any, vector: list[float], where: dict | None, keys: list[str] | None,
                  want: int, now: float) -> list[tuple[str, Any, dict[str, Any], float]]:
    """:func:`engram.store._query.nearest` without expired rows (re-asks for as many more as it skipped)."""
    dead = 0
    while True:
        found = query_mod.nearest(col, vector, where, keys, want + dead)
        alive = [f for f in found if is_alive(f[2], now)]
        if len(alive) >= want or len(found) < want + dead:
            return alive[:want]
        dead = len(found) - len(alive)


def scan_alive(col: Any, where: dict | None, keys: list[str] | None, limit: int, offset: int,
               now: float) -> list[_Row]:
    """:func:`engram.store._query.scan` without expired rows; offset counts live rows only."""
    want, dead = limit + offset, 0
    while True:
        found = query_mod.scan(col, where, keys, want + dead, 0)
        alive = [f for f in found if is_alive(f[2], now)]
        if len(alive) >= want or len(found) < want + dead:
            return alive[offset:want]
        dead = len(found) - len(alive)


def count_alive(col: Any, where: dict | None, now: float) -> int:
    """Rows matching ``where`` that have not expired."""
    if col.count() <= query_mod.SCAN_LIMIT:
        try:
            metas = col.get(include=["metadatas"])["metadatas"]
            return sum(1 for m in metas if matches(where, m or {}) and is_alive(m or {}, now))
        except Undecided:
            pass
    expired = and_where(where, {"_expires": {"$lte": now}})
    return query_mod.count(col, where) - query_mod.count(col, expired)


class ExpiryMixin:
    """TTL settings, refresh on read and :meth:`sweep` (mixed into MemoryStore)."""

    _cols: Collections
    _ttl_default: TTLPolicy
    _ttl_policies: dict[tuple[str, ...], TTLPolicy]
    #: Namespace parts of engram's bookkeeping, whose rows never expire (set by MemoryStore).

    if TYPE_CHECKING:  # provided by MemoryStore
        def _now(self) -> datetime: ...
        def _read(self, col: Collection, ns: tuple[str, ...], keys: list[str]) -> Any: ...
        def _commit(self, ns: tuple[str, ...], col: Collection, plan: list[Any]) -> None: ...
        def list_namespaces(self, prefix: NamespaceLike | None = None, *, max_depth: int | None = None,
                            limit: int = 1000, offset: int = 0, include_internal: bool = False) -> list[Namespace]: ...

    def _init_expiry(self, default_ttl: Any, refresh_on_read: Any) -> None:
        self._ttl_default = TTLPolicy.make(default_ttl, refresh_on_read)
        self._ttl_policies = {}

    def set_ttl(self, namespace_prefix: NamespaceLike, ttl: TTLLike, *, refresh_on_read: bool = True) -> TTLPolicy:
        """Default ttl of writes to every namespace under ``namespace_prefix`` (longest prefix wins).

        ``ttl=None`` makes memories under the prefix never expire (over a store ``default_ttl``).
        Example::

            store.set_ttl(("scratch",), 600)                    # 10 minutes, extended by reads
            store.ttl_policy(("scratch", "u1")).ttl             # 600.0
        """
        prefix = validate_namespace(namespace_prefix)
        policy = TTLPolicy.make(ttl, refresh_on_read)
        self._ttl_policies[prefix] = policy
        return policy

    def ttl_policy(self, namespace: NamespaceLike) -> TTLPolicy:
        """The policy that applies to ``namespace``: its longest :meth:`set_ttl` prefix, else the store's.

        Bookkeeping namespaces (ledgers) never expire whatever the policies say.
        """
        ns = validate_namespace(namespace)
        if is_internal(ns):
            return TTLPolicy()
        best = max((p for p in self._ttl_policies if has_prefix(ns, p)), key=len, default=None)
        return self._ttl_policies[best] if best is not None else self._ttl_default

    @contextlib.contextmanager
    def using_ttl(self, ttl: TTLLike) -> Iterator[None]:
        """Writes inside the block that give no ``ttl=`` use this one (per thread and task).

        Example::

            with store.using_ttl(60):
                store.put(ns, "k", "short-lived")        # expires 60 s after the write
        """
        token = _SCOPED.set(check_ttl(ttl))
        try:
            yield
        finally:
            _SCOPED.reset(token)

    def _resolve_ttl(self, ns: tuple[str, ...], given: Any, own: float | None | _Unset = UNSET) -> float | None:
        """The ttl of one write: given > using_ttl scope > the memory's own (updates) > namespace policy."""
        if given is not UNSET:
            return check_ttl(given)
        scoped = _SCOPED.get()
        if scoped is not UNSET:
            return scoped  # type: ignore[no-any-return]
        if own is not UNSET:
            return own  # type: ignore[return-value]
        return self.ttl_policy(ns).ttl

    def _refresh(self, ns: tuple[str, ...], col: Collection, found: list[MemoryRecord]) -> list[MemoryRecord]:
        """Push back the expiry of what a read returned, when the namespace refreshes on read.

        Done in place (no new version): the memory was alive throughout, so the history stays true.
        """
        due = [r for r in found if r.ttl is not None and not r.deleted]
        if not due or not self.ttl_policy(ns).refresh_on_read:
            return found
        now = self._now()
        with self._cols.lock(ns), chroma_errors(f"refresh the expiry of {len(due)} memories in {ns!r}"):
            got = rows(col.get(ids=[r.id for r in due], include=["metadatas"]))
            seen = {r.id: r for r in due}
            ids, metas, new = [], [], {}
            for key, _, meta, _ in got:
                rec = seen.get(key)
                if rec is None or meta.get("_version") != rec.version or not is_alive(meta, now.timestamp()):
                    continue  # changed or expired since the read: leave it to that write
                expires = now + timedelta(seconds=float(meta.get("_ttl", rec.ttl or 0)))
                ids.append(key)
                metas.append({**meta, "_expires": expires.timestamp()})
                new[key] = expires
            if ids:
                col.update(ids=ids, metadatas=metas)
        return [r.model_copy(update={"expires_at": new[r.id]}) if r.id in new else r for r in found]

    def sweep(self, namespace: NamespaceLike | None = None) -> int:
        """Turn expired memories into tombstone versions (``deleted=True``, ``expired_at``); returns how many.

        Covers one namespace, or every namespace when ``namespace`` is None. Example::

            store.put(ns, "otp", "4721", ttl=300)
            store.sweep(ns)         # 0 now; 1 once five minutes have passed
        """
        spaces = ([validate_namespace(namespace)] if namespace is not None
                  else self.list_namespaces(limit=10**9, include_internal=True))
        return sum(self._sweep_one(ns) for ns in spaces)

    def _sweep_one(self, ns: tuple[str, ...]) -> int:
        col = self._cols.get(ns)
        if col is None:
            return 0
        now = self._now()
        where: Any = {"$and": [{"_deleted": False}, {"_expires": {"$lte": now.timestamp()}}]}
        with chroma_errors(f"find expired memories in {ns!r}"):
            keys = col.get(where=where, include=[])["ids"]
        if not keys:
            return 0
        with self._cols.lock(ns):
            current = self._read(col, ns, keys)  # again under the lock: a write may have revived some
            plan = []
            for old, vector in current.values():
                if old.deleted or old.expires_at is None or old.expires_at > now:
                    continue
                tomb = old.model_copy(update={"deleted": True, "version": old.version + 1,
                                              "updated_at": now, "expired_at": old.expires_at})
                plan.append((tomb, vector, (old, vector)))
            if plan:
                self._commit(ns, col, plan)
        return len(plan)


def alive_record(rec: MemoryRecord, now: datetime) -> bool:
    """Whether a record is live at ``now``: not deleted and not expired."""
    return not rec.deleted and (rec.expires_at is None or rec.expires_at > now)


__all__ = ["UNSET", "ExpiryMixin", "TTLLike", "TTLPolicy", "alive_record", "check_ttl", "count_alive",
           "is_alive", "nearest_alive", "scan_alive"]
