"""One lock per (store, namespace), shared by every entry point of every manager in a process.

``update``, ``aupdate``, ``process``, ``aprocess`` and the reflection executor (which calls
``update``) all take it for the whole update: ledger check, retrieval, LM call, writes and
ledger row. So a namespace is changed by one update at a time, in the order they take the
lock, and the same trajectory submitted from many threads is applied once (the second
finds it in the ledger). Different namespaces never wait for each other.

Across processes this lock does not reach: shard work by namespace (one process per
namespace), as :meth:`MemoryManager.process` documents.

    with namespace_lock(store, ("memories", "u1")):
        ...                                   # threads
    async with anamespace_lock(store, ("memories", "u1")):
        ...                                   # asyncio tasks (never blocks the event loop)
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from engram.store import Namespace

_locks: weakref.WeakKeyDictionary[object, dict[Namespace, threading.Lock]] = weakref.WeakKeyDictionary()
_guard = threading.Lock()
_POLL = 0.002  # seconds between tries of an async waiter; tiny next to an LM call


def lock_of(store: object, namespace: Namespace) -> threading.Lock:
    with _guard:
        return _locks.setdefault(store, {}).setdefault(tuple(namespace), threading.Lock())


@contextmanager
def namespace_lock(store: object, namespace: Namespace) -> Iterator[None]:
    lock = lock_of(store, namespace)
    with lock:
        yield


@asynccontextmanager
async def anamespace_lock(store: object, namespace: Namespace) -> AsyncIterator[None]:
    # A threading.Lock, so threads and tasks exclude each other; polled, so a waiting task
    # leaves the event loop free (and holds no worker thread).
    lock = lock_of(store, namespace)
    while not lock.acquire(blocking=False):
        await asyncio.sleep(_POLL)
    try:
        yield
    finally:
        lock.release()


__all__ = ["anamespace_lock", "lock_of", "namespace_lock"]
