"""Compaction: merge duplicate memories, resolve contradictions, optionally cap a namespace.

    report = manager.compact({"user_id": "u1"}, batch_size=40, cap=200)
    report.merged        # {kept key: [keys merged into it]}
    report.deleted       # keys deleted as contradicted or obsolete
    report.before, report.after, report.lm_calls
    report.undo(manager.store)   # every change is a version: put the old ones back

How: the namespace's memories (this manager's kinds) are grouped by embedding similarity
(the stored vectors; nothing is re-embedded), so a batch holds related memories, and each
batch gets **one LM call** (:class:`~engram.modules._compaction_ops.CompactMemories`) that
answers with typed merge / delete / update operations. A fact split across two batches is
merged in the next round, which groups the survivors again; rounds stop when one changes
nothing, when one batch held every memory, or after ``max_rounds``.

Writes go through the store's versioned path: each batch is one all-or-nothing
``put_many`` conditional on the versions that were shown (merged text, the union of the
sources' provenance, ``stated_at`` = the latest time a source was stated), followed by the
soft deletes, so a failure never loses a fact (at worst a duplicate survives). Each source
gets a last version that says where it went (metadata ``compacted``: ``merged into <key>``,
``contradicted`` or ``evicted``), then the tombstone; :meth:`CompactionReport.undo` restores
the versions from before.

The LM sees each memory's ``stated_at``: metadata ``stated_at`` if compaction set it, else
``updated_at``; newer wins on a contradiction. **Cap**: when more than ``cap`` memories
remain, the least recently stated (the same time) are *evicted* (soft-deleted, undoable),
not merged: merging unrelated memories would make texts nobody asked for.

An LM error in a batch (after ``manager.retries`` re-attempts) stops the run:
:class:`CompactionError` carries the report, whose ``batches`` say which were applied.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engram.errors import ConflictError, LMError, NotFoundError, ValidationError
from engram.lm import Usage, track_usage
from engram.modules._compaction_ops import CompactionOp, CompactMemories, MemoryItem, check_ops
from engram.modules._drive import Algorithm, Call, Work, arun, run
from engram.modules._locks import anamespace_lock, namespace_lock
from engram.modules._schemas import content_text, find_schema, validate_content
from engram.store import MemoryRecord, Namespace, validate_namespace

if TYPE_CHECKING:
    from engram.modules._manager import MemoryManager
    from engram.store import MemoryStore

log = logging.getLogger("engram.modules")
Pair = tuple[MemoryRecord, list[float]]
NamespaceArg = Namespace | Sequence[str] | Mapping[str, str] | None
STATED_AT = "stated_at"


class CompactionError(LMError):
    """Compaction stopped at a failed batch; ``report`` says which batches were applied."""

    def __init__(self, message: str, report: CompactionReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class BatchOutcome:
    """One batch: its memories, whether its operations were written, and what they did."""

    round: int
    index: int
    keys: list[str]
    applied: bool = False
    operations: int = 0
    refused: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class CompactionReport:
    """What :func:`compact` did to one namespace.

    ``merged`` maps each kept key to the keys merged into it; ``deleted`` lists memories
    deleted as contradicted, ``updated`` memories rewritten in place, ``evicted`` those the
    cap removed; ``versions`` holds every touched key's version from before (for
    :meth:`undo`); ``lm_calls`` counts batches sent (``usage`` has tokens and cost).
    """

    namespace: Namespace
    before: int = 0
    after: int = 0
    merged: dict[str, list[str]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    evicted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    batches: list[BatchOutcome] = field(default_factory=list)
    rounds: int = 0
    lm_calls: int = 0
    complete: bool = False
    versions: dict[str, int] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)

    @property
    def applied_batches(self) -> list[tuple[int, int]]:
        """(round, index) of every batch whose operations were written."""
        return [(b.round, b.index) for b in self.batches if b.applied]

    def undo(self, store: MemoryStore) -> list[MemoryRecord]:
        """Put back every touched memory as it was before (each restore is a new version)."""
        return [store.restore(self.namespace, key, version) for key, version in self.versions.items()]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["namespace"] = list(self.namespace)
        out["usage"] = self.usage.to_dict()
        return out


def _namespace(manager: MemoryManager, arg: NamespaceArg) -> Namespace:
    if isinstance(arg, Mapping) or arg is None:
        return manager.namespace.fill(dict(arg or {}))
    return validate_namespace(arg)


def _check(manager: MemoryManager, ns: Namespace, batch_size: int, cap: int | None, max_rounds: int) -> None:
    if manager.profile:
        raise ValidationError("a profile-mode manager keeps one document per namespace; there is nothing "
                              "to compact. Use a collection manager (profile=False).")
    for name, value, low in (("batch_size", batch_size, 2), ("max_rounds", max_rounds, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValidationError(f"{name} must be an int >= {low}, got {value!r}.")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ValidationError(f"cap must be a positive int (the most memories to keep) or None, got {cap!r}.")
    if ns not in manager.store.list_namespaces(ns, include_internal=True):
        raise NotFoundError(f"namespace {ns!r} holds no memories in this store; check the values, or list "
                            "the namespaces with store.list_namespaces().")


def stated_at(record: MemoryRecord) -> datetime:
    """When a memory was last stated: its ``stated_at`` metadata (set by compaction), else ``updated_at``."""
    raw = record.metadata.get(STATED_AT)
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            pass
    return record.updated_at


def group(pairs: Sequence[Pair], size: int) -> list[list[MemoryRecord]]:
    """Batches of at most ``size`` related memories: the oldest unassigned memory and its
    nearest unassigned neighbours (cosine on the stored vectors), until all are assigned."""
    import numpy as np

    if not pairs:
        return []
    vecs = np.asarray([v for _, v in pairs], dtype=np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    left: Any = np.ones(len(pairs), dtype=bool)
    batches = []
    for seed in range(len(pairs)):
        if not left[seed]:
            continue
        sims = np.where(left, vecs @ vecs[seed], -np.inf)
        take = [int(i) for i in np.argsort(-sims, kind="stable")[: min(size, int(left.sum()))]]
        left[take] = False
        batches.append([pairs[i][0] for i in sorted(take)])
    return batches


def _live(store: MemoryStore, ns: Namespace, kinds: list[str]) -> list[Pair]:
    return [(r, v) for r, v in store.vectors(ns) if r.kind in kinds]


def _items(records: list[MemoryRecord]) -> list[MemoryItem]:
    # the content as the extractor shows it (a Memory's plain text, other kinds as compact JSON)
    return [MemoryItem(id=i, text=content_text(r.content), stated_at=stated_at(r).isoformat())
            for i, r in enumerate(records, 1)]


def _union(records: Sequence[MemoryRecord]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for r in records:
        for p in r.provenance:
            dumped = p.model_dump(exclude_none=True)
            seen.setdefault(repr(sorted(dumped.items())), dumped)
    return list(seen.values())


def _row(rec: MemoryRecord, **changes: Any) -> dict[str, Any]:
    meta = {**rec.metadata, **changes.pop("metadata", {})}
    return {"key": rec.id, "content": rec.content, "kind": rec.kind, "text": rec.text, "metadata": meta,
            "provenance": [p.model_dump(exclude_none=True) for p in rec.provenance],
            "expected_version": rec.version, **changes}


def _content(manager: MemoryManager, kind: str, text: str) -> tuple[Any, str]:
    schema = find_schema(manager.schemas, kind)
    if schema is None:
        return text, text
    import json

    model = None
    if text.strip().startswith("{"):  # a structured kind's content, written as a JSON object
        try:
            model = validate_content(schema, json.loads(text))
        except (json.JSONDecodeError, ValidationError):
            model = None
    model = model or validate_content(schema, text)
    return model.model_dump(mode="json", exclude_none=True), content_text(model)


def apply_batch(manager: MemoryManager, store: MemoryStore, ns: Namespace, records: list[MemoryRecord],
                ops: list[CompactionOp], report: CompactionReport, outcome: BatchOutcome) -> bool:
    """Write one batch's operations (see the module docstring); True if anything changed."""
    by_id = dict(enumerate(records, 1))
    rows: dict[str, dict[str, Any]] = {}
    gone: list[str] = []
    merged: dict[str, list[str]] = {}
    deleted, updated = [], []
    for op in ops:
        sources = [by_id[i] for i in op.ids]
        try:
            if op.action == "delete":
                for rec in sources:
                    rows[rec.id] = _row(rec, metadata={"compacted": "contradicted"})
                    gone.append(rec.id)
                    deleted.append(rec.id)
                continue
            if len({r.kind for r in sources}) > 1:
                outcome.refused.append(f"merge {op.ids}: memories of different kinds cannot be merged")
                continue
            target = max(sources, key=lambda r: (stated_at(r), r.updated_at))
            content, text = _content(manager, target.kind, op.content or "")
        except ValidationError as err:
            outcome.refused.append(f"{op.action} {op.ids}: {err}")
            continue
        when = max(stated_at(r) for r in sources).isoformat()
        rows[target.id] = _row(target, content=content, text=text, provenance=_union(sources),
                               metadata={STATED_AT: when})
        if op.action == "update":
            updated.append(target.id)
            continue
        merged[target.id] = [r.id for r in sources if r.id != target.id]
        for rec in sources:
            if rec.id != target.id:
                rows[rec.id] = _row(rec, metadata={"compacted": f"merged into {target.id}"})
                gone.append(rec.id)
    if not rows:
        return False
    store.put_many(ns, list(rows.values()))
    for rec in records:
        if rec.id in rows:
            report.versions.setdefault(rec.id, rec.version)
    for key in gone:
        try:
            store.delete(ns, key)
        except NotFoundError:  # deleted meanwhile: the goal is reached
            pass
    report.merged.update(merged)
    report.deleted.extend(deleted)
    report.updated.extend(updated)
    return True


