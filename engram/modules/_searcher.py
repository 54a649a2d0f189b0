"""Finding the memories relevant to a conversation.

Two ways, both scoped to one namespace:

- :func:`retrieve_for_window`: embed the recent window of the conversation (the last
  few messages, not only the last one) and search the store; no LM call.
- :class:`MemorySearcher`: an LM writes several queries, one per aspect of the
  conversation; the results are merged, deduplicated and ranked (one LM call).

    searcher = MemorySearcher(store, namespace=("memories", "{user_id}"))
    pred = searcher(conversation=messages, values={"user_id": "u1"})
    pred.queries, [r.text for r in pred.memories]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import dspy

from engram.errors import ValidationError
from engram.modules._conversation import Conversation, ConversationInput, prepare, render_message
from engram.modules._langmem import MemorySearcherRunnable
from engram.modules._lm import lm_scope
from engram.modules._settings import LMSpec
from engram.store import MemoryRecord, Namespace, NamespaceTemplate
from engram.trajectories import Message

if TYPE_CHECKING:
    from engram.store import MemoryStore

_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")
WINDOW_CHARS = 2000  # sentence embedders read ~256 word pieces; more text only dilutes the query


def window_text(messages: Sequence[Message], size: int = 6) -> str:
    """The last ``size`` user/assistant messages as one query string (most recent kept whole)."""
    shown = [m for m in messages if m.role in ("user", "assistant") and (m.content or "").strip()]
    text = "\n".join(render_message(m) for m in shown[-size:])
    return text[-WINDOW_CHARS:]


def _kind_ok(record: MemoryRecord, kinds: Sequence[str] | None) -> bool:
    return kinds is None or record.kind in kinds


def retrieve_for_window(store: MemoryStore, namespace: Namespace, messages: Sequence[Message], *,
                        limit: int = 10, kinds: Sequence[str] | None = None, window: int = 6) -> list[MemoryRecord]:
    """Records of ``namespace`` closest to the recent window, best first (only ``kinds``)."""
    query = window_text(messages, window)
    if not query.strip():
        return []
    kind = kinds[0] if kinds is not None and len(kinds) == 1 else None
    # ask for a few more when several kinds share the namespace: others are filtered out below
    fetch = limit if kind or kinds is None else limit * 2
    found = store.search(namespace, query, kind=kind, limit=fetch)
    return [r for r in found if _kind_ok(r, kinds)][:limit]


def merge_results(result_lists: Sequence[Sequence[MemoryRecord]], limit: int) -> list[MemoryRecord]:
    """Union of several searches: one entry per id (and per identical text), best score first."""
    best: dict[str, MemoryRecord] = {}
    for results in result_lists:
        for record in results:
            have = best.get(record.id)
            if have is None or (record.score or 0) > (have.score or 0):
                best[record.id] = record
    ranked = sorted(best.values(), key=lambda r: -(r.score or 0.0))
    seen_text: set[str] = set()
    out = []
    for record in ranked:
        norm = " ".join(str(record.text).lower().split())
        if norm in seen_text:
            continue
        seen_text.add(norm)
        out.append(record)
    return out[:limit]


def parse_queries(text: str, limit: int) -> list[str]:
    """Queries from the LM's answer: one per line, bullets and numbering removed, deduplicated."""
    out: list[str] = []
    for line in (text or "").splitlines():
        query = _BULLET.sub("", line).strip().strip('"').strip()
        if query and query.lower() not in {q.lower() for q in out}:
            out.append(query)
    return out[:limit]


class MemorySearcher(MemorySearcherRunnable, dspy.Module):  # + LangMem's invoke
    """An LM writes queries for the aspects of a conversation; results merged and ranked.

    Args:
        store: a :class:`~engram.store.MemoryStore`.
        namespace: a namespace or template, filled from ``values`` at call time.
        query_limit: at most this many queries.
        limit: at most this many memories returned.
        kinds: only memories of these kinds (schema names); all if None.
        lm: the LM that writes queries (default: the configured task LM).
    """

    def __init__(self, store: MemoryStore | None, namespace: Namespace | NamespaceTemplate = ("memories", "{user_id}"),
                 *, query_limit: int = 3, limit: int = 10, kinds: Sequence[str] | None = None, lm: LMSpec = None):
        super().__init__()
        if query_limit < 1 or limit < 1:
            raise ValidationError("query_limit and limit must be at least 1.")
        self.store = store
        self.namespace = namespace if isinstance(namespace, NamespaceTemplate) else NamespaceTemplate(namespace)
        self.query_limit, self.limit, self.kinds, self.lm = query_limit, limit, kinds, lm
        from engram.modules._signatures import WriteMemoryQueries

        self.write_queries = dspy.Predict(WriteMemoryQueries)

    def search(self, namespace: Namespace, queries: Sequence[str], conversation: Conversation | None = None,
               store: MemoryStore | None = None) -> list[MemoryRecord]:
        """Run ``queries`` (already written) against ``namespace`` and merge the results; with no
        query, fall back to the recent window of ``conversation``. ``store`` overrides this
        searcher's store (a MemoryManager passes its own).

        >>> from engram.store import MemoryStore
        >>> MemorySearcher(MemoryStore.in_memory(embedder=lambda texts: [[1.0, 0.0]] * len(texts))).search(
        ...     ("memories", "u1"), ["tea"])
        []
        """
        store = store if store is not None else self.store
        if store is None:
            raise ValidationError("this MemorySearcher has no store; pass store=MemoryStore.persistent() "
                                  "(or another store) when creating it or to search().")
        if not queries:  # the LM wrote nothing usable: fall back to the recent window
            messages = conversation.messages if conversation is not None else []
            return retrieve_for_window(store, namespace, messages, limit=self.limit, kinds=self.kinds)
        kind = self.kinds[0] if self.kinds is not None and len(self.kinds) == 1 else None
        lists = [[r for r in store.search(namespace, q, kind=kind, limit=self.limit)
                  if _kind_ok(r, self.kinds)] for q in queries]
        return merge_results(lists, self.limit)

    def forward(self, conversation: ConversationInput, values: Mapping[str, str] | None = None) -> dspy.Prediction:
        namespace = self.namespace.fill(values or {})
        conv = prepare(conversation)
        with lm_scope(self.lm):
            pred = self.write_queries(conversation=conv.text)
        queries = parse_queries(pred.queries, self.query_limit)
        return dspy.Prediction(queries=queries, memories=self.search(namespace, queries, conv),
                               namespace=namespace)

    async def aforward(self, conversation: ConversationInput, values: Mapping[str, str] | None = None) -> dspy.Prediction:
        import asyncio

        namespace = self.namespace.fill(values or {})
        conv = prepare(conversation)
        with lm_scope(self.lm):
            pred = await self.write_queries.acall(conversation=conv.text)
        queries = parse_queries(pred.queries, self.query_limit)
        memories = await asyncio.to_thread(self.search, namespace, queries, conv)
        return dspy.Prediction(queries=queries, memories=memories, namespace=namespace)


__all__ = ["MemorySearcher", "merge_results", "parse_queries", "retrieve_for_window", "window_text"]
