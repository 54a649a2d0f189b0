"""MemoryManager: extract memories from conversations and keep them in a store.

    manager = MemoryManager(store, namespace=("memories", "{user_id}"))
    result = manager.update(messages, values={"user_id": "u1"})
    result.written, result.deleted, result.rejected

For each conversation: retrieve the relevant memories of its namespace (by embedding
the recent window, or with an LM query writer when ``query_model`` is set), run the
:class:`~engram.modules._extractor.MemoryExtractor` (one LM call by default), then write
the operations with versions and provenance. Only memories retrieved from the
conversation's own namespace are shown to the LM, so no conversation can change
anything else — not even one that says "delete all memories".

**Profile mode** (``profile=True``): one document per namespace (key ``"profile"``),
updated in place; ``default`` / ``default_factory`` give its starting value.

**Idempotent**: the ids of applied conversations are recorded in a sibling namespace
``(*namespace, "engram.processed")``; the same trajectory is not applied twice (pass
``force=True`` to re-apply). Inserts get ids derived from the namespace, trajectory and
content, so even a re-run after a crash cannot duplicate a memory.

**Faults**: inserts, updates and the provenance of deletes are written in one
all-or-nothing batch, conditional on the versions that were shown; the soft deletes
follow (so every version in the history says which trajectory and quote caused it); an LM or conflict error is retried
``retries`` times, then raised (``update``) or reported (``process``). Batch processing
lives in :mod:`engram.modules._batch`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from engram.errors import ConflictError, LMError, NotFoundError, ValidationError
from engram.modules._lm import lm_scope
from engram.modules._conversation import prepare
from engram.modules._extractor import MemoryExtractor
from engram.modules._operations import MemoryOp, RejectedOp
from engram.modules._schemas import UserProfile, check_schemas, content_text
from engram.modules._searcher import MemorySearcher, retrieve_for_window

log = logging.getLogger("engram.store")

PROFILE_KEY = "profile"
LEDGER_PART = "engram.processed"
LEDGER_KIND = "engram.processed"
_KEY_SPACE = uuid.UUID("6f1d7c4e-2b1a-4c59-9d0e-5a7e8c0b3f21")


@dataclass
class Phase:
    """An extra pass after extraction, e.g. to consolidate (see :data:`CONSOLIDATE`)."""

    instructions: str
    include_conversation: bool = True
    enable_inserts: bool = False
    enable_updates: bool = True
    enable_deletes: bool = True
    name: str = "phase"


CONSOLIDATE = Phase("Merge duplicate or overlapping memories: update one to hold the combined fact "
                    "and delete the others. Quote the memory text you merged.",
                    include_conversation=False, name="consolidate")


@dataclass
class UpdateResult:
    """What one update did: records written (new versions), ids deleted, ops, refusals."""

    namespace: tuple[str, ...]
    trajectory_id: str
    written: list[Any] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    ops: list[MemoryOp] = field(default_factory=list)
    rejected: list[RejectedOp] = field(default_factory=list)
    skipped: bool = False
    attempts: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.deleted)


def _no_conversation(phase: Phase, conv: Any) -> Any:
    from engram.modules._conversation import Conversation

    return Conversation([], conv.trajectory_id, f"({phase.name} pass)")


def trajectory_values(trajectory: Any) -> dict[str, str]:
    """Namespace values from a trajectory: ``user_id`` / ``thread_id`` (and ``user`` / ``thread``),
    plus its string metadata."""
    values = {k: v for k, v in (getattr(trajectory, "metadata", None) or {}).items() if isinstance(v, str)}
    if getattr(trajectory, "user", None):
        values.update(user_id=trajectory.user, user=trajectory.user)
    if getattr(trajectory, "thread", None):
        values.update(thread_id=trajectory.thread, thread=trajectory.thread)
    return values


class MemoryManager:
    """Store-backed memory extraction (see the module docstring).

    Args:
        store: a :class:`~engram.store.MemoryStore` (default: ``MemoryStore.from_settings()``).
        namespace: a namespace tuple or template such as ``("memories", "{user_id}")``.
        schemas, instructions, enable_inserts/updates/deletes, max_steps: as for MemoryExtractor.
        profile: keep one document per namespace (default schema :class:`UserProfile`).
        default / default_factory: the profile's starting value.
        phases: extra passes (e.g. ``[CONSOLIDATE]``), each one more LM call.
        query_model / query_limit: let an LM write search queries (one more call) instead of
            embedding the recent ``window`` of messages.
        search_limit: at most this many existing memories are shown.
        lm: the extraction LM (default: DSPy's current LM, else ``ENGRAM_LM``).
        retries: re-attempts of an update after an LM error or a write conflict.
    """

    def __init__(self, store: Any = None, namespace: Any = ("memories", "{user_id}"), *,
                 schemas: Iterable[type[BaseModel]] | type[BaseModel] | None = None, instructions: str = "",
                 enable_inserts: bool = True, enable_updates: bool = True, enable_deletes: bool = True,
                 max_steps: int = 1, profile: bool = False, default: Any = None,
                 default_factory: Callable[[], Any] | None = None, phases: Sequence[Phase] = (),
                 query_model: Any = None, query_limit: int = 3, search_limit: int = 10, window: int = 6,
                 lm: Any = None, max_conversation_tokens: int | None = 8000, truncate: bool = True,
                 retries: int = 1):
        from engram.store import NamespaceTemplate

        if profile and schemas is None:
            schemas = [UserProfile]
        self.schemas = check_schemas(schemas)
        if profile and len(self.schemas) != 1:
            raise ValidationError("profile mode keeps one document: pass exactly one schema.")
        if default is not None and default_factory is not None:
            raise ValidationError("pass default or default_factory, not both.")
        if retries < 0:
            raise ValidationError(f"retries must be >= 0, got {retries}")
        self._store = store
        self.namespace = namespace if isinstance(namespace, NamespaceTemplate) else NamespaceTemplate(namespace)
        self.profile, self.default, self.default_factory = profile, default, default_factory
        self.kinds = [s.__name__ for s in self.schemas]
        self.search_limit, self.window, self.lm, self.retries = search_limit, window, lm, retries
        if profile:
            instructions = ("Keep one profile: update memory 1 with the fields that changed "
                            "(insert it if there is none). " + instructions).strip()
        self.extractor = MemoryExtractor(
            self.schemas, instructions=instructions, enable_inserts=enable_inserts,
            enable_updates=enable_updates, enable_deletes=enable_deletes and not profile, max_steps=max_steps,
            max_conversation_tokens=max_conversation_tokens, truncate=truncate)
        self.phases = [(p, MemoryExtractor(self.schemas, instructions=p.instructions,
                                           enable_inserts=p.enable_inserts and not profile,
                                           enable_updates=p.enable_updates,
                                           enable_deletes=p.enable_deletes and not profile,
                                           max_conversation_tokens=max_conversation_tokens, truncate=truncate))
                       for p in phases]
        self.searcher = (MemorySearcher(None, self.namespace, query_limit=query_limit, limit=search_limit,
                                        kinds=self.kinds, lm=query_model) if query_model is not None else None)

    @property
    def store(self) -> Any:
        if self._store is None:
            from engram.store import MemoryStore

            self._store = MemoryStore.from_settings()
        return self._store

    # -- reading ----------------------------------------------------------------------------
    def namespace_for(self, values: dict[str, Any] | None = None, conversation: Any = None) -> tuple[str, ...]:
        merged = {**trajectory_values(conversation), **(values or {})}
        return self.namespace.fill(merged)

    def search(self, query: str, values: dict[str, Any] | None = None, *, limit: int = 10) -> list[Any]:
        """Memories of the filled namespace closest to ``query`` (this manager's kinds only)."""
        ns = self.namespace.fill(values or {})
        kind = self.kinds[0] if len(self.kinds) == 1 else None
        return [r for r in self.store.search(ns, query, kind=kind, limit=limit) if r.kind in self.kinds]

    def _retrieve(self, ns: tuple[str, ...], conv: Any) -> tuple[list[Any], dict[str, Any]]:
        """(memories to show, stored records by id)."""
        if self.profile:
            record = self.store.get(ns, PROFILE_KEY)
            if record is not None and self._valid(record):
                return [record], {record.id: record}
            if record is not None:  # unreadable profile: keep it untouched, start from the default
                return [], {}
            start = self.default_factory() if self.default_factory else self.default
            return ([(PROFILE_KEY, self.kinds[0], start)] if start is not None else []), {}
        if self.searcher is not None:
            self.searcher.store = self.store
            with lm_scope(self.lm):
                records = list(self.searcher._search(ns, self._queries(conv), conv))
        else:
            records = retrieve_for_window(self.store, ns, conv.messages, limit=self.search_limit,
                                          kinds=self.kinds, window=self.window)
        records = [r for r in records if self._valid(r)]
        return records, {r.id: r for r in records}

    def _valid(self, record: Any) -> bool:
        """Whether a stored record fits its schema; one that does not is never shown (so never
        changed) rather than blocking every update of the namespace."""
        from engram.modules._schemas import find_schema, validate_content

        schema = find_schema(self.schemas, record.kind)
        try:
            validate_content(schema, record.content)
            return True
        except (ValidationError, TypeError) as err:
            log.warning("memory %r in %s does not fit %s and is not shown to the LM: %s",
                        record.id, record.namespace, record.kind, err)
            return False

    def _queries(self, conv: Any) -> list[str]:
        from engram.modules._searcher import parse_queries

        with lm_scope(self.searcher.lm or self.lm):
            pred = self.searcher.write_queries(conversation=conv.text)
        return parse_queries(pred.queries, self.searcher.query_limit)

    # -- writing ----------------------------------------------------------------------------
    def _key(self, ns: tuple[str, ...], trajectory_id: str, op: MemoryOp) -> str:
        if self.profile:
            return PROFILE_KEY
        return str(uuid.uuid5(_KEY_SPACE, "|".join([*ns, trajectory_id, op.kind, content_text(op.content)])))

    def _apply(self, ns: tuple[str, ...], ops: list[MemoryOp], records: dict[str, Any],
               trajectory_id: str) -> tuple[list[Any], list[str]]:
        items: dict[str, dict[str, Any]] = {}
        deletes = []
        for op in ops:
            if op.action == "delete":
                old = records.get(op.id)
                if old is not None:  # only what was shown; the extractor guarantees it, this re-checks
                    deletes.append(op.id)
                    # record who deleted it (and check the version) in the same batch; history keeps it
                    items[op.id] = {"key": op.id, "content": old.content, "kind": old.kind, "text": old.text,
                                    "metadata": dict(old.metadata), "expected_version": old.version,
                                    "provenance": [*(p.model_dump() for p in old.provenance), *op.provenance()]}
                continue
            content = op.content.model_dump(mode="json", exclude_none=True)
            if op.action == "insert":
                key = self._key(ns, trajectory_id, op)
                item = {"key": key, "content": content, "kind": op.kind, "text": content_text(op.content),
                        "provenance": op.provenance()}
                if self.profile:  # one document: inserts merge into it, never replace it
                    current = records.get(PROFILE_KEY)
                    base = items[key]["content"] if key in items else (
                        current.content if current is not None and isinstance(current.content, dict) else {})
                    item["content"] = {**base, **{k: v for k, v in content.items() if v not in (None, "", [])}}
                    item["text"] = content_text(item["content"])
                    if current is not None:
                        item["metadata"] = dict(current.metadata)
                        item["provenance"] = [*(p.model_dump() for p in current.provenance), *op.provenance()]
                        item["expected_version"] = current.version
                items[key] = item
                continue
            old = records.get(op.id)
            if old is None and not (self.profile and op.id == PROFILE_KEY):
                continue
            items[op.id] = {"key": op.id, "content": content, "kind": op.kind, "text": content_text(op.content),
                            "metadata": dict(old.metadata) if old is not None else None,
                            "provenance": [*(p.model_dump() for p in (old.provenance if old else [])),
                                           *op.provenance()],
                            "expected_version": old.version if old is not None else 0}
        written = self.store.put_many(ns, list(items.values())) if items else []
        written = [r for r in written if r.id not in deletes]
        deleted = []
        for key in deletes:
            try:
                self.store.delete(ns, key)
                deleted.append(key)
            except NotFoundError:  # deleted meanwhile: the goal is reached
                deleted.append(key)
        return written, deleted

    def _ledger(self, ns: tuple[str, ...]) -> tuple[str, ...]:
        return (*ns, LEDGER_PART)

    def is_processed(self, namespace: tuple[str, ...], trajectory_id: str) -> bool:
        """Whether this trajectory was already applied to this namespace."""
        return self.store.get(self._ledger(namespace), trajectory_id) is not None

    def _mark(self, ns: tuple[str, ...], trajectory_id: str, result: UpdateResult) -> None:
        self.store.put(self._ledger(ns), trajectory_id, {"written": len(result.written),
                                                         "deleted": len(result.deleted)},
                       kind=LEDGER_KIND, text=f"processed {trajectory_id}")

    # -- one update ---------------------------------------------------------------------------
    def _begin(self, conversation: Any, values: dict[str, Any] | None, trajectory_id: str | None):
        conv = prepare(conversation, max_tokens=self.extractor.max_conversation_tokens,
                       truncate=self.extractor.truncate, trajectory_id=trajectory_id)
        ns = self.namespace_for(values, conversation)
        return conv, ns

    def _phase_inputs(self, ns: tuple[str, ...], records: dict[str, Any], result: UpdateResult):
        keys = [*records, *(r.id for r in result.written)]
        current = self.store.search(ns, None, keys=list(dict.fromkeys(keys)), limit=max(1, len(keys))) if keys else []
        return current, {r.id: r for r in current}

    def update(self, conversation: Any, values: dict[str, Any] | None = None, *,
               trajectory_id: str | None = None, force: bool = False) -> UpdateResult:
        """Extract from one conversation and apply the result to its namespace (see module docs)."""
        conv, ns = self._begin(conversation, values, trajectory_id)
        result = UpdateResult(ns, conv.trajectory_id)
        if not force and self.is_processed(ns, conv.trajectory_id):
            result.skipped = True
            return result
        while True:
            result.attempts += 1
            try:
                shown, records = self._retrieve(ns, conv)
                with lm_scope(self.lm):
                    pred = self.extractor(conversation=conv, memories=shown, trajectory_id=conv.trajectory_id)
                self._record(result, pred, *self._apply(ns, pred.ops, records, conv.trajectory_id))
                for phase, extractor in self.phases:
                    current, records = self._phase_inputs(ns, records, result)
                    text = conv if phase.include_conversation else _no_conversation(phase, conv)
                    with lm_scope(self.lm):
                        pred = extractor(conversation=text, memories=current, trajectory_id=conv.trajectory_id)
                    self._record(result, pred, *self._apply(ns, pred.ops, records, conv.trajectory_id))
                break
            except (LMError, ConflictError) as err:
                self._failed(result, err)
        self._mark(ns, conv.trajectory_id, result)
        return result

    async def aupdate(self, conversation: Any, values: dict[str, Any] | None = None, *,
                      trajectory_id: str | None = None, force: bool = False) -> UpdateResult:
        """Async :meth:`update`: the LM call is awaited, store work runs in worker threads."""
        conv, ns = self._begin(conversation, values, trajectory_id)
        result = UpdateResult(ns, conv.trajectory_id)
        if not force and await asyncio.to_thread(self.is_processed, ns, conv.trajectory_id):
            result.skipped = True
            return result
        while True:
            result.attempts += 1
            try:
                shown, records = await asyncio.to_thread(self._retrieve_in_context(), ns, conv)
                with lm_scope(self.lm):
                    pred = await self.extractor.acall(conversation=conv, memories=shown,
                                                      trajectory_id=conv.trajectory_id)
                applied = await asyncio.to_thread(self._apply, ns, pred.ops, records, conv.trajectory_id)
                self._record(result, pred, *applied)
                for phase, extractor in self.phases:
                    current, records = await asyncio.to_thread(self._phase_inputs, ns, records, result)
                    text = conv if phase.include_conversation else _no_conversation(phase, conv)
                    with lm_scope(self.lm):
                        pred = await extractor.acall(conversation=text, memories=current,
                                                     trajectory_id=conv.trajectory_id)
                    applied = await asyncio.to_thread(self._apply, ns, pred.ops, records, conv.trajectory_id)
                    self._record(result, pred, *applied)
                break
            except (LMError, ConflictError) as err:
                self._failed(result, err)
        await asyncio.to_thread(self._mark, ns, conv.trajectory_id, result)
        return result

    def _retrieve_in_context(self):
        from engram.lm import context_runner

        return context_runner(self._retrieve)

    def _failed(self, result: UpdateResult, err: Exception) -> None:
        result.errors.append(f"{type(err).__name__}: {err}")
        log.warning("memory update of %s in %s failed (attempt %d): %s", result.trajectory_id,
                    result.namespace, result.attempts, err)
        if result.attempts > self.retries:
            raise err

    @staticmethod
    def _record(result: UpdateResult, pred: Any, written: list[Any], deleted: list[str]) -> None:
        result.ops.extend(pred.ops)
        result.rejected.extend(pred.rejected)
        result.written.extend(written)
        result.deleted.extend(deleted)
        for rejected in pred.rejected:
            log.info("memory op refused in %s: %s (%s)", result.trajectory_id, rejected.line, rejected.reason)

    # -- many updates ---------------------------------------------------------------------------
    def process(self, dataset: Any, **kwargs: Any) -> Any:
        """Apply every trajectory of a dataset; see :func:`engram.modules._batch.process`."""
        from engram.modules._batch import process

        return process(self, dataset, **kwargs)

    async def aprocess(self, dataset: Any, **kwargs: Any) -> Any:
        from engram.modules._batch import aprocess

        return await aprocess(self, dataset, **kwargs)


__all__ = ["CONSOLIDATE", "PROFILE_KEY", "MemoryManager", "Phase", "UpdateResult", "trajectory_values"]
