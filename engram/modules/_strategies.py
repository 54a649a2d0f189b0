"""How a MemoryManager keeps a namespace: a collection of memories, or one profile document.

A strategy answers two questions: which memories to show the LM (``retrieve``), and what
record an insert or update becomes (``draft``). Everything else — deletes with their
provenance, the all-or-nothing batch, versions — is the one write path, :func:`write_ops`,
shared by both.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from engram.errors import NotFoundError, ValidationError
from engram.modules._conversation import Conversation
from engram.modules._drive import Algorithm, Call, Work
from engram.modules._operations import MemoryOp
from engram.modules._schemas import content_text, find_schema, validate_content
from engram.modules._searcher import MemorySearcher, parse_queries, retrieve_for_window
from engram.modules._settings import ProfileSettings, ProfileStart, RetrievalSettings
from engram.store import MemoryRecord, Namespace

if TYPE_CHECKING:
    from engram.store import MemoryStore

log = logging.getLogger("engram.modules")

PROFILE_KEY = "profile"
_KEY_SPACE = uuid.UUID("6f1d7c4e-2b1a-4c59-9d0e-5a7e8c0b3f21")

Shown = MemoryRecord | tuple[str, str, ProfileStart]
Records = dict[str, MemoryRecord]
Retrieved = tuple[list[Shown], Records]
Item = dict[str, object]


class Strategy:
    """What both strategies share: the schemas, and the check that a stored record fits them."""

    allows_deletes = True
    instructions = ""

    def __init__(self, schemas: Sequence[type[BaseModel]]) -> None:
        self.schemas = tuple(schemas)
        self.kinds = [s.__name__ for s in self.schemas]

    def retrieve(self, store: MemoryStore, ns: Namespace, conv: Conversation) -> Algorithm[Retrieved]:
        raise NotImplementedError

    def retrieve_now(self, store: MemoryStore, ns: Namespace, conv: Conversation) -> Retrieved | None:
        """What :meth:`retrieve` returns, computed by plain store work, or None when retrieving
        needs an LM call (then :meth:`retrieve` must run). Lets a caller fold retrieval into
        other store work: one hop to a worker thread instead of two."""
        return None

    def draft(self, ns: Namespace, op: MemoryOp, records: Records, items: dict[str, Item]) -> Item | None:
        """The put_many item for an insert or update (None: nothing to write)."""
        raise NotImplementedError

    def valid(self, record: MemoryRecord) -> bool:
        """Whether a stored record fits its schema; one that does not is never shown (so never
        changed) rather than blocking every update of the namespace."""
        try:
            schema = find_schema(self.schemas, record.kind)
            if schema is None:
                raise ValidationError(f"kind {record.kind!r} is not among {self.kinds}")
            validate_content(schema, record.content)
            return True
        except (ValidationError, TypeError) as err:
            log.warning("memory %r in %s does not fit %s and is not shown to the LM: %s",
                        record.id, record.namespace, record.kind, err)
            return False

    def _update(self, op: MemoryOp, old: MemoryRecord | None, content: dict[str, object]) -> Item:
        return {"key": op.id, "content": content, "kind": op.kind, "text": content_text(op.content),
                "metadata": dict(old.metadata) if old is not None else None,
                "provenance": [*(p.model_dump() for p in (old.provenance if old else [])), *op.provenance()],
                "expected_version": old.version if old is not None else 0}


class CollectionStrategy(Strategy):
    """Many memories per namespace; the LM sees those closest to the conversation."""

    def __init__(self, schemas: Sequence[type[BaseModel]], retrieval: RetrievalSettings,
                 searcher: MemorySearcher | None = None) -> None:
        super().__init__(schemas)
        self.retrieval, self.searcher = retrieval, searcher

    def retrieve(self, store: MemoryStore, ns: Namespace,
                 conv: Conversation) -> Algorithm[Retrieved]:
        if self.searcher is not None:
            pred = yield Call(self.searcher.write_queries, {"conversation": conv.text}, self.searcher.lm)
            queries = parse_queries(pred.queries, self.searcher.query_limit)  # type: ignore[attr-defined]
            found = yield Work(self.searcher.search, (ns, queries, conv, store))
        else:
            found = yield Work(self._near_window, (store, ns, conv))
        return self._shown(found)  # type: ignore[arg-type]

    def retrieve_now(self, store: MemoryStore, ns: Namespace, conv: Conversation) -> Retrieved | None:
        return None if self.searcher is not None else self._shown(self._near_window(store, ns, conv))

    def _shown(self, found: list[MemoryRecord]) -> Retrieved:
        records = [r for r in found if self.valid(r)]
        return list(records), {r.id: r for r in records}

    def _near_window(self, store: MemoryStore, ns: Namespace, conv: Conversation) -> list[MemoryRecord]:
        limit = self.retrieval.search_limit
        kind = self.kinds[0] if len(self.kinds) == 1 else None
        # A namespace that fits in the listing is shown whole, oldest first: ranking it would cost
        # an embedding of the window (the larger part of an update's own time) to choose nothing.
        listed = store.list(ns, kind=kind, limit=limit + 1)  # one read answers "does it fit?" too
        if len(listed) <= limit:
            return [r for r in listed if r.kind in self.kinds]
        return retrieve_for_window(store, ns, conv.messages, limit=limit, kinds=self.kinds,
                                   window=self.retrieval.window)

    def draft(self, ns: Namespace, op: MemoryOp, records: Records, items: dict[str, Item]) -> Item | None:
        content = op.content.model_dump(mode="json", exclude_none=True) if op.content is not None else {}
        if op.action == "insert":  # a key derived from the content: a re-applied insert lands on itself
            key = str(uuid.uuid5(_KEY_SPACE, "|".join([*ns, op.trajectory_id or "", op.kind,
                                                        content_text(op.content)])))
            return {"key": key, "content": content, "kind": op.kind, "text": content_text(op.content),
                    "provenance": op.provenance()}
        old = records.get(op.id)
        return None if old is None else self._update(op, old, content)


class ProfileStrategy(Strategy):
    """One document per namespace (key ``"profile"``), updated in place; inserts merge into it."""

    allows_deletes = False
    instructions = "Keep one profile: update memory 1 with the fields that changed (insert it if there is none)."

    def __init__(self, schemas: Sequence[type[BaseModel]], settings: ProfileSettings) -> None:
        super().__init__(schemas)
        if len(self.schemas) != 1:
            raise ValidationError("profile mode keeps one document: pass exactly one schema.")
        self.settings = settings

    def retrieve(self, store: MemoryStore, ns: Namespace, conv: Conversation) -> Algorithm[Retrieved]:
        return self._shown((yield Work(store.get, (ns, PROFILE_KEY))))

    def retrieve_now(self, store: MemoryStore, ns: Namespace, conv: Conversation) -> Retrieved | None:
        return self._shown(store.get(ns, PROFILE_KEY))

    def _shown(self, record: object) -> Retrieved:
        if isinstance(record, MemoryRecord):
            # an unreadable profile is kept untouched, and the LM starts from nothing
            return ([record], {record.id: record}) if self.valid(record) else ([], {})
        start = self.settings.start()
        return ([(PROFILE_KEY, self.kinds[0], start)] if start is not None else []), {}

    def draft(self, ns: Namespace, op: MemoryOp, records: Records, items: dict[str, Item]) -> Item | None:
        content = op.content.model_dump(mode="json", exclude_none=True) if op.content is not None else {}
        current = records.get(PROFILE_KEY)
        if op.action == "update":
            return self._update(op, current, content)
        earlier = items.get(PROFILE_KEY)
        base = earlier["content"] if earlier is not None else (
            current.content if current is not None and isinstance(current.content, dict) else {})
        merged = {**base, **{k: v for k, v in content.items() if v not in (None, "", [])}}  # type: ignore[dict-item]
        item: Item = {"key": PROFILE_KEY, "content": merged, "kind": op.kind, "text": content_text(merged),
                      "provenance": op.provenance()}
        if current is not None:
            item.update(metadata=dict(current.metadata), expected_version=current.version,
                        provenance=[*(p.model_dump() for p in current.provenance), *op.provenance()])
        return item


def write_ops(store: MemoryStore, ns: Namespace, ops: Sequence[MemoryOp], records: Records,
              strategy: Strategy) -> tuple[list[MemoryRecord], list[str]]:
    """Apply ``ops`` (only to memories that were shown): inserts, updates and the provenance of
    deletes in one all-or-nothing batch conditional on the shown versions, then the soft deletes
    (so every version in the history says which trajectory and quote caused it)."""
    items: dict[str, Item] = {}
    deletes: list[str] = []
    for op in ops:
        if op.action == "delete":
            old = records.get(op.id)
            if old is not None:  # only what was shown; the extractor guarantees it, this re-checks
                deletes.append(op.id)
                items[op.id] = {"key": op.id, "content": old.content, "kind": old.kind, "text": old.text,
                                "metadata": dict(old.metadata), "expected_version": old.version,
                                "provenance": [*(p.model_dump() for p in old.provenance), *op.provenance()]}
            continue
        item = strategy.draft(ns, op, records, items)
        if item is not None:
            items[str(item["key"])] = item
    written = store.put_many(ns, list(items.values())) if items else []
    deleted = []
    for key in deletes:
        try:
            store.delete(ns, key)
        except NotFoundError:  # deleted meanwhile: the goal is reached
            pass
        deleted.append(key)
    return [r for r in written if r.id not in deletes], deleted


__all__ = ["PROFILE_KEY", "CollectionStrategy", "ProfileStrategy", "Strategy", "write_ops"]
