"""Async variants of the store's calls (``aput``, ``aget``, ``asearch``, ...).

Chroma's embedded clients are synchronous, so each async method runs its sync
twin in a worker thread (``asyncio.to_thread``): the event loop stays free
while Chroma or the embedder works, and the store's per-namespace locks keep
concurrent writers correct. Example::

    rec = await store.aput(("memories", "u1"), "tz", "lives in Lyon")
    hits = await store.asearch(("memories", "u1"), "where does the user live?")
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from engram.store._store import MemoryStore


def _store(mixin: AsyncMixin) -> MemoryStore:
    return cast("MemoryStore", mixin)  # the mixin only ever lives in MemoryStore


class AsyncMixin:
    """Adds ``a<name>`` coroutines for every public store call."""

    async def aput(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).put, *args, **kwargs)

    async def aput_many(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).put_many, *args, **kwargs)

    async def aget(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).get, *args, **kwargs)

    async def asearch(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).search, *args, **kwargs)

    async def alist(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).list, *args, **kwargs)

    async def aupdate(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).update, *args, **kwargs)

    async def amutate(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).mutate, *args, **kwargs)

    async def adelete(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).delete, *args, **kwargs)

    async def apurge(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).purge, *args, **kwargs)

    async def alist_namespaces(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).list_namespaces, *args, **kwargs)

    async def ahistory(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).history, *args, **kwargs)

    async def arestore(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).restore, *args, **kwargs)

    async def acount(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).count, *args, **kwargs)

    async def asweep(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).sweep, *args, **kwargs)

    async def adiff(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(_store(self).diff, *args, **kwargs)
