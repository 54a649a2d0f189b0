"""Time travel: the store as it was at a past moment, and what changed between two moments.

Both are built from the version history every write keeps (:meth:`MemoryStore.history`):
at time ``t`` a memory shows the last version written at or before ``t``, if that version
is live (not deleted, not expired at ``t``). Example::

    from datetime import UTC, datetime, timedelta
    now = [datetime(2025, 1, 1, tzinfo=UTC)]
    store = MemoryStore.in_memory(clock=lambda: now[0])
    store.put(ns, "city", "lives in Porto")
    now[0] += timedelta(days=1)
    store.update(ns, "city", content="lives in Lisbon")
    then = store.as_of(datetime(2025, 1, 1, 12, tzinfo=UTC))
    then.get(ns, "city").content                                   # 'lives in Porto'
    d = store.diff(datetime(2025, 1, 1, 12, tzinfo=UTC), now[0], namespace=ns)
    [(c.before.content, c.after.content) for c in d.changed]      # [('lives in Porto', 'lives in Lisbon')]

Limits: ``purge`` erases history, so a purged memory is absent from every view; a
read that refreshes an expiry does not add a version, and needs none (the memory was
live all along). A view ranks ``search`` by cosine similarity on the stored vectors
for every kind (the message archive's hybrid ranking is not rebuilt for the past).
"""

from __future__ import annotations

import builtins
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import BaseModel, ConfigDict, Field

from engram.errors import StoreError, ValidationError
from engram.store._checks import (
    check_flag,
    check_key,
    check_keys,
    check_kind,
    check_page,
    check_query,
)
from engram.store._codec import from_row, rows
from engram.store._collections import chroma_errors, survives_foreign_drops
from engram.store._filters import Undecided, and_where, matches, to_where
from engram.store._namespaces import Namespace, NamespaceLike, namespace_key, validate_namespace
from engram.store._record import MemoryRecord

if TYPE_CHECKING:
    import pandas as pd

    from engram.store._store import MemoryStore

_Versions = dict[str, builtins.list[tuple[MemoryRecord, Any]]]   # key -> [(record, vector)], oldest first
MomentLike = datetime | float | int | str


def to_moment(value: Any, name: str = "timestamp") -> datetime:
    """An aware UTC datetime from a datetime, epoch seconds or an ISO 8601 string with a zone."""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"{name} {value!r} is not an ISO 8601 time such as "
                                  f"'2025-01-01T12:00:00+00:00'.") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValidationError(f"{name} must be a finite number of epoch seconds, got {value!r}.")
        moment = datetime.fromtimestamp(value, tz=UTC)
    if not isinstance(moment, datetime):
        raise ValidationError(f"{name} must be an aware datetime, epoch seconds or an ISO 8601 string, "
                              f"got {type(value).__name__} {value!r}.")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(f"{name} {value!r} has no time zone; pass an aware datetime such as "
                              f"datetime(2025, 1, 1, tzinfo=UTC).")
    return moment.astimezone(UTC)


def state_at(versions: builtins.list[tuple[MemoryRecord, Any]], at: datetime) -> tuple[MemoryRecord, Any] | None:
    """The version current at ``at`` (the last one written at or before it), or None."""
    found = None
    for pair in versions:
        if pair[0].updated_at <= at:
            found = pair
    return found


def live_at(record: MemoryRecord, at: datetime) -> bool:
    return not record.deleted and (record.expires_at is None or record.expires_at > at)


class MemoryChange(BaseModel):
    """One memory live at both times of a :class:`MemoryDiff`, at another version."""

    model_config = ConfigDict(extra="forbid")

    before: MemoryRecord
    after: MemoryRecord


class MemoryDiff(BaseModel):
    """What :meth:`MemoryStore.diff` found between ``start`` and ``end`` (a pydantic model;
    :meth:`to_frame` gives the same as a pandas DataFrame).

    ``added``: live at ``end`` but not at ``start`` (as at ``end``); ``removed``: live at
    ``start`` but not at ``end`` (deleted, expired or swept; as at ``start``); ``changed``:
    live at both, at another version. Each is sorted by namespace, then key.

    >>> MemoryDiff(start=datetime(2025, 1, 1, tzinfo=UTC), end=datetime(2025, 1, 2, tzinfo=UTC)).empty
    True
    """

    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime
    added: builtins.list[MemoryRecord] = Field(default_factory=builtins.list)
    changed: builtins.list[MemoryChange] = Field(default_factory=builtins.list)
    removed: builtins.list[MemoryRecord] = Field(default_factory=builtins.list)

    @property
    def empty(self) -> bool:
        """Whether nothing was added, changed or removed."""
        return not (self.added or self.changed or self.removed)

    def to_frame(self) -> pd.DataFrame:
        """One row per change (pandas): ``change`` (added / changed / removed), ``namespace``,
        ``key``, ``version_before``, ``version_after``, ``text_before``, ``text_after``.

        >>> MemoryDiff(start=datetime(2025, 1, 1, tzinfo=UTC), end=datetime(2025, 1, 2, tzinfo=UTC)).to_frame().shape
        (0, 7)
        """
        import pandas as pd

        def row(change: str, before: MemoryRecord | None, after: MemoryRecord | None) -> dict[str, Any]:
            rec = after or before
            assert rec is not None
            return {"change": change, "namespace": rec.namespace, "key": rec.id,
                    "version_before": before.version if before else None,
                    "version_after": after.version if after else None,
                    "text_before": before.text if before else None, "text_after": after.text if after else None}

        rows_ = ([row("added", None, r) for r in self.added]
                 + [row("changed", c.before, c.after) for c in self.changed]
                 + [row("removed", r, None) for r in self.removed])
        return pd.DataFrame(rows_, columns=["change", "namespace", "key", "version_before", "version_after",
                                            "text_before", "text_after"])


