"""Removals and returns: delete, purge, restore (mixed into MemoryStore).

``delete`` and ``restore`` write a new version through the write path's
:meth:`~engram.store._writes.WriteMixin._commit` (history kept, nothing overwritten);
``purge`` is the only call that erases, a key with its history or a whole namespace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engram.errors import NotFoundError
from engram.store._checks import check_flag, check_key, check_version
from engram.store._collections import chroma_errors
from engram.store._expiry import alive_record
from engram.store._namespaces import NamespaceLike, namespace_key, validate_namespace
from engram.store._record import MemoryRecord
from engram.store._writes import WriteMixin, expiry_at

if TYPE_CHECKING:
    from engram.store._ledger import Ledger


class RemovalMixin(WriteMixin):
    """Delete / purge / restore half of :class:`~engram.store._store.MemoryStore`."""

    if TYPE_CHECKING:  # provided by MemoryStore
        def ledger(self, namespace: NamespaceLike) -> Ledger: ...
        def _versions(self, ns: tuple[str, ...], key: str) -> list[tuple[MemoryRecord, list[float]]]: ...

    def delete(self, namespace: NamespaceLike, key: str, *, hard: bool = False) -> MemoryRecord | None:
        """Soft-delete a memory (a new version with ``deleted=True``; history kept).

        ``hard=True`` is :meth:`purge` of that key. Example::

            store.put(ns, "diet", "vegetarian")
            store.delete(ns, "diet"); store.get(ns, "diet")   # None
            store.restore(ns, "diet", version=1)              # back again
        """
        ns = validate_namespace(namespace)
        check_key(key)
        if check_flag("hard", hard):
            if self.purge(ns, key) == 0:
                raise NotFoundError(f"no memory {key!r} in {ns!r} to delete.")
            return None
        with self._cols.lock(ns):
            col = self._cols.get(ns)
            current = self._read(col, ns, [key]) if col is not None else {}
            now = self._now()
            if key not in current or not alive_record(current[key][0], now):
                raise NotFoundError(f"no live memory {key!r} in {ns!r} to delete (deleted or expired).")
            old, vector = current[key]
            tomb = old.model_copy(update={"deleted": True, "version": old.version + 1, "updated_at": now})
            assert col is not None  # the key was read from it
            self._commit(ns, col, [(tomb, vector, current[key])])
            return tomb

    def purge(self, namespace: NamespaceLike, key: str | None = None) -> int:
        """Erase for good: one key with its history, or (``key=None``) the whole namespace
        (its :meth:`ledger` too).

        Returns the number of memories removed. This is the only call that loses history.
        """
        ns = validate_namespace(namespace)
        if key is not None:
            check_key(key)
        nskey = namespace_key(ns)
        with self._cols.lock(ns):
            self._cols.touch(ns)
            if key is None:
                self.ledger(ns).clear()  # what was applied to it goes with it
            col = self._cols.get(ns)
            if col is None:
                return 0
            with chroma_errors(f"purge {key or 'everything'} in {ns!r}"):
                if key is None:
                    removed = col.count()
                    self._cols.history.delete(where={"_ns": nskey})
                    self._cols.drop(ns)
                    return removed
                removed = len(col.get(ids=[key], include=[])["ids"])
                self._cols.history.delete(where={"$and": [{"_ns": nskey}, {"_key": key}]})
                col.delete(ids=[key])
                return removed

    def restore(self, namespace: NamespaceLike, key: str, version: int) -> MemoryRecord:
        """Make an old version current again, as a new version (nothing is overwritten)."""
        ns = validate_namespace(namespace)
        check_key(key)
        check_version("version", version, optional=False, minimum=1)
        with self._cols.lock(ns):
            versions = self._versions(ns, key)
            match = [(r, v) for r, v in versions if r.version == version]
            if not versions:
                raise NotFoundError(f"no memory {key!r} in {ns!r} (never stored, or purged).")
            if not match:
                have = [r.version for r, _ in versions]
                raise NotFoundError(f"memory {key!r} in {ns!r} has no version {version}; "
                                    f"versions are {have}.")
            old, vector = match[0]
            latest = versions[-1][0]
            col = self._cols.create(ns)
            current = self._read(col, ns, [key])
            now = self._now()
            new = old.model_copy(update={"version": latest.version + 1, "deleted": False, "updated_at": now,
                                         "score": None, "expires_at": expiry_at(now, old.ttl), "expired_at": None})
            self._commit(ns, col, [(new, vector, current.get(key))])
            return new
