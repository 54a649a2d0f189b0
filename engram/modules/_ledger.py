"""The processed-trajectory ledger: which trajectories were applied to a namespace.

Bookkeeping, never searched, so never embedded (issue 12). Where it lives:

- the store's own ledger when it offers one (``store.ledger(namespace)`` with ``has`` /
  ``mark``: a plain table beside Chroma);
- for an in-memory store, a table in this process (the store lives no longer than it);
- otherwise, the records of earlier releases in the sibling namespace
  ``(*namespace, "engram.processed")`` (correct, but each costs an embedding).

Rows of earlier releases are still read (persistent and server stores), so upgrading never
re-applies a trajectory.

**Order that keeps "nothing failed recorded as done":** a trajectory's memory writes
(one all-or-nothing batch, then its soft deletes) come first, and its ledger row is
written only after all of them succeeded, under the namespace lock. A crash in between
leaves it unrecorded: the next run applies it again, and its inserts land on the same
content-derived keys, so they become new versions of the same memories, not duplicates.

    ledger = ledger_for(store, ("memories", "u1"))
    ledger.mark(["t1"], {"written": 2})
    ledger.has(["t1", "t2"])     # {'t1'}
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from engram.store import Namespace

if TYPE_CHECKING:
    from engram.store import MemoryStore

LEDGER_PART = "engram.processed"
LEDGER_KIND = "engram.processed"


class Ledger(Protocol):
    """What the manager needs from a ledger (thread-safe; ``mark`` is idempotent)."""

    def has(self, ids: Iterable[str]) -> set[str]:
        """The ids among ``ids`` that were marked."""
        ...

    def mark(self, ids: Iterable[str], meta: Mapping[str, object] | None = None) -> None:
        """Record ``ids`` as applied (``meta``: small counts kept with the row)."""
        ...


class RecordLedger:
    """Rows as records in ``(*namespace, "engram.processed")``: the format of earlier releases."""

    def __init__(self, store: MemoryStore, namespace: Namespace) -> None:
        self.store, self.namespace = store, (*namespace, LEDGER_PART)

    def has(self, ids: Iterable[str]) -> set[str]:
        keys = list(dict.fromkeys(ids))
        if not keys:
            return set()
        return {r.id for r in self.store.search(self.namespace, None, keys=keys, limit=len(keys))}

    def mark(self, ids: Iterable[str], meta: Mapping[str, object] | None = None) -> None:
        content = {k: v for k, v in (meta or {}).items() if isinstance(v, (int, float, str, bool))}
        self.store.put_many(self.namespace, [{"key": i, "content": content or {"applied": True},
                                              "kind": LEDGER_KIND, "text": f"processed {i}"} for i in ids])


class MemoryLedger:
    """A table in this process, for stores that live no longer than it (in-memory ones)."""

    def __init__(self) -> None:
        self._rows: dict[str, Mapping[str, object]] = {}
        self._lock = threading.Lock()

    def has(self, ids: Iterable[str]) -> set[str]:
        with self._lock:
            return {i for i in ids if i in self._rows}

    def mark(self, ids: Iterable[str], meta: Mapping[str, object] | None = None) -> None:
        with self._lock:
            for i in ids:
                self._rows[i] = dict(meta or {})


# Legacy ledger namespaces found absent, per store: earlier releases wrote them, this one never
# does, so one that is absent when first looked at stays absent. Remembering that saves a
# collection lookup (a round trip to a server) on every update of a fresh namespace.
_no_legacy: weakref.WeakKeyDictionary[object, set[Namespace]] = weakref.WeakKeyDictionary()


class _WithLegacy:
    """A ledger that also counts rows written by earlier releases as applied."""

    def __init__(self, ledger: Ledger, legacy: RecordLedger) -> None:
        self.ledger, self.legacy = ledger, legacy

    def has(self, ids: Iterable[str]) -> set[str]:
        keys = list(ids)
        found = self.ledger.has(keys)
        missing = [i for i in keys if i not in found]
        return found | (self._legacy_has(missing) if missing else set())

    def _legacy_has(self, ids: list[str]) -> set[str]:
        store, ns = self.legacy.store, self.legacy.namespace
        with _memory_lock:
            absent = _no_legacy.setdefault(store, set())
            if ns in absent:
                return set()
        if store.count(ns, include_deleted=True) == 0:
            with _memory_lock:
                absent.add(ns)
            return set()
        return self.legacy.has(ids)

    def mark(self, ids: Iterable[str], meta: Mapping[str, object] | None = None) -> None:
        self.ledger.mark(ids, meta)


_memory: weakref.WeakKeyDictionary[object, dict[Namespace, MemoryLedger]] = weakref.WeakKeyDictionary()
_memory_lock = threading.Lock()


def ledger_for(store: MemoryStore, namespace: Namespace) -> Ledger:
    """The ledger of ``namespace`` in ``store`` (see the module docstring for where it lives)."""
    provider = getattr(store, "ledger", None)
    in_memory = getattr(store, "backend", None) == "memory"
    if callable(provider):  # an in-memory store was never written by an earlier release
        ledger: Ledger = provider(namespace)
        return ledger if in_memory else _WithLegacy(ledger, RecordLedger(store, namespace))
    if in_memory:
        with _memory_lock:
            tables = _memory.setdefault(store, {})
            return tables.setdefault(tuple(namespace), MemoryLedger())
    return RecordLedger(store, namespace)


__all__ = ["LEDGER_KIND", "LEDGER_PART", "Ledger", "MemoryLedger", "RecordLedger", "ledger_for"]
