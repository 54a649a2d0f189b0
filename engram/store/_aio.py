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
from typing import Any


class AsyncMixin:
    """Adds ``a<name>`` coroutines for every public store call."""

    async def aput(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.put, *args, **kwargs)

    async def aput_many(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.put_many, *args, **kwargs)

    async def aget(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.get, *args, **kwargs)

    async def asearch(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.search, *args, **kwargs)

    async def alist(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.list, *args, **kwargs)

    async def aupdate(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.update, *args, **kwargs)

    async def amutate(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.mutate, *args, **kwargs)

    async def adelete(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.delete, *args, **kwargs)

    async def apurge(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.purge, *args, **kwargs)

    async def alist_namespaces(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.list_namespaces, *args, **kwargs)

    async def ahistory(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.history, *args, **kwargs)

    async def arestore(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.restore, *args, **kwargs)

    async def acount(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.count, *args, **kwargs)
