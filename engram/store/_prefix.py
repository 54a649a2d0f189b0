"""Search every namespace under a prefix: ``store.search_prefix(("memories", "u1"), query)``.

One tenant's memories often span several namespaces (a user's threads, an agent's
topics). :meth:`PrefixMixin.search_prefix` searches each namespace under the prefix
with :meth:`MemoryStore.search` and merges the results by score::

    store.put(("memories", "u1", "t1"), "a", "likes green tea")
    store.put(("memories", "u1", "t2"), "b", "drinks coffee at work")
    store.put(("memories", "u10"), "c", "likes green tea too")
    [r.namespace for r in store.search_prefix(("memories", "u1"), "tea")]
    # [('memories', 'u1', 't1'), ('memories', 'u1', 't2')]   -- never ('memories', 'u10')

Prefixes match part by part (``("memories", "u1")`` never covers ``("memories", "u10")``),
and the prefix namespace itself is included when it holds memories. Bookkeeping
namespaces are skipped. Scores merge as they are: cosine (``ranking="dense"``) and the
hybrid memory score share one scale across namespaces; the message archive's z-scores
(``kind="message"``) are relative to each namespace, so merged archive results interleave
namespaces by how far each turn stands out in its own archive.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from engram.errors import ValidationError
from engram.store import _query as query_mod
from engram.store._checks import check_kind, check_page, check_query
from engram.store._filters import to_where
from engram.store._namespaces import NamespaceLike, has_prefix, validate_namespace
from engram.store._record import MemoryRecord

if TYPE_CHECKING:
    from engram.store._store import MemoryStore

#: The most namespaces one prefix search visits; more is refused (narrow the prefix).
MAX_NAMESPACES = 10_000


class PrefixMixin:
    """Adds :meth:`search_prefix` / :meth:`asearch_prefix` to :class:`MemoryStore`."""

    def search_prefix(self, prefix: NamespaceLike, query: str | None = None, *, filter: dict | None = None,
                      kind: str | None = None, limit: int = 10, offset: int = 0,
                      min_score: float | None = None, ranking: Any = None) -> list[MemoryRecord]:
        """Search all namespaces under ``prefix``, merged best first (see the module docstring).

        Arguments mean what they mean in :meth:`MemoryStore.search`; each result's
        ``namespace`` says where it lives. Without ``query``, results come namespace by
        namespace in sorted order. Example::

            store.search_prefix(("memories", "u1"), "travel plans", limit=5, min_score=0.3)
        """
        store = cast("MemoryStore", self)
        pre = validate_namespace(prefix)
        check_query(query)
        check_page(limit, offset)
        check_kind(kind, optional=True)
        to_where(filter)
        min_score = query_mod.check_min_score(min_score, ranking=query_mod.check_ranking(ranking), kind=kind)
        if min_score is not None and query is None:
            raise ValidationError("min_score needs a query: without one nothing is scored.")
        namespaces = store.list_namespaces(pre, limit=MAX_NAMESPACES + 1)
        if len(namespaces) > MAX_NAMESPACES:
            raise ValidationError(f"more than {MAX_NAMESPACES} namespaces under {pre!r}; search a longer prefix.")
        found: list[MemoryRecord] = []
        for ns in sorted(namespaces):
            if not has_prefix(ns, pre):  # list_namespaces already compares part by part; never trust, check
                continue
            found += store.search(ns, query, filter=filter, kind=kind, limit=limit + offset,
                                  min_score=min_score, ranking=ranking)
        if query is not None:
            found.sort(key=lambda r: -(r.score if r.score is not None else float("-inf")))
        return found[offset : offset + limit]

    async def asearch_prefix(self, *args: Any, **kwargs: Any) -> list[MemoryRecord]:
        """:meth:`search_prefix` in a worker thread."""
        return await asyncio.to_thread(self.search_prefix, *args, **kwargs)


__all__ = ["MAX_NAMESPACES", "PrefixMixin"]