def _evict(store: MemoryStore, ns: Namespace, kinds: list[str], cap: int, report: CompactionReport) -> None:
    live = [r for r, _ in _live(store, ns, kinds)]
    if len(live) <= cap:
        return
    oldest = sorted(live, key=lambda r: (stated_at(r), r.updated_at))[: len(live) - cap]
    store.put_many(ns, [_row(r, metadata={"compacted": "evicted"}) for r in oldest])
    for rec in oldest:
        report.versions.setdefault(rec.id, rec.version)
    for rec in oldest:
        try:
            store.delete(ns, rec.id)
        except NotFoundError:
            pass
        report.evicted.append(rec.id)


def _algorithm(manager: MemoryManager, store: MemoryStore, report: CompactionReport, batch_size: int,
               cap: int | None, max_rounds: int) -> Algorithm[None]:
    import dspy

    ns, kinds = report.namespace, manager.kinds
    predictor = dspy.Predict(CompactMemories)
    report.before = len((yield Work(_live, (store, ns, kinds))))
    for rnd in range(1, max_rounds + 1):
        pairs = yield Work(_live, (store, ns, kinds))
        batches = [b for b in group(pairs, batch_size) if len(b) > 1]
        report.rounds = rnd
        changed = False
        for index, records in enumerate(batches, 1):
            outcome = BatchOutcome(rnd, index, [r.id for r in records])
            report.batches.append(outcome)
            attempts = 0
            while True:
                attempts += 1
                report.lm_calls += 1
                try:
                    pred = yield Call(predictor, {"memories": _items(records)})
                    break
                except LMError as err:
                    if attempts > manager.retries:
                        outcome.error = f"{type(err).__name__}: {err}"
                        done = len(report.applied_batches)
                        raise CompactionError(
                            f"compaction of {ns!r} stopped at batch {index} of round {rnd}: {err}. "
                            f"{done} earlier batch(es) were applied (report.batches says which; "
                            "report.undo(store) reverts them); run compact() again to continue.", report) from err
            ops, refused = check_ops(pred.operations, set(range(1, len(records) + 1)))
            outcome.refused.extend(refused)
            outcome.operations = len(ops)
            try:
                outcome.applied = bool((yield Work(apply_batch, (manager, store, ns, records, ops, report, outcome))))
            except ConflictError as err:  # a memory changed meanwhile: leave this batch for the next run
                outcome.error = f"ConflictError: {err}"
            changed = changed or outcome.applied
            report.refused.extend(outcome.refused)
        if not changed or len(batches) <= 1:
            break
    if cap is not None:
        yield Work(_evict, (store, ns, kinds, cap, report))
    report.after = len((yield Work(_live, (store, ns, kinds))))
    report.complete = True