class TimeTravelMixin:
    """:meth:`as_of` and :meth:`diff` (mixed into MemoryStore)."""

    def as_of(self, timestamp: MomentLike) -> StoreView:
        """A read-only view of the store as it was at ``timestamp`` (see the module docstring).

        Example::

            from datetime import UTC, datetime
            view = store.as_of(datetime(2025, 1, 1, tzinfo=UTC))
            view.search(ns, "where does the user live?")
            view.put(ns, "k", "x")      # StoreError: the view is read-only
        """
        return StoreView(_store(self), to_moment(timestamp))

    def diff(self, t1: MomentLike, t2: MomentLike, *, namespace: NamespaceLike | None = None) -> MemoryDiff:
        """What was added, changed and removed between ``t1`` and ``t2`` (a :class:`MemoryDiff`).

        ``namespace``: one namespace, or None for every namespace (bookkeeping ones left out).
        Example::

            from datetime import UTC, datetime
            d = store.diff(datetime(2025, 1, 1, tzinfo=UTC), datetime.now(UTC), namespace=ns)
            [r.id for r in d.added], [c.after.id for c in d.changed], [r.id for r in d.removed]
        """
        start, end = to_moment(t1, "t1"), to_moment(t2, "t2")
        if start > end:
            raise ValidationError(f"t1 ({start.isoformat()}) is after t2 ({end.isoformat()}); "
                                  f"pass the earlier time first.")
        store = _store(self)
        spaces = ([validate_namespace(namespace)] if namespace is not None
                  else store.list_namespaces(limit=10**9))
        out = MemoryDiff(start=start, end=end)
        for ns in spaces:
            for key, versions in sorted(namespace_versions(store, ns, vectors=False).items()):
                before, after = state_at(versions, start), state_at(versions, end)
                was = before is not None and live_at(before[0], start)
                now = after is not None and live_at(after[0], end)
                if now and not was:
                    out.added.append(after[0])  # type: ignore[index]
                elif was and not now:
                    out.removed.append(before[0])  # type: ignore[index]
                elif was and now and before[0].version != after[0].version:  # type: ignore[index]
                    out.changed.append(MemoryChange(before=before[0], after=after[0]))  # type: ignore[index]
        return out


def _store(mixin: object) -> MemoryStore:
    return mixin  # type: ignore[return-value]  # the mixin only ever lives in MemoryStore


@survives_foreign_drops  # StoreView reads through this, not through the store's own calls
def namespace_versions(store: MemoryStore, ns: tuple[str, ...], *, vectors: bool) -> _Versions:
    """Every stored version of every memory of a namespace, by key, oldest first."""
    include: Any = ["documents", "metadatas", *(["embeddings"] if vectors else [])]
    out: _Versions = {}
    with chroma_errors(f"read the history of {ns!r}"):
        old = store._cols.history.get(where={"_ns": namespace_key(ns)}, include=include)
        col = store._cols.get(ns)
        live = col.get(include=include) if col is not None else {"ids": []}
    for _, doc, meta, vec in rows(old):
        key = meta.get("_key", "")
        out.setdefault(key, []).append((from_row(ns, key, doc, meta), vec))
    for key, doc, meta, vec in rows(live):
        out.setdefault(key, []).append((from_row(ns, key, doc, meta), vec))
    for versions in out.values():
        versions.sort(key=lambda pair: pair[0].version)
    return out


_WRITES = ("put", "put_many", "update", "mutate", "delete", "purge", "restore", "sweep", "set_ttl",
           "aput", "aput_many", "aupdate", "amutate", "adelete", "apurge", "arestore", "asweep")


