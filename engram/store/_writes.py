"""Writes: put, put_many, update, mutate (mixed into MemoryStore; delete, purge, restore are in
:mod:`engram.store._removals`).

Every write follows the same path (:meth:`_commit`): under the namespace's
lock, read the current rows, check ``expected_version``, copy the current
versions into the history collection, then upsert the new rows. If the upsert
fails, the history rows written for it are removed and rows already written by
earlier chunks are put back, so a failed ``put_many`` leaves no half-written
batch. Embeddings are computed before the lock is taken, so a slow embedder
does not serialize other writers.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from engram.errors import ConflictError, NotFoundError, ValidationError
from engram.store._checks import (
    check_items,
    check_key,
    check_kind,
    check_text,
    check_version,
)
from engram.store._codec import from_row, history_id, history_metadata, replacing_metadata, rows, to_metadata
from engram.store._collections import chroma_errors, page_size
from engram.store._expiry import UNSET, TTLLike, check_ttl
from engram.store._filters import normalize_metadata
from engram.store._namespaces import NamespaceLike, validate_namespace
from engram.store._record import (
    Clock,
    ContentLike,
    MemoryRecord,
    ProvenanceLike,
    check_size,
    clock_now,
    coerce_content,
    coerce_provenance,
    content_text,
    same_memory,
)

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

    from engram.store._collections import Collections
    from engram.store._owner import DirectoryOwner

logger = logging.getLogger(__name__)
_MUTATE_ATTEMPTS = 8  # reads and writes of one memory racing a writer in another process
ITEM_FIELDS = {"key", "id", "content", "kind", "text", "metadata", "provenance", "expected_version", "ttl"}
UPDATE_FIELDS = {"content", "text", "metadata", "kind", "provenance"}
_Current = dict[str, tuple[MemoryRecord, list[float]]]
_Step = tuple[MemoryRecord, list[float], "tuple[MemoryRecord, list[float]] | None"]   # (new, vector, old)


class WriteMixin:
    """Write half of :class:`~engram.store._store.MemoryStore` (see its docstring)."""

    _cols: Collections
    _owner: DirectoryOwner | None
    max_content_chars: int
    clock: Clock

    if TYPE_CHECKING:  # provided by MemoryStore
        def _embed(self, texts: list[str]) -> list[list[float]]: ...
        def get(self, namespace: NamespaceLike, key: str, *, include_deleted: bool = False) -> MemoryRecord | None: ...
        def _resolve_ttl(self, ns: tuple[str, ...], given: Any, own: Any = UNSET) -> float | None: ...

    def _now(self) -> datetime:
        """The store clock's time (aware, UTC); every timestamp a write stores comes from here."""
        return clock_now(self.clock)

    # -- building records -------------------------------------------------------------------
    def _draft(self, ns: tuple[str, ...], key: Any, content: Any, kind: str = "memory",
               text: str | None = None, metadata: dict | None = None, provenance: Any = None,
               ttl: float | None = None) -> MemoryRecord:
        key = uuid.uuid4().hex if key is None else check_key(key)
        if content is None:
            raise ValidationError(f"memory {key!r} has no content; pass content=... (a str or a dict).")
        check_kind(kind)
        content = coerce_content(content)
        text = check_text(text) or content_text(content)
        check_size(text, content, self.max_content_chars)
        now = self._now()
        return MemoryRecord.model_construct(
            id=key, namespace=ns, kind=kind, content=content, text=text,
            metadata=normalize_metadata(metadata), provenance=coerce_provenance(provenance),
            version=0, deleted=False, score=None, created_at=now, updated_at=now,
            ttl=ttl, expires_at=None, expired_at=None,
        )

    def _read(self, col: Collection, ns: tuple[str, ...], keys: list[str]) -> _Current:
        with chroma_errors(f"read {len(keys)} memories of {ns!r}"):
            got = col.get(ids=keys, include=["documents", "metadatas", "embeddings"])
        return {i: (from_row(ns, i, d, m), [float(x) for x in e]) for i, d, m, e in rows(got)}

    # -- the one write path -----------------------------------------------------------------
    def _write(self, ns: tuple[str, ...], drafts: list[MemoryRecord],
               expected: list[int | None], vectors: dict[str, list[float]] | None = None) -> list[MemoryRecord]:
        keys = [d.id for d in drafts]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise ValidationError(f"key {dup!r} appears twice in one batch; merge those items.")
        col = self._cols.create(ns)
        vectors = dict(vectors or {})
        supplied = set(vectors)
        # Embed outside the lock. A remote embedder is spared the texts that did not change (read
        # first; a key that must not exist yet, expected version 0, has no vector to reuse). A
        # local one embeds them all: that is cheaper than the read, and Chroma runs one call at a
        # time, so 32 concurrent updates each reading twice queued 200 ms for each other.
        maybe = [d.id for d, want in zip(drafts, expected) if want != 0 and d.id not in vectors]
        before = self._read(col, ns, maybe) if maybe and not self._cols.embedder.local else {}
        todo = [d for d in drafts if d.id not in vectors
                and not (d.id in before and before[d.id][0].text == d.text)]
        vectors.update(zip([d.id for d in todo], self._embed([d.text for d in todo])))
        with self._cols.lock(ns):
            current = self._read(col, ns, keys)
            for draft, want in zip(drafts, expected):
                have = current[draft.id][0].version if draft.id in current else 0
                if want is not None and want != have:
                    raise ConflictError(
                        f"memory {draft.id!r} in {ns!r} is at version {have}, not {want}; "
                        f"re-read it with get() and retry the update."
                    )
            late = [d for d in drafts if d.id not in vectors
                    and (d.id not in current or current[d.id][0].text != d.text)]
            vectors.update(zip([d.id for d in late], self._embed([d.text for d in late])))
            now = self._now()
            plan: list[_Step] = []
            for draft in drafts:
                old = current.get(draft.id)
                # an unchanged text keeps its stored vector (one batch's padding can move the last digits)
                if old is not None and old[0].text == draft.text and draft.id not in supplied:
                    vector = old[1]
                else:  # a new or changed text was embedded above (before the lock or as `late`)
                    vector = vectors[draft.id]
                new = draft.model_copy(update={
                    "version": (old[0].version + 1) if old else 1,
                    "created_at": old[0].created_at if old else now,
                    "updated_at": now,
                    "expires_at": expiry_at(now, draft.ttl),
                })
                plan.append((new, vector, old))
            self._commit(ns, col, plan)
        return [p[0] for p in plan]

    def _commit(self, ns: tuple[str, ...], col: Collection,
                plan: list[_Step]) -> None:
        """Write history first, then the rows, in chunks; undo everything if a chunk fails."""
        olds = [old for _, _, old in plan if old is not None]
        hist_ids = [history_id(col.name, o.id, o.version) for o, _ in olds]
        size = self._batch_size()
        self._cols.touch(ns)
        written: list[_Step] = []
        try:
            for start in range(0, len(olds), size):
                chunk = olds[start : start + size]
                with chroma_errors(f"save history of {len(chunk)} memories in {ns!r}"):
                    self._cols.history.upsert(
                        ids=hist_ids[start : start + size], embeddings=[e for _, e in chunk],  # type: ignore[arg-type]
                        documents=[o.text for o, _ in chunk], metadatas=[history_metadata(o) for o, _ in chunk],
                    )
            for start in range(0, len(plan), size):
                steps = plan[start : start + size]
                # add() is 2-3x faster than upsert() for new rows in Chroma 1.x; upsert the rest
                for part, method in (([p for p in steps if p[2] is None], col.add),
                                     ([p for p in steps if p[2] is not None], col.upsert)):
                    if not part:
                        continue
                    with chroma_errors(f"write {len(part)} memories to {ns!r}"):
                        method(ids=[r.id for r, _, _ in part], embeddings=[v for _, v, _ in part],  # type: ignore[arg-type]
                               documents=[r.text for r, _, _ in part],
                               metadatas=[to_metadata(r) if old is None else replacing_metadata(r, old[0])
                                          for r, _, old in part])
                    written.extend(part)
        except Exception:
            self._undo(col, written, hist_ids)
            raise
        else:
            if self._owner is not None:
                self._owner.note_writes(len(plan))
        finally:
            self._cols.touch(ns)  # again after the rows land, so no reader caches a half-written state

    def _undo(self, col: Collection, written: list[_Step], hist_ids: list[str]) -> None:
        # best effort: put back the previous rows, drop new ones and their history copies
        restore = [(new, old) for new, _, old in written if old is not None]
        fresh = [r.id for r, _, old in written if old is None]
        try:
            if restore:
                col.upsert(ids=[o.id for _, (o, _) in restore], embeddings=[e for _, (_, e) in restore],  # type: ignore[arg-type]
                           documents=[o.text for _, (o, _) in restore],
                           metadatas=[replacing_metadata(o, new) for new, (o, _) in restore])
            if fresh:
                col.delete(ids=fresh)
            if hist_ids:
                self._cols.history.delete(ids=hist_ids)
        except Exception as err:  # the original error is the one worth raising; log this one
            logger.warning("engram: could not fully undo a failed write in %s: %s", col.name, err)

    def _batch_size(self) -> int:
        return page_size(self._cols.client)

    # -- public writes ----------------------------------------------------------------------
    def put(self, namespace: NamespaceLike, key: str | None = None, content: ContentLike | None = None, *, kind: str = "memory",
            text: str | None = None, metadata: dict | None = None, provenance: ProvenanceLike = None,
            expected_version: int | None = None, ttl: TTLLike = UNSET) -> MemoryRecord:
        """Insert or replace one memory; returns it at its new version.

        ``expected_version`` makes the write conditional (0 = must not exist yet);
        a mismatch raises :class:`engram.ConflictError`. ``ttl`` (seconds or a
        timedelta; None = never) makes it expire; unset, the namespace's policy
        applies (:mod:`engram.store._expiry`). Example::

            rec = store.put(("memories", "u1"), "diet", {"fact": "vegetarian"})
            store.put(("memories", "u1"), "diet", {"fact": "vegan"}, expected_version=rec.version)
            store.put(("memories", "u1"), "otp", "4721", ttl=300)     # gone in 5 minutes
        """
        ns = validate_namespace(namespace)
        check_version("expected_version", expected_version, optional=True, minimum=0)
        draft = self._draft(ns, key, content, kind, text, metadata, provenance, self._resolve_ttl(ns, ttl))
        return self._write(ns, [draft], [expected_version])[0]

    def put_many(self, namespace: NamespaceLike, items: Iterable[dict[str, Any] | MemoryRecord]) -> list[MemoryRecord]:
        """Write a batch all-or-nothing. Items are dicts (``key``, ``content``, ``kind``,
        ``text``, ``metadata``, ``provenance``, ``expected_version``, ``ttl``) or MemoryRecords.

        Example::

            store.put_many(ns, [{"key": "a", "content": "likes tea"}, {"content": "lives in Lyon"}])
        """
        ns = validate_namespace(namespace)
        drafts, expected = [], []
        for i, item in enumerate(check_items(items)):
            if isinstance(item, MemoryRecord):
                item = {"key": item.id, "content": item.content, "kind": item.kind, "text": item.text,
                        "metadata": item.metadata, "provenance": item.provenance,
                        **({"ttl": item.ttl} if item.ttl is not None else {})}
            if not isinstance(item, dict):
                raise ValidationError(f"put_many item {i} is a {type(item).__name__}; pass dicts.")
            unknown = set(item) - ITEM_FIELDS
            if unknown:
                raise ValidationError(f"put_many item {i} has unknown keys {sorted(unknown)}; "
                                      f"allowed: {sorted(ITEM_FIELDS)}.")
            try:
                if "key" in item and "id" in item:
                    raise ValidationError("give either 'key' or 'id', not both.")
                expected.append(check_version("expected_version", item.get("expected_version"),
                                              optional=True, minimum=0))
                drafts.append(self._draft(ns, item.get("key", item.get("id")), item.get("content"),
                                          item.get("kind", "memory"), item.get("text"),
                                          item.get("metadata"), item.get("provenance"),
                                          self._resolve_ttl(ns, item.get("ttl", UNSET))))
            except ValidationError as err:
                raise ValidationError(f"put_many item {i}: {err}") from None
        return self._write(ns, drafts, expected) if drafts else []

    def update(self, namespace: NamespaceLike, key: str, *, expected_version: int | None = None,
               ttl: TTLLike = UNSET, **changes: Any) -> MemoryRecord:
        """Change some fields of a live memory; ``metadata`` is merged (``None`` removes a key).

        Without ``ttl=`` an expiring memory keeps its ttl, counted again from this write. Changes
        that leave the memory as it is (and no ``ttl=``) write nothing: the current version comes
        back, so a retried update never adds a version. Example::

            store.put(ns, "diet", {"fact": "vegetarian"})
            store.update(ns, "diet", content={"fact": "vegan"}, metadata={"confidence": 0.9}).version   # 2
            store.update(ns, "diet", content={"fact": "vegan"}).version                                  # still 2
        """
        unknown = set(changes) - UPDATE_FIELDS
        if unknown:
            raise ValidationError(f"update() got unknown field(s) {sorted(unknown)}; "
                                  f"updatable fields are {sorted(UPDATE_FIELDS)}.")
        if not changes and ttl is UNSET:
            raise ValidationError(f"update() needs at least one field to change: {sorted(UPDATE_FIELDS)} or ttl.")
        if "content" in changes and changes["content"] is None:
            raise ValidationError("update(content=None) would leave the memory empty; use delete() to remove it.")
        return self.mutate(namespace, key, lambda _rec: changes, expected_version=expected_version, ttl=ttl)

    def mutate(self, namespace: NamespaceLike, key: str, fn: Callable[[MemoryRecord], dict[str, Any]], *,
               expected_version: int | None = None, ttl: TTLLike = UNSET) -> MemoryRecord:
        """Atomic read-modify-write: ``fn(current)`` returns the changes (as for :meth:`update`:
        ``ttl`` as there, and changes that change nothing write nothing).

        Writers in this process wait for each other, and so do those of other processes of this
        machine on a Chroma server (:mod:`engram.store._host_lock`). A writer on another machine
        is noticed when the memory's version moved between the read and the write; then ``fn``
        runs again on the new version (up to 8 times, then a :class:`ConflictError`), so ``fn``
        should only compute. With ``expected_version`` there is no retry.

        Example (a counter no concurrent writer can lose)::

            store.put(ns, "visits", {"n": 0})
            store.mutate(ns, "visits", lambda r: {"content": {"n": r.content["n"] + 1}}).content   # {'n': 1}
        """
        ns = validate_namespace(namespace)
        check_key(key)
        if not callable(fn):
            raise ValidationError(f"mutate() needs fn(current) -> dict of changes, got {type(fn).__name__}.")
        check_version("expected_version", expected_version, optional=True, minimum=1)
        if ttl is not UNSET:
            check_ttl(ttl)  # refused before fn runs
        with self._cols.lock(ns):
            for attempt in range(_MUTATE_ATTEMPTS):
                try:
                    return self._mutate_once(ns, key, fn, expected_version, ttl)
                except ConflictError:
                    if expected_version is not None or attempt == _MUTATE_ATTEMPTS - 1:
                        raise
                    time.sleep(random.uniform(0.001, 0.01 * (attempt + 1)))  # apart from the other writer
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _mutate_once(self, ns: tuple[str, ...], key: str, fn: Callable[[MemoryRecord], dict[str, Any]],
                     expected_version: int | None, ttl: TTLLike) -> MemoryRecord:
        cur = self.get(ns, key)
        if cur is None:
            raise NotFoundError(f"no memory {key!r} in {ns!r} to update; put() it first.")
        changes = fn(cur)
        if changes is not None and not isinstance(changes, dict):
            raise ValidationError(f"the changes must be a dict such as {{'content': ...}}, "
                                  f"got {type(changes).__name__}.")
        new_meta = (changes or {}).get("metadata")
        if new_meta is not None and not isinstance(new_meta, dict):
            raise ValidationError(f"metadata must be a dict of changes (None removes a key), "
                                  f"got {type(new_meta).__name__} {new_meta!r}.")
        unknown = set(changes or {}) - UPDATE_FIELDS
        if unknown:
            raise ValidationError(f"unknown field(s) {sorted(unknown)} in the changes; "
                                  f"updatable fields are {sorted(UPDATE_FIELDS)}.")
        changes = dict(changes or {})
        check_text(changes.get("text"))
        metadata = dict(cur.metadata)
        for mkey, value in (changes.pop("metadata", None) or {}).items():
            metadata[mkey] = value
        metadata = {k: v for k, v in metadata.items() if v is not None}
        content = changes.get("content", cur.content)
        text = changes.get("text") or (cur.text if "content" not in changes else None)
        draft = self._draft(ns, key, content, changes.get("kind", cur.kind), text, metadata,
                            changes.get("provenance", cur.provenance), self._resolve_ttl(ns, ttl, cur.ttl))
        want = cur.version if expected_version is None else expected_version
        if ttl is UNSET and want == cur.version and same_memory(cur, draft):
            return cur  # nothing changes: no new version (an explicit ttl= restarts the expiry clock)
        return self._write(ns, [draft], [want])[0]


def expiry_at(now: datetime, ttl: float | None) -> datetime | None:
    return None if ttl is None else now + timedelta(seconds=ttl)