def compact(manager: MemoryManager, namespace: NamespaceArg = None, *, batch_size: int = 40,
            cap: int | None = None, max_rounds: int = 5, lm: Any = None) -> CompactionReport:
    """Compact one namespace of ``manager`` (see the module docstring).

    ``namespace`` is a namespace tuple, or values that fill the manager's template. ``lm``
    overrides the manager's LM for the compaction calls.

    >>> from engram.modules import MemoryManager
    >>> from engram.store import MemoryStore
    >>> from engram.testing import offline_lm
    >>> manager = MemoryManager(MemoryStore.in_memory(), lm=offline_lm("support"))
    >>> for text in ["The user's favourite colour is blue.", "The user's favorite color is green."]:
    ...     _ = manager.store.put(("memories", "u1"), None, {"content": text}, kind="Memory")
    >>> report = manager.compact({"user_id": "u1"})
    >>> report.before, report.after, [r.content["content"] for r in manager.store.list(("memories", "u1"))]
    (2, 1, ["The user's favorite color is green."])
    """
    ns = _namespace(manager, namespace)
    _check(manager, ns, batch_size, cap, max_rounds)
    report = CompactionReport(ns)
    store = manager.store
    with namespace_lock(store, ns), track_usage() as report.usage:
        run(_algorithm(manager, store, report, batch_size, cap, max_rounds), lm or manager.lm)
    return report


async def acompact(manager: MemoryManager, namespace: NamespaceArg = None, *, batch_size: int = 40,
                   cap: int | None = None, max_rounds: int = 5, lm: Any = None) -> CompactionReport:
    """Async :func:`compact`: LM calls awaited, store work in worker threads."""
    ns = _namespace(manager, namespace)
    _check(manager, ns, batch_size, cap, max_rounds)
    report = CompactionReport(ns)
    store = manager.store
    async with anamespace_lock(store, ns):
        with track_usage() as report.usage:
            await arun(_algorithm(manager, store, report, batch_size, cap, max_rounds), lm or manager.lm)
    return report


__all__ = ["BatchOutcome", "CompactionError", "CompactionReport", "acompact", "compact", "group", "stated_at"]