class StoreView:
    """The store as it was at :attr:`at`: ``get``, ``search``, ``list``, ``count``, ``history``
    and ``list_namespaces`` answer as they would have then; every write raises StoreError.

    Made by :meth:`MemoryStore.as_of`; reads go to the store's history each time (no copy).
    """

    def __init__(self, store: MemoryStore, at: datetime) -> None:
        self.store, self.at = store, at

    def __repr__(self) -> str:
        return f"StoreView(at={self.at.isoformat()!r}, store={self.store!r})"

    def _records(self, namespace: NamespaceLike, include_deleted: bool,
                 vectors: bool = False) -> builtins.list[tuple[MemoryRecord, Any]]:
        ns = validate_namespace(namespace)
        check_flag("include_deleted", include_deleted)
        found = []
        for versions in namespace_versions(self.store, ns, vectors=vectors).values():
            pair = state_at(versions, self.at)
            if pair is not None and (include_deleted or live_at(pair[0], self.at)):
                found.append(pair)
        found.sort(key=lambda pair: (pair[0].created_at, pair[0].id))
        return found

    def get(self, namespace: NamespaceLike, key: str, *, include_deleted: bool = False) -> MemoryRecord | None:
        """The memory as it was at :attr:`at`, or None (not yet written, deleted or expired then)."""
        check_flag("include_deleted", include_deleted)
        pair = state_at([(r, None) for r in self.store.history(namespace, check_key(key))], self.at)
        if pair is None or not (include_deleted or live_at(pair[0], self.at)):
            return None
        return pair[0]

    def history(self, namespace: NamespaceLike, key: str) -> builtins.list[MemoryRecord]:
        """The versions of a memory written at or before :attr:`at`, oldest first."""
        return [r for r in self.store.history(namespace, key) if r.updated_at <= self.at]

    def list(self, namespace: NamespaceLike, *, kind: str | None = None, filter: dict | None = None,
             limit: int = 100, offset: int = 0, include_deleted: bool = False) -> builtins.list[MemoryRecord]:
        """Memories live at :attr:`at`, oldest first (by ``created_at``)."""
        check_page(limit, offset)
        where = _where(kind, filter)
        found = [r for r, _ in self._records(namespace, include_deleted) if _matches(where, r)]
        return found[offset : offset + limit]

    def count(self, namespace: NamespaceLike, *, kind: str | None = None, include_deleted: bool = False) -> int:
        """Number of memories live at :attr:`at`."""
        where = _where(kind, None)
        return sum(_matches(where, r) for r, _ in self._records(namespace, include_deleted))

    def search(self, namespace: NamespaceLike, query: str | None = None, *, filter: dict | None = None,
               kind: str | None = None, keys: builtins.list[str] | None = None, limit: int = 10,
               offset: int = 0, include_deleted: bool = False) -> builtins.list[MemoryRecord]:
        """Memories live at :attr:`at`, ranked by cosine similarity to ``query`` (as ``store.search``)."""
        check_query(query)
        check_page(limit, offset)
        wanted = check_keys(keys)
        where = _where(kind, filter)
        found = [(r, v) for r, v in self._records(namespace, include_deleted, vectors=query is not None)
                 if _matches(where, r) and (wanted is None or r.id in wanted)]
        if query is None:
            return [r for r, _ in found][offset : offset + limit]
        import numpy as np

        if not found:
            return []
        [vector] = self.store._embed([query])
        q = np.asarray(vector, dtype=float)
        mat = np.asarray([v for _, v in found], dtype=float)
        norms = np.linalg.norm(mat, axis=1) * (np.linalg.norm(q) or 1.0)
        scores = mat @ q / np.where(norms == 0, 1.0, norms)
        order = sorted(range(len(found)), key=lambda i: -scores[i])[offset : offset + limit]
        return [found[i][0].model_copy(update={"score": float(scores[i])}) for i in order]

    def list_namespaces(self, prefix: NamespaceLike | None = None, *, limit: int = 1000,
                        offset: int = 0) -> builtins.list[Namespace]:
        """Namespaces that held live memories at :attr:`at`."""
        check_page(limit, offset)
        spaces = [ns for ns in self.store.list_namespaces(prefix, limit=10**9) if self.count(ns) > 0]
        return spaces[offset : offset + limit]


def _where(kind: str | None, filter: dict | None) -> dict | None:
    check_kind(kind, optional=True)
    return and_where({"_kind": kind} if kind else None, to_where(filter))


def _matches(where: dict | None, record: MemoryRecord) -> bool:
    try:
        return matches(where, {**record.metadata, "_kind": record.kind})
    except Undecided as op:
        raise ValidationError(f"filter operator {op} is not supported on an as_of view; use $eq, $in, "
                              f"$gt/$gte/$lt/$lte, $contains, $and and $or.") from None


def _refuse(name: str) -> Any:
    def refuse(self: StoreView, *args: Any, **kwargs: Any) -> NoReturn:
        raise StoreError(f"{name}() on a view of the store as of {self.at.isoformat()}: the view is "
                         f"read-only. Write to the store itself (view.store.{name}(...)), or "
                         f"store.restore(ns, key, version) to bring an old version back.")
    refuse.__name__ = name
    refuse.__doc__ = "Refused: the view is read-only (raises StoreError)."
    return refuse


for _name in _WRITES:
    setattr(StoreView, _name, _refuse(_name))


__all__ = ["MemoryChange", "MemoryDiff", "StoreView", "TimeTravelMixin", "namespace_versions", "to_moment"]
